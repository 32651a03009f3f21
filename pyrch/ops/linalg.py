"""Linear algebra: matmul (and @), einsum, the mm/bmm/mv/dot/outer family,
addmm/baddbmm, tril/triu. The singular value decomposition is in svd.py.

Two primitives carry the products: `matmul` (numpy's matmul, with torch's
shape errors and 1-D rules) and `einsum` (whose gradient is again an einsum).
mm, bmm, mv, dot, outer, addmm and baddbmm are composites that check their
arguments the way torch does and then call matmul, so the tracer and the C
executor only ever see one GEMM op.
"""
import string

import numpy as np

from .registry import op, composite, broadcast_shapes, Meta
from .._dispatch import dispatch
from .._dtype import NP2DT

# the C++ type names torch prints in matmul's dtype error
_CPP_NAME = {"bool": "bool", "uint8": "unsigned char", "int8": "signed char", "int16": "short int",
             "int32": "int", "int64": "long int", "float16": "c10::Half", "float32": "float",
             "float64": "double"}
from .._dtype import TORCH_NAMES as _TORCH_NAME  # noqa: E402


from math import prod as _prod  # noqa: E402


def _dtname(dt, table):
    return table[(dt if hasattr(dt, "is_floating_point") else NP2DT[dt]).name]


# -- matmul -------------------------------------------------------------------------------

def _matmul_shape(sa, sb):
    """Output shape of matmul, raising torch's messages for each case."""
    na, nb = len(sa), len(sb)
    if na == 0 or nb == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{na}D and {nb}D")
    if na == 1 and nb == 1:
        if sa != sb:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{sa[0]}] and src "
                               f"[{sb[0]}] to have the same number of elements, but got {sa[0]} "
                               f"and {sb[0]} elements respectively")
        return ()
    if nb == 1:                                 # matrix (or batch) @ vector
        rows = _prod(sa[:-1])
        if sa[-1] != sb[0]:
            raise RuntimeError(f"size mismatch, got input ({rows}), mat ({rows}x{sa[-1]}), "
                               f"vec ({sb[0]})")
        return sa[:-1]
    if nb == 2:                                 # vector, matrix or batch @ matrix: one GEMM
        rows = _prod(sa[:-1])
        if sa[-1] != sb[0]:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{sa[-1]} and "
                               f"{sb[0]}x{sb[1]})")
        return sa[:-1] + sb[1:]
    a2 = (1,) + sa if na == 1 else sa           # batched: broadcast the batch dims
    try:
        batch = broadcast_shapes(a2[:-2], sb[:-2])
    except ValueError as e:
        raise RuntimeError(str(e)) from None
    if a2[-1] != sb[-2]:
        n = _prod(batch)
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{n}, {a2[-1]}] but got: [{n}, {sb[-2]}].")
    return batch + (sb[-1],) if na == 1 else batch + (sa[-2], sb[-1])


@op("matmul", kind="contraction", dtype="keep")
def matmul(xp, a, b):
    """Matrix product with torch's rules for 1-D operands and broadcast batch dims (the @ operator).

    >>> import pyrch
    >>> (pyrch.ones(2, 3) @ pyrch.ones(3)).tolist()
    [3.0, 3.0]
    """
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_dtname(a.dtype, _CPP_NAME)} != {_dtname(b.dtype, _CPP_NAME)}")
    if xp is np:
        r = _gemm().mm(a, b)        # on pyrch's threads (see pyrch/_C/gemm.py)
        if r is not None:
            return r
    if a.ndim > 2 and b.ndim == 2 and a.flags.c_contiguous:
        # (..., n, k) @ (k, m): one GEMM over all rows, not one per batch entry (2x here)
        return _mm2(xp, a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + (b.shape[-1],))
    if a.ndim == 2 and b.ndim == 2:
        return _mm2(xp, a, b)
    return xp.matmul(a, b)


_GEMM = []


def _gemm():
    # imported on first use (ops/ loads before _C), then kept: an import statement in
    # every product cost ~1.5 us
    if not _GEMM:
        from .._C import gemm
        _GEMM.append(gemm)
    return _GEMM[0]


def _mm2(xp, a, b):
    # NOTE: numpy's matmul, for what pyrch/_C/gemm.mm leaves (no extension, small
    # products). A linear layer on a small batch (x @ W.T, 2..32 rows) runs 1.4-2x
    # faster in OpenBLAS as (W @ x.T).T: the kernel then walks the long dimension
    # (gemm.mm makes the same choice for its own products). The transposed result is
    # copied back to row-major (cheap: few rows), so callers see a contiguous array.
    # (numpy checked first: the plan's probe for "is this a plain ufunc call" runs the
    # forward on stand-ins without .flags, and must see the plain np.matmul call)
    if xp is np and 2 <= a.shape[0] <= 32 and b.flags.f_contiguous and not b.flags.c_contiguous \
            and b.shape[1] >= 64:
        return xp.ascontiguousarray(xp.matmul(b.T, a.T).T)
    return xp.matmul(a, b)


@matmul.infer
def _(a, b):
    if not isinstance(a, Meta) or not isinstance(b, Meta):
        raise TypeError("matmul(): argument 'other' must be Tensor, not a Python number")
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_CPP_NAME[a.dtype.name]} != {_CPP_NAME[b.dtype.name]}")
    return _matmul_shape(a.shape, b.shape), a.dtype


def _mT(x):
    nd = x.ndim
    return x.permute(*range(nd - 2), nd - 1, nd - 2)


@matmul.backward
def _(g, a, b, needs):
    # Each case returns gradients shaped like the broadcast problem; the engine
    # sums broadcast batch dims back down (sum_to) to each input's shape.
    sa, sb = tuple(a.shape), tuple(b.shape)
    ga = gb = None
    if len(sa) == 1 and len(sb) == 1:           # dot
        return (g * b if needs[0] else None), (g * a if needs[1] else None)
    if len(sb) == 1:                            # (..., n, k) @ (k,) -> (..., n)
        k = sb[0]
        if needs[0]:
            ga = g.reshape(tuple(g.shape) + (1,)) * b
        if needs[1]:
            rows = _prod(sa[:-1])
            gb = matmul(g.reshape(rows), a.reshape(rows, k))
        return ga, gb
    if len(sa) == 1:                            # (k,) @ (..., k, m) -> (..., m)
        if needs[0]:
            gs = tuple(g.shape)
            ga = matmul(g.reshape(gs[:-1] + (1, gs[-1])), _mT(b)).reshape(gs[:-1] + sa)
        if needs[1]:
            gb = a.reshape(sa[0], 1) * g.reshape(tuple(g.shape[:-1]) + (1, g.shape[-1]))
        return ga, gb
    if needs[0]:
        ga = matmul(g, _mT(b))
    if needs[1]:
        # NOTE: when b is a transposed view (x @ W.T in a linear layer), compute
        # (g^T a)^T instead of a^T g: the same values, but W's gradient then comes
        # out as a contiguous array instead of a transposed one to copy.
        bt = len(sb) == 2 and b._data.flags.f_contiguous and not b._data.flags.c_contiguous
        if len(sb) == 2 and len(sa) > 2:        # batch @ weight: fold the batch into one GEMM
            k, m = sa[-1], sb[-1]
            rows = _prod(sa[:-1])
            a2, g2 = a.reshape(rows, k), g.reshape(rows, m)
            gb = _mT(matmul(_mT(g2), a2)) if bt else matmul(_mT(a2), g2)
        elif bt and len(sa) == 2:
            gb = _mT(matmul(_mT(g), a))
        else:
            gb = matmul(_mT(a), g)
    return ga, gb


# -- the mm family: torch's argument checks, then matmul ----------------------------------

@composite("mm")
def mm(input, mat2):
    """Matrix product of two 2-D tensors (no broadcasting).

    >>> import pyrch
    >>> pyrch.mm(pyrch.ones(2, 3), pyrch.ones(3, 4)).shape
    pyrch.Size([2, 4])
    """
    if input.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    return dispatch(matmul, (input, mat2))


def _bmm_check(b1, b2):
    if b1.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    s1, s2 = tuple(b1.shape), tuple(b2.shape)
    if s2[:2] != (s1[0], s1[2]):
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{s1[0]}, {s1[2]}] but got: [{s2[0]}, {s2[1]}].")


@composite("bmm")
def bmm(input, mat2):
    """Batched matrix product of two 3-D tensors with equal batch sizes (no broadcasting).

    >>> import pyrch
    >>> pyrch.bmm(pyrch.ones(5, 2, 3), pyrch.ones(5, 3, 4)).shape
    pyrch.Size([5, 2, 4])
    """
    _bmm_check(input, mat2)
    return dispatch(matmul, (input, mat2))


@composite("mv")
def mv(input, vec):
    """Matrix-vector product of a 2-D and a 1-D tensor.

    >>> import pyrch
    >>> pyrch.mv(pyrch.ones(2, 3), pyrch.ones(3)).tolist()
    [3.0, 3.0]
    """
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    if input.dtype is not vec.dtype:
        raise RuntimeError(f"addmv input tensors must have the same dtype, but got "
                           f"{_TORCH_NAME[input.dtype.name]}, {_TORCH_NAME[vec.dtype.name]}")
    return dispatch(matmul, (input, vec))


@composite("dot")
def dot(input, tensor):
    """Inner product of two 1-D tensors of equal size and dtype.

    >>> import pyrch
    >>> pyrch.dot(pyrch.tensor([1., 2.]), pyrch.tensor([3., 4.]))
    tensor(11.)
    """
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {tensor.ndim}D tensors")
    if input.dtype is not tensor.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{_TORCH_NAME[input.dtype.name]} and {_TORCH_NAME[tensor.dtype.name]}")
    return dispatch(matmul, (input, tensor))


@composite("outer")
def outer(input, vec2):
    """Outer product of two 1-D tensors (dtypes promote, as in torch).

    >>> import pyrch
    >>> pyrch.outer(pyrch.tensor([1., 2.]), pyrch.tensor([1., 10., 100.])).shape
    pyrch.Size([2, 3])
    """
    for name, v in (("self", input), ("vec2", vec2)):
        if v.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {v.ndim}-D")
    return input.reshape(input.shape[0], 1) * vec2


def _scaled_add(input, prod, beta, alpha):
    """beta * input + alpha * prod, skipping multiplications by one; beta=0 ignores input."""
    if alpha != 1:
        prod = prod * alpha
    shape = tuple(prod.shape)
    if tuple(input.shape) != shape:
        input = input.expand(shape)
    if beta == 0:   # NOTE: as in torch, input's nan/inf do not leak through beta=0
        return prod
    return prod + (input if beta == 1 else input * beta)


@composite("addmm")
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2) for 2-D mat1, mat2 (input broadcasts).

    >>> import pyrch
    >>> pyrch.addmm(pyrch.zeros(3), pyrch.ones(2, 4), pyrch.ones(4, 3), alpha=0.5).tolist()
    [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    """
    for name, m in (("mat1", mat1), ("mat2", mat2)):
        if m.ndim != 2:
            raise RuntimeError(f"{name} must be a matrix, got {m.ndim}-D tensor")
    return _scaled_add(input, dispatch(matmul, (mat1, mat2)), beta, alpha)


@composite("baddbmm")
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * bmm(batch1, batch2) (input broadcasts).

    >>> import pyrch
    >>> pyrch.baddbmm(pyrch.zeros(4), pyrch.ones(2, 3, 5), pyrch.ones(2, 5, 4)).shape
    pyrch.Size([2, 3, 4])
    """
    _bmm_check(batch1, batch2)
    return _scaled_add(input, dispatch(matmul, (batch1, batch2)), beta, alpha)


# -- einsum -------------------------------------------------------------------------------

_LETTERS = string.ascii_uppercase + string.ascii_lowercase


def _einsum_normalise(equation, shapes):
    """An explicit equation ('ij,jk->ik') with every '...' spelled out in spare letters.

    The op's attribute is this normal form, so its forward, shape rule and
    gradient never deal with ellipses or implicit outputs.
    """
    eq = equation.replace(" ", "")
    for i, c in enumerate(eq):
        if c not in _LETTERS and c not in ".,->":
            raise RuntimeError(f"einsum(): invalid subscript given at index {i} in the equation "
                               "string, subscripts must be in [a-zA-Z]")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) > len(shapes):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(shapes):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    spare = [c for c in _LETTERS if c not in eq]
    n_ell, counts, parts = 0, {}, []
    for i, (t, shape) in enumerate(zip(terms, shapes)):
        head, dots, tail = t.partition("...")
        if "." in head or "." in tail:
            raise RuntimeError(f"einsum(): found '.' for operand {i} that is not part of any ellipsis")
        k = len(head) + len(tail)
        if dots and k > len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({k}) is more "
                               f"than the number of dimensions ({len(shape)}) for operand {i}")
        if not dots and k != len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({k}) does not "
                               f"match the number of dimensions ({len(shape)}) for operand {i} and "
                               "no ellipsis was given")
        n = len(shape) - k if dots else None
        if n is not None:
            n_ell = max(n_ell, n)
        for c in head + tail:
            counts[c] = counts.get(c, 0) + 1
        parts.append((head, n, tail))
    ell = "".join(spare[:n_ell])
    ins = [h + ("" if n is None else ell[n_ell - n:]) + t for h, n, t in parts]
    if not arrow:
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    else:
        head, dots, tail = out.partition("...")
        if "." in head or "." in tail:
            raise RuntimeError("einsum(): found '.' for output but an ellipsis (...) was not found")
        out = head + (ell if dots else "") + tail
        for c in head + tail:
            if (head + tail).count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the "
                                   "output")
            if c not in counts:
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   "equation for any input operand")
    return ",".join(ins) + "->" + out


@op("einsum", kind="contraction", dtype="keep")
def einsum(xp, *operands, equation):
    """Einstein summation: einsum('ij,jk->ik', a, b) (operands may also come as one list).

    >>> import pyrch
    >>> pyrch.einsum("ij,jk->ik", pyrch.ones(2, 3), pyrch.ones(3, 4)).shape
    pyrch.Size([2, 4])
    """
    first = operands[0].dtype
    for x in operands[1:]:
        if x.dtype != first:
            raise RuntimeError(f"expected scalar type {_dtname(first, _TORCH_NAME)} but found "
                               f"{_dtname(x.dtype, _TORCH_NAME)}")
    if len(operands) == 1:
        out = xp.einsum(equation, operands[0])
        # NOTE: numpy hands back a view for pure permutations/diagonals; the op's
        # output must own its memory (it is not declared a view).
        return out.copy() if xp.may_share_memory(out, operands[0]) else out
    return xp.einsum(equation, *operands, optimize=True)


@einsum.infer
def _(*operands, equation):
    lhs, out = equation.split("->")
    sizes = {}
    for i, (t, m) in enumerate(zip(lhs.split(","), operands)):
        if m.dtype is not operands[0].dtype:
            raise RuntimeError(f"expected scalar type {_TORCH_NAME[operands[0].dtype.name]} but "
                               f"found {_TORCH_NAME[m.dtype.name]}")
        mine = {}
        for c, n in zip(t, m.shape):
            if c in mine and mine[c] != n:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {i} but the "
                                   f"sizes don't match, {mine[c]} != {n}")
            mine[c] = n
        for c, n in mine.items():
            old = sizes.get(c)
            if old is None or old == 1:
                sizes[c] = n
            elif n != 1 and n != old:
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {i} which "
                                   f"does not broadcast with previously seen size {old}")
    return tuple(sizes[c] for c in out), operands[0].dtype


@einsum.backward
def _(g, needs, *operands, equation):
    # The gradient of operand i is the einsum of g with the other operands,
    # producing i's subscripts. Subscripts only operand i has (summed there
    # alone) are broadcast back; repeated ones (diagonals) are re-embedded
    # through identity matrices.
    from .. import eye
    lhs, out = equation.split("->")
    terms = lhs.split(",")
    spare = [c for c in _LETTERS if c not in equation]
    grads = []
    for i, (t, x) in enumerate(zip(terms, operands)):
        if not needs[i]:
            grads.append(None)
            continue
        others = [terms[j] for j in range(len(terms)) if j != i]
        avail = set(out).union(*others)
        uniq = "".join(dict.fromkeys(t))
        target = "".join(c for c in uniq if c in avail)
        r = einsum(g, *[operands[j] for j in range(len(terms)) if j != i],
                   equation=",".join([out] + others) + "->" + target)
        # subscripts summed in operand i alone, or of size 1 everywhere else, are
        # broadcast back (the engine sums the opposite case, size 1 in operand i)
        size = dict(zip(t, x.shape))
        have = dict(zip(target, r.shape))
        full = tuple(size[c] if have.get(c, 1) == 1 else have[c] for c in uniq)
        if tuple(r.shape) != full:
            r = r.reshape(tuple(have.get(c, 1) for c in uniq)).expand(full)
        if len(uniq) < len(t):
            seen, full, eyes, subs = set(), [], [], []
            fresh = iter(spare)
            for c in t:
                if c in seen:
                    f = next(fresh)
                    full.append(f)
                    eyes.append(eye(size[c], dtype=g.dtype, device=g.device))
                    subs.append(c + f)
                else:
                    seen.add(c)
                    full.append(c)
            r = einsum(r, *eyes, equation=",".join([uniq] + subs) + "->" + "".join(full))
        grads.append(r)
    return tuple(grads)


@einsum.public
def _einsum(equation, *operands):
    """einsum(equation, *operands): Einstein summation, torch's equation syntax ('...' included)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    eq = _einsum_normalise(equation, [tuple(x.shape) for x in operands])
    return dispatch(einsum, operands, {"equation": eq})


_einsum.__name__ = _einsum.__qualname__ = "einsum"


# -- tril, triu ---------------------------------------------------------------------------

@op("tril", kind="opaque", dtype="keep")
def tril(xp, a, *, diagonal=0):
    """The lower triangle of the last two dims (entries above `diagonal` set to 0).

    >>> import pyrch
    >>> pyrch.ones(2, 2).tril().tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    if a.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return xp.tril(a, k=diagonal)


@op("triu", kind="opaque", dtype="keep")
def triu(xp, a, *, diagonal=0):
    """The upper triangle of the last two dims (entries below `diagonal` set to 0).

    >>> import pyrch
    >>> pyrch.ones(2, 2).triu(1).tolist()
    [[0.0, 1.0], [0.0, 0.0]]
    """
    if a.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return xp.triu(a, k=diagonal)


@tril.backward
def _(g, diagonal):
    return (tril(g, diagonal=diagonal),)


@triu.backward
def _(g, diagonal):
    return (triu(g, diagonal=diagonal),)


def _tri_infer(name):
    def rule(a, *, diagonal=0):
        if len(a.shape) < 2:
            raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
        return a.shape, a.dtype
    return rule


tril.infer(_tri_infer("tril"))
triu.infer(_tri_infer("triu"))


# -- diag, trace, kron, cdist -----------------------------------------------------------------
@composite("diag")
def diag(input, diagonal=0):
    """A 1-D tensor -> the square matrix with it on the given diagonal; a matrix -> a copy
    of its given diagonal.

    >>> import pyrch
    >>> pyrch.diag(pyrch.tensor([1, 2]))
    tensor([[1, 0],
            [0, 2]])
    """
    from .._creation import zeros
    from .movement import diagonal_scatter
    nd = input._data.ndim
    if nd == 1:
        m = input.shape[0] + abs(diagonal)
        base = zeros(m, m, dtype=input.dtype, device=input.device)
        return diagonal_scatter(base, input, offset=diagonal)
    if nd == 2:
        return input.diagonal(diagonal).clone()
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {nd}D")


@composite("trace")
def trace(input):
    """Sum of the main diagonal of a matrix (integers sum to int64)."""
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input._data.ndim}")
    if input.dtype.name == "bool":
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    return input.diagonal().sum()


@composite("kron")
def kron(input, other):
    """Kronecker product: block (i, j, ...) is input[i, j, ...] * other (the shorter shape
    gets leading ones)."""
    nd = max(input._data.ndim, other._data.ndim)
    sa = (1,) * (nd - input._data.ndim) + tuple(input.shape)
    sb = (1,) * (nd - other._data.ndim) + tuple(other.shape)
    wa = [s for a in sa for s in (a, 1)]
    wb = [s for b in sb for s in (1, b)]
    out = input.reshape(*wa) * other.reshape(*wb)
    return out.reshape(*[a * b for a, b in zip(sa, sb)])


@composite("cdist", method=False)
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """p-norm distances between each row of x1 (..., P, M) and each row of x2 (..., R, M):
    a (..., P, R) tensor; batch dims broadcast."""
    from .. import norm
    for name, x in (("X1", x1), ("X2", x2)):
        if x._data.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {x._data.ndim}D")
    for name, x in (("X1", x1), ("X2", x2)):
        if not x.dtype.is_floating_point:
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: "
                               f"{_dtname(x.dtype, _TORCH_NAME)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} "
                           f"X2: {x2.shape[-1]}")
    if x1.dtype is not x2.dtype:
        raise RuntimeError(f"expected scalar type {_dtname(x1.dtype, _TORCH_NAME)} but found "
                           f"{_dtname(x2.dtype, _TORCH_NAME)}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    return norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, dim=-1)
