"""parameters_to_vector / vector_to_parameters."""
import pyrch as _p
from ...autograd import no_grad
from ..._tensor import Tensor


def parameters_to_vector(parameters):
    """Concatenate the flattened parameters into one 1-d tensor."""
    return _p.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-d `vec` into `parameters` (in place)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    offset = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[offset:offset + n].reshape(tuple(p.shape)))
            offset += n
