"""09 - Data-parallel training of the digits CNN on several processes.

    python -m pyrch.distributed.run -n 2 tutorials/09_distributed.py

Each rank trains on its own shard of every epoch (DistributedSampler);
DistributedDataParallel averages the gradients across ranks during backward,
so every rank keeps identical weights. Run as a plain script it is a world of
one process. Several machines: list them in an MPI hostfile (`node1 slots=2`)
and add `--hostfile hosts`; every host needs the same Python environment and
this file at the same path, and passwordless ssh between hosts.
"""
import os

import pyrch as torch
import pyrch.distributed as dist
import pyrch.nn as nn
import pyrch.nn.functional as F
from pyrch.datasets import load_digits, train_test_split
from pyrch.nn.parallel import DistributedDataParallel as DDP
from pyrch.utils.data import DataLoader, TensorDataset
from pyrch.utils.data.distributed import DistributedSampler

FAST = os.environ.get("PYRCH_TUTORIAL_FAST") == "1"

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)

x, y = load_digits()
x_train, y_train, x_test, y_test = train_test_split(x, y, seed=0)
data = TensorDataset(x_train, y_train)
sampler = DistributedSampler(data, shuffle=True, seed=0)
loader = DataLoader(data, batch_size=32, sampler=sampler)

model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
ddp = DDP(model)
opt = torch.optim.Adam(ddp.parameters(), lr=3e-3)

for epoch in range(2 if FAST else 6):
    sampler.set_epoch(epoch)             # a new shuffle each epoch, the same on every rank
    for xb, yb in loader:
        opt.zero_grad()
        loss = F.cross_entropy(ddp(xb), yb)
        loss.backward()                  # gradients are averaged across ranks here
        opt.step()
    if rank == 0:
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}")

model.eval()
with torch.no_grad():
    acc = (model(x_test).argmax(1) == y_test).float().mean()
dist.all_reduce(acc, op=dist.ReduceOp.AVG)  # identical weights: every rank agrees
if rank == 0:
    print(f"{world} rank(s): test accuracy {acc.item():.2%}")
dist.destroy_process_group()
