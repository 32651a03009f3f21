"""Samples for this op family (see tests/opinfo/__init__.py)."""
from . import OpInfo, Sample, add  # noqa: F401
