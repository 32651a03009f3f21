"""Padding modules (zero, constant, reflection, replication, circular) over F.pad.

>>> import pyrch
>>> pyrch.nn.ZeroPad1d(1)(pyrch.ones(1, 1, 2))
tensor([[[0., 1., 1., 0.]]])
"""
from . import functional as F
from .module import Module

__all__ = ["ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d",
           "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d"]


def _expand(padding, n):
    """An int pads every side; a sequence is taken as F.pad's (left, right, top, ...)."""
    if isinstance(padding, int):
        return (padding,) * (2 * n)
    return tuple(padding)


class _PadNd(Module):
    """F.pad with a fixed `padding` and `mode` (subclasses set _mode and _n)."""
    _mode = "constant"
    _n = 1

    def __init__(self, padding):
        super().__init__()
        self.padding = _expand(padding, self._n)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with a constant `value`."""
    _n = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with a constant `value`."""
    _n = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with a constant `value`."""
    _n = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dim with zeros."""
    _n = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dims with zeros."""
    _n = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dims with zeros."""
    _n = 3


class ReflectionPad1d(_PadNd):
    """Pad the last dim with its reflection (edge not repeated)."""
    _mode, _n = "reflect", 1


class ReflectionPad2d(_PadNd):
    """Pad the last two dims with their reflection (edge not repeated)."""
    _mode, _n = "reflect", 2


class ReflectionPad3d(_PadNd):
    """Pad the last three dims with their reflection (edge not repeated)."""
    _mode, _n = "reflect", 3


class ReplicationPad1d(_PadNd):
    """Pad the last dim by repeating its edge value."""
    _mode, _n = "replicate", 1


class ReplicationPad2d(_PadNd):
    """Pad the last two dims by repeating their edge values."""
    _mode, _n = "replicate", 2


class ReplicationPad3d(_PadNd):
    """Pad the last three dims by repeating their edge values."""
    _mode, _n = "replicate", 3


class CircularPad1d(_PadNd):
    """Pad the last dim by wrapping around (periodic)."""
    _mode, _n = "circular", 1


class CircularPad2d(_PadNd):
    """Pad the last two dims by wrapping around (periodic)."""
    _mode, _n = "circular", 2


class CircularPad3d(_PadNd):
    """Pad the last three dims by wrapping around (periodic)."""
    _mode, _n = "circular", 3
