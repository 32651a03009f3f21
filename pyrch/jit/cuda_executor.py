"""The CUDA executor: replays a Plan on the GPU through cupy.

Same contract as `executor.Executor` (`template`, `run(slots)`), chosen by
`Executor.run` when a plan's tensors are cupy arrays. Each step is compiled
once into a closure:

- a fused group becomes one generated kernel (`pyrch.cuda.codegen`): a
  `cupy.ElementwiseKernel` built from the registry's cexprs, cached by its
  source text, so identical groups across graphs compile once;
- a fused group whose single output feeds only the next step's sum, mean,
  amax or sum_to becomes one `cupy.ReductionKernel` (map = the group);
- every other step calls the op's forward with `xp = cupy` (matmul is
  cupy.matmul, i.e. cuBLAS); plain ufunc steps write into planned buffers.

Buffers are allocated on the first replay and kept, so a replay launches a
fixed kernel sequence into preallocated memory (escaping values are fresh
every replay, as on the CPU). A group the generator cannot express (a libm
call on integers, say) runs op by op through cupy and is counted in
`stats["fallback_groups"]`.
"""
import numpy as np

from ..ops.registry import OPS
from .plan import ufunc_of

_KERNELS = {}       # (kind, source, extra) -> cupy kernel object


def _elementwise_kernel(cp, spec):
    key = ("ew", spec.source, spec.in_params(), spec.out_params())
    k = _KERNELS.get(key)
    if k is None:
        k = _KERNELS[key] = cp.ElementwiseKernel(
            spec.in_params(), spec.out_params(), spec.call() + ";", name=spec.name,
            preamble=spec.source)
    return k


def _reduction_kernel(cp, spec, op_name, out_dtype, count):
    from ..cuda import codegen
    red, ident, post, acc = codegen.reduce_parts(op_name, out_dtype, count)
    pre = spec.source + codegen.reduce_source(spec, 0, acc)
    key = ("red", pre, op_name, out_dtype, count)
    k = _KERNELS.get(key)
    if k is None:
        xs = ", ".join(f"x{i}" for i in range(len(spec.in_dtypes)))
        k = _KERNELS[key] = cp.ReductionKernel(
            spec.in_params(), f"{out_dtype} z", f"{spec.name}_map({xs})", red, post, ident,
            name=f"{spec.name}_{op_name}", reduce_type=acc, preamble=pre)
    return k


def kernel_cache_size():
    """How many distinct generated kernels this process has built."""
    return len(_KERNELS)


def _reduce_axes(op_name, attrs, in_shape, out_shape):
    """The axes a reduce step sums over (keepdims form), or None if unknown."""
    nd = len(in_shape)
    if op_name == "sum_to":
        shape = tuple(attrs["shape"])
        lead = nd - len(shape)
        return tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                          if s == 1 and in_shape[lead + i] != 1)
    dim = attrs.get("dim")
    if dim is None:
        return tuple(range(nd))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    try:
        return tuple(sorted(d % nd for d in dims)) if nd else ()
    except TypeError:
        return None


class CudaExecutor:
    """Runs one Plan with cupy: generated kernels for fused groups, cupy calls for the rest."""

    def __init__(self, plan):
        from .._backend import cupy
        cp = self.cp = cupy()
        self.plan = plan
        self.buffers = [None] * len(plan.buffers)
        self.template = [None] * plan.n_slots
        self.value_at = {s: v for v, s in plan.slot_of.items()}
        self.const_slots = []
        for s, arr in plan.constants:
            self.template[s] = arr if hasattr(arr, "__cuda_array_interface__") else cp.asarray(arr)
            self.const_slots.append(s)
        self.host_slots = list(plan.inputs) + list(plan.params)
        self.stats = {"fused_kernels": 0, "fused_reductions": 0, "fallback_groups": 0,
                      "calls": 0}
        reads = {}
        for st in plan.steps:
            for kind, k in st.args:
                if kind == "s":
                    reads[k] = reads.get(k, 0) + 1
        escaping = {k for kind, k in plan.outputs if kind == "s"}
        escaping.update(ref[1] for _, _, ref in plan.writes if ref is not None and ref[0] == "s")
        escaping.update(s for _, s, _, _ in plan.guards)
        self.steps = []
        steps = plan.steps
        i = 0
        while i < len(steps):
            st = steps[i]
            if st.kind != "fused":
                self.steps.append(self._compile_call(st))
                i += 1
                continue
            # reductions right after the group that alone read one of its outputs
            # become ReductionKernels over the group body (the output is never stored)
            reds, j = [], i + 1
            while (j < len(steps) and steps[j].kind == "call" and len(steps[j].args) == 1
                   and steps[j].args[0][0] == "s" and steps[j].args[0][1] in st.outs
                   and reads.get(steps[j].args[0][1]) == 1 and steps[j].args[0][1] not in escaping):
                reds.append(steps[j])
                j += 1
            fused = self._compile_fused(st, reds)
            if fused is None:       # the group has no CUDA form: op by op, reductions as calls
                self.stats["fallback_groups"] += 1
                self.steps.append(self._compile_fused_fallback(st))
                self.steps.extend(self._compile_call(r) for r in reds)
            else:
                self.steps.append(fused)
            i = j

    # -- buffers and metadata ------------------------------------------------------------
    def _buffer(self, b):
        buf = self.buffers[b]
        if buf is None:
            shape, dt = self.plan.buffers[b]
            buf = self.buffers[b] = self.cp.empty(shape, dtype=np.dtype(dt if dt != "bool" else np.bool_))
        return buf

    def _meta(self, ref):
        kind, k = ref
        if kind == "s":
            v = self.value_at[k]
            return v.shape, v.dtype.name
        a = np.asarray(k)
        return a.shape, a.dtype.name

    # -- steps ---------------------------------------------------------------------------
    def _compile_call(self, st):
        cp = self.cp
        o = OPS[st.op]
        fwd, attrs, args, outs = o.forward, st.attrs, st.args, st.outs
        self.stats["calls"] += 1
        uf = None
        if st.bufs[0] >= 0 and len(outs) == 1:
            metas = tuple((self.value_at[k].shape, self.value_at[k].dtype.np) if kind == "s" else k
                          for kind, k in args)
            nuf = ufunc_of(st.op, attrs, metas)
            uf = getattr(cp, nuf.__name__, None) if nuf is not None else None
        ndarray = cp.ndarray
        if uf is not None:
            b, o0 = st.bufs[0], outs[0]
            get_buf = self._buffer

            def step(v):
                v[o0] = uf(*[v[k] if kind == "s" else k for kind, k in args], out=get_buf(b))
            return step
        multi = len(outs) > 1

        def step(v):
            r = fwd(cp, *[v[k] if kind == "s" else k for kind, k in args], **attrs)
            if multi:
                for s, x in zip(outs, r):
                    v[s] = x if type(x) is ndarray else cp.asarray(x)
            else:
                v[outs[0]] = r if type(r) is ndarray else cp.asarray(r)
        return step

    def _spec(self, st, outs):
        from ..cuda import codegen
        inputs = [self._meta(a) for a in st.args]
        shape = self.value_at[st.outs[0]].shape
        return codegen.fuse_spec(st.attrs["body"], outs, inputs, shape)

    def _compile_fused(self, st, reds):
        """One step for a fused group: an ElementwiseKernel for its stored outputs and a
        ReductionKernel per reduction in `reds` (each recomputes the body as its map)."""
        from ..cuda.codegen import Unsupported
        cp = self.cp
        body_outs = st.attrs["outs"]
        pos = {slot: k for slot, k in zip(st.outs, body_outs)}
        launches = []
        stored = set(st.outs)
        for r in reds:
            launch = self._reduction(st, r, pos[r.args[0][1]])
            if launch is not None:
                launches.append(launch)
                stored.discard(r.args[0][1])
            else:
                launches.append(self._compile_call(r))
        keep = [(s, b, k) for s, b, k in zip(st.outs, st.bufs, body_outs) if s in stored]
        try:
            spec = self._spec(st, tuple(k for _, _, k in keep)) if keep else None
        except Unsupported:
            return None
        args = st.args
        if spec is not None:
            self.stats["fused_kernels"] += 1
            kernel = _elementwise_kernel(cp, spec)
            shape = self.value_at[st.outs[0]].shape
            outs = [(s, b, np.dtype(d)) for (s, b, _), d in zip(keep, spec.out_dtypes)]
            get_buf = self._buffer

            def elementwise(v):
                ys = [get_buf(b) if b >= 0 else cp.empty(shape, dtype=dt) for _, b, dt in outs]
                kernel(*[v[k] if kind == "s" else k for kind, k in args], *ys)
                for (s, _, _), y in zip(outs, ys):
                    v[s] = y
            launches.insert(0, elementwise)
        if len(launches) == 1:
            return launches[0]

        def step(v):
            for launch in launches:
                launch(v)
        return step

    def _reduction(self, st, red, body_index):
        """A launch computing `red` straight from the group's inputs, or None."""
        from ..cuda.codegen import Unsupported, REDUCE_OPS
        if red.op not in REDUCE_OPS:
            return None
        in_shape = self.value_at[st.outs[0]].shape
        out_v = self.value_at[red.outs[0]]
        shapes = [self._meta(a)[0] for a in st.args]
        try:
            bshape = np.broadcast_shapes(*shapes) if shapes else ()
        except ValueError:
            return None
        axes = _reduce_axes(red.op, red.attrs, in_shape, out_v.shape)
        if axes is None or tuple(bshape) != tuple(in_shape):
            return None
        count = 1
        for a in axes:
            count *= in_shape[a]
        try:
            spec = self._spec(st, (body_index,))
            kernel = _reduction_kernel(self.cp, spec, red.op, out_v.dtype.name, max(count, 1))
        except Unsupported:
            return None
        self.stats["fused_reductions"] += 1
        args, o0, out_shape = st.args, red.outs[0], out_v.shape

        def launch(v):
            r = kernel(*[v[k] if kind == "s" else k for kind, k in args], axis=axes, keepdims=True)
            v[o0] = r.reshape(out_shape)
        return launch

    def _compile_fused_fallback(self, st):
        cp = self.cp
        body, outs, args = st.attrs["body"], st.attrs["outs"], st.args
        prog = [(OPS[op].forward, operands, dict(battrs), np.dtype(dt if dt != "bool" else np.bool_))
                for op, operands, battrs, dt in body]
        out_slot = dict(zip(outs, st.outs))

        def step(v):
            xs = [v[k] if kind == "s" else k for kind, k in args]
            t = []
            for fwd, operands, battrs, dt in prog:
                ops = [xs[i] if kind == "x" else t[i] if kind == "t" else i for kind, i in operands]
                r = fwd(cp, *ops, **battrs)
                r = cp.asarray(r)
                t.append(r if r.dtype == dt else r.astype(dt))
            for j, s in out_slot.items():
                r = t[j]
                if any(r is x for x in xs):
                    r = r.copy()
                v[s] = r
        return step

    # -- replay --------------------------------------------------------------------------
    def run(self, slots):
        cp = self.cp
        for s in self.host_slots:
            a = slots[s]
            if type(a) is np.ndarray:
                slots[s] = cp.asarray(a)     # hyperparameters and host cotangents
        tmpl = self.template
        for s in self.const_slots:
            slots[s] = tmpl[s]
        for step in self.steps:
            step(slots)
        return slots


def plan_on_cuda(plan, slots):
    """True when the plan's input or param slots hold cupy arrays."""
    for s in list(plan.inputs) + list(plan.params):
        a = slots[s]
        if a is not None and type(a) is not np.ndarray and hasattr(a, "__cuda_array_interface__"):
            return True
    return False
