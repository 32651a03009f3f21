"""DataLoader: batches from a dataset, in this process or in worker processes.

With `num_workers=0` batches are fetched in the calling process. With
`num_workers > 0` each worker process builds whole batches (fetch + collate)
from index lists the main process hands out round-robin; results come back
through one queue tagged with their task number and are yielded in order.
Workers stop when the epoch is exhausted (unless `persistent_workers`), when
the iterator is garbage-collected, and when a worker raises: its exception
is re-raised here with the worker's traceback in the message.

>>> import pyrch
>>> from pyrch.utils.data import DataLoader, TensorDataset
>>> ds = TensorDataset(pyrch.arange(6.0), pyrch.arange(6))
>>> [y.tolist() for _, y in DataLoader(ds, batch_size=4)]
[[0, 1, 2, 3], [4, 5]]
"""
import itertools
import multiprocessing
import os
import queue
import random
import sys
import time
import traceback
from multiprocessing.reduction import ForkingPickler

import numpy as np

from . import _random
from ._collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]

_POLL_S = 0.25          # how often a blocked side checks that the other side is alive
_JOIN_S = 0.5           # how long shutdown waits for a busy worker before terminating it


class WorkerInfo:
    """What a worker process knows about itself (see `get_worker_info`)."""

    def __init__(self, id, num_workers, seed, dataset):
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


_worker_info = None


def get_worker_info():
    """In a DataLoader worker: its WorkerInfo (id, num_workers, seed, dataset); else None."""
    return _worker_info


class DataLoader:
    """Iterate over `dataset` in batches, optionally shuffled and in worker processes."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers else prefetch_factor
        self.pin_memory = pin_memory                 # NOTE: accepted; CPU arrays need no pinning
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.in_order = in_order                     # NOTE: batches always arrive in order
        self.generator = generator
        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                     f"{name} option, but got {name}={value}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None and not self._is_iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle \
                else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._is_iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last = batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator = None

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None or (self._is_iterable and self.batch_size is not None)

    @property
    def _index_sampler(self):
        if self._is_iterable:
            return itertools.repeat(None)
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return _MultiProcessIter(self)
        if self._iterator is None or self._iterator._closed:
            self._iterator = _MultiProcessIter(self)
        else:
            self._iterator._reset()
        return self._iterator

    def __len__(self):
        if self._is_iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)


class _Fetcher:
    """Turn one item from the index sampler into one batch (raises StopIteration at the end)."""

    def __init__(self, dataset, is_iterable, auto_collation, collate_fn, batch_size, drop_last):
        self.dataset, self.collate_fn = dataset, collate_fn
        self.auto, self.batch_size, self.drop_last = auto_collation, batch_size, drop_last
        self.stream = iter(dataset) if is_iterable else None
        self.getitems = None if is_iterable else getattr(dataset, "__getitems__", None)

    def __call__(self, index):
        if self.stream is not None:
            if not self.auto:
                return self.collate_fn(next(self.stream))
            batch = list(itertools.islice(self.stream, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                raise StopIteration
            return self.collate_fn(batch)
        if not self.auto:
            return self.collate_fn(self.dataset[index])
        if self.getitems is not None:
            return self.collate_fn(self.getitems(index))
        return self.collate_fn([self.dataset[i] for i in index])


def _fetcher_for(loader):
    return _Fetcher(loader.dataset, loader._is_iterable, loader._auto_collation,
                    loader.collate_fn, loader.batch_size, loader.drop_last)


class _SingleProcessIter:
    def __init__(self, loader):
        self._indices = iter(loader._index_sampler)
        self._fetch = _fetcher_for(loader)
        self._len = None if loader._is_iterable else len(loader)

    def __iter__(self):
        return self

    def __next__(self):
        return self._fetch(next(self._indices))

    def __len__(self):
        return self._len


class _ExceptionWrapper:
    """An exception caught in a worker, carried to the main process as type + traceback text."""

    def __init__(self, where):
        exc_type, exc, tb = sys.exc_info()
        self.exc_type = exc_type
        self.where = where
        self.text = "".join(traceback.format_exception(exc_type, exc, tb))

    def reraise(self):
        name = self.exc_type.__name__ if self.exc_type is not None else "exception"
        msg = f"Caught {name} {self.where}.\nOriginal {self.text}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)     # KeyError repr()s its argument; keep newlines
        try:
            exc = self.exc_type(msg) if self.exc_type is not None else None
        except Exception:  # noqa: BLE001 - constructor wants other arguments
            exc = None
        if exc is None:
            raise RuntimeError(msg)
        raise exc


class _KeyErrorMessage(str):
    def __repr__(self):
        return str(self)


def _dump(obj):
    """Pickle for the queue here, so a batch that cannot cross processes is a clean error."""
    return bytes(ForkingPickler.dumps(obj))


def _worker_loop(dataset, index_q, result_q, is_iterable, auto_collation, collate_fn,
                 batch_size, drop_last, seed, init_fn, wid, num_workers, parent_pid):
    global _worker_info
    import pyrch
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    if hasattr(pyrch, "manual_seed"):
        pyrch.manual_seed(seed)
    _worker_info = WorkerInfo(wid, num_workers, seed, dataset)
    where = f"in DataLoader worker process {wid}"
    init_error = None
    if init_fn is not None:
        try:
            init_fn(wid)
        except Exception:  # noqa: BLE001 - reported with each task
            init_error = _ExceptionWrapper(where)
    epoch, fetch, exhausted = None, None, False
    try:
        while True:
            try:
                task = index_q.get(timeout=_POLL_S)
            except queue.Empty:
                if os.getppid() != parent_pid:       # the main process is gone
                    break
                continue
            if task is None:
                break
            ep, tid, index = task
            if ep != epoch:                          # new epoch: fresh stream for iterables
                epoch, exhausted = ep, False
                fetch = None
            if init_error is not None:
                reply = ("error", init_error)
            elif exhausted:
                reply = ("exhausted", None)
            else:
                try:
                    if fetch is None:
                        fetch = _Fetcher(dataset, is_iterable, auto_collation, collate_fn,
                                         batch_size, drop_last)
                    reply = ("data", fetch(index))
                except StopIteration:
                    exhausted = True
                    reply = ("exhausted", None)
                except Exception:  # noqa: BLE001 - re-raised in the main process
                    reply = ("error", _ExceptionWrapper(where))
            try:
                payload = _dump(reply[1])
            except Exception:  # noqa: BLE001 - e.g. an unpicklable batch or exception type
                err = _ExceptionWrapper(where)
                if reply[0] == "error":
                    err.exc_type, err.text = None, reply[1].text
                reply, payload = ("error", err), _dump(err)
            result_q.put((ep, tid, reply[0], payload))
    except KeyboardInterrupt:
        pass
    finally:
        result_q.cancel_join_thread()   # main may have stopped reading: never block at exit


class _MultiProcessIter:
    def __init__(self, loader):
        self._loader = loader
        self._closed = True
        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = multiprocessing.get_context()
        elif isinstance(ctx, str):
            ctx = multiprocessing.get_context(ctx)
        n = loader.num_workers
        self._result_q = ctx.Queue()
        self._index_qs, self._workers = [], []
        seed = _random.seed(loader.generator)
        self._closed = False
        for wid in range(n):
            q = ctx.Queue()
            q.cancel_join_thread()
            w = ctx.Process(target=_worker_loop, daemon=True, args=(
                loader.dataset, q, self._result_q, loader._is_iterable, loader._auto_collation,
                loader.collate_fn, loader.batch_size, loader.drop_last, seed + wid,
                loader.worker_init_fn, wid, n, os.getpid()))
            w.start()
            self._index_qs.append(q)
            self._workers.append(w)
        self._epoch = 0
        self._reset()

    def _reset(self):
        """Start a new pass; replies still in flight from an earlier pass are dropped."""
        self._epoch += 1
        self._indices = iter(self._loader._index_sampler)
        self._sampler_done = False
        self._send_idx = self._rcvd_idx = 0
        self._owner, self._buffer = {}, {}
        self._active = [True] * len(self._workers)
        self._next_worker = itertools.cycle(range(len(self._workers)))
        for _ in range(max(self._loader.prefetch_factor, 1) * len(self._workers)):
            self._put_task()

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def _put_task(self):
        if self._sampler_done or not any(self._active):
            return
        try:
            index = next(self._indices)
        except StopIteration:
            self._sampler_done = True
            return
        while True:
            w = next(self._next_worker)
            if self._active[w]:
                break
        self._index_qs[w].put((self._epoch, self._send_idx, index))
        self._owner[self._send_idx] = w
        self._send_idx += 1

    def __next__(self):
        if self._closed:
            raise StopIteration
        while True:
            if self._rcvd_idx >= self._send_idx:
                if not self._loader.persistent_workers:
                    self._shutdown()
                raise StopIteration
            if self._rcvd_idx in self._buffer:
                kind, payload = self._buffer.pop(self._rcvd_idx)
                del self._owner[self._rcvd_idx]
                self._rcvd_idx += 1
                self._put_task()
                if kind == "exhausted":
                    continue
                data = ForkingPickler.loads(payload)
                if kind == "error":
                    self._shutdown()
                    data.reraise()
                return data
            ep, tid, kind, payload = self._get()
            if ep != self._epoch:
                continue
            if kind == "exhausted":
                self._active[self._owner[tid]] = False
            self._buffer[tid] = (kind, payload)

    def _get(self):
        timeout = self._loader.timeout
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            wait = _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - time.monotonic()))
            try:
                return self._result_q.get(timeout=wait)
            except queue.Empty:
                pass
            dead = [w.pid for w in self._workers if not w.is_alive()]
            if dead:
                codes = [w.exitcode for w in self._workers if not w.is_alive()]
                self._shutdown()
                raise RuntimeError(f"DataLoader worker (pid(s) {', '.join(map(str, dead))}) "
                                   f"exited unexpectedly (exit codes {codes})")
            if deadline is not None and time.monotonic() >= deadline:
                self._shutdown()
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds")

    def _shutdown(self):
        if self._closed:
            return
        self._closed = True
        for q in self._index_qs:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        end = time.monotonic() + _JOIN_S
        for w in self._workers:
            w.join(timeout=max(0.0, end - time.monotonic()))
            if w.is_alive():
                w.terminate()
                w.join(timeout=_JOIN_S)
        for q in self._index_qs + [self._result_q]:
            q.cancel_join_thread()
            q.close()

    def __del__(self):
        try:
            self._shutdown()
        except Exception:  # noqa: BLE001 - interpreter shutdown may have torn modules down
            pass
