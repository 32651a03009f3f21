"""pyrch.utils: data loading (`pyrch.utils.data`)."""
from . import data  # noqa: F401
