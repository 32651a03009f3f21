"""The singular value decomposition: linalg_svd, linalg_svdvals and torch's older svd.

Two primitives: `linalg_svd` (U, S and Vh, packed into one differentiable
output, see the note below) and `linalg_svdvals` (S alone); the SVD-based norms
in pyrch.linalg build on them.
"""
import collections

import numpy as np

from .registry import op, composite
from .linalg import _mT, _TORCH_NAME, matmul
from .._dispatch import dispatch
from .._dtype import NP2DT

# NOTE: autograd gives an op at most one differentiable output, and U, S and Vh all take
# gradients, together. So the primitive `linalg_svd` returns them packed in one tensor,
# (..., m*p + k + q*n) for U (m x p), S (k = min(m, n)) and Vh (q x n); the public
# functions slice the three back out (narrow + reshape, both differentiable), the slices'
# gradients add up into one packed gradient, and the backward rule unpacks it. Under
# create_graph the rule's `out` is this op's output again, so gradients of gradients work.


class LinAlgError(RuntimeError):
    """A linear-algebra routine failed on its input (torch.linalg.LinAlgError)."""


_SvdT = collections.namedtuple("linalg_svd", ["U", "S", "Vh"])
_SvdOldT = collections.namedtuple("svd", ["U", "S", "V"])
_SvdT.__module__ = _SvdOldT.__module__ = "pyrch.return_types"


def _svd_check(ndim, dt):
    """torch's errors for an input the SVD does not take (dims first, then dtype)."""
    if ndim < 2:
        raise RuntimeError("linalg.svd: The input tensor A must have at least 2 dimensions.")
    if not dt.is_floating_point:
        raise RuntimeError("linalg.svd: Expected a floating point or complex tensor as input. "
                           f"Got {_TORCH_NAME[dt.name]}")
    if dt.name == "float16":
        raise NotImplementedError("\"linalg_svd_cpu\" not implemented for 'Half'")


_NONFINITE = ("linalg.svd: The algorithm failed to converge because the input matrix contained "
              "non-finite values.")


def _svd_call(xp, a, **kw):
    _svd_check(a.ndim, NP2DT[a.dtype])
    try:
        out = xp.linalg.svd(a, **kw)
    except np.linalg.LinAlgError:       # numpy's answer to a nan
        raise LinAlgError(_NONFINITE) from None
    # NOTE: an inf gives numpy nan singular values instead; checked on CPU only, where it
    # costs nothing (on a GPU the check would wait for the device)
    if xp is np and not np.isfinite(out[1] if isinstance(out, tuple) else out).all():
        raise LinAlgError(_NONFINITE)
    return out


def _svd_sizes(shape, full_matrices):
    """(m, n, k, p, q): A is m x n, k = min(m, n), U is m x p and Vh is q x n."""
    m, n = shape[-2], shape[-1]
    k = m if m < n else n
    return (m, n, k, m, n) if full_matrices else (m, n, k, k, k)


@op("linalg_svd", kind="opaque", dtype="keep", method=False)
def linalg_svd(xp, a, *, full_matrices=True):
    """linalg_svd(A, full_matrices=True) -> (U, S, Vh) with A = U diag(S) Vh, S descending.

    >>> import pyrch
    >>> pyrch.linalg_svd(pyrch.tensor([[3., 0.], [0., -4.]])).S
    tensor([4., 3.])
    """
    u, s, vh = _svd_call(xp, a, full_matrices=full_matrices)
    m, n, k, p, q = _svd_sizes(a.shape, full_matrices)
    lead = a.shape[:-2]
    return xp.concatenate([u.reshape(lead + (m * p,)), s, vh.reshape(lead + (q * n,))], axis=-1)


@linalg_svd.infer
def _(a, *, full_matrices=True):
    _svd_check(len(a.shape), a.dtype)
    m, n, k, p, q = _svd_sizes(a.shape, full_matrices)
    return a.shape[:-2] + (m * p + k + q * n,), a.dtype


def _svd_unpack(packed, shape, full_matrices):
    """U, S, Vh out of linalg_svd's packed output (or of its gradient), for an input `shape`."""
    m, n, k, p, q = _svd_sizes(shape, full_matrices)
    lead = tuple(shape[:-2])
    u = packed.narrow(-1, 0, m * p).reshape(lead + (m, p))
    vh = packed.narrow(-1, m * p + k, q * n).reshape(lead + (q, n))
    return u, packed.narrow(-1, m * p, k), vh


@linalg_svd.backward
def _(g, meta, out, full_matrices):
    shape = meta.shapes[0]
    k = min(shape[-2:])
    u, s, vh = _svd_unpack(out, shape, full_matrices)
    gu, gs, gvh = _svd_unpack(g, shape, full_matrices)
    if full_matrices:
        # NOTE: as in torch, the gradients of U's columns and Vh's rows beyond k are
        # ignored: they are an arbitrary basis of the complement, so have no derivative.
        u, gu, vh, gvh = u.narrow(-1, 0, k), gu.narrow(-1, 0, k), vh.narrow(-2, 0, k), \
            gvh.narrow(-2, 0, k)
    return (_svd_grad(u, s, vh, gu, gs, gvh),)


def _svd_grad(u, s, vh, gu, gs, gvh):
    """The gradient of A from those of its reduced SVD A = U diag(S) Vh (U m x k, Vh k x n):

    U [ (F o (U'gU - gU'U)) S + S (F o (Vh gVh' - gVh Vh')) + diag(gS) ] Vh
      + (I - U U') gU S^-1 Vh + U S^-1 (gVh - (gVh Vh') Vh)         F_ij = 1 / (s_j^2 - s_i^2)

    The last two terms exist only for m > k and n > k. It is finite only for distinct,
    and (where m != n) nonzero, singular values.
    """
    from .. import eye
    m, n, k = u.shape[-2], vh.shape[-1], s.shape[-1]
    s2 = s * s
    one = eye(k, dtype=s.dtype, device=s.device)
    e = s2.unsqueeze(-2) - s2.unsqueeze(-1) + one       # s_j^2 - s_i^2, and 1 on the diagonal
    utgu = matmul(_mT(u), gu)
    vtgv = matmul(vh, _mT(gvh))
    inner = ((utgu - _mT(utgu)) / e) * s.unsqueeze(-2) + s.unsqueeze(-1) * ((vtgv - _mT(vtgv)) / e) \
        + gs.unsqueeze(-1) * one
    right = matmul(inner, vh)
    if n > k:
        right = right + (gvh - matmul(_mT(vtgv), vh)) / s.unsqueeze(-1)
    ga = matmul(u, right)
    if m > k:
        ga = ga + matmul((gu - matmul(u, utgu)) / s.unsqueeze(-2), vh)
    return ga


@linalg_svd.public
def _linalg_svd(A, full_matrices=True):
    """linalg_svd(A, full_matrices=True) -> (U, S, Vh): the SVD of A (..., m, n), A = U diag(S) Vh.

    full_matrices=False gives the reduced U (m x k) and Vh (k x n), k = min(m, n). As in
    torch, gradients are finite only for distinct singular values, and with
    full_matrices=True those of U's columns and Vh's rows beyond k are ignored."""
    packed = dispatch(linalg_svd, (A,), {"full_matrices": bool(full_matrices)})
    return _SvdT(*_svd_unpack(packed, tuple(A.shape), bool(full_matrices)))


_linalg_svd.__name__ = _linalg_svd.__qualname__ = "linalg_svd"


@op("linalg_svdvals", kind="opaque", dtype="keep", method=False)
def linalg_svdvals(xp, a):
    """The singular values of A (..., m, n), descending, shape (..., min(m, n)).

    >>> import pyrch
    >>> pyrch.linalg_svdvals(pyrch.tensor([[3., 0.], [0., -4.]]))
    tensor([4., 3.])
    """
    return _svd_call(xp, a, compute_uv=False)


@linalg_svdvals.infer
def _(a):
    _svd_check(len(a.shape), a.dtype)
    return a.shape[:-2] + (min(a.shape[-2:]),), a.dtype


@linalg_svdvals.backward
def _(g, a):
    # U diag(g) Vh, with U and Vh recomputed by the differentiable SVD (the forward
    # computed S alone), so that gradients of this gradient work too
    u, _, vh = _svd_unpack(linalg_svd(a, full_matrices=False), tuple(a.shape), False)
    return (matmul(u * g.unsqueeze(-2), vh),)


@composite("svd")
def svd(input, some=True, compute_uv=True):
    """svd(input, some=True, compute_uv=True) -> (U, S, V), input = U diag(S) V^T (torch's older
    form of linalg.svd: V, not Vh; some=True the reduced SVD; compute_uv=False zero U, V).

    >>> import pyrch
    >>> pyrch.tensor([[3., 0.], [0., -4.]]).svd().S
    tensor([4., 3.])
    """
    shape = tuple(input.shape)
    if len(shape) < 2:
        raise RuntimeError(f"linalg.svd: input should have at least 2 dimensions, but has "
                           f"{len(shape)} dimensions instead")
    if not compute_uv:
        s = dispatch(linalg_svdvals, (input,))
        m, n = shape[-2:]
        return _SvdOldT(input.new_zeros(shape[:-2] + (m, m)), s, input.new_zeros(shape[:-2] + (n, n)))
    u, s, vh = _linalg_svd(input, full_matrices=not some)
    return _SvdOldT(u, s, _mT(vh))
