"""Ready-made parametrizations (torch.nn.utils.parametrizations): weight_norm,
spectral_norm and orthogonal, registered through `parametrize.register_parametrization`.

>>> import pyrch
>>> from pyrch.nn.utils.parametrizations import weight_norm
>>> m = weight_norm(pyrch.nn.Linear(3, 4))
>>> list(m.state_dict())
['bias', 'parametrizations.weight.original0', 'parametrizations.weight.original1']
"""
import math

import numpy as np

from ... import mv
from ..._tensor import Tensor
from ...autograd import no_grad
from ..functional import normalize
from ..module import Module
from . import parametrize
from .spectral_norm import _transposed_conv
from .weight_norm import _norm_except_dim, _weight_norm

__all__ = ["weight_norm", "spectral_norm", "orthogonal"]


class _WeightNorm(Module):
    """weight = original1 * original0 / ||original1|| (g = original0, v = original1)."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Parametrize `module.<name>` as g * v / ||v|| (norm over every dim but `dim`; None:
    the whole tensor); g and v are `parametrizations.<name>.original0` / `original1`."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    _accept_old_weight_norm_keys(module.__class__, name)
    return module


def _accept_old_weight_norm_keys(cls, name):
    """Let load_state_dict take the old API's `<name>_g` / `<name>_v` keys (torch's compat
    hook): they are renamed to `parametrizations.<name>.original0` / `original1` before this
    module (and then its children) load. `cls` is the module's own Parametrized class."""
    base_load = cls._load_from_state_dict

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)
        return base_load(self, state_dict, prefix, *args, **kwargs)
    cls._load_from_state_dict = _load_from_state_dict


class _SpectralNorm(Module):
    """weight / sigma, sigma estimated by power iteration on the buffers `_u`, `_v`
    (advanced in training mode only); a 1-D weight is just normalized."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.dim()
        if dim >= ndim or dim < -ndim:
            raise IndexError("Dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            mat = self._reshape_weight_to_matrix(weight)
            h, w = mat.shape
            with no_grad():
                u = mat.new_empty(h).normal_(0, 1)
                v = mat.new_empty(w).normal_(0, 1)
                self.register_buffer("_u", normalize(u, dim=0, eps=self.eps))
                self.register_buffer("_v", normalize(v, dim=0, eps=self.eps))
            self._power_method(mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.dim()) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, mat, n_iterations):
        """Advance u and v (in place) by n_iterations steps of power iteration on mat."""
        with no_grad():
            for _ in range(n_iterations):
                self._u.copy_(normalize(mv(mat, self._v), dim=0, eps=self.eps))
                self._v.copy_(normalize(mv(mat.t(), self._u), dim=0, eps=self.eps))

    def forward(self, weight):
        if weight.dim() == 1:
            return normalize(weight, dim=0, eps=self.eps)
        mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = u.dot(mv(mat, v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Parametrize `module.<name>` as weight / sigma (its spectral norm, by power
    iteration). dim defaults to 1 for transposed convolutions, else 0. Returns module."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if _transposed_conv(module) else 0
    parametrize.register_parametrization(module, name,
                                         _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# -- orthogonal -----------------------------------------------------------------------------
def _pyrch():
    import pyrch
    return pyrch


def _eye_like(A, n):
    return _pyrch().eye(n, dtype=A.dtype, device=A.device)


def _matrix_exp(A):
    return _pyrch().linalg.matrix_exp(A)


def _inverse(M):
    return _pyrch().linalg.inv(M)


def _householder_product(A, tau):
    """The first k columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T, v_i the i-th column
    of A below the diagonal with a 1 on it (LAPACK's orgqr, torch.linalg.householder_product)."""
    pyrch = _pyrch()
    n, k = A.shape[-2], A.shape[-1]
    Q = _eye_like(A, n).expand(*A.shape[:-2], n, n)
    rows = pyrch.arange(n, device=A.device)
    for i in range(k):
        below = (rows > i).to(A.dtype)
        unit = (rows == i).to(A.dtype)
        v = (A[..., :, i] * below + unit).unsqueeze(-1)            # (..., n, 1)
        Q = Q - Q.matmul(v).matmul(v.mT) * tau[..., i].unsqueeze(-1).unsqueeze(-1)
    return Q[..., :, :k]


def _host_qr(Q):
    """numpy's reduced QR of Q (a batch too), as float64 host arrays (used only under
    no_grad, to build an orthogonal starting point)."""
    return np.linalg.qr(np.asarray(Q.detach().cpu().numpy(), dtype=np.float64))


def _is_orthogonal(Q):
    n, k = Q.shape[-2], Q.shape[-1]
    eps = 10.0 * n * _pyrch().finfo(Q.dtype).eps
    return bool(_pyrch().allclose(Q.mT.matmul(Q), _eye_like(Q, k), atol=eps))


def _make_orthogonal(A):
    """The Q of A's QR with its columns' signs fixed so that R has a positive diagonal."""
    q, r = _host_qr(A)
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    return _pyrch().tensor(q, dtype=A.dtype, device=A.device)


class _Orthogonal(Module):
    """An orthogonal (batch of) matrix from an unconstrained one: through the matrix
    exponential or the Cayley map of a skew-symmetric matrix, or a product of Householder
    reflections; with use_trivialization the result is multiplied by the buffer `base`."""

    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = X.tril()
            if n != k:          # pad the tall matrix to a square one with zero columns
                pad = X.new_zeros(n, n - k).expand(*X.shape[:-2], n, n - k)
                X = _pyrch().cat([X, pad], dim=-1)
            A = X - X.mT                                    # skew-symmetric
            if self.orthogonal_map == "matrix_exp":
                Q = _matrix_exp(A)
            else:
                eye = _eye_like(A, n)
                Q = _inverse(eye - A * 0.5).matmul(eye + A * 0.5)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = _householder_product(A, tau)
            # the diagonal of X holds the signs (+-1) of Q's columns
            Q = Q * X.diagonal(dim1=-2, dim2=-1).to(_pyrch().int32).unsqueeze(-2)
        if "base" in self._buffers:
            Q = self.base.matmul(Q)
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q):
        """Make the parametrization return Q: with a base, base becomes Q (made orthogonal,
        completed to a square matrix if needed) and X the matrix giving the identity."""
        pyrch = _pyrch()
        with no_grad():
            if Q.shape != self.shape:
                raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                                 f"Got a tensor of shape {Q.shape}.")
            Q_init = Q
            n, k = Q.shape[-2], Q.shape[-1]
            transpose = n < k
            if transpose:
                Q = Q.mT
                n, k = k, n
            if "base" not in self._buffers:
                if self.orthogonal_map in ("matrix_exp", "cayley"):
                    raise NotImplementedError("It is not possible to assign to the matrix "
                                              "exponential or the Cayley parametrizations when "
                                              "use_trivialization=False.")
                return self._householder_inverse(Q, transpose)
            if n == k:
                Q = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
            else:           # complete Q to an n x n orthogonal matrix
                extra = pyrch.randn(*Q.shape[:-2], n, n - k, dtype=Q.dtype, device=Q.device)
                Q = _make_orthogonal(pyrch.cat([Q, extra], dim=-1))
            self.base = Q
            neg_eye = pyrch.zeros_like(Q_init)
            neg_eye.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
            return neg_eye

    def _householder_inverse(self, Q, transpose):
        """Q's Householder vectors (LAPACK geqrf) below the diagonal, the signs that recover
        Q's columns on it."""
        flat = Q.detach().cpu().numpy().reshape(-1, Q.shape[-2], Q.shape[-1])
        out = []
        for m in flat:
            h, tau = np.linalg.qr(np.asarray(m, dtype=np.float64), mode="raw")
            a = h.T.copy()
            d = np.sign(np.diagonal(a)).copy()
            d[tau == 0] *= -1
            np.fill_diagonal(a, d)
            out.append(a)
        A = _pyrch().tensor(np.stack(out).reshape(Q.shape), dtype=Q.dtype, device=Q.device)
        return A.mT if transpose else A


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Constrain `module.<name>` (a matrix or batch of matrices) to be orthogonal.

    orthogonal_map: "matrix_exp" (default for square matrices), "cayley" or "householder"
    (default otherwise). With use_trivialization (default) the parametrization keeps the
    buffer `parametrizations.<name>.0.base` and assigning to the weight stays possible.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.dim() < 2:
        raise ValueError("Expected a matrix or batch of matrices. Got a tensor of "
                         f"{weight.dim()} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in ("matrix_exp", "cayley", "householder"):
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
