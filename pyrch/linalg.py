"""pyrch.linalg: torch.linalg's norms, decompositions (SVD, QR, Cholesky, eigh), inverse,
determinants and solvers, built from pyrch's ops (so they differentiate and trace like
everything else).

>>> import pyrch
>>> x = pyrch.tensor([[3.0, 4.0], [0.0, 0.0]])
>>> pyrch.linalg.vector_norm(x)
tensor(5.)
>>> pyrch.linalg.matrix_norm(x, ord=1)
tensor(4.)
>>> pyrch.linalg.svdvals(x)
tensor([5., 0.])
"""
import collections
import math

from .ops.svd import LinAlgError, _linalg_svd, linalg_svdvals as _svdvals_op
from .ops import linalg_decomp as _d
from ._dispatch import dispatch as _dispatch
from ._dtype import TORCH_NAMES

__all__ = ["vector_norm", "matrix_norm", "norm", "svd", "svdvals", "LinAlgError", "inv", "inv_ex",
           "det", "slogdet", "solve", "cholesky", "qr", "eigh", "eigvalsh", "pinv", "matrix_rank",
           "matrix_power", "lstsq", "cross", "vecdot", "multi_dot", "matrix_exp"]

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


# -- inverse, determinants, solvers, decompositions -------------------------------------

def inv(A):
    """The inverse of A (..., n, n); raises LinAlgError for a singular A."""
    return _d._inv(A)


def inv_ex(A, *, check_errors=False):
    """(inverse, info) of A (..., n, n): info is 0, or 1 + the zero pivot's position for a
    singular matrix (whose inverse is then nan); check_errors=True raises instead."""
    return _d._linalg_inv_ex(A, check_errors=check_errors)


def det(A):
    """The determinant of A (..., n, n)."""
    return _dispatch(_d.linalg_det, (A,))


def slogdet(A):
    """(sign, logabsdet) of A (..., n, n): det(A) = sign * exp(logabsdet)."""
    return _d._linalg_slogdet(A)


def solve(A, B, *, left=True):
    """X with A X = B (left=True) or X A = B (left=False), A (..., n, n) invertible.

    B is a batch of vectors (..., n) when it is 1-D or its shape is A's without the last
    dim (left=True only, as in torch); a batch of matrices (..., n, k) otherwise. Batch
    dims broadcast."""
    _d._check("linalg.solve", tuple(A.shape), A.dtype)
    if not left:
        return solve(A.mT, B.mT).mT
    n = A.shape[-1]
    vector = B.dim() == 1 or (B.dim() == A.dim() - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    b = B.unsqueeze(-1) if vector else B
    if b.dim() < 2 or b.shape[-2] != n:
        k = 1 if vector else (b.shape[-1] if b.dim() >= 2 else 1)
        raise RuntimeError("linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({n}x{n} and {b.shape[-2] if b.dim() >= 2 else b.shape[0]}x{k})")
    batch = _pyrch().broadcast_shapes(tuple(A.shape[:-2]), tuple(b.shape[:-2]))
    a = A.expand(batch + (n, n)) if tuple(A.shape[:-2]) != batch else A
    b = b.expand(batch + tuple(b.shape[-2:])) if tuple(b.shape[:-2]) != batch else b
    x = _dispatch(_d.linalg_solve, (a, b))
    return x.squeeze(-1) if vector else x


def cholesky(A, *, upper=False):
    """The Cholesky factor of a symmetric positive-definite A (..., n, n): lower L with
    A = L L^T (upper=True: U = L^T). Only the lower triangle of A is read; the gradient
    treats A as symmetric."""
    return _dispatch(_d.linalg_cholesky, (A,), {"upper": bool(upper)})


def qr(A, mode="reduced"):
    """(Q, R) with A = Q R, A (..., m, n): mode 'reduced' (Q m x k, R k x n, k = min(m, n)),
    'complete' (Q m x m, R m x n) or 'r' (R alone, Q empty; not differentiable)."""
    return _d._linalg_qr(A, mode)


def eigh(A, UPLO="L"):
    """(eigenvalues, eigenvectors) of a symmetric A (..., n, n), eigenvalues ascending and
    eigenvectors as columns; only the UPLO ('L' or 'U') triangle is read. Gradients are
    finite for distinct eigenvalues."""
    return _d._linalg_eigh(A, UPLO)


def eigvalsh(A, UPLO="L"):
    """The eigenvalues of a symmetric A (..., n, n), ascending."""
    return _dispatch(_d.linalg_eigvalsh, (A,), {"UPLO": UPLO})


def _tol(x):
    return None if x is None else float(x)


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The pseudo-inverse of A (..., m, n): singular values at most max(atol, rtol * the
    largest) count as zero; rtol defaults to eps * max(m, n) (0 when atol > 0 is given)."""
    if A.dim() < 2 or not A.is_floating_point():
        raise RuntimeError(f"linalg.pinv({_TYPE_NAME(A)}{{{list(A.shape)}}}): expected a tensor "
                           "with 2 or more dimensions of float, double, cfloat or cdouble types")
    return _dispatch(_d.linalg_pinv, (A,), {"atol": _tol(atol), "rtol": _tol(rtol),
                                            "hermitian": bool(hermitian)})


def _TYPE_NAME(A):
    return TORCH_NAMES[A.dtype.name]


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """The number of singular values of A (..., m, n) above max(atol, rtol * the largest)
    (rtol defaults to eps * max(m, n)), as int64. Not differentiable."""
    import numpy as np
    p = _pyrch()
    if A.dim() < 2:
        raise RuntimeError("torch.linalg.matrix_rank: The input tensor input must have at least 2 "
                           "dimensions.")
    _d._check("linalg.eigh" if hermitian else "linalg.matrix_rank", tuple(A.shape), A.dtype,
              square=hermitian)
    m, n = A.shape[-2:]
    if min(m, n) == 0:
        return p.zeros(tuple(A.shape[:-2]), dtype=p.int64, device=A.device)
    s = eigvalsh(A).abs() if hermitian else svdvals(A)
    if rtol is None:
        rtol = float(np.finfo(A.dtype.name).eps) * max(m, n) if atol is None or atol <= 0 else 0.0
    cut = (s.amax(-1, keepdim=True) * float(rtol)).clamp(min=float(atol or 0.0))
    return (s > cut).sum(-1)


def matrix_power(A, n):
    """A^n for an integer n (n < 0: powers of A's inverse, n = 0: the identity)."""
    return _d.matrix_power(A, n)


_LstsqT = collections.namedtuple("linalg_lstsq", ["solution", "residuals", "rank",
                                                 "singular_values"])
_LstsqT.__module__ = "pyrch.return_types"


def matrix_exp(A):
    """The matrix exponential of A (..., n, n) (scaling and squaring with a Pade approximant)."""
    return _dispatch(_d.matrix_exp, (A,))


def lstsq(A, B, rcond=None, *, driver=None):
    """The least-squares solution X of A X = B (the minimum-norm one where A is rank
    deficient), A (..., m, n), B (..., m, k) or (..., m), as torch's named tuple
    (solution, residuals, rank, singular_values).

    The solution is pinv(A) B (so it differentiates); singular values below rcond times
    the largest (default eps * max(m, n)) count as zero. Like torch's drivers: 'gelsy'
    (the default) gives the rank; 'gelsd' and 'gelss' the rank, the singular values and,
    for m > n with every A of full rank, the residuals (squared column norms of A X - B);
    'gels' the residuals alone."""
    p = _pyrch()
    driver = driver or "gelsy"
    if driver not in ("gels", "gelsy", "gelsd", "gelss"):
        raise RuntimeError(f"torch.linalg.lstsq: parameter `driver` should be one of "
                           f"(gels, gelsy, gelsd, gelss). Got {driver}")
    if A.dim() < 2:
        raise RuntimeError("torch.linalg.lstsq: input must have at least 2 dimensions.")
    _d._check("torch.linalg.lstsq", tuple(A.shape), A.dtype, square=False)
    vector = B.dim() == A.dim() - 1
    b = B.unsqueeze(-1) if vector else B
    if b.shape[-2] != A.shape[-2]:
        raise RuntimeError("torch.linalg.lstsq: input.size(-2) should match other.size(-2)")
    m, n = A.shape[-2:]
    x = p.matmul(pinv(A, rtol=rcond), b)
    empty = A.new_zeros((0,))
    rank = empty.long() if driver == "gels" else matrix_rank(A, rtol=rcond)
    sv = svdvals(A) if driver in ("gelsd", "gelss") else empty
    res = empty
    if driver != "gelsy" and m > n:
        full = bool((matrix_rank(A, rtol=rcond) == n).all())
        if full:
            res = (p.matmul(A, x) - b).pow(2).sum(-2)
            res = res.squeeze(-1) if vector else res
    return _LstsqT(x.squeeze(-1) if vector else x, res, rank, sv)


def cross(input, other, *, dim=-1):
    """The cross product of input and other (broadcast) along `dim`, which has size 3."""
    return _d._cross(input, other, dim, "linalg.cross")


def vecdot(x, y, *, dim=-1):
    """The dot product of x and y (broadcast) along `dim`: (x * y).sum(dim)."""
    return (x * y).sum(dim)


def multi_dot(tensors):
    """The product of a chain of matrices; the first may be a 1-D row vector and the last a
    1-D column vector (the result then loses those dims). Multiplied left to right."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    last = len(tensors) - 1
    for i, t in enumerate(tensors):
        if i in (0, last):
            if t.dim() not in (1, 2):
                which = "first" if i == 0 else "last"
                raise RuntimeError(f"multi_dot(): the {which} tensor must be 1D or 2D but got "
                                   f"{t.dim()}D")
        elif t.dim() != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.dim()}D")
    ms = [t.unsqueeze(0) if i == 0 and t.dim() == 1 else t for i, t in enumerate(tensors)]
    if ms[-1].dim() == 1:
        ms[-1] = ms[-1].unsqueeze(-1)
    for i in range(last):
        if ms[i].shape[-1] != ms[i + 1].shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes "
                               f"{list(tensors[i].shape)} and {list(tensors[i + 1].shape)} "
                               "cannot be multiplied")
    out = ms[0]
    for t in ms[1:]:
        out = out @ t
    if tensors[0].dim() == 1:
        out = out.squeeze(0)
    if tensors[-1].dim() == 1:
        out = out.squeeze(-1)
    return out
