"""`TracedModule`: a traced Module that keeps using the original's parameters."""
from .function import TracedFunction, _arg_names


class TracedModule:
    """Calls go through a trace of `module(...)`; every other attribute is the module's."""

    def __init__(self, module, **kw):
        def forward(*args, **kwargs):
            return module(*args, **kwargs)
        forward.__name__ = type(module).__name__
        object.__setattr__(self, "module", module)
        tf = TracedFunction(forward, name=type(module).__name__, **kw)
        tf._arg_names = _arg_names(module.forward)
        object.__setattr__(self, "_traced", tf)

    def __call__(self, *args, **kwargs):
        return self._traced(*args, **kwargs)

    forward = __call__

    @property
    def stats(self):
        return self._traced.stats

    def graph_for(self, *args, **kwargs):
        """The IR replayed for these arguments (None before it is traced)."""
        return self._traced.graph_for(*args, **kwargs)

    def executors(self):
        """The executors of every compiled variant (see TracedFunction.executors)."""
        return self._traced.executors()

    def __getattr__(self, name):
        return getattr(self.module, name)

    def __getitem__(self, i):
        return self.module[i]

    def __len__(self):
        return len(self.module)

    def __iter__(self):
        return iter(self.module)

    def __setattr__(self, name, value):
        setattr(self.module, name, value)

    def __repr__(self):
        return f"TracedModule({self.module!r})"
