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


# -- random ops ------------------------------------------------------------------------
# Random numbers cannot match PyTorch's, so each call below reduces the draw to
# something deterministic (a bound check, a zero-width range, p in {0, 1}, a
# one-hot weight row) and that is compared with torch; the exact streams are
# tested in tests/test_creation_random.py. traced=False: a replay draws new numbers.
import numpy as np  # noqa: E402


def _x(rng, *shape):
    return [Sample((rng.standard_normal(shape),))]


def _onehot(rng):
    return [Sample((np.eye(4)[[2, 0, 3]],)), Sample((np.eye(5)[3],))]


_RANDOM = dict(grad=False, gradgrad=False, traced=False)

add(OpInfo("rand", lambda rng: _x(rng, 3, 4),
           call=lambda lib, x: lib.rand(*x.shape, dtype=x.dtype).ge(0) & lib.rand(x.shape).lt(1), **_RANDOM))
add(OpInfo("randn", lambda rng: _x(rng, 2, 5),
           call=lambda lib, x: lib.randn(x.shape, dtype=x.dtype).isfinite(), **_RANDOM))
add(OpInfo("randint", lambda rng: _x(rng, 3, 2),
           call=lambda lib, x: lib.randint(3, 4, tuple(x.shape)) + lib.randint(1, (1, 2), dtype=x.dtype),
           **_RANDOM))
add(OpInfo("randperm", lambda rng: _x(rng, 7),
           call=lambda lib, x: lib.randperm(x.shape[0]).sort().values, **_RANDOM))
add(OpInfo("normal", lambda rng: _x(rng, 3, 4),
           call=lambda lib, x: (lib.normal(x, 0.0), lib.normal(x, lib.zeros_like(x)),
                                lib.normal(1.5, lib.zeros(4, dtype=x.dtype)),
                                lib.normal(2.0, 0.0, (2, 3), dtype=x.dtype)), **_RANDOM))
add(OpInfo("bernoulli", lambda rng: _x(rng, 3, 4),
           call=lambda lib, x: (lib.bernoulli((x > 0).to(x.dtype)), x.bernoulli(1.0), x.bernoulli(0.0)),
           **_RANDOM))
add(OpInfo("multinomial", _onehot,
           call=lambda lib, w: (lib.multinomial(w, 1), w.multinomial(3, True)), **_RANDOM))
add(OpInfo("rand_like", lambda rng: _x(rng, 2, 3),
           call=lambda lib, x: lib.rand_like(x).lt(1), **_RANDOM))
add(OpInfo("randn_like", lambda rng: _x(rng, 2, 3),
           call=lambda lib, x: lib.randn_like(x).isfinite(), **_RANDOM))
add(OpInfo("randint_like", lambda rng: _x(rng, 2, 3),
           call=lambda lib, x: (lib.randint_like(x, 3, 4), lib.randint_like(x, 1)), **_RANDOM))
add(OpInfo("uniform_", lambda rng: _x(rng, 3, 4),
           call=lambda lib, x: (x.clone().uniform_(2.0, 2.0), x.clone().uniform_(-1, 1).abs().le(1)),
           **_RANDOM))
add(OpInfo("normal_", lambda rng: _x(rng, 3, 4),
           call=lambda lib, x: x.clone().normal_(1.5, 0.0), **_RANDOM))
add(OpInfo("bernoulli_", lambda rng: _x(rng, 3, 4),
           call=lambda lib, x: (x.clone().bernoulli_(1.0), x.clone().bernoulli_(0.0),
                                x.clone().bernoulli_((x > 0).to(x.dtype))), **_RANDOM))
add(OpInfo("random_", lambda rng: _x(rng, 3, 4),
           call=lambda lib, x: (x.clone().random_(3, 4), x.clone().random_(1), x.clone().random_().ge(0)),
           **_RANDOM))
add(OpInfo("exponential_", lambda rng: _x(rng, 3, 4),
           call=lambda lib, x: x.clone().exponential_(2.0).ge(0), covers=("exponential",), **_RANDOM))
