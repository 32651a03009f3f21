"""Shape and view ops. Views share storage with their base, as in PyTorch."""
from .registry import op


def _norm_dim(d, nd):
    if not -max(nd, 1) <= d < max(nd, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-max(nd, 1)}, {max(nd, 1) - 1}], but got {d})")
    return d % nd if nd else 0


@op("expand", kind="movement", dtype="keep", view=True, method=False)
def expand(xp, a, *, shape):
    """Broadcast `a` to `shape` without copying (-1 keeps a dimension)."""
    shape = tuple(shape)
    lead = len(shape) - a.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({a.ndim})")
    full = tuple(a.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    for i in range(a.ndim):
        if a.shape[i] != 1 and a.shape[i] != full[lead + i]:
            raise RuntimeError(
                f"The expanded size of the tensor ({full[lead + i]}) must match the existing size "
                f"({a.shape[i]}) at non-singleton dimension {lead + i}.  Target sizes: {list(shape)}."
                f"  Tensor sizes: {list(a.shape)}")
    return xp.broadcast_to(a, full)


@expand.backward
def _(g, meta):
    return (g.sum_to(meta.shapes[0]),)


@op("reshape", kind="movement", dtype="keep", view=True, method=False)
def reshape(xp, a, *, shape):
    """`a` with a new shape (a view when the memory layout allows, else a copy)."""
    try:
        return a.reshape(shape)
    except ValueError:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {a.size}") from None


@reshape.backward
def _(g, meta):
    return (g.reshape(meta.shapes[0]),)


@op("permute", kind="movement", dtype="keep", view=True, method=False)
def permute(xp, a, *, dims):
    """Reorder dimensions (a view)."""
    nd = a.ndim
    dims = tuple(_norm_dim(d, nd) for d in dims)
    if len(dims) != nd or len(set(dims)) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does "
                           f"not match the length of the desired ordering of dimensions i.e. input."
                           f"dim() = {nd} is not equal to len(dims) = {len(dims)}")
    return xp.transpose(a, dims)


@permute.backward
def _(g, dims):
    nd = len(dims)
    inv = [0] * nd
    for i, d in enumerate(dims):
        inv[d % nd] = i
    return (g.permute(*inv),)
