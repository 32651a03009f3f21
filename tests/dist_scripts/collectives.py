"""Run on 2 ranks: every collective against numpy expectations."""
import numpy as np

import pyrch
import pyrch.distributed as dist

dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
assert n == 2, n

t = pyrch.tensor([1.0, 2.0, 3.0]) * (r + 1)
s = pyrch.tensor(float(r + 1))
dist.all_reduce(s)
assert s.shape == () and s.item() == 3.0
dist.all_reduce(t)
np.testing.assert_allclose(t.numpy(), np.array([1.0, 2.0, 3.0]) * 3)

for op, ref in [(dist.ReduceOp.MAX, [2.0, 4.0]), (dist.ReduceOp.MIN, [1.0, 2.0]),
                (dist.ReduceOp.AVG, [1.5, 3.0]), (dist.ReduceOp.PRODUCT, [2.0, 8.0])]:
    t = pyrch.tensor([1.0, 2.0]) * (r + 1)
    dist.all_reduce(t, op=op)
    np.testing.assert_allclose(t.numpy(), ref, err_msg=str(op))

ti = pyrch.tensor([r + 1, 10])
dist.all_reduce(ti)
assert ti.tolist() == [3, 20] and ti.dtype == pyrch.int64

b = pyrch.tensor([float(r), float(r)])
dist.broadcast(b, src=1)
assert b.tolist() == [1.0, 1.0]

outs = [pyrch.zeros(2) for _ in range(n)]
dist.all_gather(outs, pyrch.tensor([r, r + 0.5]))
assert [o.tolist() for o in outs] == [[0.0, 0.5], [1.0, 1.5]]

big = pyrch.zeros(4)
dist.all_gather_into_tensor(big, pyrch.tensor([r, r + 0.5]))
assert big.tolist() == [0.0, 0.5, 1.0, 1.5]

out = pyrch.zeros(2)
dist.reduce_scatter(out, [pyrch.tensor([1.0, 2.0]) * (r + 1), pyrch.tensor([3.0, 4.0]) * (r + 1)])
np.testing.assert_allclose(out.numpy(), (np.array([[1, 2], [3, 4]]) * 3)[r])

if r == 0:
    dist.send(pyrch.tensor([7.0, 8.0]), dst=1)
else:
    got = pyrch.zeros(2)
    src = dist.recv(got, src=0)
    assert src == 0 and got.tolist() == [7.0, 8.0]

dist.barrier()
print(f"rank {r}: collectives OK")
dist.destroy_process_group()
