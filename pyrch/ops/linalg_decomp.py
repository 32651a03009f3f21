"""Square-matrix linear algebra: inverse, determinant, solve, Cholesky, QR, eigh, pinv.

The forwards call `xp.linalg` (numpy or cupy), batched over leading dims; the
backwards are written in pyrch ops, so gradients of gradients work. QR and eigh
pack their two differentiable outputs into one tensor, as linalg_svd does (see
the note in ops/svd.py); inv_ex and slogdet return a second, non-differentiable
output (info, sign) beside the differentiable one.

Errors for bad input (not square, not floating point, singular, not positive
definite) use torch's wording; the checks that need the values (singular, not
positive definite) run on the CPU only, as a GPU check would wait for the device.
"""
import collections

import numpy as np

from .registry import op, composite
from .linalg import _mT, _TORCH_NAME, matmul
from .svd import LinAlgError
from .._dispatch import dispatch
from .._dtype import NP2DT

_InvExT = collections.namedtuple("linalg_inv_ex", ["inverse", "info"])
_SlogdetT = collections.namedtuple("linalg_slogdet", ["sign", "logabsdet"])
_QrT = collections.namedtuple("linalg_qr", ["Q", "R"])
_EighT = collections.namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
_SlogdetOldT = collections.namedtuple("slogdet", ["sign", "logabsdet"])
for _t in (_InvExT, _SlogdetT, _QrT, _EighT, _SlogdetOldT):
    _t.__module__ = "pyrch.return_types"


def _check(name, shape, dt, square=True):
    """torch's errors for an input a linalg routine does not take (dims, dtype, square)."""
    if len(shape) < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if not dt.is_floating_point:
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. "
                           f"Got {_TORCH_NAME[dt.name]}")
    if dt.name in ("float16", "bfloat16"):
        raise RuntimeError(f"{name}: Low precision dtypes not supported. Got {_TORCH_NAME[dt.name]}")
    if square and shape[-1] != shape[-2]:
        raise RuntimeError(f"{name}: A must be batches of square matrices, but they are "
                           f"{shape[-2]} by {shape[-1]} matrices")


def _check_array(name, a, square=True):
    _check(name, a.shape, NP2DT[a.dtype], square)


def _batch_prefix(a, i):
    return f"(Batch element {i}): " if a.ndim > 2 else ""


def _zero_pivot(m):
    """1 + the column of the first exactly-zero pivot of m's LU with partial pivoting
    (LAPACK getrf's info), or 0. For error messages only: a Python loop."""
    m = np.array(m, dtype=np.float64)
    n = m.shape[0]
    first = 0
    for j in range(n):
        p = j + int(np.argmax(np.abs(m[j:, j])))
        if m[p, j] == 0:
            first = first or j + 1
            continue
        m[[j, p]] = m[[p, j]]
        m[j + 1:, j:] -= np.outer(m[j + 1:, j] / m[j, j], m[j, j:])
    return first


def _pivots(a):
    """info per matrix of a (..., n, n): 0 if invertible, else 1 + first zero pivot."""
    flat = np.asarray(a).reshape((-1,) + a.shape[-2:])
    return np.array([_zero_pivot(m) for m in flat], dtype=np.int32).reshape(a.shape[:-2])


def _singular(xp, a, fn):
    """fn(a), or the first singular matrix's (batch index, info) if numpy refuses it."""
    try:
        return fn(a), None
    except np.linalg.LinAlgError:
        info = _pivots(a).reshape(-1)
        bad = int(np.flatnonzero(info)[0]) if info.any() else 0
        return None, (bad, int(info[bad]) or 1)


# -- inverse -----------------------------------------------------------------------------

@op("linalg_inv_ex", kind="opaque", dtype="keep", method=False, outputs=2)
def linalg_inv_ex(xp, a, *, check_errors=False):
    """linalg_inv_ex(A, check_errors=False) -> (inverse, info): A^-1 and, per matrix, 0 or
    1 + the position of the zero pivot that makes it singular (its inverse is then nan).

    >>> import pyrch
    >>> pyrch.linalg_inv_ex(pyrch.tensor([[2., 0.], [0., 4.]])).inverse
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    _check_array("linalg.inv", a)
    inv, bad = _singular(xp, a, xp.linalg.inv)
    if bad is None:
        return inv, xp.zeros(a.shape[:-2], xp.int32)
    if check_errors:
        raise LinAlgError(f"linalg.inv: {_batch_prefix(a, bad[0])}The diagonal element {bad[1]} is "
                          "zero, the inversion could not be completed because the input matrix is "
                          "singular.")
    info = _pivots(a)
    ok = info == 0
    out = np.full(a.shape, np.nan, a.dtype)
    if ok.any():
        out[ok] = np.linalg.inv(a[ok])
    return out, info


@linalg_inv_ex.infer
def _(a, *, check_errors=False):
    _check("linalg.inv", a.shape, a.dtype)
    from .._dtype import int32
    return [(a.shape, a.dtype), (a.shape[:-2], int32)]


@linalg_inv_ex.backward
def _(g, out):
    t = _mT(out)
    return (-matmul(matmul(t, g), t),)


@linalg_inv_ex.public
def _linalg_inv_ex(A, *, check_errors=False):
    """linalg_inv_ex(A, *, check_errors=False) -> (inverse, info), A (..., n, n)."""
    try:
        return _InvExT(*dispatch(linalg_inv_ex, (A,), {"check_errors": bool(check_errors)}))
    except LinAlgError as e:
        raise LinAlgError(str(e).replace("linalg.inv:", "linalg.inv_ex:", 1)) from None


def _inv(A):
    """A^-1, raising torch's LinAlgError for a singular A."""
    return dispatch(linalg_inv_ex, (A,), {"check_errors": True})[0]


@composite("inverse")
def inverse(input):
    """inverse(input) -> input^-1 (torch.linalg.inv), batched over leading dims.

    >>> import pyrch
    >>> pyrch.tensor([[2., 0.], [0., 4.]]).inverse()
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    return _inv(input)


# -- determinants ----------------------------------------------------------------------

def _scalar_times_inv_t(g, a):
    """g[..., None, None] * A^-T: the gradient of a function of det(A) whose derivative is g."""
    return g.unsqueeze(-1).unsqueeze(-1) * _mT(_inv(a))


@op("linalg_det", kind="opaque", dtype="keep", method=False)
def linalg_det(xp, a):
    """The determinant of A (..., n, n).

    >>> import pyrch
    >>> pyrch.linalg_det(pyrch.tensor([[2., 1.], [1., 3.]]))
    tensor(5.)
    """
    _check_array("linalg.det", a)
    return xp.linalg.det(a)


@linalg_det.infer
def _(a):
    _check("linalg.det", a.shape, a.dtype)
    return a.shape[:-2], a.dtype


@linalg_det.backward
def _(g, a, out):
    # NOTE: det(A) A^-T; A must be invertible for the gradient (torch also covers the
    # singular case through an SVD)
    return (_scalar_times_inv_t(g * out, a),)


@composite("det")
def det(input):
    """det(input) -> the determinant of input (..., n, n) (torch.linalg.det)."""
    return dispatch(linalg_det, (input,))


@op("linalg_slogdet", kind="opaque", dtype="keep", method=False, outputs=2)
def linalg_slogdet(xp, a):
    """linalg_slogdet(A) -> (logabsdet, sign) as arrays (log |det A| first: it is the
    differentiable output); the public function returns torch's (sign, logabsdet)."""
    _check_array("linalg.slogdet", a)
    sign, logabs = xp.linalg.slogdet(a)
    return logabs, sign


@linalg_slogdet.infer
def _(a):
    _check("linalg.slogdet", a.shape, a.dtype)
    return [(a.shape[:-2], a.dtype), (a.shape[:-2], a.dtype)]


@linalg_slogdet.backward
def _(g, a):
    return (_scalar_times_inv_t(g, a),)


@linalg_slogdet.public
def _linalg_slogdet(A):
    """linalg_slogdet(A) -> (sign, logabsdet): det(A) = sign * exp(logabsdet).

    >>> import pyrch
    >>> pyrch.linalg_slogdet(pyrch.tensor([[0., 2.], [1., 0.]])).sign
    tensor(-1.)
    """
    logabs, sign = dispatch(linalg_slogdet, (A,))
    return _SlogdetT(sign, logabs)


@composite("slogdet")
def slogdet(input):
    """slogdet(input) -> (sign, logabsdet) of input (..., n, n) (torch.linalg.slogdet)."""
    logabs, sign = dispatch(linalg_slogdet, (input,))
    return _SlogdetOldT(sign, logabs)


@composite("logdet")
def logdet(input):
    """logdet(input) -> log det(input): nan where det < 0, -inf where det = 0.

    >>> import pyrch
    >>> pyrch.tensor([[2., 0.], [0., 3.]]).logdet()
    tensor(1.7918)
    """
    if input.dim() >= 2 and input.shape[-1] != input.shape[-2]:
        raise RuntimeError(f"logdet: A must be batches of square matrices, but they are "
                           f"{input.shape[-2]} by {input.shape[-1]} matrices")
    logabs, sign = dispatch(linalg_slogdet, (input,))
    return logabs + sign.log()      # log(-1) is nan, log(0) -inf; sign takes no gradient


# -- solve -----------------------------------------------------------------------------

@op("linalg_solve", kind="opaque", dtype="keep", method=False)
def linalg_solve(xp, a, b):
    """X with A X = B, for A (..., n, n) and B (..., n, k) of the same batch shape (the
    public linalg.solve broadcasts and takes vectors).

    >>> import pyrch
    >>> pyrch.linalg_solve(pyrch.tensor([[2., 0.], [0., 4.]]), pyrch.tensor([[2.], [2.]]))
    tensor([[1.0000],
            [0.5000]])
    """
    _check_array("linalg.solve", a)
    if a.dtype != b.dtype:
        raise RuntimeError("linalg.solve: A and B differ in dtype")    # (infer words it as torch)
    x, bad = _singular(xp, a, lambda m: xp.linalg.solve(m, b))
    if bad is not None:
        raise LinAlgError(f"torch.linalg.solve: {_batch_prefix(a, bad[0])}The solver failed "
                          "because the input matrix is singular.")
    return x


@linalg_solve.infer
def _(a, b):
    _check("linalg.solve", a.shape, a.dtype)
    if a.dtype != b.dtype:
        raise RuntimeError("linalg.solve: Expected A and B to have the same dtype, but found A of "
                           f"type {_TORCH_NAME[a.dtype.name]} and B of type "
                           f"{_TORCH_NAME[b.dtype.name]} instead")
    if b.shape[:-1] != a.shape[:-1]:
        raise RuntimeError("linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({a.shape[-2]}x{a.shape[-1]} and {b.shape[-2]}x{b.shape[-1]})")
    return b.shape, a.dtype


@linalg_solve.backward
def _(g, a, out, needs):
    gb = dispatch(linalg_solve, (_mT(a), g))
    ga = -matmul(gb, _mT(out)) if needs[0] else None
    return ga, gb


# -- Cholesky --------------------------------------------------------------------------

def _not_pd_order(m):
    """The order of m's first leading minor that is not positive-definite."""
    for k in range(1, m.shape[-1] + 1):
        try:
            np.linalg.cholesky(m[:k, :k])
        except np.linalg.LinAlgError:
            return k
    return m.shape[-1]


@op("linalg_cholesky", kind="opaque", dtype="keep", method=False)
def linalg_cholesky(xp, a, *, upper=False):
    """The Cholesky factor of a symmetric positive-definite A (..., n, n): lower L with
    A = L L^T, or upper=True U = L^T (A = U^T U). Only A's lower triangle is read.

    >>> import pyrch
    >>> pyrch.linalg_cholesky(pyrch.tensor([[4., 2.], [2., 5.]]))
    tensor([[2., 0.],
            [1., 2.]])
    """
    _check_array("linalg.cholesky", a)
    try:
        low = xp.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        flat = np.asarray(a).reshape((-1,) + a.shape[-2:])
        for i, m in enumerate(flat):
            try:
                np.linalg.cholesky(m)
            except np.linalg.LinAlgError:
                raise LinAlgError(
                    f"linalg.cholesky: {_batch_prefix(a, i)}The factorization could not be "
                    "completed because the input is not positive-definite (the leading minor of "
                    f"order {_not_pd_order(m)} is not positive-definite).") from None
        raise
    return xp.ascontiguousarray(xp.swapaxes(low, -1, -2)) if upper else low


@linalg_cholesky.infer
def _(a, *, upper=False):
    _check("linalg.cholesky", a.shape, a.dtype)
    return a.shape, a.dtype


def _phi(x):
    """The lower triangle of x with its diagonal halved."""
    return x.tril() - 0.5 * x.tril().triu()


@linalg_cholesky.backward
def _(g, out, upper):
    # A = L L^T: L^-1 dA L^-T = L^-1 dL + (L^-1 dL)^T, so L^-1 dL = phi(L^-1 dA L^-T), and
    # gA = L^-T phi(L^T gL) L^-1, symmetrised (A is taken as symmetric, as in torch)
    low, gl = (_mT(out), _mT(g)) if upper else (out, g)
    p = _phi(matmul(_mT(low), gl.tril()))
    lt = _mT(low)
    x = _mT(dispatch(linalg_solve, (lt, _mT(dispatch(linalg_solve, (lt, p))))))
    return (0.5 * (x + _mT(x)),)


@composite("cholesky")
def cholesky(input, upper=False):
    """cholesky(input, upper=False) -> the Cholesky factor of a symmetric positive-definite
    input (torch's older form of linalg.cholesky)."""
    try:
        return dispatch(linalg_cholesky, (input,), {"upper": bool(upper)})
    except LinAlgError as e:
        raise LinAlgError(str(e).replace("linalg.cholesky:", "cholesky:", 1)) from None


# -- QR ----------------------------------------------------------------------------------

_QR_MODES = ("reduced", "complete", "r")


def _qr_sizes(shape, mode):
    """(m, n, kq, kr): Q is m x kq, R is kr x n (kq = 0: no Q, mode='r')."""
    m, n = shape[-2], shape[-1]
    k = min(m, n)
    if mode == "complete":
        return m, n, m, m
    return m, n, (0 if mode == "r" else k), k


def _qr_check(shape, dt, mode):
    if mode not in _QR_MODES:
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' "
                           "(default), 'r', or 'complete'")
    _check("linalg.qr", shape, dt, square=False)


@op("linalg_qr", kind="opaque", dtype="keep", method=False)
def linalg_qr(xp, a, *, mode="reduced"):
    """linalg_qr(A, mode='reduced') -> (Q, R), A = Q R with Q orthonormal columns and R upper
    triangular; mode='complete' gives a square Q, mode='r' R alone (and an empty Q).

    >>> import pyrch
    >>> pyrch.linalg_qr(pyrch.tensor([[3., 0.], [4., 5.]])).R.abs()
    tensor([[5., 4.],
            [0., 3.]])
    """
    _qr_check(a.shape, NP2DT[a.dtype], mode)
    m, n, kq, kr = _qr_sizes(a.shape, mode)
    lead = a.shape[:-2]
    if mode == "r":
        return xp.linalg.qr(a, mode="r").reshape(lead + (kr * n,))
    q, r = xp.linalg.qr(a, mode=mode)
    return xp.concatenate([q.reshape(lead + (m * kq,)), r.reshape(lead + (kr * n,))], axis=-1)


@linalg_qr.infer
def _(a, *, mode="reduced"):
    _qr_check(a.shape, a.dtype, mode)
    m, n, kq, kr = _qr_sizes(a.shape, mode)
    return a.shape[:-2] + (m * kq + kr * n,), a.dtype


def _qr_unpack(packed, shape, mode):
    m, n, kq, kr = _qr_sizes(shape, mode)
    lead = tuple(shape[:-2])
    q = packed.narrow(-1, 0, m * kq).reshape(lead + (m, kq))
    return q, packed.narrow(-1, m * kq, kr * n).reshape(lead + (kr, n))


def _copyltu(x):
    """The symmetric matrix with x's lower triangle."""
    low = x.tril(-1)
    return low + _mT(low) + (x - x.tril(-1) - x.triu(1))


def _qr_grad_square(q, r, gq, gr):
    """gA for A = Q R with R square (k x k) and Q m x k, m >= k:
    (gQ + Q copyltu(R gR^T - gQ^T Q)) R^-T."""
    m = matmul(r, _mT(gr)) - matmul(_mT(gq), q)
    b = gq + matmul(q, _copyltu(m))
    return _mT(dispatch(linalg_solve, (r, _mT(b))))


@linalg_qr.backward
def _(g, meta, out, mode):
    shape = meta.shapes[0]
    if mode == "r":
        raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when "
                           "mode='r'. Please use linalg.qr(A, mode='reduced') if you are going to "
                           "differentiate through linalg.qr.")
    m, n = shape[-2], shape[-1]
    if mode == "complete" and m > n:
        raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and "
                           "nrows > ncols.")
    q, r = _qr_unpack(out, shape, mode)
    gq, gr = _qr_unpack(g, shape, mode)
    if m >= n:
        return (_qr_grad_square(q, r, gq, gr),)
    # A = Q [U | V] with U square: the right block Y = Q V adds Y gV^T to Q's gradient
    from .. import cat
    u, v, gu, gv = r.narrow(-1, 0, m), r.narrow(-1, m, n - m), gr.narrow(-1, 0, m), \
        gr.narrow(-1, m, n - m)
    y = matmul(q, v)
    gx = _qr_grad_square(q, u, gq + matmul(y, _mT(gv)), gu)
    return (cat([gx, matmul(q, gv)], -1),)


@linalg_qr.public
def _linalg_qr(A, mode="reduced"):
    """linalg_qr(A, mode='reduced') -> (Q, R) of A (..., m, n)."""
    packed = dispatch(linalg_qr, (A,), {"mode": mode})
    q, r = _qr_unpack(packed, tuple(A.shape), mode)
    if mode == "r":
        q = A.new_zeros((0,))
    return _QrT(q, r)


# -- symmetric eigendecomposition --------------------------------------------------------

def _uplo(UPLO):
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")


@op("linalg_eigh", kind="opaque", dtype="keep", method=False)
def linalg_eigh(xp, a, *, UPLO="L"):
    """linalg_eigh(A, UPLO='L') -> (eigenvalues, eigenvectors) of a symmetric A (..., n, n):
    ascending eigenvalues, eigenvectors as columns; only the UPLO triangle of A is read.

    >>> import pyrch
    >>> pyrch.linalg_eigh(pyrch.tensor([[2., 0.], [0., 1.]])).eigenvalues
    tensor([1., 2.])
    """
    _uplo(UPLO)
    _check_array("linalg.eigh", a)
    w, v = xp.linalg.eigh(a, UPLO=UPLO)
    n = a.shape[-1]
    return xp.concatenate([w, v.reshape(a.shape[:-2] + (n * n,))], axis=-1)


@linalg_eigh.infer
def _(a, *, UPLO="L"):
    _uplo(UPLO)
    _check("linalg.eigh", a.shape, a.dtype)
    n = a.shape[-1]
    return a.shape[:-2] + (n + n * n,), a.dtype


def _eigh_unpack(packed, shape):
    n = shape[-1]
    return packed.narrow(-1, 0, n), packed.narrow(-1, n, n * n).reshape(tuple(shape))


@linalg_eigh.backward
def _(g, meta, out):
    # dL_i = q_i^T dA q_i and dQ = Q (F o Q^T dA Q), F_ij = 1 / (l_j - l_i) off the diagonal:
    # gA = Q (diag(gL) + F o Q^T gQ) Q^T, symmetrised as in torch (A is taken as symmetric),
    # which is F o the skew part of Q^T gQ (finite for distinct eigenvalues)
    from .. import eye
    shape = meta.shapes[0]
    lam, q = _eigh_unpack(out, shape)
    glam, gq = _eigh_unpack(g, shape)
    one = eye(shape[-1], dtype=lam.dtype, device=lam.device)
    e = lam.unsqueeze(-2) - lam.unsqueeze(-1) + one     # l_j - l_i, 1 on the diagonal
    qtg = matmul(_mT(q), gq)
    inner = ((qtg - _mT(qtg)) / (2 * e)) * (1 - one) + glam.unsqueeze(-1) * one
    return (matmul(matmul(q, inner), _mT(q)),)


@linalg_eigh.public
def _linalg_eigh(A, UPLO="L"):
    """linalg_eigh(A, UPLO='L') -> (eigenvalues, eigenvectors) of a symmetric A."""
    packed = dispatch(linalg_eigh, (A,), {"UPLO": UPLO})
    return _EighT(*_eigh_unpack(packed, tuple(A.shape)))


@op("linalg_eigvalsh", kind="opaque", dtype="keep", method=False)
def linalg_eigvalsh(xp, a, *, UPLO="L"):
    """The eigenvalues of a symmetric A (..., n, n), ascending.

    >>> import pyrch
    >>> pyrch.linalg_eigvalsh(pyrch.tensor([[2., 0.], [0., 1.]]))
    tensor([1., 2.])
    """
    _uplo(UPLO)
    _check_array("linalg.eigh", a)
    return xp.linalg.eigvalsh(a, UPLO=UPLO)


@linalg_eigvalsh.infer
def _(a, *, UPLO="L"):
    _uplo(UPLO)
    _check("linalg.eigh", a.shape, a.dtype)
    return a.shape[:-1], a.dtype


@linalg_eigvalsh.backward
def _(g, a, UPLO):
    # Q diag(g) Q^T with Q from the differentiable eigh, so gradients of this work too
    _, q = _eigh_unpack(dispatch(linalg_eigh, (a,), {"UPLO": UPLO}), tuple(a.shape))
    return (matmul(q * g.unsqueeze(-2), _mT(q)),)


# -- pseudo-inverse ----------------------------------------------------------------------

def _cutoff(xp, s, atol, rtol, m, n, dtype):
    """torch's threshold max(atol, rtol * s_max) under which singular values count as 0."""
    if rtol is None:
        rtol = float(np.finfo(dtype).eps) * max(m, n) if atol is None or atol <= 0 else 0.0
    smax = s.max(axis=-1, keepdims=True) if s.shape[-1] else xp.zeros(s.shape[:-1] + (1,), s.dtype)
    return xp.maximum(atol or 0.0, rtol * smax)


@op("linalg_pinv", kind="opaque", dtype="keep", method=False)
def linalg_pinv(xp, a, *, atol=None, rtol=None, hermitian=False):
    """The Moore-Penrose pseudo-inverse of A (..., m, n), shape (..., n, m): singular values
    at most max(atol, rtol * largest) count as zero (rtol defaults to eps * max(m, n)).
    hermitian=True is accepted; the SVD is used either way.

    >>> import pyrch
    >>> pyrch.linalg_pinv(pyrch.tensor([[2., 0.], [0., 0.]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.0000]])
    """
    _check_array("linalg.pinv", a, square=False)
    u, s, vh = xp.linalg.svd(a, full_matrices=False)
    keep = s > _cutoff(xp, s, atol, rtol, a.shape[-2], a.shape[-1], a.dtype)
    sinv = xp.where(keep, 1 / xp.where(keep, s, 1), 0).astype(a.dtype)
    return xp.matmul(xp.swapaxes(vh, -1, -2) * sinv[..., None, :], xp.swapaxes(u, -1, -2))


@linalg_pinv.infer
def _(a, *, atol=None, rtol=None, hermitian=False):
    _check("linalg.pinv", a.shape, a.dtype, square=False)
    return a.shape[:-2] + (a.shape[-1], a.shape[-2]), a.dtype


@linalg_pinv.backward
def _(g, a, out):
    # for X = A^+ of constant rank: dX = -X dA X + X X^T dA^T (I - A X) + (I - X A) dA^T X^T X
    x, xt = out, _mT(out)
    gt = _mT(g)
    r_left = gt - matmul(a, matmul(x, gt))          # (I - A X) g^T
    r_right = gt - matmul(matmul(gt, x), a)         # g^T (I - X A)
    return (-matmul(matmul(xt, g), xt) + matmul(r_left, matmul(x, xt))
            + matmul(matmul(xt, x), r_right),)


@composite("pinverse")
def pinverse(input, rcond=1e-15):
    """pinverse(input, rcond=1e-15) -> the pseudo-inverse of input (linalg.pinv with
    rtol=rcond)."""
    return dispatch(linalg_pinv, (input,), {"rtol": float(rcond)})


# -- powers, cross product ---------------------------------------------------------------

@composite("matrix_power")
def matrix_power(input, n):
    """matrix_power(input, n) -> input^n for an integer n (n < 0: powers of the inverse,
    n = 0: the identity), batched over leading dims.

    >>> import pyrch
    >>> pyrch.tensor([[1., 1.], [0., 1.]]).matrix_power(3)
    tensor([[1., 3.],
            [0., 1.]])
    """
    if input.dim() < 2:
        raise RuntimeError("linalg.matrix_power: The input tensor A must have at least 2 "
                           "dimensions.")
    if input.shape[-1] != input.shape[-2]:
        raise RuntimeError("linalg.matrix_power: A must be batches of square matrices, but they "
                           f"are {input.shape[-2]} by {input.shape[-1]} matrices")
    n = int(n)
    if n == 0:
        from .. import eye
        return eye(input.shape[-1], dtype=input.dtype, device=input.device) + input * 0
    a = _inv(input) if n < 0 else input
    n = abs(n)
    result = None
    while True:                     # square-and-multiply
        if n & 1:
            result = a if result is None else matmul(result, a)
        n >>= 1
        if not n:
            return result.clone() if result is input else result
        a = matmul(a, a)


def _cross(input, other, dim, who):
    from .. import cat
    if input.dim() != other.dim():
        raise RuntimeError(f"{who}: inputs must have the same number of dimensions.")
    nd = input.dim()
    if not -nd <= dim < nd:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                         f"but got {dim})")
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(f"{who}: inputs dimension {dim} must have length 3. Got "
                           f"{input.shape[dim]} and {other.shape[dim]}")
    a = [input.narrow(dim, i, 1) for i in range(3)]
    b = [other.narrow(dim, i, 1) for i in range(3)]
    return cat([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                a[0] * b[1] - a[1] * b[0]], dim)


@composite("cross")
def cross(input, other, dim=None):
    """cross(input, other, dim=None) -> the cross product along `dim` (size 3); dim=None
    takes the first dim of size 3, as torch does (linalg.cross defaults to -1).

    >>> import pyrch
    >>> pyrch.cross(pyrch.tensor([1., 0., 0.]), pyrch.tensor([0., 1., 0.]), dim=0)
    tensor([0., 0., 1.])
    """
    if dim is None:
        import warnings
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease "
                      "either pass the dim explicitly or simply use torch.linalg.cross.\nThe "
                      "default value of dim will change to agree with that of linalg.cross in a "
                      "future release.", UserWarning, stacklevel=2)
        from .registry import broadcast_shapes
        shape = broadcast_shapes(tuple(input.shape), tuple(other.shape))
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    return _cross(input, other, dim, "linalg.cross")


# -- matrix exponential ------------------------------------------------------------------

# Higham's (2005) degree-13 Pade approximant with scaling and squaring: A is halved s times
# until its 1-norm is under theta_13, exp is approximated there and squared back s times.
_PADE13 = (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800.,
           129060195264000., 10559470521600., 670442572800., 33522128640., 1323241920.,
           40840800., 960960., 16380., 182., 1.)
_THETA13 = 5.371920351148152


@op("matrix_exp", kind="opaque", dtype="keep")
def matrix_exp(xp, a):
    """The matrix exponential of A (..., n, n), sum_k A^k / k!.

    >>> import pyrch
    >>> pyrch.tensor([[0., 1.], [0., 0.]]).matrix_exp()
    tensor([[1., 1.],
            [0., 1.]])
    """
    _check_array("linalg.matrix_exp", a)
    if a.size == 0:
        return a.copy()
    b = _PADE13
    norm = xp.abs(a).sum(axis=-2).max(axis=-1)             # the 1-norm, per matrix
    s = xp.maximum(0, xp.ceil(xp.log2(xp.maximum(norm, 1e-300) / _THETA13))).astype(xp.int64)
    x = a / (2.0 ** s).astype(a.dtype)[..., None, None]
    eye = xp.eye(a.shape[-1], dtype=a.dtype)
    x2 = x @ x
    x4 = x2 @ x2
    x6 = x4 @ x2
    u = x @ (x6 @ (b[13] * x6 + b[11] * x4 + b[9] * x2) + b[7] * x6 + b[5] * x4 + b[3] * x2
             + b[1] * eye)
    v = x6 @ (b[12] * x6 + b[10] * x4 + b[8] * x2) + b[6] * x6 + b[4] * x4 + b[2] * x2 + b[0] * eye
    r = xp.linalg.solve(v - u, v + u)
    for k in range(int(s.max()) if s.size else 0):         # square each matrix its own s times
        r = xp.where((s > k)[..., None, None], r @ r, r)
    return r


@matrix_exp.infer
def _(a):
    _check("linalg.matrix_exp", a.shape, a.dtype)
    return a.shape, a.dtype


@matrix_exp.backward
def _(g, a):
    # the adjoint of the Frechet derivative: exp([[A^T, G], [0, A^T]])'s upper-right block
    from .. import cat
    n = a.shape[-1]
    at = _mT(a)
    top = cat([at, g], -1)
    bottom = cat([at.new_zeros(tuple(at.shape)), at], -1)
    return (matrix_exp(cat([top, bottom], -2)).narrow(-2, 0, n).narrow(-1, n, n),)
