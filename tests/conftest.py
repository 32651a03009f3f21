"""Shared test setup: seeding and the optional PyTorch cross-check."""
import os
import random
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

# scripts that tests/test_distributed.py launches on 2 MPI ranks, not test modules
collect_ignore_glob = ["dist_scripts/*"]

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:  # pragma: no cover - CI installs torch
    HAVE_TORCH = False


@pytest.fixture(autouse=True)
def _seed():
    import pyrch
    random.seed(0)
    np.random.seed(0)
    if hasattr(pyrch, "manual_seed"):
        pyrch.manual_seed(0)
    yield


@pytest.fixture
def torch_or_skip():
    if not HAVE_TORCH:
        pytest.skip("PyTorch is not installed: the cross-check against it is optional")
    import torch
    return torch
