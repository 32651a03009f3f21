"""pyrch.cuda: devices, synchronisation, memory statistics and streams, through cupy.

CUDA tensors hold cupy arrays and run the same op forwards as CPU tensors
(`xp` is cupy). Everything here is torch.cuda's API over cupy's runtime and
memory pool; on a machine without cupy or without a GPU, `is_available()` is
False and the rest raises a RuntimeError that says so.

>>> import pyrch
>>> isinstance(pyrch.cuda.is_available(), bool)
True

NOTE: random numbers for CUDA tensors are drawn on the host from pyrch's
generators and copied over, so a seeded CUDA run draws exactly what the CPU
run draws; `manual_seed` therefore seeds the default generator.
NOTE: the memory numbers are cupy's memory pool for the current device;
the peak is tracked by an allocator hook installed when cupy is first used.
"""
import contextlib

_available = None
_peak = {}          # device index -> peak used bytes since the last reset
_hooked = False


def _cupy():
    from .._backend import cupy
    return cupy()


def is_available():
    """True when cupy imports and sees at least one CUDA device."""
    global _available
    if _available is None:
        try:
            import cupy
            _available = cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:  # noqa: BLE001 - no cupy, no driver, no device: all mean "no"
            _available = False
    return _available


def _lazy():
    if not is_available():
        raise RuntimeError("pyrch.cuda: no CUDA GPU is available (cupy is not installed or "
                           "sees no device); install cupy-cuda12x on a machine with an NVIDIA GPU")
    return _cupy()


def is_initialized():
    """True once cupy has been imported and the memory hook installed."""
    return _hooked


def init():
    """Initialise CUDA state now (it happens lazily on first use otherwise)."""
    install_memory_hook(_lazy())


def device_count():
    """Number of visible CUDA devices (0 without cupy or a GPU)."""
    if not is_available():
        return 0
    return _cupy().cuda.runtime.getDeviceCount()


def current_device():
    """Index of the current CUDA device."""
    return _lazy().cuda.runtime.getDevice()


def set_device(device):
    """Make `device` (an index, 'cuda:1' or a pyrch.device) the current device."""
    idx = _index(device)
    if idx is not None and idx >= 0:
        _lazy().cuda.Device(idx).use()


def _index(device):
    if device is None:
        return None
    if isinstance(device, int):
        return device
    from .._backend import device as _dev
    d = _dev(device)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    return d.index


class device:
    """Context manager that makes a device current: `with pyrch.cuda.device(1): ...`."""

    def __init__(self, device):
        self.idx = _index(device)
        self.prev = None

    def __enter__(self):
        if self.idx is not None and self.idx >= 0:
            self.prev = current_device()
            set_device(self.idx)

    def __exit__(self, *exc):
        if self.prev is not None:
            set_device(self.prev)


def get_device_name(device=None):
    """The device's marketing name, e.g. 'NVIDIA H100 80GB HBM3'."""
    cp = _lazy()
    idx = current_device() if _index(device) is None else _index(device)
    name = cp.cuda.runtime.getDeviceProperties(idx)["name"]
    return name.decode() if isinstance(name, bytes) else name


def get_device_capability(device=None):
    """(major, minor) compute capability."""
    cp = _lazy()
    idx = current_device() if _index(device) is None else _index(device)
    cc = cp.cuda.Device(idx).compute_capability
    return int(cc[:-1]), int(cc[-1])


def synchronize(device=None):
    """Wait until every kernel queued on `device` (default: current) has finished."""
    cp = _lazy()
    idx = _index(device)
    if idx is None:
        cp.cuda.runtime.deviceSynchronize()
    else:
        cp.cuda.Device(idx).synchronize()


def manual_seed(seed):
    """Seed the generator CUDA random ops draw from (the default one: see the NOTE above)."""
    from .. import _random
    _random.manual_seed(seed)


def manual_seed_all(seed):
    """Seed the generators of all devices (one shared generator in pyrch)."""
    manual_seed(seed)


def seed():
    """Seed the CUDA generator from a random number."""
    from .. import _random
    _random.seed()


# -- memory --------------------------------------------------------------------------------
def install_memory_hook(cp):
    """Route cupy's allocations through the default pool while recording peak use."""
    global _hooked
    if _hooked:
        return
    pool = cp.get_default_memory_pool()
    runtime = cp.cuda.runtime

    def malloc(size):
        mem = pool.malloc(size)
        used = pool.used_bytes()
        dev = runtime.getDevice()
        if used > _peak.get(dev, 0):
            _peak[dev] = used
        return mem
    cp.cuda.set_allocator(malloc)
    _hooked = True


def _pool():
    cp = _lazy()
    install_memory_hook(cp)
    return cp.get_default_memory_pool()


def _dev_or_current(device):
    idx = _index(device)
    return current_device() if idx is None else idx


def memory_allocated(device=None):
    """Bytes held by live CUDA tensors (cupy's pool: used_bytes)."""
    pool = _pool()
    with _Use(_index(device)):
        return int(pool.used_bytes())


def max_memory_allocated(device=None):
    """Peak of memory_allocated since start or the last reset_peak_memory_stats."""
    cur = memory_allocated(device)
    dev = _dev_or_current(device)
    _peak[dev] = max(_peak.get(dev, 0), cur)
    return int(_peak[dev])


def reset_peak_memory_stats(device=None):
    """Restart peak tracking from the current allocation."""
    dev = _dev_or_current(device)
    _peak[dev] = memory_allocated(device)


reset_max_memory_allocated = reset_peak_memory_stats


def memory_reserved(device=None):
    """Bytes the pool holds from the driver (allocated plus cached)."""
    pool = _pool()
    with _Use(_index(device)):
        return int(pool.total_bytes())


def empty_cache():
    """Give cached, unused blocks back to the driver (cupy's free_all_blocks)."""
    if is_available():
        _pool().free_all_blocks()
        _cupy().get_default_pinned_memory_pool().free_all_blocks()


def memory_stats(device=None):
    """A small dict in torch's key style."""
    return {"allocated_bytes.all.current": memory_allocated(device),
            "allocated_bytes.all.peak": max_memory_allocated(device),
            "reserved_bytes.all.current": memory_reserved(device)}


class _Use:
    def __init__(self, idx):
        self.idx = idx
        self.ctx = None

    def __enter__(self):
        if self.idx is not None:
            self.ctx = _cupy().cuda.Device(self.idx)
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


# -- streams and events ----------------------------------------------------------------------
class Stream:
    """A CUDA stream; `with pyrch.cuda.stream(s):` queues pyrch's kernels on it."""

    def __init__(self, device=None, priority=0, _cp_stream=None):
        cp = _lazy()
        if _cp_stream is not None:
            self._s = _cp_stream
        else:
            with _Use(_index(device)):
                self._s = cp.cuda.Stream(non_blocking=True)

    @property
    def cuda_stream(self):
        return self._s.ptr

    def synchronize(self):
        """Wait for this stream's queued work."""
        self._s.synchronize()

    def query(self):
        """True when all queued work has finished."""
        return self._s.done

    def record_event(self, event=None):
        """Record `event` (a new one by default) on this stream and return it."""
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        """Make future work on this stream wait for `event`."""
        self._s.wait_event(event._e)

    def wait_stream(self, stream):
        """Make future work on this stream wait for what `stream` has queued so far."""
        self.wait_event(stream.record_event())

    def __enter__(self):
        self._s.__enter__()
        return self

    def __exit__(self, *exc):
        self._s.__exit__(*exc)

    def __eq__(self, other):
        return isinstance(other, Stream) and self._s.ptr == other._s.ptr

    def __hash__(self):
        return hash(self._s.ptr)

    def __repr__(self):
        return f"<pyrch.cuda.Stream cuda_stream={self._s.ptr:#x}>"


class Event:
    """A CUDA event for timing and cross-stream ordering."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        cp = _lazy()
        self._e = cp.cuda.Event(block=blocking, disable_timing=not enable_timing,
                                interprocess=interprocess)

    def record(self, stream=None):
        """Record on `stream` (default: the current stream)."""
        self._e.record(None if stream is None else stream._s)

    def wait(self, stream=None):
        """Make `stream` (default: current) wait for this event."""
        (stream or current_stream()).wait_event(self)

    def query(self):
        """True when the recorded work has finished."""
        return self._e.done

    def synchronize(self):
        """Block until the recorded work has finished."""
        self._e.synchronize()

    def elapsed_time(self, end_event):
        """Milliseconds between this event and `end_event`."""
        return float(_cupy().cuda.get_elapsed_time(self._e, end_event._e))


def current_stream(device=None):
    """The stream pyrch's kernels are queued on now."""
    cp = _lazy()
    with _Use(_index(device)):
        return Stream(_cp_stream=cp.cuda.get_current_stream())


def default_stream(device=None):
    """The device's default (null) stream."""
    cp = _lazy()
    return Stream(_cp_stream=cp.cuda.Stream.null)


@contextlib.contextmanager
def stream(s):
    """Queue work inside the block on stream `s` (None: leave the current stream)."""
    if s is None:
        yield
        return
    with s:
        yield


from . import codegen  # noqa: E402,F401  (pure Python: no cupy import)
