"""pyrch.utils: data loading (`pyrch.utils.data`)."""
from . import data  # noqa: F401
from .summary import summary  # noqa: E402,F401
from .progress import progress  # noqa: E402,F401
from . import checkpoint  # noqa: E402,F401
