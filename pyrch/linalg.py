"""pyrch.linalg: the torch.linalg norms, built from pyrch's ops (so they differentiate
and trace like everything else).

>>> import pyrch
>>> x = pyrch.tensor([[3.0, 4.0], [0.0, 0.0]])
>>> pyrch.linalg.vector_norm(x)
tensor(5.)
>>> pyrch.linalg.matrix_norm(x, ord=1)
tensor(4.)
"""
import math

__all__ = ["vector_norm", "matrix_norm", "norm"]

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
                           f"input. Got {str(x.dtype).split('.')[-1].capitalize()}")
    return _pyrch().norm(x, p=float(ord), dim=dim, keepdim=keepdim)


def _two_dims(x, dim, name):
    if len(dim) != 2:
        raise RuntimeError(f"linalg.{name}: dim must be a 2-tuple. Got {tuple(dim)}")
    nd = x.dim()
    if nd < 2:
        raise RuntimeError(f"linalg.{name}: The input tensor A must have at least 2 dimensions.")
    d0, d1 = (d % nd for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.{name}: dims must be different. Got ({dim[0]}, {dim[1]})")
    return d0, d1


def matrix_norm(x, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The matrix norm of `x` over the two dims `dim`: 'fro' (Frobenius), 1 / -1 (max /
    min column abs-sum), inf / -inf (max / min row abs-sum). 'nuc' and 2 / -2 need
    singular values, which pyrch does not compute yet (they raise)."""
    if dtype is not None:
        x = x.to(dtype)
    d0, d1 = _two_dims(x, tuple(dim), "matrix_norm")
    if ord == "fro":
        return _pyrch().norm(x, p=2.0, dim=(d0, d1), keepdim=keepdim)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs singular values, which "
                                  "pyrch does not compute yet; use ord='fro', 1, -1, inf or -inf")
    if ord in (1, -1, _INF, -_INF):
        along, across = (d0, d1) if abs(ord) == 1 else (d1, d0)
        sums = x.abs().sum(dim=along, keepdim=True)
        out = sums.amax(dim=across, keepdim=True) if ord > 0 else sums.amin(dim=across, keepdim=True)
        return out if keepdim else out.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(x, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a vector norm when `dim` is an int or `ord` is None over all
    elements, a matrix norm when `dim` is a 2-tuple (or `x` is 2-D and `ord` is given)."""
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(x, "fro", dim, keepdim, dtype=dtype)
        return vector_norm(x, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if x.dim() == 2:
            return matrix_norm(x, ord, (-2, -1), keepdim, dtype=dtype)
        if x.dim() == 1:
            return vector_norm(x, ord, None, keepdim, dtype=dtype)
        raise RuntimeError("linalg.norm: If dim is not specified but ord is, the input must be "
                           f"1D or 2D. Got {x.dim()}D.")
    if len(dim) == 2:
        return matrix_norm(x, ord, dim, keepdim, dtype=dtype)
    return vector_norm(x, ord, dim, keepdim, dtype=dtype)
