"""Rich and HTML views for notebooks and terminals: Tensor, Module, Optimizer, traced Graph.

The classes keep their PyTorch-compatible `repr`; each has a two-line
`_repr_html_` (and, where it helps, `__rich__`) that calls a function here, so
Jupyter shows a table and `rich.print(obj)` a tree or table. Views read arrays
directly and never dispatch ops, so showing a tensor inside a trace or a
profile records nothing.

>>> import pyrch
>>> html = tensor_html(pyrch.ones(2, 3, requires_grad=True))
>>> "[2, 3]" in html and "float32" in html and "requires_grad" in html
True
"""
from html import escape

import numpy as np

_CSS = ("<style>.pyrch-view{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}"
        ".pyrch-view table{border-collapse:collapse;margin:2px 0}"
        ".pyrch-view td,.pyrch-view th{padding:1px 8px;text-align:left;vertical-align:top;"
        "border-bottom:1px solid rgba(127,127,127,.25)}"
        ".pyrch-view th{font-weight:600}.pyrch-view .num{text-align:right}"
        ".pyrch-view .dim{opacity:.6}.pyrch-view pre{margin:2px 0}"
        ".pyrch-view tr.fused td{background:rgba(255,170,0,.12)}"
        ".pyrch-view tr.fused td:first-child{border-left:3px solid #e69500}</style>")
MAX_ROWS = 200


def _wrap(inner, title=None):
    head = f"<div><b>{escape(title)}</b></div>" if title else ""
    return f"{_CSS}<div class='pyrch-view'>{head}{inner}</div>"


def _table(header, rows, row_classes=None, num_cols=()):
    out = ["<table><thead><tr>"]
    out += [f"<th>{escape(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, r in enumerate(rows):
        cls = row_classes[i] if row_classes else ""
        out.append(f"<tr class='{cls}'>" if cls else "<tr>")
        for j, cell in enumerate(r):
            out.append(f"<td class='num'>{cell}</td>" if j in num_cols else f"<td>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _more(n, what):
    return f"<div class='dim'>... {n - MAX_ROWS} more {what}</div>" if n > MAX_ROWS else ""


def fmt_count(n):
    """A parameter count with thousands separators: 1234567 -> '1,234,567'.

    >>> fmt_count(1234567)
    '1,234,567'
    """
    return f"{n:,}"


def fmt_bytes(n):
    """Bytes in human units: 1536 -> '1.5 KiB'.

    >>> fmt_bytes(1536), fmt_bytes(12)
    ('1.5 KiB', '12 B')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def rich_to_html(renderable, width=120):
    """Render any rich renderable as self-contained HTML (inline styles).

    >>> from rich.table import Table
    >>> t = Table("a"); t.add_row("1")
    >>> "<pre" in rich_to_html(t)
    True
    """
    import io
    from rich.console import Console
    c = Console(record=True, width=width, file=io.StringIO(), force_jupyter=False,
                force_terminal=True, color_system="truecolor")
    c.print(renderable)
    return c.export_html(inline_styles=True, code_format="<pre style='font-family:ui-monospace,"
                         "Menlo,monospace;font-size:12px;line-height:1.25'>{code}</pre>")


def rich_to_text(renderable, width=100):
    """Render a rich renderable as plain text (no colours).

    >>> from rich.table import Table
    >>> t = Table("col"); t.add_row("x")
    >>> "col" in rich_to_text(t)
    True
    """
    import io
    from rich.console import Console
    c = Console(record=True, width=width, file=io.StringIO(), force_jupyter=False,
                force_terminal=False, color_system=None)
    c.print(renderable, crop=False)
    return "\n".join(line.rstrip() for line in c.export_text(styles=False).splitlines())


# -- Tensor --------------------------------------------------------------------------------
def _host(arr):
    return arr if type(arr) is np.ndarray else arr.get()


def tensor_stats(t, limit=10_000_000):
    """Summary statistics of a tensor's values as (name, text) pairs (empty if too big).

    >>> import pyrch
    >>> tensor_stats(pyrch.tensor([1.0, 3.0]))
    [('min', '1'), ('max', '3'), ('mean', '2'), ('std', '1.41421')]
    """
    d = t._data
    if d.size == 0 or d.size > limit:
        return []
    a = _host(d)
    if a.dtype == np.bool_:
        return [("true", fmt_count(int(a.sum()))), ("false", fmt_count(int(a.size - a.sum())))]
    if a.dtype.kind in "iu":
        return [("min", str(int(a.min()))), ("max", str(int(a.max())))]
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    out = []
    if not finite.all():
        out.append(("non-finite", fmt_count(int(a.size - finite.sum()))))
        a = a[finite]
        if a.size == 0:
            return out
    out += [("min", f"{a.min():.6g}"), ("max", f"{a.max():.6g}"), ("mean", f"{a.mean():.6g}")]
    if a.size > 1:
        out.append(("std", f"{a.std(ddof=1):.6g}"))
    return out


def tensor_html(t):
    """HTML for a Tensor: shape, dtype, device, autograd info, value statistics and preview.

    >>> import pyrch
    >>> "ExpBackward0" in tensor_html(pyrch.ones(2, requires_grad=True).exp())
    True
    """
    from ._tensor_str import tensor_repr
    info = [("shape", str(list(t.shape))), ("dtype", t.dtype.name), ("device", str(t.device))]
    if t.grad_fn is not None:
        info.append(("grad_fn", t.grad_fn.name()))
    elif t.requires_grad:
        info.append(("requires_grad", "True (leaf)"))
    if t.requires_grad and t.is_leaf and t.grad is not None:
        info.append(("grad", f"{list(t.grad.shape)} {t.grad.dtype.name}"))
    info += tensor_stats(t)
    cells = "".join(f"<td><span class='dim'>{escape(k)}</span> {escape(v)}</td>" for k, v in info)
    body = f"<table><tr><td><b>Tensor</b></td>{cells}</tr></table>"
    return _wrap(body + f"<pre>{escape(tensor_repr(t))}</pre>")


# -- Module --------------------------------------------------------------------------------
def _module_rows(m):
    """(depth, name, module) for the module tree, parents first, shared modules once."""
    rows, seen = [], set()
    stack = [(0, "", m)]
    while stack:
        depth, name, mod = stack.pop()
        if id(mod) in seen:
            continue
        seen.add(id(mod))
        rows.append((depth, name, mod))
        kids = [(depth + 1, k, c) for k, c in mod._modules.items() if c is not None]
        stack.extend(reversed(kids))
    return rows


def _sized(tensors):
    """The tensors that have a size: a lazy module's placeholders have none yet."""
    from .nn.parameter import is_lazy
    return [t for t in tensors if not is_lazy(t)]


def _param_info(mod):
    ps = _sized(mod.parameters())
    n = sum(p.numel() for p in ps)
    nt = sum(p.numel() for p in ps if p.requires_grad)
    return n, nt


def _trainable(n, nt):
    if n == 0:
        return "--"
    return "True" if nt == n else "False" if nt == 0 else "Partial"


def module_html(m):
    """HTML for an nn.Module: its tree with config, parameter counts and trainability.

    >>> from pyrch import nn
    >>> "Total params: <b>12</b>" in module_html(nn.Sequential(nn.Linear(3, 3), nn.Tanh()))
    True
    """
    rows, classes = [], []
    tree = _module_rows(m)
    for depth, name, mod in tree[:MAX_ROWS]:
        n, nt = _param_info(mod)
        label = ("&nbsp;&nbsp;" * depth) + escape(name or "(root)")
        rows.append([label, f"<b>{escape(mod._get_name())}</b>", escape(mod.extra_repr()),
                     fmt_count(n) if n else "--", _trainable(n, nt)])
        classes.append("" if mod._modules else "leaf")
    more = _more(len(tree), "modules")
    n, nt = _param_info(m)
    nbytes = sum(p.nbytes for p in _sized(m.parameters())) + sum(b.nbytes for b in _sized(m.buffers()))
    foot = (f"<div>Total params: <b>{fmt_count(n)}</b> &nbsp; trainable: {fmt_count(nt)} &nbsp; "
            f"non-trainable: {fmt_count(n - nt)} &nbsp; size: {fmt_bytes(nbytes)} &nbsp; "
            f"mode: {'train' if m.training else 'eval'}</div>")
    table = _table(["Module", "Type", "Config", "Params", "Trainable"], rows, num_cols=(3,))
    return _wrap(table + more + foot)


def module_rich(m):
    """A rich Tree of an nn.Module (type, config and parameter count per node).

    >>> from pyrch import nn
    >>> print(rich_to_text(module_rich(nn.Sequential(nn.Linear(3, 3), nn.Tanh()))))
    Sequential 12 params
    ├── 0: Linear(in_features=3, out_features=3, bias=True) 12 params
    └── 1: Tanh
    """
    from rich.markup import escape as resc
    from rich.tree import Tree

    def label(name, mod):
        n, nt = _param_info(mod)
        extra = mod.extra_repr()
        s = f"[bold]{resc(name) + ': ' if name else ''}[cyan]{resc(mod._get_name())}[/cyan][/bold]"
        if extra:
            s += f"({resc(extra)})"
        if n:
            tr = "" if nt == n else f", {fmt_count(nt)} trainable"
            s += f" [dim]{fmt_count(n)} params{tr}[/dim]"
        return s
    root = Tree(label("", m))
    stack, seen, count = [(root, m)], {id(m)}, 1
    while stack:
        node, mod = stack.pop()
        for name, c in mod._modules.items():
            if c is None or id(c) in seen or count >= MAX_ROWS:
                continue
            seen.add(id(c))
            count += 1
            stack.append((node.add(label(name, c)), c))
    return root


# -- Optimizer -----------------------------------------------------------------------------
def optimizer_html(opt):
    """HTML for an Optimizer: one column per param group, one row per hyperparameter.

    >>> import pyrch
    >>> opt = pyrch.optim.SGD([pyrch.zeros(2, requires_grad=True)], lr=0.5)
    >>> "<td>lr</td><td>0.5</td>" in optimizer_html(opt)
    True
    """
    groups = opt.param_groups
    keys = sorted({k for g in groups for k in g if k != "params"})
    header = ["", *[f"group {i}" for i in range(len(groups))]]
    rows = [["params", *[f"{len(g['params'])} tensors, {fmt_count(sum(p.numel() for p in _sized(g['params'])))} "
                         "elements" for g in groups]]]
    for k in keys:
        rows.append([escape(k), *[escape(str(g.get(k, ""))) for g in groups]])
    n_state = sum(1 for s in opt.state.values() if s)
    foot = f"<div class='dim'>state: {n_state} parameter(s) with optimizer state</div>"
    return _wrap(_table(header, rows) + foot, type(opt).__name__)


# -- traced Graph --------------------------------------------------------------------------
def _graph_rows(g):
    """One dict per node: names, op, inputs, type, attrs, source, fused marker."""
    from .jit.ir import _Names, _lit, format_body, type_str
    nm = _Names(g)
    rows = []
    k = 0
    for n in g.nodes:
        outs = ", ".join(nm(o) for o in n.outputs)
        ty = ", ".join(type_str(o) for o in n.outputs)
        args = [nm(x) for x in n.inputs]
        src = " ".join(t for t in (n.scope, n.src) if t)
        if n.op == "fused":
            xs = [f"x{i}" for i in range(len(n.inputs))]
            body = format_body(n.attrs, xs)
            rows.append(dict(i=k, outs=outs, type=ty, op=f"fused[{len(dict(n.attrs)['body'])}]",
                             args=", ".join(args), attrs=body, src=src, fused=True))
        else:
            rows.append(dict(i=k, outs=outs, type=ty, op=n.op, args=", ".join(args),
                             attrs=", ".join(f"{a}={_lit(v)}" for a, v in n.attrs),
                             src=src, fused=False))
        k += 1
    return rows, nm


def _graph_header(g, nm):
    from .jit.ir import type_str
    parts = [("inputs", ", ".join(f"{nm(v)}: {type_str(v)}" for v in g.inputs) or "none")]
    if g.params:
        nbytes = sum(v.nbytes for v in g.params)
        parts.append(("params", f"{len(g.params)} ({fmt_bytes(nbytes)})"))
    if g.rng:
        parts.append(("rng", str(len(g.rng))))
    if g.constants:
        parts.append(("constants", str(len(g.constants))))
    n_fused = sum(1 for n in g.nodes if n.op == "fused")
    parts.append(("nodes", f"{len(g.nodes)} ({n_fused} fused)"))
    return parts


def _graph_footer(g, nm):
    from .jit.ir import _lit
    lines = []
    for gd in g.guards:
        exp = _lit(gd.expected) if gd.kind == "bool" else "<traced value>"
        lines.append(f"guard {gd.kind}({nm(gd.value)}) == {exp}" + (f"   # {gd.src}" if gd.src else ""))
    for w in g.writes:
        lines.append(f"{w.kind}({nm(w.target)}, {nm(w.value)})")
    lines.append("return (" + ", ".join(nm(x) for x in g.outputs) + ")")
    return lines


def graph_html(g):
    """HTML for a traced jit Graph: header, a node table with fused groups marked, writes.

    >>> import pyrch
    >>> from pyrch.jit.ir import Graph, Node, Value
    >>> x, y = Value((2,), pyrch.float32, "x"), Value((2,), pyrch.float32)
    >>> g = Graph("f", inputs=(x,), nodes=(Node("exp", (x,), (), (y,)),), outputs=(y,))
    >>> "<b>exp</b>" in graph_html(g) and "return (%0)" in graph_html(g)
    True
    """
    rows, nm = _graph_rows(g)
    head = " &nbsp; ".join(f"<span class='dim'>{escape(k)}</span> {escape(v)}"
                           for k, v in _graph_header(g, nm))
    cells = [[str(r["i"]), escape(r["outs"]), escape(r["type"]), f"<b>{escape(r['op'])}</b>",
              escape(r["args"]), escape(r["attrs"]), f"<span class='dim'>{escape(r['src'])}</span>"]
             for r in rows[:MAX_ROWS]]
    classes = ["fused" if r["fused"] else "" for r in rows[:MAX_ROWS]]
    more = _more(len(rows), "nodes")
    table = _table(["#", "value", "type", "op", "inputs", "attrs / fused body", "source"], rows=cells,
                   row_classes=classes, num_cols=(0,))
    foot = "<pre>" + escape("\n".join(_graph_footer(g, nm))) + "</pre>"
    return _wrap(f"<div>{head}</div>" + table + more + foot, f"graph {g.name}")


def graph_rich(g):
    """A rich Table of a traced jit Graph, fused groups highlighted.

    >>> import pyrch
    >>> from pyrch.jit.ir import Graph, Node, Value
    >>> x, y = Value((2,), pyrch.float32, "x"), Value((2,), pyrch.float32)
    >>> g = Graph("f", inputs=(x,), nodes=(Node("exp", (x,), (), (y,)),), outputs=(y,))
    >>> graph_rich(g).row_count
    1
    """
    from rich.table import Table
    from rich.markup import escape as resc
    rows, nm = _graph_rows(g)
    cap = "  ".join(f"{k}: {v}" for k, v in _graph_header(g, nm))
    t = Table(title=f"graph {g.name}", caption="\n".join([cap] + _graph_footer(g, nm)),
              caption_justify="left")
    for col in ("#", "value", "type", "op", "inputs", "attrs / fused body", "source"):
        t.add_column(col, overflow="fold")
    for r in rows[:MAX_ROWS]:
        t.add_row(str(r["i"]), resc(r["outs"]), resc(r["type"]),
                  f"[bold yellow]{resc(r['op'])}[/]" if r["fused"] else f"[bold]{resc(r['op'])}[/]",
                  resc(r["args"]), resc(r["attrs"]), f"[dim]{resc(r['src'])}[/]",
                  style="on grey11" if r["fused"] else None)
    return t
