"""The reference executor: replays a Plan over numpy with no dispatch and no autograd.

Each step is compiled once into a small closure over slot indices. Steps whose
op is a plain numpy ufunc write into the plan's reusable buffers with `out=`
(buffers live as long as the executor, so they are reused across replays);
fused groups run as a sequence of numpy calls into per-group temporaries, or
as one C program (pyrch/jit/native.py) when the extension takes them; a float32
sum, mean or sum_to right after a group is then accumulated by the group's C
program in the same pass (the reduction happens at this level, on the plan,
as the CUDA executor's reduction kernels do). From the second run on, the whole
plan replays as one C call (pyrch/jit/segments.py): the native steps (GEMMs,
fused programs, the views between them) from recorded C structs, the other steps
as callbacks into their Python closures.
"""
import math
import threading
import time

import numpy as np
from numpy import ndarray

from .._config import flags
from .._dispatch import state

from ..ops.registry import OPS
from .plan import reduce_axes, ufunc_of
from .segments import MAX_RECORDS, record
from .._C import _threads, fused as _fused


# reductions a fused step's C program can compute as it runs, and the most elements
# their result may have (the C side keeps a double partial per element and thread)
_REDUCTIONS = ("sum", "mean", "sum_to")
_ATTENTION = ("_attention", "_attention_backward")    # fused attention's ops (_compile_attention)
_MAX_SUMMED = 1 << 16
# row kernels a fused step's C program can run on an output as it computes it (vm.h)
_ROW_KERNELS = {"softmax": _fused.SOFTMAX_ROWS, "log_softmax": _fused.LOG_SOFTMAX_ROWS}


def _nothing(v):
    """The step of a reduction its fused group already computed."""


_STAGGER_MIN = 1 << 16


def _staggered_empty(shape, dt, k):
    """np.empty(shape, dt) for planned buffer k, starting at its own 64-byte offset
    within a 4 KiB page. Buffers of one size, allocated one after another, otherwise
    lie a whole number of pages (+16 bytes) apart, so element i of one and of the next
    share their low 12 address bits: a loop reading one and writing the other stalls
    its loads on every store (4K aliasing). GPT's 524k-value multiply in the plan:
    250 -> 115 us."""
    n = math.prod(shape) * dt.itemsize
    if n < _STAGGER_MIN:
        return np.empty(shape, dt)
    raw = np.empty(n + 8192, np.uint8)
    off = (-raw.ctypes.data) % 4096 + (k * 5 + 1) % 64 * 64
    return raw[off:off + n].view(dt).reshape(shape)


def _gelu_pair(st):
    """For a fused float32 step computing gelu(t) and gelu'(t) of t = x0 + x1 (a linear
    layer's product plus its bias, then GELU, in a training step: the forward's group
    with the derivative its backward saves, spelled as passes.gelu_derivative_steps
    spells it): ((the add's operands), (index in st.outs of gelu(t), of gelu'(t)));
    else None. The GEMM then computes both in its epilogue (gemm.h PYRCH_ACT_GELU_D),
    with the same operations in the same order, so the same bits."""
    if st.kind != "fused" or len(st.args) != 2 or len(st.outs) != 2:
        return None
    from .passes import gelu_derivative_steps
    steps = gelu_derivative_steps(True)
    body = st.attrs["body"]             # [0] t = x0 + x1, [1] gelu(t), [2:] gelu'(t)
    if len(body) != 2 + len(steps) or any(dt != "float32" for *_, dt in body):
        return None
    op0, opnds0, battrs0, _ = body[0]
    op1, opnds1, battrs1, _ = body[1]
    if op0 != "add" or battrs0 or sorted(opnds0) != [("x", 0), ("x", 1)] or op1 != "gelu" or \
            opnds1 != (("t", 0),) or dict(battrs1).get("approximate", "none") != "none":
        return None
    for (op, opnds, battrs, _), (want, operands) in zip(body[2:], steps):
        ref = tuple(("t", 0) if x == "a" else ("t", 2 + x) if isinstance(x, int) else ("lit", x)
                    for x in operands)
        if op != want or battrs or len(opnds) != len(ref) or \
                any(got[0] != r[0] or (got[1] != r[1] if r[0] != "lit" else
                                       not isinstance(got[1], (int, float)) or got[1] != r[1])
                    for got, r in zip(opnds, ref)):
            return None
    outs = tuple(st.attrs["outs"])
    last = 1 + len(steps)
    if sorted(outs) != [1, last]:
        return None
    return opnds0, (outs.index(1), outs.index(last))


class Executor:
    """Runs one Plan: `run(slots)` fills node slots given input/param/rng/constant slots."""

    def __init__(self, plan, inplace=None):
        self.plan = plan
        self.inplace = inplace or {}      # step index -> {output slot: state slot to write into}
        self.buffers = [None] * len(plan.buffers)
        self.template = [None] * plan.n_slots
        self.value_at = {s: v for v, s in plan.slot_of.items()}
        self.private = []     # arrays the executor owns besides the planned buffers
        for s, arr in plan.constants:
            self.template[s] = arr
        # NOTE: GEMMs (matmul, conv) and fused groups share one pool of threads, the C
        # VM's (pyrch/_C/gemm.py), so fused groups use every core even in plans that
        # call BLAS: numpy's OpenBLAS workers, which used to hold the other core after
        # each GEMM, are not used.
        self.steps = self._compile_all(plan.steps)
        self._cuda = None     # decided on the first run: a CudaExecutor, or False (numpy)
        self._names = None    # step names for the profiler, made on first profiled run
        # the plan as one C call (segments.Program): recorded on the second run (the
        # first allocates the planned buffers); None until then, False where recording
        # found no native step to run or gave up
        self._units = None
        self.lock = threading.RLock()   # held by whoever runs the plan and reads its outputs
        self._runs = 0
        self._records = 0
        self._threads_at = 0

    def _buffer(self, b):
        buf = self.buffers[b]
        if buf is None:
            shape, dt = self.plan.buffers[b]
            buf = self.buffers[b] = _staggered_empty(shape, np.dtype(dt if dt != "bool" else np.bool_), b)
        return buf

    def _metas(self, args):
        return tuple((self.value_at[k].shape, self.value_at[k].dtype.np) if kind == "s" else k
                     for kind, k in args)

    def _compile_all(self, steps):
        """One callable per plan step. A fused group followed at once by sums or means
        of its outputs (float32) computes them in the same C pass (the group's C program
        accumulates them; see pyrch/_C/vm.h `out_acc`), and an output only those
        reductions read is then never stored; the reductions' own steps do nothing."""
        reads, escaping = self.plan.reads(), self.plan.escaping()
        permuted = self._permuted_products(steps, reads, escaping)
        into, cats = self._cat_parts(steps, reads, escaping, permuted)
        out = []
        i = 0
        while i < len(steps):
            st = steps[i]
            if i in cats:
                out.append(self._compile_cat(st, cats[i], i))
                i += 1
                continue
            if st.kind == "call" and st.op == "matmul" and i + 1 < len(steps):
                fn = self._compile_linear(st, steps[i + 1], reads, escaping, i)
                if fn is not None:
                    out.append(fn)
                    out.append(_nothing)
                    i += 2
                    continue
            if i in permuted:
                out.append(self._compile_permuted_matmul(st, permuted[i], i, into.get(i)))
                i += 1
                continue
            if st.kind == "call" and st.op in _ATTENTION:
                out.append(self._compile_attention(st, i, permuted, into, escaping))
                i += 1
                continue
            j = i + 1
            if st.kind == "fused":
                while j < len(steps) and self._fusable_reduction(steps[j], st):
                    j += 1
                if j == i + 1 and j < len(steps) and self._fusable_rows(steps[j], st, reads, escaping):
                    fn = self._compile_fused(st, self.inplace.get(i), rows=steps[j])
                    if fn is not None:
                        out.append(fn)
                        out.append(_nothing)
                        i += 2
                        continue
            if j > i + 1:
                reds = steps[i + 1:j]
                drop = {r.args[0][1] for r in reds}
                drop = {k for k in drop if k not in escaping and
                        reads[k] == sum(1 for r in reds if r.args[0][1] == k)}
                fn = self._compile_fused(st, self.inplace.get(i), reds, drop)
                if fn is not None:
                    out.append(fn)
                    out.extend(_nothing for _ in reds)
                    i = j
                    continue
            out.append(self._compile(st, i))
            i += 1
        return out

    def _permuted_products(self, steps, reads, escaping):
        """{matmul step index: permutation} for float32 batched products whose one reader
        is a permute (attention's `(att @ v).transpose(1, 2)` before the heads merge,
        and the q/k/v gradients on their way back to the projection's layout, the
        k gradient coming out transposed)."""
        found = {}
        users = {}
        for j, st in enumerate(steps):
            for kind, k in st.args:
                if kind == "s":
                    users.setdefault(k, []).append(j)
        for i, st in enumerate(steps):
            if st.kind == "call" and st.op in _ATTENTION:
                # fused attention's outputs: written in the permute's layout, where the
                # last dim stays last (the C kernel writes rows of unit stride)
                for oi, y in enumerate(st.outs[:1] if st.op == "_attention" else st.outs):
                    vy = self.value_at[y]
                    if reads.get(y) != 1 or y in escaping or len(vy.shape) < 3 or \
                            vy.dtype.np != np.float32:
                        continue
                    nxt = steps[users[y][0]]
                    if nxt.kind != "call" or nxt.op != "permute":
                        continue
                    perm = tuple(d % len(vy.shape) for d in nxt.attrs["dims"])
                    if perm[-1] == len(perm) - 1 and perm != tuple(range(len(perm))):
                        found[(i, oi)] = perm
                continue
            if st.kind != "call" or st.op != "matmul" or len(st.outs) != 1 \
                    or any(kind != "s" for kind, _ in st.args):
                continue
            y = st.outs[0]
            vy = self.value_at[y]
            if reads.get(y) != 1 or y in escaping or len(vy.shape) < 3 or \
                    vy.dtype.np != np.float32 or \
                    any(len(self.value_at[k].shape) != len(vy.shape) for _, k in st.args):
                continue
            j = users[y][0]
            nxt = steps[j]
            if nxt.kind != "call" or nxt.op != "permute":
                continue
            perm = tuple(d % len(vy.shape) for d in nxt.attrs["dims"])
            nd = len(perm)
            # one of the product's two matrix dims ends up last (unit stride: its rows,
            # or its columns, then computed as the transposed product) and the
            # permutation is not the identity
            if perm[-1] < nd - 2 or perm == tuple(range(nd)):
                continue
            found[i] = perm
        return found

    def _cat_parts(self, steps, reads, escaping, permuted):
        """Products that can be written straight into a cat's output: ({matmul step index:
        (cat holder, part)}, {cat step index: cat holder}). A part is a float32 product
        (one in `permuted`) read only by its permute, read only by a reshape merging the
        last two dims (or by nothing else), read only by a cat along the last dim: the
        q/k/v gradients on their way back to the attention's projection. The cat then
        copies nothing (810 KB per layer in the GPT benchmark)."""
        producer = {}
        for j, st in enumerate(steps):
            for o in st.outs:
                producer[o] = j

        def single(k):
            return reads.get(k) == 1 and k not in escaping

        into, cats = {}, {}
        for i, st in enumerate(steps):
            if st.kind != "call" or st.op != "cat" or len(st.outs) != 1 or \
                    any(kind != "s" for kind, _ in st.args) or st.outs[0] in escaping:
                continue
            vo = self.value_at[st.outs[0]]
            nd = len(vo.shape)
            if nd < 2 or vo.dtype.np != np.float32 or st.attrs.get("dim", 0) % nd != nd - 1:
                continue
            parts, off = [], 0
            for _, k in st.args:
                vk = self.value_at[k]
                if len(vk.shape) != nd or tuple(vk.shape[:-1]) != tuple(vo.shape[:-1]) or \
                        vk.dtype.np != np.float32 or not single(k) or k not in producer:
                    break
                j, view_shape = producer[k], tuple(vk.shape)
                if steps[j].kind == "call" and steps[j].op == "reshape":
                    src = steps[j].args[0][1]
                    vs = self.value_at[src]
                    # a reshape merging the last two dims: the slice viewed with them split
                    if len(vs.shape) != nd + 1 or tuple(vs.shape[:-2]) != tuple(vk.shape[:-1]) \
                            or vs.shape[-2] * vs.shape[-1] != vk.shape[-1] or not single(src) \
                            or src not in producer:
                        break
                    j, view_shape = producer[src], tuple(vs.shape)
                if steps[j].kind != "call" or steps[j].op != "permute":
                    break
                y = steps[j].args[0][1]
                m = producer.get(y)
                if m is not None and steps[m].op in _ATTENTION:
                    m = (m, steps[m].outs.index(y))
                if m not in permuted or not single(y):
                    break
                parts.append((m, k, off, vk.shape[-1], view_shape))
                off += vk.shape[-1]
            else:
                if off != vo.shape[-1] or len({m for m, *_ in parts}) != len(parts):
                    continue
                holder = {"shape": tuple(vo.shape), "arr": None,
                          "parts": [(k, o, c) for _, k, o, c, _ in parts]}
                cats[i] = holder
                for m, k, o, c, view_shape in parts:
                    into[m] = (holder, o, c, view_shape)
        return into, cats

    def _own(self, shape):
        """A float32 array of the executor's own besides the planned buffers (allocated
        once, kept across replays: for values that never escape)."""
        arr = _staggered_empty(shape, np.dtype(np.float32), len(self.buffers) + len(self.private))
        self.private.append(arr)
        return arr

    def _cat_array(self, holder):
        """The cat's output, allocated once (the executor's own: never escapes)."""
        arr = holder["arr"]
        if arr is None:
            arr = holder["arr"] = self._own(holder["shape"])
        return arr

    def _cat_part(self, into, base_shape):
        """A product's place in a cat's output (see _cat_parts), its last dim split as
        the permute's input has it: a callable giving that view, or None where the
        shapes do not match."""
        holder, off, c, view_shape = into
        if view_shape != base_shape:
            return None
        cat_array = self._cat_array

        def place():
            part = cat_array(holder)[..., off:off + c].view()
            part.shape = base_shape         # a view: .shape refuses to copy
            return part
        return place

    def _compile_cat(self, st, holder, k):
        """The cat of products already written into their places in its output (see
        _cat_parts): it copies only a part whose product could not be written there
        (then its own buffer holds it)."""
        o = st.outs[0]
        parts = holder["parts"]
        cat_array = self._cat_array
        copyto = np.copyto

        def step(v):
            arr = cat_array(holder)
            n = 0
            for slot, off, c in parts:
                x = v[slot]
                dst = arr[..., off:off + c]
                if not (type(x) is ndarray and x.strides == dst.strides and
                        x.__array_interface__["data"][0] == dst.__array_interface__["data"][0]):
                    copyto(dst, x)
                    n += 1
            step.copies += n
            step.settled = n == 0
            v[o] = arr
        step.copies = 0         # parts copied so far (tests look)
        # the last run only put an array of the executor's own into the slot: the
        # products wrote every part in place (see segments.py _settled)
        step.settled = False
        return step

    def _compile_permuted_matmul(self, st, perm, k, into=None):
        """A batched float32 product written into its buffer (the planned one, else fresh
        memory) laid out as its permute reader wants it: the permute's result is then
        contiguous and a reshape after it (attention's heads merge) is a view instead of
        a copy. The product is the same C call as eager's, with other output strides
        (pyrch/_C/gemm.py mm_into), or the transposed product where the product's columns
        end up last."""
        from .._C.gemm import mm_into
        i0, i1 = (k2 for _, k2 in st.args)
        o0 = st.outs[0]
        shape = tuple(self.value_at[o0].shape)
        inv = tuple(np.argsort(perm))
        base_shape = tuple(shape[d] for d in perm)
        fallback = self._compile(st, k)
        b, get_buf, empty = st.bufs[0], self._buffer, np.empty
        swapped = perm[-1] == len(perm) - 2     # the product's columns end up last
        place = self._cat_part(into, base_shape) if into is not None else None

        def step(v):
            a, w = v[i0], v[i1]
            # its place in a cat's output, the planned buffer (its lifetime covers the
            # permute's views) or fresh memory
            base = place() if place is not None else \
                get_buf(b).reshape(base_shape) if b >= 0 else empty(base_shape, np.float32)
            out = base.transpose(inv)
            # (a @ w) with unit-stride columns is (w^T @ a^T) with unit-stride rows
            done = mm_into(w.swapaxes(-1, -2), a.swapaxes(-1, -2), out.swapaxes(-1, -2)) \
                if swapped else mm_into(a, w, out)
            if done is None:
                fallback(v)
                return
            v[o0] = out
        step.c_only = True      # its work is the C calls it makes (segments.py checks them)
        return step

    def _compile_attention(self, st, k, permuted, into, escaping):
        """Fused attention (pyrch/_C/attn.py) writing each output where its reader wants
        it: an output read only by a permute that keeps the last dim last is written in
        the permute's layout (the permute is then a view, and the heads merge after it
        a view too), into its part of a cat's output where _cat_parts found one (the
        q/k/v gradients), else into an array of the executor's own, allocated once (an
        output that escapes gets fresh memory on every replay)."""
        from .._C import attn
        fallback = self._compile(st, k)
        backward = st.op == "_attention_backward"
        place = []
        for oi, o in enumerate(st.outs):
            shape = tuple(self.value_at[o].shape)
            perm = permuted.get((k, oi), tuple(range(len(shape))))
            inv = tuple(np.argsort(perm))
            base_shape = tuple(shape[d] for d in perm)
            part = self._cat_part(into[(k, oi)], base_shape) if (k, oi) in into else None
            if part is not None:
                place.append(lambda part=part, inv=inv: part().transpose(inv))
            elif o in escaping:
                place.append(lambda base_shape=base_shape: np.empty(base_shape, np.float32))
            else:
                own = []

                def mine(own=own, base_shape=base_shape, inv=inv):
                    if not own:         # allocated on the first run, as planned buffers are
                        own.append(self._own(base_shape))
                    return own[0].transpose(inv)
                place.append(mine)
        args, attrs, outs = st.args, st.attrs, st.outs

        def step(v):
            vals = [v[s2] if kind == "s" else s2 for kind, s2 in args]
            run = attn.backward if backward else attn.forward
            r = run(*vals, attrs["scale"], attrs.get("divide", False),
                    out=[g() for g in place])
            if r is None:
                fallback(v)
                return
            for s2, x in zip(outs, r):
                v[s2] = x
        step.c_only = OPS[st.op].one_c_call(attrs)     # one pyrch_attention call (segments.py)
        return step

    def _compile_linear(self, mm, nxt, reads, escaping, k):
        """matmul followed at once by `+ bias` (a 1-D bias along the last dim), alone or
        then relu / gelu / tanh / sigmoid, as one GEMM whose epilogue adds the bias and
        applies the activation while each block of the product is in cache (pyrch/_C/
        gemm.c); also, in float32, the training step's group that computes GELU and the
        derivative its backward saves (_gelu_pair), both written by the epilogue, and a
        lone multiply of the product by another matrix of its shape (the backward's
        gradient times that derivative; passes.hoist_product_multiplies puts it right
        after its product). None when the pattern or the extension is not there."""
        from .._C import gemm
        if not gemm.available() or len(mm.args) != 2 or any(kind != "s" for kind, _ in mm.args):
            return None
        y = mm.outs[0]
        pair = _gelu_pair(nxt)                  # (bias add's operands, output order) or None
        if reads.get(y) != 1 or y in escaping or len(nxt.outs) != (2 if pair else 1) or \
                any(kind != "s" for kind, _ in nxt.args):
            return None
        act = None
        if pair is not None:
            act = "gelu_d"
            pos = [nxt.args[i][1] for _, i in pair[0]]
        elif nxt.kind == "fused" and len(nxt.args) == 2 and len(nxt.attrs["body"]) == 1 and \
                nxt.attrs["body"][0][0] == "mul" and not nxt.attrs["body"][0][2] and \
                tuple(nxt.attrs["outs"]) == (0,) and \
                sorted(nxt.attrs["body"][0][1]) == [("x", 0), ("x", 1)]:
            act = "mul"                         # the product times another matrix
            pos = [nxt.args[i][1] for _, i in nxt.attrs["body"][0][1]]
        elif nxt.kind == "call" and nxt.op == "mul" and not nxt.attrs and len(nxt.args) == 2:
            act = "mul"
            pos = [k2 for _, k2 in nxt.args]
        elif nxt.kind == "call" and nxt.op == "add" and not nxt.attrs and len(nxt.args) == 2:
            pos = [k2 for _, k2 in nxt.args]
        elif nxt.kind == "fused" and len(nxt.args) == 2 and 1 <= len(nxt.attrs["body"]) <= 2 \
                and tuple(nxt.attrs["outs"]) == (len(nxt.attrs["body"]) - 1,):
            body = nxt.attrs["body"]
            op0, opnds, battrs, _ = body[0]
            if op0 != "add" or dict(battrs).get("alpha", 1) != 1 or \
                    sorted(opnds) != [("x", 0), ("x", 1)]:
                return None
            pos = [nxt.args[i][1] for _, i in opnds]
            if len(body) == 2:
                op1, opnds1, battrs1, _ = body[1]
                if opnds1 != (("t", 0),):
                    return None
                battrs1 = dict(battrs1)
                act = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}.get(op1)
                if op1 == "gelu":
                    act = "gelu_tanh" if battrs1.get("approximate") == "tanh" else "gelu"
                if act is None or (op1 != "gelu" and battrs1):
                    return None
        else:
            return None
        if y not in pos:
            return None
        # the other operand: the bias, or (act "mul") the matrix the product is multiplied
        # by, read as the GEMM's aux
        other = pos[1] if pos[0] == y else pos[0]
        bias_slot, mul_slot = (None, other) if act == "mul" else (other, None)
        # the GELU pair's outputs: gelu(t) in the GEMM's output, gelu'(t) in aux
        o_at, d_at = pair[1] if pair is not None else (0, None)
        vy, vx, vo = self.value_at[y], self.value_at[other], self.value_at[nxt.outs[o_at]]
        va, vw = self.value_at[mm.args[0][1]], self.value_at[mm.args[1][1]]
        dt = vy.dtype.np
        n = vy.shape[-1] if vy.shape else 0
        if dt not in (np.float32, np.float64) or vx.dtype.np != dt or vo.dtype.np != dt or \
                tuple(vx.shape) != (tuple(vy.shape) if act == "mul" else (n,)) or \
                tuple(vo.shape) != tuple(vy.shape) or \
                len(vw.shape) != 2 or len(va.shape) < 2 or \
                (dt == np.float64 and act not in (None, "relu")):    # bitwise as eager in float64
            return None
        if pair is not None and tuple(self.value_at[nxt.outs[d_at]].shape) != tuple(vy.shape):
            return None
        ia, iw, o, b = mm.args[0][1], mm.args[1][1], nxt.outs[o_at], nxt.bufs[o_at]
        od, bd = (nxt.outs[d_at], nxt.bufs[d_at]) if pair is not None else (None, -1)
        shape, kdim = tuple(vo.shape), va.shape[-1]
        get_buf = self._buffer
        matmul, linear_ok = gemm.matmul, gemm.linear_ok
        may_share = np.may_share_memory
        slow = [None]
        layouts = {}

        def step(v):
            a, w = v[ia], v[iw]
            bias = v[bias_slot] if bias_slot is not None else None
            if slow[0] is None:
                try:
                    if type(a) is not ndarray or type(w) is not ndarray:
                        raise TypeError
                    a2 = a if a.ndim == 2 else a.reshape(-1, kdim)
                    # float64 only where eager's matmul makes the same C call: the sum
                    # then rounds the same way, so it stays bitwise equal to eager;
                    # float32 wherever BLAS can read the operands (gemm.linear_ok;
                    # decided once per operand layout: shapes and dtypes are the plan's)
                    key = (a2.strides, w.strides, flags.c)
                    same = layouts.get(key)
                    if same is None:
                        same = layouts[key] = linear_ok(a2, w)
                    if not same:
                        raise TypeError
                    out = get_buf(b) if b >= 0 else None
                    # the plan may give the add's buffer to the matmul's operand (its last
                    # reader was the matmul step): the fused GEMM still reads it, so not there
                    if out is None or may_share(out, a) or may_share(out, w) or \
                            (bias is not None and may_share(out, bias)):
                        out = np.empty(shape, dtype=dt)
                    if mul_slot is not None:
                        other = v[mul_slot]
                        if type(other) is not ndarray or not other.flags.c_contiguous:
                            raise TypeError
                        if may_share(out, other):         # the product overwrites it first
                            out = np.empty(shape, dtype=dt)
                        matmul(a2, w, out.reshape(-1, n), act=act, aux=other.reshape(-1, n))
                    elif od is None:
                        matmul(a2, w, out.reshape(-1, n), bias=bias, act=act)
                    else:
                        aux = get_buf(bd) if bd >= 0 else None
                        if aux is None or may_share(aux, a) or may_share(aux, w) or \
                                may_share(aux, bias) or may_share(aux, out):
                            aux = np.empty(shape, dtype=dt)
                        matmul(a2, w, out.reshape(-1, n), bias=bias, act=act,
                               aux=aux.reshape(-1, n))
                        v[od] = aux
                    v[o] = out
                    return
                except (TypeError, ValueError, AttributeError):
                    # an unusual operand (a view numpy cannot reshape, a foreign array) or
                    # a product eager leaves to numpy: the two steps as they were, from now on
                    slow[0] = (self._compile(mm, k), self._compile(nxt, k + 1))
            slow[0][0](v)
            slow[0][1](v)
        step.slow = slow        # [None] while the fused GEMM runs (tests look)
        step.c_only = True      # while slow[0] is None: one C call, nothing else
        return step

    def _fusable_rows(self, sm, st, reads, escaping):
        """A float32 softmax / log_softmax over the last axis of an output of fused step
        `st` that nothing else reads: the group's C program then runs the row kernel on
        each row as it computes it (vm.h out_acc 2 / 3), and the prologue (attention's
        scale and mask) is never stored."""
        if sm.kind != "call" or sm.op not in _ROW_KERNELS or len(sm.args) != 1 or \
                sm.args[0][0] != "s" or sm.args[0][1] not in st.outs or len(sm.outs) != 1:
            return False
        k = sm.args[0][1]
        x, y = self.value_at[k], self.value_at[sm.outs[0]]
        shape = tuple(x.shape)
        dim = sm.attrs.get("dim")
        return (x.dtype.np == np.float32 and y.dtype.np == np.float32 and len(shape) >= 1 and
                dim in (-1, len(shape) - 1) and 0 not in shape and shape[-1] <= _fused.MAX_ROW and
                tuple(y.shape) == shape and k not in escaping and reads[k] == 1)

    def _fusable_reduction(self, red, st):
        """A float32 sum / mean / sum_to of one of fused step `st`'s outputs."""
        if red.kind != "call" or red.op not in _REDUCTIONS or len(red.args) != 1 or \
                red.args[0][0] != "s" or red.args[0][1] not in st.outs or len(red.outs) != 1:
            return False
        x = self.value_at[red.args[0][1]]
        y = self.value_at[red.outs[0]]
        if x.dtype.np != np.float32 or y.dtype.np != np.float32 or \
                x.shape != self.value_at[st.outs[0]].shape:
            return False
        axes = reduce_axes(red.op, red.attrs, x.shape)
        return axes is not None and math.prod(y.shape) <= _MAX_SUMMED

    def _compile(self, st, k=None):
        if st.kind == "fused":
            return self._compile_fused(st, self.inplace.get(k))
        o = OPS[st.op]
        fwd = o.forward
        attrs = st.attrs
        args = st.args
        outs = st.outs
        slots = tuple(k for kind, k in args if kind == "s")
        all_slots = len(slots) == len(args)
        uf = ufunc_of(st.op, attrs, self._metas(args)) if st.bufs[0] >= 0 else None
        if uf is np.matmul and all_slots and len(slots) == 2:
            return self._compile_matmul(st, slots)
        if uf is not None:
            lone = self._compile_lone(st)
            if lone is not None:
                return lone
            b = st.bufs[0]
            get_buf = self._buffer
            o0 = outs[0]
            if all_slots and len(slots) == 2:
                i0, i1 = slots

                def step(v):
                    v[o0] = uf(v[i0], v[i1], out=get_buf(b))
            elif all_slots and len(slots) == 1:
                i0 = slots[0]

                def step(v):
                    v[o0] = uf(v[i0], out=get_buf(b))
            else:
                def step(v):
                    v[o0] = uf(*[v[k] if kind == "s" else k for kind, k in args], out=get_buf(b))
            return step
        multi = len(outs) > 1
        o0 = outs[0]
        if all_slots and not attrs and not multi:
            if len(slots) == 1:
                i0 = slots[0]

                def step(v):
                    r = fwd(np, v[i0])
                    v[o0] = r if type(r) is ndarray else np.asarray(r)
                step.c_only = o.one_c_call(attrs)
                return step
            if len(slots) == 2:
                i0, i1 = slots

                def step(v):
                    r = fwd(np, v[i0], v[i1])
                    v[o0] = r if type(r) is ndarray else np.asarray(r)
                # a product with no planned buffer (a gradient handed back as .grad): its
                # forward is gemm.mm's one C call into a new array, or numpy's matmul
                step.c_only = st.op == "matmul" or o.one_c_call(attrs)
                return step

        def step(v):
            r = fwd(np, *[v[k] if kind == "s" else k for kind, k in args], **attrs)
            if multi:
                for s, x in zip(outs, r):
                    v[s] = np.asarray(x)
            else:
                v[o0] = r if type(r) is np.ndarray else np.asarray(r)
        step.c_only = o.one_c_call(attrs)
        return step

    def _compile_lone(self, st):
        """A lone exact elementwise op (add, mul, ... with numpy's bits: IEEE arithmetic
        on operands of its own float dtype) into its planned buffer as a one-op C
        program, or None. Its C call then joins the plan's recorded C run
        (segments.py) instead of a numpy ufunc calling back into Python between two
        native steps (a small GPT step's residual adds: a callback and the next
        segment's pointers set again, for a loop of about a microsecond)."""
        from .native import _EXACT_F64, compile_fused
        from .plan import Step
        out = self.value_at[st.outs[0]]
        dt = out.dtype.name
        if st.op not in _EXACT_F64 or st.attrs or dt not in ("float32", "float64") or \
                len(st.outs) != 1 or \
                any(kind == "s" and self.value_at[k].dtype.name != dt for kind, k in st.args):
            return None
        args, idx, opnds = [], {}, []
        for kind, k in st.args:
            if kind == "s":
                if k not in idx:
                    idx[k] = len(args)
                    args.append(("s", k))
                opnds.append(("x", idx[k]))
            else:
                opnds.append(("lit", k))
        one = Step("fused", "fused", tuple(args),
                   {"body": ((st.op, tuple(opnds), (), dt),), "outs": (0,)},
                   st.outs, st.bufs, st.src)
        return compile_fused(one, tuple(out.shape), self._metas(one.args), self._buffer)

    def _compile_matmul(self, st, slots):
        """A GEMM into its planned buffer on pyrch's threads (pyrch/_C/gemm.py), numpy's
        matmul where that does not apply."""
        from .._C.gemm import mm
        b, o0 = st.bufs[0], st.outs[0]
        i0, i1 = slots
        get_buf = self._buffer
        matmul = np.matmul

        def step(v):
            a, c, out = v[i0], v[i1], get_buf(b)
            v[o0] = out if mm(a, c, out) is not None else matmul(a, c, out=out)
        step.c_only = True      # numpy's matmul makes no C call, so it is never recorded
        return step

    def _compile_fused(self, st, inplace=None, reds=None, drop=(), rows=None):
        body = st.attrs["body"]
        out_slot = dict(zip(st.attrs["outs"], st.outs))
        out_buf = dict(zip(st.attrs["outs"], st.bufs))
        args = st.args
        xmetas = self._metas(args)
        shape = self.value_at[st.outs[0]].shape
        from .native import compile_fused
        if rows is not None:            # (see _fusable_rows)
            src = rows.args[0][1]
            return compile_fused(st, shape, xmetas, self._buffer, inplace,
                                 rows=(src, rows.outs[0], rows.bufs[0], _ROW_KERNELS[rows.op]),
                                 drop={src})
        if reds:
            specs = []
            for r in reds:
                axes = reduce_axes(r.op, r.attrs, shape)
                y = self.value_at[r.outs[0]]
                keep = tuple(1 if d in axes else n for d, n in enumerate(shape))
                count = math.prod(shape[d] for d in axes)
                scale = 1.0 / count if r.op == "mean" and count else 1.0
                specs.append((r.args[0][1], r.outs[0], r.bufs[0], tuple(y.shape), keep, scale))
            return compile_fused(st, shape, xmetas, self._buffer, inplace, specs, drop)
        native = compile_fused(st, shape, xmetas, self._buffer, inplace)
        if native is not None:
            return native
        tmetas = [(shape, np.dtype(dt if dt != "bool" else np.bool_)) for _, _, _, dt in body]
        # per body step: (ufunc, forward, operands, attrs, mode, buffer, result slot)
        # mode 0: ufunc into a planned buffer; 1: ufunc, fresh (escaping); 2: ufunc into a
        # private temporary; 3: forward call; 4: forward call copied into a planned buffer;
        # 5: forward call that escapes (copied if it may alias an input)
        prog = []
        for j, (op, operands, battrs, dt) in enumerate(body):
            battrs = dict(battrs)
            metas = tuple(xmetas[i] if kind == "x" else tmetas[i] if kind == "t" else i
                          for kind, i in operands)
            uf = ufunc_of(op, battrs, metas)
            ob = out_buf.get(j, -1)
            s = out_slot.get(j)
            if uf is not None:
                mode = 0 if ob >= 0 else 1 if s is not None else 2
            else:
                mode = 4 if ob >= 0 else 5 if s is not None else 3
            ops = tuple((0 if kind == "x" else 1 if kind == "t" else 2, i) for kind, i in operands)
            prog.append((uf, OPS[op].forward, ops, battrs, mode, ob, s, tmetas[j][1]))
        get_buf = self._buffer
        n = len(prog)
        temps = [None] * n

        def step(v):
            xs = [v[k] if kind == "s" else k for kind, k in args]
            t = [None] * n
            for j, (uf, fwd, operands, battrs, mode, ob, s, dt) in enumerate(prog):
                ops = [xs[i] if kd == 0 else t[i] if kd == 1 else i for kd, i in operands]
                if mode == 0:
                    r = uf(*ops, out=get_buf(ob))
                elif mode == 2:
                    dst = temps[j]
                    if dst is None:
                        dst = temps[j] = np.empty(shape, dtype=dt)
                    r = uf(*ops, out=dst)
                elif mode == 1:
                    r = np.asarray(uf(*ops))
                else:
                    r = fwd(np, *ops, **battrs) if battrs else fwd(np, *ops)
                    if mode == 4:
                        dst = get_buf(ob)
                        np.copyto(dst, r)
                        r = dst
                    elif mode == 5 and (type(r) is not ndarray or r.base is not None
                                        or any(r is x for x in xs)):
                        r = np.array(r, copy=True)
                t[j] = r
                if s is not None:
                    v[s] = r
        return step

    @property
    def cuda(self):
        """The CudaExecutor this plan runs on (None on the CPU or before the first run)."""
        return self._cuda or None

    def run(self, slots):
        cu = self._cuda
        if cu is None:
            cu = self._cuda = _cuda_for(self.plan, slots)
        if cu:
            return cu.run(slots)
        prof = state.profiler
        if prof is not None:
            return self._run_profiled(slots, prof)
        units = self._units
        if units and flags.c and _threads[0] == self._threads_at:
            done = units.run(slots)
            if done is None:
                # the first segment's outside array changed layout: the steps one by
                # one this time
                for step in self.steps:
                    step(slots)
            if not done:                    # a layout changed: record again next run
                self._units, self._runs = None, 1
            return slots
        if units:                           # set_num_threads or config(c=...) since
            units = self._units = None
            self._runs = 1
        self._runs += 1
        if self._runs >= 2 and units is None and flags.c and self._records < MAX_RECORDS:
            self._records += 1
            from .._C import get_num_threads
            self._threads_at = get_num_threads()
            self._units = record(self, slots, _nothing) or False
            return slots
        for step in self.steps:
            step(slots)
        return slots

    def _run_profiled(self, slots, prof):
        """Run the steps, reporting each one's time to the active profiler."""
        names = self._names
        if names is None:
            names = self._names = [st.name for st in self.plan.steps]
        clock = time.perf_counter
        for step, name in zip(self.steps, names):
            t0 = clock()
            step(slots)
            prof.record(name, clock() - t0, "jit")
        return slots


def _cuda_for(plan, slots):
    """A CudaExecutor when the plan's tensors are cupy arrays, else False."""
    import sys
    if "cupy" not in sys.modules:
        return False
    from .cuda_executor import CudaExecutor, plan_on_cuda
    return CudaExecutor(plan) if plan_on_cuda(plan, slots) else False
