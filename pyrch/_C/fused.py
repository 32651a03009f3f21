"""Compile a fused elementwise group into a VM program and run it in C.

A group is given as straight-line steps over value ids: ids 0..n_in-1 are the
group's inputs, step k defines id n_in+k. Operands may also be Python numbers
(constants). `compile_group` allocates registers by liveness (a temporary is
reused once its last reader has run; outputs are never reused) and
`FusedKernel` runs the program over arrays, merging adjacent dimensions first
so the C loop usually sees one or two.

>>> import numpy as np
>>> from pyrch._C import fused
>>> k = fused.compile_group(2, [("mul", (0, 1), {}), ("add", (2, 1.0), {})], [3], "float32")
>>> out = np.empty(3, np.float32)
>>> _ = k([np.ones(3, np.float32), np.full(3, 2, np.float32)], [out]) if k.native else None
"""
import threading

import numpy as np

from . import codegen

DTYPE_CODE = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.int64): 2,
              np.dtype(np.bool_): 3, np.dtype(np.int32): 4}
_ERRORS = {-1: "a required pointer is NULL", -2: "a count is out of range",
           -3: "unknown opcode", -4: "register index out of range",
           -5: "bad shape (ndim 1..8, extents >= 0)", -6: "negative stride",
           -7: "an operand's strides reach outside its buffer", -8: "unsupported dtype",
           -9: "out of memory for the register file", -10: "an instruction writes a non-temporary register",
           -11: "an index is out of range",
           -12: "a Python step failed or refused the run"}
E_INDEX = -11       # PYRCH_E_INDEX: the callers that check indices raise torch's IndexError

_table = None
from . import _threads as _THREADS   # noqa: E402  (set_num_threads's cell; 0 = not set yet)


def opcode_table():
    """name -> (code, arity, attributes used) for the ops the compiled VM knows."""
    global _table
    if _table is None:
        _table = {r[0]: (i, r[1], r[2]) for i, r in enumerate(codegen.registry_rows())}
    return _table


def fusable(op_name, attrs=None):
    """True when `op_name` (with these attribute values) can run inside a fused program."""
    entry = opcode_table().get(op_name)
    if entry is None:
        return False
    attrs = attrs or {}
    return all(isinstance(attrs.get(a), (int, float)) for a in entry[2])   # bools are ints


# Relative cost per element of one instruction, for the threading decision:
# basic arithmetic and selects are 1, division and square root 4, the
# polynomial transcendentals 16 (measured on the AVX-512 clone).
_HEAVY = {"exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "tanh", "sigmoid", "erf",
          "erfc", "gelu", "silu", "mish", "softplus", "elu", "sin", "cos", "tan", "asin", "acos",
          "atan", "atan2", "sinh", "cosh", "asinh", "acosh", "atanh", "pow", "logit", "hypot",
          "fmod", "remainder", "floor_divide", "lgamma", "digamma", "erfinv", "selu", "celu"}
_MEDIUM = {"div", "sqrt", "rsqrt", "reciprocal"}
# A program runs on several threads only when elements x cost reaches this (and
# the C side has at least 32k elements). The VM's workers are a persistent pool,
# so a parallel run costs a few microseconds: measured on this 2-core machine,
# two threads win from ~32k elements for an optimizer update (131k: 79 -> 45 us)
# and from ~4k x 16 for a transcendental (tanh 131k: 143 -> 68 us).
PAR_WORK = 1 << 16

# pyrch/jit/segments.py's recorder while it records a replay's C calls, else None: told
# of each call's C struct just before the call (the struct is shared by every call with
# this layout, so the recorder copies what it needs at once)
RECORDER = [None]


def recording_f32(dtype):
    """True while a plan records its C calls and `dtype` is float32: a kernel that is
    not worth its Python set-up in eager (a tiny GEMM, a narrow column sum) costs no
    Python once recorded, so the op takes the C path then. float32 only: float64 must
    give eager's bits, and eager takes numpy's path for these."""
    return RECORDER[0] is not None and dtype == np.float32


def op_cost(name):
    return 16 if name in _HEAVY else 4 if name in _MEDIUM else 1


class Program:
    """Three-address code over registers [inputs | constants | temporaries]."""
    __slots__ = ("code", "n_in", "consts", "n_regs", "out_regs", "dtype", "text", "cost", "acc")

    def __init__(self, code, n_in, consts, n_regs, out_regs, dtype, text, cost=1, acc=None):
        self.code, self.n_in, self.consts = code, n_in, consts
        self.n_regs, self.out_regs, self.dtype, self.text = n_regs, out_regs, dtype, text
        self.cost = cost          # per-element work, sum of op_cost over the instructions
        self.acc = acc            # None, or per output its kind (vm.h out_acc): 1 summed, ...

    def __repr__(self):
        return f"<Program {self.dtype} regs={self.n_regs}\n{self.text}>"


def compile_group(n_in, steps, outputs, dtype, acc=None):
    """Compile steps [(op_name, operands, attrs)] into a FusedKernel.

    acc: None, or a kind per output (vm.h `out_acc`): 0 (or False) a plain store; 1 (or
    True) a sum of its value over the dims where the output array (given in keepdims
    form) has size 1, computed as the program runs (the summed values are never
    stored); SOFTMAX_ROWS / LOG_SOFTMAX_ROWS: the softmax / log-softmax of its value
    over the last axis, at most PYRCH_BLOCK long, float32 (the values before it are
    never stored)."""
    table = opcode_table()
    n_steps = len(steps)
    consts, const_index = [], {}

    def const_id(v):
        key = (type(v), float(v))
        if key not in const_index:
            const_index[key] = len(consts)
            consts.append(float(v))
        return const_index[key]
    # operand lists with attribute values appended as constants, per the opcode's arity
    ops = []
    for name, operands, attrs in steps:
        if name not in table:
            raise ValueError(f"op {name!r} has no C expression and cannot be fused")
        code, arity, used = table[name]
        full = list(operands) + [float((attrs or {})[a]) for a in used]   # attrs are constants
        if len(full) != arity:
            raise ValueError(f"op {name!r} takes {arity} operands, got {len(full)}")
        ops.append((code, [("c", const_id(x)) if not isinstance(x, (int, np.integer)) or isinstance(x, bool)
                           else ("v", int(x)) for x in full]))
    for name, operands, _ in steps:
        for x in operands:
            if isinstance(x, int) and not isinstance(x, bool) and not (0 <= x < n_in + n_steps):
                raise ValueError(f"operand id {x} is out of range")
    # NOTE: a Python int operand is a value id; integer constants must be passed as floats.
    last_use = {}
    for k, (_, args) in enumerate(ops):
        for kind, x in args:
            if kind == "v":
                last_use[x] = k
    keep = set(outputs)
    first_temp = n_in + len(consts)
    free, reg_of, n_regs = [], {}, first_temp
    for i in range(n_in):
        reg_of[i] = i
    code_rows, text = [], []
    for k, (opcode, args) in enumerate(ops):
        srcs = [reg_of[x] if kind == "v" else n_in + x for kind, x in args]
        # free temporaries whose last reader is this step (after reading them)
        for kind, x in args:
            if kind == "v" and x >= n_in and last_use.get(x) == k and x not in keep:
                r = reg_of[x]
                if r not in free:
                    free.append(r)
        if free:
            dst = free.pop()
        else:
            dst, n_regs = n_regs, n_regs + 1
        reg_of[n_in + k] = dst
        while len(srcs) < 3:
            srcs.append(srcs[0] if srcs else 0)
        code_rows.append([opcode, dst] + srcs)
        text.append(f"r{dst} = {steps[k][0]}({', '.join('r%d' % s for s in srcs[:len(args)])})")
    out_regs = [reg_of[o] for o in outputs]
    code = np.asarray(code_rows, dtype=np.int32).reshape(-1, 5)
    if acc is not None and len(acc) != len(outputs):
        raise ValueError(f"acc has {len(acc)} flags for {len(outputs)} outputs")
    if acc is not None and not any(acc):
        acc = None
    prog = Program(code, n_in, np.asarray(consts, dtype=np.float64), max(n_regs, 1), out_regs,
                   np.dtype(dtype), "\n".join(text), sum(op_cost(name) for name, _, _ in steps),
                   None if acc is None else tuple(int(a) for a in acc))
    return FusedKernel(prog)


def merge_dims(shape, strides_list):
    """Merge adjacent dimensions that every operand walks contiguously."""
    shape = list(shape)
    strides_list = [list(s) for s in strides_list]
    d = len(shape) - 2
    while d >= 0:
        n1 = shape[d + 1]
        if all(st[d] == st[d + 1] * n1 for st in strides_list) or shape[d] == 1 or n1 == 1:
            if shape[d] == 1:
                pass
            elif n1 == 1:
                for st in strides_list:
                    st[d + 1] = st[d]
            shape[d + 1] = shape[d] * n1
            del shape[d]
            for st in strides_list:
                del st[d]
        d -= 1
    if not shape:
        shape = [1]
        strides_list = [[0] for _ in strides_list]
    return shape, strides_list


def _bcast_strides(arr, shape):
    nd = len(shape)
    st = [0] * nd
    off = nd - arr.ndim
    for i in range(arr.ndim):
        st[off + i] = 0 if arr.shape[i] == 1 and shape[off + i] != 1 else arr.strides[i]
    return st


# out_acc kinds of a row kernel on an output (vm.h PYRCH_OUT_SOFTMAX, _LOG_SOFTMAX), and
# the longest row it takes (PYRCH_BLOCK)
SOFTMAX_ROWS, LOG_SOFTMAX_ROWS = 2, 3
MAX_ROW = 1024


class FusedKernel:
    """A compiled program plus the glue that hands arrays to the C VM."""

    def __init__(self, program):
        from . import lib as _lib_fn, ffi as _ffi_fn, stale
        self.program = program
        self._lock = threading.Lock()
        self._lib = _lib_fn() if not stale() else None
        self.native = self._lib is not None
        self._ffi = _ffi_fn()
        if self.native:
            ffi = self._ffi
            self._code = program.code
            self._consts = program.consts
            self._out_reg = np.asarray(program.out_regs, dtype=np.int32)
            self._acc = None if program.acc is None else np.asarray(program.acc, dtype=np.int32)
            self._s = ffi.new("pyrch_fused_t *")
            s = self._s
            s.n_instr, s.n_regs, s.n_in = len(program.code), program.n_regs, program.n_in
            s.n_const, s.n_out = len(program.consts), len(program.out_regs)
            s.dtype = DTYPE_CODE[program.dtype]
            s.code = ffi.cast("const int32_t *", self._code.ctypes.data)
            s.consts = ffi.cast("const double *", self._consts.ctypes.data) if len(self._consts) else ffi.NULL
            s.out_reg = ffi.cast("const int32_t *", self._out_reg.ctypes.data)
            s.out_acc = ffi.NULL if self._acc is None else ffi.cast("const int32_t *", self._acc.ctypes.data)
            from . import get_num_threads
            self._threads = get_num_threads
            self._layouts = {}
            # from_buffer is ~5x cheaper than a.ctypes.data (contiguous operands only)
            self._fb = ffi.from_buffer

    def __call__(self, inputs, outputs, shape=None):
        """Run over `inputs` (arrays broadcastable to the outputs' shape, or to `shape`)
        into `outputs` (summed outputs in keepdims form)."""
        if not self.native:
            raise RuntimeError("the C extension is not available; use the reference executor")
        return self.run(self.prepare(inputs, outputs, shape), inputs, outputs)

    def prepare(self, inputs, outputs, shape=None):
        """The checked C-side layout for operands laid out like these (cached), for `run`."""
        key = tuple([a.shape + a.strides + (a.dtype.num,) for a in inputs] +
                    [a.shape + a.strides + (a.dtype.num,) for a in outputs] + [shape])
        return self.prepare_as(key, inputs, outputs, shape)

    def prepare_as(self, key, inputs, outputs, shape=None):
        """`prepare` under a key the caller builds, cheaper than walking every operand's
        strides, when it knows the key names the operands' layout (every shape, stride
        and dtype) on each call."""
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = self._layout(inputs, outputs, shape)
        return layout

    def run(self, layout, inputs, outputs):
        """Run on operands with exactly the shapes, strides and dtypes `layout` was
        prepared for (a plan's steps, where only the data pointers change): the
        per-call work is filling in pointers. Use __call__ for anything else."""
        s, in_ptr, out_ptr, n, _, contig = layout
        fb = self._fb
        # the layout's C struct is shared: one caller at a time (the C call releases the GIL)
        with self._lock:
            for i, a in enumerate(inputs):
                in_ptr[i] = fb(a) if contig[i] else self._ffi.cast("char *", a.ctypes.data)
            k = len(inputs)
            for i, a in enumerate(outputs):
                out_ptr[i] = fb(a) if contig[k + i] else self._ffi.cast("char *", a.ctypes.data)
            if n * self.program.cost >= PAR_WORK:   # else nthreads stays 1 (set in _layout)
                s.nthreads = _THREADS[0] or self._threads()
            if RECORDER[0] is not None:
                RECORDER[0].fused(layout, len(inputs), len(outputs))
            rc = self._lib.pyrch_fused_run(s)
        if rc != 0:
            raise RuntimeError(f"pyrch/_C rejected the fused program: {_ERRORS.get(rc, rc)}")
        return outputs

    def _layout(self, inputs, outputs, shape=None):
        """Check operands once per layout and prepare the C-side arrays for it."""
        if len(self._layouts) > 64:
            self._layouts.clear()
        acc = self.program.acc or (False,) * len(outputs)
        if shape is None:
            shape = outputs[0].shape
        shape = tuple(shape)
        for o, summed in zip(outputs, acc):
            if summed == 1:
                if o.ndim != len(shape) or any(n != 1 and n != m for n, m in zip(o.shape, shape)):
                    raise ValueError(f"summed output of shape {o.shape} is not {shape} in "
                                     "keepdims form")
            elif o.shape != shape:
                raise ValueError(f"fused outputs disagree in shape: {o.shape} vs {shape}")
        for a in inputs:
            if a.ndim > len(shape) or any(n != 1 and n != m for n, m in zip(a.shape[::-1], shape[::-1])):
                raise ValueError(f"fused input of shape {a.shape} does not broadcast to {shape}")
        for a in list(inputs) + list(outputs):
            if a.dtype not in DTYPE_CODE:
                raise TypeError(f"fused kernels do not take {a.dtype}")
            if any(st < 0 for st in a.strides):
                raise ValueError("fused kernels take no negative strides")
        n_in = len(inputs)
        if self.program.n_in != n_in or len(self.program.out_regs) != len(outputs):
            raise ValueError(f"program takes {self.program.n_in} inputs and "
                             f"{len(self.program.out_regs)} outputs, got {n_in} and {len(outputs)}")
        strides = [_bcast_strides(a, shape) for a in list(inputs) + list(outputs)]
        if any(a >= SOFTMAX_ROWS for a in acc) and len(shape) > 1:
            # a row kernel's output keeps its rows: the last axis is never merged
            mshape, mstrides = merge_dims(shape[:-1], [st[:-1] for st in strides])
            mshape = list(mshape) + [shape[-1]]
            mstrides = [m + [st[-1]] for m, st in zip(mstrides, strides)]
        else:
            mshape, mstrides = merge_dims(shape, strides)
        arrays = (np.asarray(mshape, dtype=np.int64),
                  np.asarray([x for st in mstrides[:n_in] for x in st] or [0], dtype=np.int64),
                  np.asarray([x for st in mstrides[n_in:] for x in st], dtype=np.int64),
                  np.asarray([DTYPE_CODE[a.dtype] for a in inputs] or [0], dtype=np.int32),
                  np.asarray([DTYPE_CODE[a.dtype] for a in outputs], dtype=np.int32),
                  np.asarray([_extent(a) for a in inputs] or [0], dtype=np.int64),
                  np.asarray([_extent(a) for a in outputs], dtype=np.int64))
        ffi = self._ffi
        casts = (ffi.cast("const int64_t *", arrays[0].ctypes.data),
                 ffi.cast("const int64_t *", arrays[1].ctypes.data),
                 ffi.cast("const int64_t *", arrays[2].ctypes.data),
                 ffi.cast("const int32_t *", arrays[3].ctypes.data),
                 ffi.cast("const int32_t *", arrays[4].ctypes.data),
                 ffi.cast("const int64_t *", arrays[5].ctypes.data),
                 ffi.cast("const int64_t *", arrays[6].ctypes.data))
        in_ptr = ffi.new("char *[]", max(n_in, 1))
        out_ptr = ffi.new("char *[]", len(outputs))
        st = ffi.new("pyrch_fused_t *")
        ffi.memmove(st, self._s, ffi.sizeof("pyrch_fused_t"))     # the program's fields
        st.ndim = len(mshape)
        st.shape = casts[0]
        st.in_strides, st.out_strides = casts[1], casts[2]
        st.in_dtype, st.out_dtype = casts[3], casts[4]
        st.in_nbytes, st.out_nbytes = casts[5], casts[6]
        st.in_ptr, st.out_ptr = in_ptr, out_ptr
        st.nthreads = 1
        # (struct, pointer arrays, elements, what keeps the C-side arrays alive, which
        # operands are C-contiguous: their addresses come through from_buffer)
        contig = tuple(bool(a.flags.c_contiguous) for a in list(inputs) + list(outputs))
        return (st, in_ptr, out_ptr, int(np.prod(shape)), (arrays, casts), contig)


def _extent(a):
    """Bytes from a's data pointer to the end of the last element it can reach."""
    if a.size == 0:
        return 0
    return int(sum((n - 1) * st for n, st in zip(a.shape, a.strides)) + a.itemsize)
