"""pyrch.linalg: the torch.linalg norms and the singular value decomposition, built from
pyrch's ops (so they differentiate and trace like everything else).

>>> import pyrch
>>> x = pyrch.tensor([[3.0, 4.0], [0.0, 0.0]])
>>> pyrch.linalg.vector_norm(x)
tensor(5.)
>>> pyrch.linalg.matrix_norm(x, ord=1)
tensor(4.)
>>> pyrch.linalg.svdvals(x)
tensor([5., 0.])
"""
import math

from .ops.svd import LinAlgError, _linalg_svd, linalg_svdvals as _svdvals_op
from ._dispatch import dispatch as _dispatch
from ._dtype import TORCH_NAMES

__all__ = ["vector_norm", "matrix_norm", "norm", "svd", "svdvals", "LinAlgError"]

_INF = math.inf


def _pyrch():
    import pyrch
    return pyrch


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The `ord`-norm of `x` seen as a vector (over `dim`, all elements by default).

    ord: any real p (2 the Euclidean norm), inf (max |x|), -inf (min |x|), 0 (count of
    nonzeros)."""
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: Expected a real number for ord, but got {ord!r}")
    if dtype is not None:
        x = x.to(dtype)
    if not x.is_floating_point():
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {TORCH_NAMES[x.dtype.name]}")
    return _pyrch().norm(x, p=float(ord), dim=dim, keepdim=keepdim)


def svd(A, full_matrices=True):
    """The SVD of A (..., m, n) as a named tuple (U, S, Vh), A = U diag(S) Vh, S descending.

    full_matrices=False gives the reduced U (m x k) and Vh (k x n), k = min(m, n).
    Gradients are finite for distinct singular values (and nonzero ones where m != n);
    as in torch, with full_matrices=True those of U's columns and Vh's rows beyond k
    are ignored (any orthonormal basis of the complement would do)."""
    return _linalg_svd(A, full_matrices)


def svdvals(A):
    """The singular values of A (..., m, n), descending, shape (..., min(m, n))."""
    return _dispatch(_svdvals_op, (A,))


def _two_dims(x, dim, name):
    if len(dim) != 2:
        raise RuntimeError(f"linalg.{name}: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
    nd = x.dim()
    if nd < 2:
        raise RuntimeError(f"linalg.{name}: The input tensor A must have at least 2 dimensions.")
    d0, d1 = (d % nd for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.{name}: dims must be different. Got ({d0}, {d1})")
    return d0, d1


def matrix_norm(x, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The matrix norm of `x` over the two dims `dim`: 'fro' (Frobenius), 'nuc' (sum of the
    singular values), 2 / -2 (largest / smallest singular value), 1 / -1 (max / min column
    abs-sum), inf / -inf (max / min row abs-sum)."""
    d0, d1 = _two_dims(x, tuple(dim), "matrix_norm")
    if not x.is_floating_point():
        raise RuntimeError("linalg.matrix_norm: Expected a floating point or complex tensor as "
                           f"input. Got {TORCH_NAMES[x.dtype.name]}")
    svd_ord = ord in ("nuc", 2, -2)
    if svd_ord and x.dtype.name == "float16":
        raise RuntimeError("linalg.matrix_norm: Low precision dtypes not supported. Got Half")
    if dtype is not None:
        x = x.to(dtype)
    if ord == "fro":
        return _pyrch().norm(x, p=2.0, dim=(d0, d1), keepdim=keepdim)
    if svd_ord:
        s = svdvals(x.movedim((d0, d1), (-2, -1)))
        if ord == "nuc" or (ord == 2 and s.shape[-1] == 0):    # an empty matrix has norm 0
            out = s.sum(-1)
        else:
            out = s.amax(-1) if ord == 2 else s.amin(-1)
        return out.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1)) if keepdim else out
    if ord in (1, -1, _INF, -_INF):
        along, across = (d0, d1) if abs(ord) == 1 else (d1, d0)
        sums = x.abs().sum(dim=along, keepdim=True)
        out = sums.amax(dim=across, keepdim=True) if ord > 0 else sums.amin(dim=across, keepdim=True)
        return out if keepdim else out.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(x, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a matrix norm when `ord` is a string ('fro', 'nuc') or `dim` is a
    2-tuple (or `x` is 2-D and `ord` is given), a vector norm otherwise."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) not in (1, 2):
        raise RuntimeError("linalg.norm: If dim is specified, it must be of length 1 or 2. Got "
                           f"{list(dim)}")
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(x, "fro", dim, keepdim, dtype=dtype)
        return vector_norm(x, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if x.dim() not in (1, 2):
            raise RuntimeError("linalg.norm: If dim is not specified but ord is, the input must be "
                               f"1D or 2D. Got {x.dim()}D.")
        if x.dim() == 2 or isinstance(ord, str):
            return matrix_norm(x, ord, (-2, -1), keepdim, dtype=dtype)
        return vector_norm(x, ord, None, keepdim, dtype=dtype)
    if len(dim) == 2 or isinstance(ord, str):
        return matrix_norm(x, ord, dim, keepdim, dtype=dtype)
    return vector_norm(x, ord, dim, keepdim, dtype=dtype)
