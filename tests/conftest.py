"""Shared test setup: seeding and the optional PyTorch cross-check."""
import os
import random
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

# scripts that tests/test_distributed.py launches on 2 MPI ranks, not test modules
collect_ignore_glob = ["dist_scripts/*"]

# Hypothesis draws the same examples on every run (CI must not pass or fail by the draw:
# a float32 comparison can land past its tolerance on rounding alone, see
# test_jit_random_programs.py). PYRCH_FUZZ_RANDOM=1 draws new ones, for hunting bugs.
try:
    from hypothesis import settings as _hyp_settings
    _hyp_settings.register_profile("pyrch-fixed", derandomize=True, database=None)
    _hyp_settings.register_profile("pyrch-random", derandomize=False)
    _hyp_settings.load_profile("pyrch-random" if os.environ.get("PYRCH_FUZZ_RANDOM") == "1"
                               else "pyrch-fixed")
except ImportError:  # pragma: no cover - the test extra installs hypothesis
    pass

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
