"""Hand fused groups of a Plan to the C executor (pyrch/_C) when it can run them.

A fused group runs natively when every body op is in the compiled opcode
table (with numeric attributes), its values are float32/float64 (bool masks
allowed) and its inputs are plain numpy arrays. The group computes in
float64 if any of its values is float64, else in float32 (as eager does);
bool values travel as 0/1. Anything else stays on the reference path, so a
missing or stale extension only costs speed.
"""
import numpy as np

_FLOATS = {"float32", "float64"}
_RSQRT2 = float(np.float32(0.7071067811865476))
_INV_SQRT_2PI = float(np.float32(0.3989422804014327))
# NOTE: float64 is pyrch's verification dtype: a traced float64 step must equal
# eager bit for bit. These ops round exactly as numpy does (IEEE basic
# operations, selects, comparisons); transcendentals in C may differ from
# numpy's by an ulp, so float64 groups using them stay on the reference path.
# float32 groups use every op (results within a few ulp, vectorised).
_EXACT_F64 = {"add", "sub", "mul", "div", "neg", "abs", "positive", "square", "reciprocal",
              "sqrt", "relu", "relu_backward", "where", "clamp", "clamp_min", "clamp_max", "maximum", "minimum",
              "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
              "logical_xor", "floor", "ceil", "trunc", "sign", "clone", "hardtanh"}


def compile_fused(st, shape, xmetas, get_buf, inplace=None, reds=(), drop=(), rows=None):
    """A step function running fused Step `st` in C, or None when it cannot.

    inplace: {output slot: state slot} outputs to write straight into a state
    tensor's buffer (an optimizer update), when that buffer is a plain
    contiguous array of the right shape and dtype on this replay.
    reds: reductions of the group's outputs computed in the same pass (float32
    groups only): (output slot reduced, result slot, result buffer, result shape,
    keepdims shape, scale) each, a sum times `scale` (1 / count for a mean).
    drop: output slots not stored (only those reductions read them).
    rows: (output slot, result slot, result buffer, row kernel) of a softmax or
    log-softmax (fused.SOFTMAX_ROWS / LOG_SOFTMAX_ROWS) over the last axis of one of the
    group's outputs, run on each row as the program computes it (float32 only); that
    output is then in `drop`.
    """
    from .. import _C
    if _C.lib() is None or _C.stale():
        return None
    from .._C import fused as cf
    body = st.attrs["body"]
    dts = {dt for *_, dt in body}
    if not dts <= _FLOATS | {"bool"} or not dts & _FLOATS:
        return None
    for meta in xmetas:
        if isinstance(meta, tuple) and len(meta) == 2 and isinstance(meta[0], tuple):
            if meta[1].name not in _FLOATS | {"bool"}:
                return None
    compute = "float64" if "float64" in dts else "float32"
    if compute == "float64" and any(op not in _EXACT_F64 for op, *_ in body):
        return None
    args = st.args
    n_x = len(args)
    x_ids, inputs_slots = {}, []
    for i, (kind, k) in enumerate(args):
        if kind == "s":
            x_ids[i] = len(inputs_slots)
            inputs_slots.append(k)
    n_in = len(inputs_slots)
    steps, seen, id_of = [], {}, {}

    def emit(op, ids, battrs):
        # local CSE: the backward of gelu recomputes the erf its forward computed.
        # Operands are value ids (int) or literals (float), and 0 == 0.0 in a dict key:
        # the type goes in too, or `t > 0.0` would merge with `t > x0` (relu's mask of a
        # tie in maximum(relu(w), w) became relu(w) > w, and the gradient halved)
        key = (op, tuple([(type(i), i) for i in ids]),
               tuple(sorted((k, type(v), v) for k, v in battrs.items()
                            if isinstance(v, (int, float, str)))))
        if key not in seen:
            seen[key] = n_in + len(steps)
            steps.append((op, ids, battrs))
        return seen[key]
    for j, (op, operands, battrs, dt) in enumerate(body):
        battrs = dict(battrs)
        if not cf.fusable(op, battrs):
            return None
        ids = []
        for kind, i in operands:
            if kind == "x":
                if i in x_ids:
                    ids.append(x_ids[i])
                else:
                    ids.append(float(args[i][1]))
            elif kind == "t":
                ids.append(id_of[i])
            else:
                if not isinstance(i, (int, float, bool, np.number)):
                    return None
                ids.append(float(i))
        ids = tuple(ids)
        if op == "gelu" and compute == "float32" and cf.fusable("erf"):
            # gelu(a) = a * (0.5 * (1 + erf(a * 0.70710677))), spelled out as its
            # backward spells it, so the two share one erf
            a = ids[0]
            e = emit("erf", (emit("mul", (a, _RSQRT2), {}),), {})
            id_of[j] = emit("mul", (a, emit("mul", (emit("add", (e, 1.0), {}), 0.5), {})), {})
        elif op == "gelu_backward" and compute == "float32" and cf.fusable("erf") and \
                cf.fusable("exp"):
            # g * (Phi(a) + a * phi(a)), spelled out to share erf(a / sqrt 2) with gelu
            g, a = ids
            e = emit("erf", (emit("mul", (a, _RSQRT2), {}),), {})
            cdf = emit("mul", (emit("add", (e, 1.0), {}), 0.5), {})
            ex = emit("exp", (emit("mul", (emit("mul", (a, a), {}), -0.5), {}),), {})
            pdf = emit("mul", (ex, _INV_SQRT_2PI), {})
            id_of[j] = emit("mul", (g, emit("add", (cdf, emit("mul", (a, pdf), {})), {})), {})
        else:
            id_of[j] = emit(op, ids, battrs)
    outs = [j for j, s in zip(st.attrs["outs"], st.outs) if s not in drop]
    out_slot = dict(zip(st.attrs["outs"], st.outs))
    out_buf = dict(zip(st.attrs["outs"], st.bufs))
    out_ids = [id_of[j] for j in outs]
    if len(set(out_ids)) != len(out_ids):
        return None                          # two outputs became one value: keep it simple
    acc = None
    if rows is not None:
        if compute != "float32" or reds:
            return None
        body_of = {s: j for j, s in out_slot.items()}
        out_ids = out_ids + [id_of[body_of[rows[0]]]]
        acc = [0] * len(outs) + [rows[3]]
        reds = ()
    if reds:
        if compute != "float32" or 0 in shape:
            return None
        body_of = {s: j for j, s in out_slot.items()}
        out_ids = out_ids + [id_of[body_of[r[0]]] for r in reds]
        acc = [False] * len(outs) + [True] * len(reds)
    try:
        kernel = cf.compile_group(n_in, steps, out_ids, compute, acc)
    except ValueError:
        return None
    if not kernel.native:
        return None
    inplace = inplace or {}
    out_plan = [(out_slot[j], out_buf[j], np.dtype(body[j][3] if body[j][3] != "bool" else np.bool_),
                 inplace.get(out_slot[j]))
                for j in outs]
    red_plan = [(slot, b, rshape, kshape, None if scale == 1 else np.float32(scale))
                for _, slot, b, rshape, kshape, scale in reds]
    if rows is not None:        # a row kernel's result: the group's shape, never scaled
        red_plan = [(rows[1], rows[2], tuple(shape), tuple(shape), None)]
    f32 = np.dtype(np.float32)
    del n_x

    layouts = {}
    prepare, run = kernel.prepare, kernel.run
    group_shape = tuple(shape)

    def launch(xs, res):
        # NOTE: a plan's values have fixed shapes and dtypes and the outputs are always
        # C-contiguous, so only the inputs' strides can change the layout between replays
        # (shapes stay in the key: the C side trusts a layout's buffer extents)
        try:
            key = tuple([(a.shape, a.strides) for a in xs])
            lay = layouts.get(key)
            if lay is None:
                lay = layouts[key] = prepare(xs, res, group_shape)
            run(lay, xs, res)
        except (ValueError, TypeError, AttributeError):
            # an unusual operand (negative strides, not an ndarray): plain copies and retry
            kernel([np.ascontiguousarray(a) for a in xs], res, group_shape)

    if len(out_plan) == 1 and out_plan[0][3] is None and not red_plan:
        (s0, b0, dt0, _), = out_plan

        def step1(v):
            """The common case, one output and no sums: the same work, fewer steps (a
            replay of a small graph is mostly this Python)."""
            r = get_buf(b0) if b0 >= 0 else np.empty(shape, dtype=dt0)
            launch([v[k] for k in inputs_slots], [r])
            v[s0] = r
        step1.native = True
        step1.c_only = True
        return step1

    def step(v):
        xs = [v[k] for k in inputs_slots]
        res = []
        for s, b, dt, st_slot in out_plan:
            if st_slot is not None:
                t = v[st_slot]
                if type(t) is np.ndarray and t.dtype == dt and t.shape == shape and \
                        t.flags.c_contiguous and t.flags.writeable:
                    res.append(t)
                    continue
            res.append(get_buf(b) if b >= 0 else np.empty(shape, dtype=dt))
        if red_plan:
            sums = []
            for _, b, rshape, kshape, _ in red_plan:
                r = get_buf(b) if b >= 0 else np.empty(rshape, dtype=f32)
                sums.append(r)
                res.append(r.reshape(kshape))
        launch(xs, res)
        for (s, _, _, _), r in zip(out_plan, res):
            v[s] = r
        if red_plan:
            for (s, _, _, _, scale), r in zip(red_plan, sums):
                if scale is not None:
                    np.multiply(r, scale, out=r)
                v[s] = r
    step.native = True
    # a mean's scaling runs in numpy after the C call: not a step segments may record
    step.c_only = all(scale is None for *_, scale in red_plan)
    return step
