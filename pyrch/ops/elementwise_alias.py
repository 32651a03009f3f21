"""torch's alternative names for elementwise ops (clip, absolute, arcsin, greater, ...).

Each is a composite that calls the op it names, so the tracer sees the op.
"""
import sys

from .registry import OPS, composite

_ALIASES = {
    "clip": "clamp", "absolute": "abs", "negative": "neg", "multiply": "mul",
    "divide": "div", "true_divide": "div", "subtract": "sub", "fix": "trunc",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
    "greater": "gt", "greater_equal": "ge", "less": "lt", "less_equal": "le",
    "not_equal": "ne",
}


def _make(alias, target):
    o = OPS[target]

    def fn(*args, **kwargs):
        return (o.public_fn or o)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = alias
    fn.__doc__ = f"Alias of `{target}`."
    return composite(alias, method=o.method)(fn)


_module = sys.modules[__name__]
for _alias, _target in _ALIASES.items():
    setattr(_module, _alias, _make(_alias, _target))
