"""pyrch.utils.data: datasets, samplers, default_collate and the DataLoader (with workers)."""
import collections
import os
import time

import numpy as np
import pytest

import pyrch
from pyrch.utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset,
                              IterableDataset, RandomSampler, SequentialSampler, StackDataset,
                              Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                              default_collate, default_convert, get_worker_info, random_split)

from conftest import HAVE_TORCH


# -- datasets ------------------------------------------------------------------------

def test_tensor_dataset_subset_concat():
    ds = TensorDataset(pyrch.arange(6) * 10, pyrch.arange(6))
    assert len(ds) == 6 and [int(t) for t in ds[2]] == [20, 2]
    with pytest.raises(AssertionError, match="Size mismatch"):
        TensorDataset(pyrch.arange(3), pyrch.arange(4))
    sub = Subset(ds, [5, 0])
    assert len(sub) == 2 and int(sub[0][1]) == 5
    cat = ConcatDataset([range(3), range(10, 14)])
    assert len(cat) == 7 and cat[3] == 10 and cat[-1] == 13 and cat[2] == 2
    assert cat.cumulative_sizes == [3, 7]
    plus = Subset(range(3), [0, 1]) + Subset(range(3), [2])
    assert isinstance(plus, ConcatDataset) and [plus[i] for i in range(3)] == [0, 1, 2]
    with pytest.raises(AssertionError, match="empty"):
        ConcatDataset([])
    st = StackDataset(a=range(3), b=range(10, 13))
    assert st[1] == {"a": 1, "b": 11}


def test_random_split_lengths_fractions_and_generator():
    parts = random_split(range(10), [3, 7], generator=pyrch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    again = random_split(range(10), [3, 7], generator=pyrch.Generator().manual_seed(0))
    assert list(again[0]) == list(parts[0])
    fr = random_split(range(11), [0.5, 0.3, 0.2])
    assert [len(p) for p in fr] == [6, 3, 2]        # floors 5, 3, 2; the remainder goes first
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 3])


# -- samplers ------------------------------------------------------------------------

def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    perm = list(RandomSampler(range(20)))
    assert sorted(perm) == list(range(20)) and perm != list(range(20))
    a = list(RandomSampler(range(20), generator=pyrch.Generator().manual_seed(5)))
    b = list(RandomSampler(range(20), generator=pyrch.Generator().manual_seed(5)))
    assert a == b
    g = pyrch.Generator().manual_seed(5)
    s = RandomSampler(range(20), generator=g)
    assert list(s) != list(s)                                  # a new order every pass
    more = list(RandomSampler(range(5), num_samples=12))
    assert len(more) == 12 and sorted(more[:5]) == list(range(5))
    rep = list(RandomSampler(range(3), replacement=True, num_samples=100))
    assert len(rep) == 100 and set(rep) == {0, 1, 2}
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    sub = list(SubsetRandomSampler([7, 8, 9]))
    assert sorted(sub) == [7, 8, 9]


def test_weighted_random_sampler():
    draws = list(WeightedRandomSampler([1.0, 0.0, 3.0], 4000))
    counts = collections.Counter(draws)
    assert counts[1] == 0 and 2.5 < counts[2] / counts[0] < 3.5
    uniq = list(WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False))
    assert sorted(uniq) == [0, 1, 2]
    with pytest.raises(ValueError, match="num_samples"):
        WeightedRandomSampler([1.0], -1)


def test_batch_sampler():
    bs = BatchSampler(SequentialSampler(range(7)), 3, drop_last=False)
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6]] and len(bs) == 3
    bs = BatchSampler(range(7), 3, drop_last=True)
    assert list(bs) == [[0, 1, 2], [3, 4, 5]] and len(bs) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(range(3), 2, 1)


# -- collate -------------------------------------------------------------------------

Point = collections.namedtuple("Point", "x y")


def _samples():
    return [{"img": np.full((2, 2), i, dtype=np.float32), "label": i, "w": 0.5 * i,
             "flag": i % 2 == 0, "name": f"s{i}", "t": pyrch.tensor([i, i + 1]),
             "pair": (i, [np.int32(i), np.float64(i)]), "pt": Point(i, 2.0 * i)}
            for i in range(3)]


def test_default_collate_types():
    batch = default_collate(_samples())
    assert batch["img"].shape == (3, 2, 2) and batch["img"].dtype == pyrch.float32
    assert batch["label"].dtype == pyrch.int64 and batch["label"].tolist() == [0, 1, 2]
    assert batch["w"].dtype == pyrch.float64
    assert batch["flag"].dtype == pyrch.bool and batch["flag"].tolist() == [True, False, True]
    assert batch["name"] == ["s0", "s1", "s2"]
    assert batch["t"].tolist() == [[0, 1], [1, 2], [2, 3]]
    assert isinstance(batch["pair"], list) and batch["pair"][1][0].dtype == pyrch.int32
    assert isinstance(batch["pt"], Point) and batch["pt"].y.tolist() == [0.0, 2.0, 4.0]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([np.array(["a"]), np.array(["b"])])
    conv = default_convert({"a": np.ones(2), "b": [np.int64(3)], "c": "x"})
    assert isinstance(conv["a"], pyrch.Tensor) and int(conv["b"][0]) == 3 and conv["c"] == "x"


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch cross-check is optional")
def test_default_collate_matches_torch():
    import torch
    from torch.utils.data import default_collate as torch_collate

    def to_torch_sample(s):
        s = dict(s)
        s["t"] = torch.tensor(s["t"].tolist())
        return s

    ours = default_collate(_samples())
    ref = torch_collate([to_torch_sample(s) for s in _samples()])

    def same(a, b):
        if isinstance(b, torch.Tensor):
            assert isinstance(a, pyrch.Tensor) and a.tolist() == b.tolist()
            assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
        elif isinstance(b, dict):
            assert list(a) == list(b)
            for k in b:
                same(a[k], b[k])
        elif isinstance(b, (list, tuple)):
            assert type(a) is type(b) and len(a) == len(b)
            for x, y in zip(a, b):
                same(x, y)
        else:
            assert a == b
    same(ours, ref)


# -- DataLoader (main process) -------------------------------------------------------

def _ds(n=10):
    return TensorDataset(pyrch.arange(n, dtype=pyrch.float32), pyrch.arange(n))


def test_loader_batches_drop_last_len():
    dl = DataLoader(_ds(10), batch_size=4)
    assert len(dl) == 3 and [y.tolist() for _, y in dl] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dl = DataLoader(_ds(10), batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(y) for _, y in dl] == [4, 4]
    single = list(DataLoader(_ds(3), batch_size=None))
    assert len(single) == 3 and single[1][1].dim() == 0


def test_loader_shuffle_generator_sampler_and_batch_sampler():
    a = [y.tolist() for _, y in DataLoader(_ds(12), batch_size=5, shuffle=True,
                                            generator=pyrch.Generator().manual_seed(1))]
    b = [y.tolist() for _, y in DataLoader(_ds(12), batch_size=5, shuffle=True,
                                            generator=pyrch.Generator().manual_seed(1))]
    assert a == b and sorted(sum(a, [])) == list(range(12)) and sum(a, []) != list(range(12))
    dl = DataLoader(_ds(6), batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert [y.tolist() for _, y in dl] == [[5, 4], [3, 2], [1, 0]]
    dl = DataLoader(_ds(6), batch_sampler=[[0, 5], [1]])
    assert [y.tolist() for _, y in dl] == [[0, 5], [1]] and len(dl) == 2
    dl = DataLoader(range(5), batch_size=2, collate_fn=lambda b: sum(b))
    assert list(dl) == [1, 5, 4]


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(_ds(), sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(_ds(), batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(_ds(), num_workers=-1)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(_ds(), persistent_workers=True)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(_ds(), prefetch_factor=2)
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(_Stream(4), shuffle=True)


class _Stream(IterableDataset):
    """0..n-1, split between workers by worker id."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self):
        return self.n


def test_iterable_dataset_main_process():
    assert [b.tolist() for b in DataLoader(_Stream(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(DataLoader(_Stream(7), batch_size=3, drop_last=True)) == 2
    assert [int(x) for x in DataLoader(_Stream(3), batch_size=None)] == [0, 1, 2]
    chained = ChainDataset([_Stream(2), _Stream(3)])
    assert list(chained) == [0, 1, 0, 1, 2]


# -- DataLoader with worker processes -----------------------------------------------

class _Slow(Dataset):
    """Early items are slow, so workers finish out of order."""

    def __len__(self):
        return 24

    def __getitem__(self, i):
        time.sleep(0.02 if i < 6 else 0.0)
        info = get_worker_info()
        return {"i": i, "worker": -1 if info is None else info.id, "pid": os.getpid(),
                "rand": float(np.random.rand())}


def test_workers_preserve_order_and_use_separate_processes():
    dl = DataLoader(_Slow(), batch_size=2, num_workers=3)
    batches = list(dl)
    assert [b["i"].tolist() for b in batches] == [[2 * k, 2 * k + 1] for k in range(12)]
    pids = {int(p) for b in batches for p in b["pid"]}
    assert len(pids) == 3 and os.getpid() not in pids
    assert {int(w) for b in batches for w in b["worker"]} == {0, 1, 2}
    first = [float(b["rand"][0]) for b in batches[:3]]
    assert len(set(first)) == 3                     # each worker is seeded differently


def test_iterable_dataset_with_workers():
    out = [b.tolist() for b in DataLoader(_Stream(10), batch_size=2, num_workers=2)]
    assert sorted(sum(out, [])) == list(range(10))
    assert out[0] == [0, 2] and out[1] == [1, 3]   # batches alternate between workers


def _init(worker_id):
    np.random.seed(1000 + worker_id)


def test_worker_init_fn_runs_in_each_worker():
    dl = DataLoader(_Slow(), batch_size=4, num_workers=2, worker_init_fn=_init)
    batches = list(dl)
    state = np.random.RandomState(1000)
    assert float(batches[0]["rand"][0]) == state.rand()


class _Fails(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise ValueError(f"bad sample {i}")
        return i


def test_worker_exception_is_reraised_with_traceback():
    dl = DataLoader(_Fails(), batch_size=2, num_workers=2)
    it = iter(dl)
    assert next(it).tolist() == [0, 1] and next(it).tolist() == [2, 3]
    with pytest.raises(ValueError) as err:
        next(it)
    msg = str(err.value)
    assert "Caught ValueError in DataLoader worker process" in msg
    assert "bad sample 5" in msg and "test_data.py" in msg and "Traceback" in msg
    for w in it._workers:
        assert not w.is_alive()


class _Sleepy(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(3)
        return i


def test_timeout():
    dl = DataLoader(_Sleepy(), batch_size=1, num_workers=1, timeout=0.3)
    it = iter(dl)
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.3 seconds"):
        next(it)
    assert not any(w.is_alive() for w in it._workers)


class _Dies(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        os._exit(3)


def test_worker_that_dies_is_reported():
    it = iter(DataLoader(_Dies(), num_workers=1))
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        next(it)


def test_shutdown_on_exhaustion_and_on_del():
    it = iter(DataLoader(_ds(8), batch_size=2, num_workers=2))
    workers = list(it._workers)
    assert all(w.is_alive() for w in workers)
    assert len(list(it)) == 4
    assert not any(w.is_alive() for w in workers)
    it = iter(DataLoader(_ds(40), batch_size=2, num_workers=2))
    next(it)
    workers = list(it._workers)
    del it
    deadline = time.time() + 5
    while any(w.is_alive() for w in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(w.is_alive() for w in workers)


def test_persistent_workers_are_reused_across_epochs():
    dl = DataLoader(_Slow(), batch_size=6, num_workers=2, persistent_workers=True, shuffle=True)
    pids = []
    for _ in range(3):
        it = iter(dl)
        seen = sorted(int(i) for b in it for i in b["i"])
        assert seen == list(range(24))
        pids.append(tuple(w.pid for w in it._workers))
    assert pids[0] == pids[1] == pids[2]
    it = iter(dl)                    # stop early: the next epoch still starts clean
    next(it)
    assert sorted(int(i) for b in iter(dl) for i in b["i"]) == list(range(24))
    dl._iterator._shutdown()


def test_unpicklable_batch_is_a_clean_error():
    dl = DataLoader(range(4), batch_size=2, num_workers=1, collate_fn=lambda b: (lambda: b))
    with pytest.raises(Exception, match="DataLoader worker process 0"):
        list(dl)


def test_distributed_sampler_partitions_the_dataset():
    from pyrch.utils.data import DistributedSampler
    parts = [list(DistributedSampler(range(10), num_replicas=3, rank=r, seed=4)) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 4]
    assert set(sum(parts, [])) == set(range(10))
    s = DistributedSampler(range(10), num_replicas=3, rank=0, seed=4)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first and len(list(s)) == 4
    cut = [list(DistributedSampler(range(10), 3, r, shuffle=False, drop_last=True)) for r in range(3)]
    assert cut == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(ValueError, match="Invalid rank 3"):
        DistributedSampler(range(4), num_replicas=3, rank=3)
