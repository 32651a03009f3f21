"""`pyrch.utils.summary`: a per-layer table of a model (output shapes, parameters, memory).

Runs one forward pass on generated inputs (random floats, zero integers) in
eval mode under `no_grad`, with forward hooks on every submodule, then restores
the model's train/eval flags. Nothing about the model changes.

>>> import pyrch
>>> from pyrch import nn
>>> model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
>>> s = summary(model, (4, 8))
>>> s.total_params, s.trainable_params
(178, 178)
>>> [r.output_shape for r in s.rows]
[[4, 2], [4, 16], [4, 16], [4, 2]]
>>> str(s).splitlines()[-1].split()
['Estimated', 'total', 'size:', '1.4', 'KiB']
"""
from .._display import fmt_bytes, fmt_count, rich_to_html, rich_to_text


class LayerInfo:
    """One module call: qualified name, type, depth, output shape, params, output bytes."""
    __slots__ = ("name", "type", "depth", "output_shape", "params", "trainable", "output_bytes",
                 "is_leaf", "repeat")

    def __init__(self, name, type_, depth):
        self.name, self.type, self.depth = name, type_, depth
        self.output_shape = None
        self.params = self.output_bytes = 0
        self.trainable = "--"
        self.is_leaf = True
        self.repeat = False

    def __repr__(self):
        return (f"LayerInfo({self.name or '(root)'}: {self.type}, out={self.output_shape}, "
                f"params={self.params})")


class ModelSummary:
    """What `summary` returns: `rows`, the totals, `str(s)` (a table) and rich/HTML views."""

    def __init__(self, model_name, rows, total_params, trainable_params, param_bytes,
                 buffer_bytes, input_bytes):
        self.model_name = model_name
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.non_trainable_params = total_params - trainable_params
        self.param_bytes = param_bytes
        self.buffer_bytes = buffer_bytes
        self.input_bytes = input_bytes
        self.activation_bytes = sum(r.output_bytes for r in rows if r.is_leaf)
        self.total_bytes = input_bytes + self.activation_bytes + param_bytes + buffer_bytes

    def totals(self):
        """The totals as (label, text) pairs, in display order.

        >>> from pyrch import nn
        >>> summary(nn.Linear(2, 2), (1, 2)).totals()[0]
        ('Total params', '6')
        """
        return [("Total params", fmt_count(self.total_params)),
                ("Trainable params", fmt_count(self.trainable_params)),
                ("Non-trainable params", fmt_count(self.non_trainable_params)),
                ("Input size", fmt_bytes(self.input_bytes)),
                ("Forward pass size (layer outputs)", fmt_bytes(self.activation_bytes)),
                ("Params + buffers size", fmt_bytes(self.param_bytes + self.buffer_bytes)),
                ("Estimated total size", fmt_bytes(self.total_bytes))]

    def _cells(self, r):
        name = ("  " * r.depth) + (f"{r.name} ({r.type})" if r.name else r.type)
        shape = "--" if r.output_shape is None else str(r.output_shape)
        params = fmt_count(r.params) if r.params else "--"
        if r.params and r.repeat:
            params = f"({params})"          # a shared module called again: counted once
        mem = fmt_bytes(r.output_bytes) if r.output_bytes else "--"
        return name, shape, params, r.trainable, mem

    def __rich__(self):
        from rich.console import Group
        from rich.table import Table
        t = Table(title=f"{self.model_name} summary", show_lines=False)
        t.add_column("Layer (type)", no_wrap=True)
        t.add_column("Output shape", no_wrap=True)
        t.add_column("Param #", justify="right")
        t.add_column("Trainable")
        t.add_column("Output memory", justify="right")
        for r in self.rows:
            t.add_row(*self._cells(r))
        tot = Table.grid(padding=(0, 2))
        tot.add_column()
        tot.add_column(justify="right")
        for k, v in self.totals():
            tot.add_row(k + ":", v)
        return Group(t, tot)

    def __str__(self):
        return rich_to_text(self.__rich__(), width=110).strip("\n")

    __repr__ = __str__

    def _repr_html_(self):
        return rich_to_html(self.__rich__())


def _shapes(out):
    from .._tensor import Tensor
    if isinstance(out, Tensor):
        return list(out.shape), out.nbytes
    if isinstance(out, (tuple, list)):
        shapes, n = [], 0
        for o in out:
            s, b = _shapes(o)
            if s is not None:
                shapes.append(s)
                n += b
        return (shapes if shapes else None), n
    if isinstance(out, dict):
        return _shapes(list(out.values()))
    return None, 0


def _make_inputs(input_size, dtypes, device):
    import pyrch
    sizes = input_size
    if isinstance(sizes, (tuple, list)) and sizes and all(isinstance(s, int) for s in sizes):
        sizes = [tuple(sizes)]
    sizes = [tuple(s) for s in sizes]
    if dtypes is None:
        dtypes = [pyrch.float32] * len(sizes)
    elif not isinstance(dtypes, (list, tuple)):
        dtypes = [dtypes] * len(sizes)
    if len(dtypes) != len(sizes):
        raise ValueError(f"summary: got {len(sizes)} input sizes but {len(dtypes)} dtypes")
    out = []
    for s, dt in zip(sizes, dtypes):
        if dt.is_floating_point:
            out.append(pyrch.randn(*s, dtype=dt, device=device))
        else:
            out.append(pyrch.zeros(*s, dtype=dt, device=device))
    return out


def summary(model, input_size=None, dtypes=None, device=None, *, input_data=None):
    """Run `model` once on inputs of `input_size` (batch dim included) and tabulate its layers.

    `input_size` is one shape `(N, C, H, W)` or a list of shapes for several inputs;
    `dtypes` one dtype or one per input (integer dtypes get zeros, e.g. for Embedding);
    `input_data` passes real tensors instead. `print(s)` shows the table.

    >>> import pyrch
    >>> from pyrch import nn
    >>> s = summary(nn.Embedding(10, 3), (2, 5), dtypes=pyrch.int64)
    >>> s.rows[0].output_shape, s.total_params
    ([2, 5, 3], 30)
    """
    import pyrch
    if input_data is None:
        if input_size is None:
            raise TypeError("summary() needs input_size (or input_data)")
        inputs = _make_inputs(input_size, dtypes, device)
    else:
        inputs = list(input_data) if isinstance(input_data, (list, tuple)) else [input_data]
    names = {}
    for name, mod in model.named_modules():
        names.setdefault(id(mod), name)
    rows, stack, handles, called = [], [], [], set()

    def pre(mod, args):
        info = LayerInfo(names.get(id(mod), "?"), mod._get_name(), len(stack))
        own = list(mod.parameters(recurse=False))
        info.params = sum(p.numel() for p in own)
        if own:
            nt = sum(p.numel() for p in own if p.requires_grad)
            info.trainable = "True" if nt == info.params else "False" if nt == 0 else "Partial"
        info.repeat = id(mod) in called
        called.add(id(mod))
        if stack:
            stack[-1].is_leaf = False
        stack.append(info)
        rows.append(info)

    def post(mod, args, out):
        info = stack.pop()
        info.output_shape, info.output_bytes = _shapes(out)

    for mod in model.modules():
        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post))
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with pyrch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, t in modes:
            m.training = t
    params = {id(p): p for p in model.parameters()}.values()
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return ModelSummary(model._get_name(), rows, total, trainable,
                        sum(p.nbytes for p in params), sum(b.nbytes for b in model.buffers()),
                        sum(x.nbytes for x in inputs))
