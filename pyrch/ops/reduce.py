"""Reductions: sum, mean, max/min, var/std, logsumexp, norms, scans."""
from .registry import op


def _axes(dim, ndim):
    if dim is None:
        return None
    if isinstance(dim, int):
        return dim
    return tuple(dim)


@op("sum", kind="reduce", dtype="keep")
def sum(xp, a, *, dim=None, keepdim=False):
    if a.dtype.kind in "bui" :
        return a.sum(axis=_axes(dim, a.ndim), keepdims=keepdim, dtype=xp.int64)
    return a.sum(axis=_axes(dim, a.ndim), keepdims=keepdim)


@sum.backward
def _(g, meta, dim, keepdim):
    shape = meta.shapes[0]
    if dim is not None and not keepdim:
        nd = len(shape)
        dims = (dim,) if isinstance(dim, int) else dim
        kept = set(x % nd for x in dims)
        g = g.reshape(tuple(1 if i in kept else n for i, n in enumerate(shape)))
    return (g.expand(shape),)
