"""Samples for this op family (see tests/opinfo/__init__.py)."""
from . import OpInfo, Sample, add  # noqa: F401


# Ops the engine uses internally, checked through the public calls that reach them.
add(OpInfo("to_dtype", lambda rng: [Sample((rng.standard_normal((3, 4)),))],
           call=lambda lib, x: x.to(lib.float64) * 1.0 if x.dtype == lib.float32 else x.to(lib.float32),
           atol=1e-6, rtol=1e-6, grad_atol=1e-2, grad_rtol=1e-2))
add(OpInfo("clone", lambda rng: [Sample((rng.standard_normal((3, 4)),)),
                                 Sample((rng.standard_normal((4, 3)),), noncontig=True)],
           call=lambda lib, x: x.clone()))
add(OpInfo("detach", lambda rng: [Sample((rng.standard_normal((3, 4)),))], grad=False,
           call=lambda lib, x: x.detach()))
add(OpInfo("sum_to", lambda rng: [Sample((rng.standard_normal((2, 3, 4)), (3, 1))),
                                  Sample((rng.standard_normal((3, 4)), (1, 4)))],
           call=lambda lib, x, s: x.sum_to(s), torch_call=lambda lib, x, s: x.sum_to_size(s)))
add(OpInfo("fill", lambda rng: [Sample((rng.standard_normal((3, 4)), 2.5))], grad=False,
           call=lambda lib, x, v: x.clone().fill_(v)))
add(OpInfo("copy", lambda rng: [Sample((rng.standard_normal((3, 4)), rng.standard_normal((4,))))],
           grad=False, call=lambda lib, x, y: x.clone().copy_(y)))
add(OpInfo("to_device", lambda rng: [Sample((rng.standard_normal((3, 4)),))],
           call=lambda lib, x: x.to("cpu", copy=True)))
