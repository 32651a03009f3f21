"""Collection of the docstring examples under pyrch/ (pytest runs them with
--doctest-modules, see pyproject.toml): modules of an optional part whose package
is not installed are not collected, and the report header says so."""
import importlib.util

# optional part of pyrch -> the package it imports at module level
_OPTIONAL = {"pyrch/onnx": "onnx"}

collect_ignore = [path for path, pkg in _OPTIONAL.items() if importlib.util.find_spec(pkg) is None]


def pytest_report_header(config):
    return [f"{path}: docstring examples not collected, the optional package "
            f"{_OPTIONAL[path]!r} is not installed" for path in collect_ignore]
