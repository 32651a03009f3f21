"""torch.backends' switches, so scripts that set them run unchanged.

pyrch has no cuDNN or MPS backend: `cudnn.benchmark` / `cudnn.deterministic`
are accepted and have no effect (pyrch's GPU kernels are deterministic up to
cuBLAS's own choices), and `mps.is_available()` is False.

>>> import pyrch
>>> pyrch.backends.cudnn.benchmark = True
>>> pyrch.backends.mps.is_available()
False
"""
import types


class _Flags(types.SimpleNamespace):
    def is_available(self):
        return False


cudnn = _Flags(enabled=True, benchmark=False, deterministic=False, allow_tf32=True)
mps = _Flags()
mkldnn = _Flags(enabled=True)
cuda = types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=False),
                             is_built=lambda: False)

__all__ = ["cudnn", "mps", "mkldnn", "cuda"]
