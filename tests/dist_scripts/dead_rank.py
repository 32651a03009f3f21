"""Run on 2 ranks: rank 1 dies before a collective; rank 0 must not hang."""
import os
import sys

import pyrch
import pyrch.distributed as dist

dist.init_process_group("mpi", timeout=10)
if dist.get_rank() == 1:
    sys.stdout.flush()
    os._exit(3)
t = pyrch.ones(3)
try:
    dist.all_reduce(t)
except dist.DistributedError as e:
    print(f"rank 0 got DistributedError: {e}", flush=True)
    sys.exit(4)
print("rank 0: all_reduce returned although rank 1 died", flush=True)
sys.exit(5)
