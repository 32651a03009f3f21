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

CUDA graphs: after two plain replays (kernels compiled, buffers allocated) the
third is captured with cupy's stream capture into one CUDA graph, and every
later replay is one graph launch. The graph owns a private memory pool (never
shared, so nothing else can be handed memory the graph writes); the call's
inputs and hyperparameters are copied into fixed buffers the graph reads;
parameters are read in place, and a parameter whose memory moved (`p.data =`,
a new `.grad`) is copied in from then on (a new capture). Escaping values are
copied out of the graph's memory, so each replay still returns fresh arrays.
A plan with random ops is never captured (a graph would replay the same
numbers), nor one whose capture fails (a host synchronisation, a host value),
nor one where the copies in and out would cost more than the launches saved
(a few big elementwise kernels): those run kernel by kernel, and
`stats["graph_error"]` says why. cupy cannot capture cuBLAS calls or host-to-
device copies, so steps making them (matmul, conv) run live between graph
segments, their results copied into fixed buffers the next segment reads.
PYRCH_CUDA_GRAPHS=0 or `pyrch.config(cuda_graphs=False)` turns graphs off.
"""
import numpy as np

from .._config import flags
from ..ops.registry import OPS
from .plan import reduce_axes, ufunc_of

_KERNELS = {}       # (kind, source, extra) -> cupy kernel object
_GRAPH_AFTER = 2    # plain replays before a plan is captured as a CUDA graph
_MAX_CAPTURES = 4   # captures per executor (a parameter that keeps moving stops it)


class _Uncapturable(RuntimeError):
    """A step produced a host value while a CUDA graph was being captured."""


class _Live(Exception):
    """Step `index` cannot be captured (it calls cuBLAS): it runs live between graphs."""

    def __init__(self, index):
        super().__init__(index)
        self.index = index


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
                      "calls": 0, "graph_captures": 0, "graph_launches": 0, "graph_error": None}
        reads, escaping = plan.reads(), plan.escaping()
        self.steps = []
        self.labels = []        # what each entry of self.steps runs, for profiles (bench_gpu.py)
        self.step_outs = []     # the slots a call step writes (None: a fused step)
        steps = plan.steps
        i = 0
        while i < len(steps):
            st = steps[i]
            if st.kind != "fused":
                self.steps.append(self._compile_call(st))
                self.labels.append(st.op)
                self.step_outs.append(tuple(st.outs))
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
                self.labels.append(f"fallback[{len(st.attrs['body'])} ops]")
                self.step_outs.append(None)
                for r in reds:
                    self.steps.append(self._compile_call(r))
                    self.labels.append(r.op)
                    self.step_outs.append(tuple(r.outs))
            else:
                self.steps.append(fused)
                self.labels.append(f"fused[{len(st.attrs['body'])} ops]"
                                   + "".join(f"+{r.op}" for r in reds))
                self.step_outs.append(None)
            i = j
        # -- what a CUDA graph replay hands back: values the caller reads after the run.
        # Values only copied into parameters (optimizer updates) are lent, the rest copied.
        assign = {ref[1] for kind, _, ref in plan.writes
                  if kind == "assign" and ref is not None and ref[0] == "s"}
        read = {k for kind, k in plan.outputs if kind == "s"}
        read.update(ref[1] for kind, _, ref in plan.writes
                    if kind != "assign" and ref is not None and ref[0] == "s")
        read.update(s for _, s, _, _ in plan.guards)
        self._lend_out = sorted(assign - read)
        self._copy_out = sorted(escaping - set(self._lend_out))
        self._graph = None
        self._graph_ok = not any(_is_random(st) for st in plan.steps)
        if not self._graph_ok:
            self.stats["graph_error"] = "the plan has random ops"
        self._runs = 0
        self._capturing = False
        self._moved = set()     # parameter slots copied into the graph (their memory moved)
        self._live = set()      # steps run between graphs (cuBLAS cannot be captured)
        self._pools = []        # graph memory lives as long as the executor

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

        if st.op == "embedding" and not multi:
            return self._compile_embedding(args, outs[0])
        host = self._host_value

        def step(v):
            r = fwd(cp, *[v[k] if kind == "s" else k for kind, k in args], **attrs)
            if multi:
                for s, x in zip(outs, r):
                    v[s] = x if type(x) is ndarray else host(x)
            else:
                v[outs[0]] = r if type(r) is ndarray else host(r)
        return step

    def _host_value(self, x):
        """A step's non-cupy result on the device (a capture cannot record a host value)."""
        if self._capturing:
            raise _Uncapturable(f"a step returned a host value ({type(x).__name__})")
        return self.cp.asarray(x)

    def _compile_embedding(self, args, o0):
        """embedding without eager's host-side index check (ops/nn.py embedding_unchecked)."""
        from ..ops.nn import embedding_unchecked
        cp = self.cp

        def step(v):
            v[o0] = embedding_unchecked(cp, *[v[k] if kind == "s" else k for kind, k in args])
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
        axes = reduce_axes(red.op, red.attrs, in_shape)
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
                if type(r) is not cp.ndarray:
                    r = self._host_value(r)
                t.append(r if r.dtype == dt else r.astype(dt))
            for j, s in out_slot.items():
                r = t[j]
                if any(r is x for x in xs):
                    r = r.copy()
                v[s] = r
        return step

    # -- CUDA graphs -------------------------------------------------------------------
    def _graph_pays(self, slots):
        """Whether one launch per replay saves more than the copies a graph adds (inputs
        in, escaping values out): a few big elementwise kernels gain nothing from a graph
        and would pay a full extra pass over memory per copy."""
        nbytes = sum(getattr(slots[s], "nbytes", 0) for s in self.plan.inputs)
        nbytes += sum(self.value_at[s].nbytes for s in self._copy_out if s in self.value_at)
        if nbytes / 2e12 < 5e-6 * len(self.steps):
            return True
        self._graph_ok = False
        self.stats["graph_error"] = (f"copying {nbytes >> 20} MiB in and out per replay would cost "
                                     f"more than the {len(self.steps)} launches a graph saves")
        return False

    def _capture(self, slots):
        """Record this plan as CUDA graphs (nothing runs); False if it cannot be.

        cupy refuses cuBLAS calls inside a capture, so a step that calls it (matmul,
        conv) stays live: the plan becomes graph, live step, graph, ... and a live
        step's results are copied into fixed buffers the next graph reads."""
        cp, plan = self.cp, self.plan
        pool = cp.cuda.MemoryPool()
        self._pools.append(pool)
        try:
            for _ in range(len(self.steps) + 1):
                static, fixed = {}, {}
                with cp.cuda.using_allocator(pool.malloc):
                    for s in list(plan.inputs) + list(plan.params):
                        a = slots[s]
                        if a is None:
                            raise _Uncapturable("an input slot is empty")
                        if s in plan.inputs or type(a) is np.ndarray or s in self._moved:
                            static[s] = cp.empty(a.shape, a.dtype)
                        else:
                            fixed[s] = a
                work = list(slots)
                for s, b in static.items():
                    work[s] = b
                for s in self.const_slots:
                    work[s] = self.template[s]
                try:
                    segments = self._record(work, pool)
                except _Live as e:
                    self._live.add(e.index)
                    continue
                break
            else:
                raise _Uncapturable("no capture succeeded")
        except Exception as e:  # noqa: BLE001 - any failure: this plan runs kernel by kernel
            self._graph_ok = False
            self.stats["graph_error"] = f"{type(e).__name__}: {e}"[:300]
            return False
        self._graph, self._gwork, self._gstatic = segments, work, static
        self._gfixed = fixed            # held: the graphs read these arrays' memory
        self._gptr = {s: a.data.ptr for s, a in fixed.items()}
        self.stats["graph_captures"] += 1
        self.stats["graph_segments"] = sum(1 for seg in segments if seg[0] == "graph")
        return True

    def _record(self, work, pool):
        cp = self.cp
        stream = cp.cuda.Stream(non_blocking=True)
        segments, recorded = [], 0
        self._capturing = True
        try:
            with cp.cuda.using_allocator(pool.malloc), stream:
                stream.begin_capture()
                capturing = True
                try:
                    for i, step in enumerate(self.steps):
                        if i in self._live:
                            g = stream.end_capture()
                            capturing = False
                            if recorded:
                                segments.append(("graph", g))
                            outs = self.step_outs[i]
                            bufs = [cp.empty(self.value_at[o].shape, self.value_at[o].dtype.np)
                                    for o in outs]
                            for o, b in zip(outs, bufs):
                                work[o] = b
                            segments.append(("live", step, outs, bufs))
                            stream.begin_capture()
                            capturing, recorded = True, 0
                            continue
                        try:
                            step(work)
                        except (NotImplementedError, RuntimeError) as e:
                            # cupy refuses, before doing it, what a capture cannot hold:
                            # cuBLAS calls, host-to-device copies. That call step runs live.
                            if "captur" in str(e) and self.step_outs[i] is not None:
                                raise _Live(i) from None
                            raise
                        recorded += 1
                finally:
                    if capturing:
                        g = stream.end_capture()
                if recorded:
                    segments.append(("graph", g))
        finally:
            self._capturing = False
        return segments

    def _launch(self, slots):
        """One replay as graph launches (and live steps); False, launching nothing, if a
        parameter's memory moved since the capture."""
        cp = self.cp
        for s, ptr in self._gptr.items():
            a = slots[s]
            if a is None or type(a) is np.ndarray or a.data.ptr != ptr:
                self._moved.add(s)
                self._graph = self._gwork = self._gstatic = self._gfixed = None
                if self.stats["graph_captures"] >= _MAX_CAPTURES:
                    self._graph_ok = False
                    self.stats["graph_error"] = "parameters kept moving between replays"
                return False
        for s, b in self._gstatic.items():
            a = slots[s]
            if a is b:
                continue
            if type(a) is np.ndarray:
                if a.ndim == 0:
                    b.fill(a.item())
                else:
                    b.set(np.ascontiguousarray(a))
            else:
                cp.copyto(b, a)
        work = self._gwork
        for seg in self._graph:
            if seg[0] == "graph":
                seg[1].launch()
                continue
            _, step, outs, bufs = seg
            step(work)
            for o, b in zip(outs, bufs):
                r = work[o]
                if r is not b:
                    cp.copyto(b, r)
                    work[o] = b
        for s in self._copy_out:
            slots[s] = work[s].copy()
        for s in self._lend_out:
            slots[s] = work[s]
        self.stats["graph_launches"] += 1
        return True

    # -- replay --------------------------------------------------------------------------
    def run(self, slots):
        if self._graph is not None and self._launch(slots):
            return slots
        if (self._graph_ok and self._runs >= _GRAPH_AFTER and flags.cuda_graphs
                and self._graph_pays(slots) and self._capture(slots) and self._launch(slots)):
            return slots
        self._runs += 1
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


def _is_random(st):
    """Whether a plan step draws random numbers (or takes a generator)."""
    names = [st.op] + ([b[0] for b in st.attrs["body"]] if st.kind == "fused" else [])
    if any(getattr(OPS.get(n), "kind", None) == "random" for n in names):
        return True
    return any(kind != "s" and isinstance(k, np.random.Generator) for kind, k in st.args)


def plan_on_cuda(plan, slots):
    """True when the plan's input or param slots, or its constants (tensors made on the
    GPU inside the traced function), hold cupy arrays."""
    arrays = [slots[s] for s in list(plan.inputs) + list(plan.params)]
    arrays += [a for _, a in plan.constants]
    for a in arrays:
        if a is not None and type(a) is not np.ndarray and hasattr(a, "__cuda_array_interface__"):
            return True
    return False
