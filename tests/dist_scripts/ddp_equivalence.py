"""Run on 2 ranks: DDP with per-rank batch B == one process with batch 2B (float64)."""
import copy

import numpy as np

import pyrch
import pyrch.distributed as dist
from pyrch import nn
from pyrch.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
pyrch.manual_seed(0)
pyrch.set_default_dtype(pyrch.float64)
model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
if r == 1:   # a different init on rank 1: DDP must broadcast rank 0's
    with pyrch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
ref = copy.deepcopy(model)
ddp = DDP(model, bucket_cap_mb=0.0001)   # tiny buckets: several all-reduces per step
opt = pyrch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
rng = np.random.default_rng(1)
B, steps = 4, 5
X = rng.standard_normal((steps, n * B, 5))
Y = rng.standard_normal((steps, n * B, 3))
for s in range(steps):
    x = pyrch.tensor(X[s, r * B:(r + 1) * B])
    y = pyrch.tensor(Y[s, r * B:(r + 1) * B])
    opt.zero_grad()
    loss = ((ddp(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
# the single-process reference starts from rank 0's initial weights, as DDP does
ref_state = {k: v.clone() for k, v in ref.state_dict().items()}
for k in ref_state:
    dist.broadcast(ref_state[k], 0)
ref.load_state_dict(ref_state)
opt2 = pyrch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
for s in range(steps):
    opt2.zero_grad()
    loss = ((ref(pyrch.tensor(X[s])) - pyrch.tensor(Y[s])) ** 2).mean()
    loss.backward()
    opt2.step()
for (k, a), b in zip(model.state_dict().items(), ref.state_dict().values()):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, rtol=0, err_msg=k)
# no_sync accumulates locally, the next synced backward averages the sum
opt.zero_grad()
with ddp.no_sync():
    ddp(pyrch.tensor(X[0, r * B:(r + 1) * B])).sum().backward()
ddp(pyrch.tensor(X[1, r * B:(r + 1) * B])).sum().backward()
g = [p.grad.clone() for p in model.parameters()]
for t in g:
    other = t.clone()
    dist.broadcast(other, 0)
    np.testing.assert_allclose(t.numpy(), other.numpy(), atol=1e-12)
print(f"rank {r}: DDP matches single-process training")
dist.destroy_process_group()
