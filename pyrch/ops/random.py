"""Random ops: rand, randn, randint, randperm, normal, bernoulli, multinomial, exponential.

How randomness meets dispatch: every random op's FIRST positional input is a
numpy `np.random.Generator` (the one inside a `pyrch.Generator`, see
`_random.py`). It is a non-tensor argument, so dispatch passes it through
unchanged (these ops use dtype rule "keep": nothing is promoted or cast), the
forward draws from it, and a listening tracer sees it in `args` like any other
input. The tracer records it as the graph's implicit RNG input: a replay hands
the same generator object to the forward again, so each replay draws fresh
numbers, continuing the very stream eager code would use (the generator is
reseeded in place, never replaced, so `manual_seed` reaches traced graphs too).

Shape and dtype are attributes, so every op has an exact `infer` rule and
`infer` never has to run a forward (which would consume random numbers).
Draws happen on the host; a CUDA result is the host draw copied over (the
same numbers on every device for a given seed).

`normal` with tensor mean/std and `bernoulli` with a tensor p are
differentiable the way PyTorch's are: the gradient is zero.

>>> import pyrch
>>> g = pyrch.Generator().manual_seed(1)
>>> pyrch.randn(2, 3, generator=g).shape
pyrch.Size([2, 3])
"""
import numpy as np

from .registry import op, composite, OPS
from .._random import _np_gen
from .._dtype import as_dtype, get_default_dtype, int64, bool_

from .._dtype import TORCH_NAMES as _TORCH_NAMES  # noqa: E402


def _draw_dtype(dtype):
    # numpy draws float32 and float64 natively; float16 is drawn in float32
    return np.float64 if dtype.np == np.float64 else np.float32


def _float_dtype(dtype, kernel):
    dt = get_default_dtype() if dtype is None else as_dtype(dtype)
    if not dt.is_floating_point:
        raise RuntimeError(f'"{kernel}" not implemented for \'{_TORCH_NAMES[dt.name]}\'')
    return dt


def _shape(size):
    from .._creation import _shape as parse
    return parse(size)


def _finish(t, device, requires_grad, out=None):
    if device is not None:
        t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    if out is not None:
        from .._creation import _out
        return _out(t, out)
    return t


def _zeros_like(g):
    return OPS["fill"](g, 0.0)


# -- uniform -------------------------------------------------------------------------
@op("rand", kind="random", differentiable=False, method=False)
def _rand(xp, gen, *, shape, dtype, low=0.0, high=1.0):
    """Uniform samples on [low, high)."""
    if dtype.np == np.float16:
        # 11 random mantissa bits: exact in float16 and never rounds up to 1.0
        u = gen.integers(0, 1 << 11, size=shape).astype(np.float32) * np.float32(2.0 ** -11)
    else:
        u = gen.random(shape, dtype=_draw_dtype(dtype))
    if low != 0.0 or high != 1.0:
        u = u * (high - low) + low
    return xp.asarray(u.astype(dtype.np, copy=False))


@_rand.infer
def _(gen, *, shape, dtype, low=0.0, high=1.0):
    return tuple(shape), dtype


@_rand.public
def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None,
         layout=None, pin_memory=False):
    """Uniform samples on [0, 1) (`pyrch.rand(2, 3)`)."""
    dt = _float_dtype(dtype, "check_uniform_bounds")
    return _finish(_rand(_np_gen(generator), shape=_shape(size), dtype=dt), device, requires_grad, out)


# -- standard normal ---------------------------------------------------------------
@op("randn", kind="random", differentiable=False, method=False)
def _randn(xp, gen, *, shape, dtype):
    """Standard normal samples."""
    return xp.asarray(gen.standard_normal(shape, dtype=_draw_dtype(dtype)).astype(dtype.np, copy=False))


@_randn.infer
def _(gen, *, shape, dtype):
    return tuple(shape), dtype


@_randn.public
def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None,
          layout=None, pin_memory=False):
    """Standard normal samples (`pyrch.randn(2, 3)`)."""
    dt = _float_dtype(dtype, "normal_kernel_cpu")
    return _finish(_randn(_np_gen(generator), shape=_shape(size), dtype=dt), device, requires_grad, out)


# -- integers --------------------------------------------------------------------------
@op("randint", kind="random", differentiable=False, method=False)
def _randint(xp, gen, *, low, high, shape, dtype):
    """Uniform integers on [low, high)."""
    return xp.asarray(gen.integers(low, high, size=shape, dtype=np.int64).astype(dtype.np, copy=False))


@_randint.infer
def _(gen, *, low, high, shape, dtype):
    return tuple(shape), dtype


def _check_range(low, high, who="random_"):
    if low >= high:
        raise RuntimeError(f"{who} expects 'from' to be less than 'to', but got from={low} >= to={high}")


@_randint.public
def randint(*args, low=None, high=None, size=None, generator=None, dtype=None, device=None,
            requires_grad=False, out=None, layout=None, pin_memory=False):
    """Uniform integers: `randint(high, size)` or `randint(low, high, size)`; int64 by default."""
    args = list(args)
    try:
        if size is None:
            size = args.pop()
        if high is None:
            high = args.pop()
        if low is None:
            low = args.pop() if args else 0
    except IndexError:
        args = None
    if args is None or args:
        raise TypeError("randint() received an invalid combination of arguments: expected "
                        "(int high, tuple of ints size) or (int low, int high, tuple of ints size)")
    low, high = int(low), int(high)
    _check_range(low, high)
    dt = int64 if dtype is None else as_dtype(dtype)
    t = _randint(_np_gen(generator), low=low, high=high, shape=_shape((size,)), dtype=dt)
    return _finish(t, device, requires_grad, out)


@op("randperm", kind="random", differentiable=False, method=False)
def _randperm(xp, gen, *, n, dtype):
    """A random permutation of 0..n-1."""
    return xp.asarray(gen.permutation(n).astype(dtype.np, copy=False))


@_randperm.infer
def _(gen, *, n, dtype):
    return (n,), dtype


@_randperm.public
def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False, out=None,
             layout=None, pin_memory=False):
    """A random permutation of the integers 0..n-1 (int64 by default)."""
    n = int(n)
    if n < 0:
        raise RuntimeError(f"n must be non-negative, got{n}")
    dt = int64 if dtype is None else as_dtype(dtype)
    return _finish(_randperm(_np_gen(generator), n=n, dtype=dt), device, requires_grad, out)


# -- normal with mean / std ------------------------------------------------------------
@op("normal", kind="random", method=False)
def _normal(xp, gen, mean, std, *, shape, dtype):
    """mean + std * N(0, 1); mean and std are arrays or numbers broadcast to `shape`."""
    if np.ndim(std) == 0 and not hasattr(std, "shape"):
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    elif bool((std < 0).any()):
        raise RuntimeError("normal expects all elements of std >= 0.0")
    z = xp.asarray(gen.standard_normal(shape, dtype=_draw_dtype(dtype)))
    return (z * std + mean).astype(dtype.np, copy=False)


@_normal.infer
def _(gen, mean, std, *, shape, dtype):
    return tuple(shape), dtype


@_normal.backward
def _(g, needs):
    # NOTE: PyTorch defines these gradients as zero (no reparameterisation).
    z = _zeros_like(g)
    return None, (z if needs[1] else None), (z if needs[2] else None)


@_normal.public
def normal(mean, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None,
           device=None, pin_memory=False, requires_grad=False):
    """Normal samples: tensor or float mean/std (broadcast), or floats and a `size`."""
    from .._tensor import Tensor
    from .registry import broadcast_shapes
    from .._dtype import promote_types
    gen = _np_gen(generator)
    mt, st = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not mt and not st:
        if size is None:
            raise TypeError("normal() received an invalid combination of arguments: with float "
                            "mean and std, `size` is required")
        dt = _float_dtype(dtype, "normal_kernel_cpu")
        t = _normal(gen, float(mean), float(std), shape=_shape((size,)), dtype=dt)
        return _finish(t, device, requires_grad, out)
    if mt and st:
        shape = broadcast_shapes(tuple(mean.shape), tuple(std.shape))
        dt = promote_types(mean.dtype, std.dtype)
    else:
        ref = mean if mt else std
        shape, dt = tuple(ref.shape), ref.dtype
        mean = mean if mt else float(mean)
        std = std if st else float(std)
    if not dt.is_floating_point:
        raise RuntimeError(f'"normal_kernel_cpu" not implemented for \'{_TORCH_NAMES[dt.name]}\'')
    return _finish(_normal(gen, mean, std, shape=shape, dtype=dt), None, False, out)


# -- bernoulli -------------------------------------------------------------------------
@op("bernoulli", kind="random")
def _bernoulli(xp, gen, p, *, shape, dtype):
    """1 with probability p, else 0, cast to `dtype`; p is an array or a number."""
    if hasattr(p, "shape"):
        if not bool(((p >= 0) & (p <= 1)).all()):
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    elif not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    u = xp.asarray(gen.random(shape))
    return (u < p).astype(dtype.np)


@_bernoulli.infer
def _(gen, p, *, shape, dtype):
    return tuple(shape), dtype


@_bernoulli.backward
def _(g, needs):
    # NOTE: as in PyTorch, the gradient with respect to p is zero.
    return None, (_zeros_like(g) if needs[1] else None)


@_bernoulli.public
def bernoulli(input, p=None, *, generator=None, out=None):
    """Draw 0/1 with probabilities `input` (or the float `p`), keeping input's shape and dtype."""
    gen = _np_gen(generator)
    if p is None:
        t = _bernoulli(gen, input, shape=tuple(input.shape), dtype=input.dtype)
    else:
        t = _bernoulli(gen, float(p), shape=tuple(input.shape), dtype=input.dtype)
    return _finish(t, None if t.device == input.device else input.device, False, out)


# -- multinomial -----------------------------------------------------------------------
@op("multinomial", kind="random", differentiable=False)
def _multinomial(xp, gen, probs, *, num_samples, replacement=False):
    """Category indices drawn from each row of unnormalised weights `probs`."""
    if probs.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    n = probs.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if num_samples <= 0:
        raise RuntimeError(f"cannot sample n_sample <= 0 samples")
    rows = probs.reshape(-1, n).astype(np.float64)
    if not bool((xp.isfinite(rows) & (rows >= 0)).all()):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    total = rows.sum(axis=1, keepdims=True)
    if not bool((total > 0).all()):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    r = rows.shape[0]
    if replacement:
        # inverse CDF, all rows at once: row i's CDF is shifted into [i, i + 1]
        shift = xp.arange(r, dtype=np.float64)[:, None]
        cdf = (xp.cumsum(rows / total, axis=1) + shift).ravel()
        u = xp.asarray(gen.random((r, num_samples))) + shift
        idx = xp.searchsorted(cdf, u.ravel(), side="right").reshape(r, num_samples)
        idx = xp.minimum(idx - xp.arange(r)[:, None] * n, n - 1)
    else:
        # exponential race: the k smallest E_i / p_i are a weighted sample without replacement
        keys = xp.asarray(gen.standard_exponential((r, n))) / rows
        idx = xp.argsort(keys, axis=1)[:, :num_samples]
    return idx.astype(np.int64).reshape(probs.shape[:-1] + (num_samples,))


@_multinomial.infer
def _(gen, probs, *, num_samples, replacement=False):
    return tuple(probs.shape[:-1]) + (num_samples,), int64


@_multinomial.public
def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """Indices sampled from rows of non-negative weights (int64; 1-D or 2-D input)."""
    t = _multinomial(_np_gen(generator), input, num_samples=int(num_samples),
                     replacement=bool(replacement))
    return _finish(t, None, False, out)


# -- exponential (for Tensor.exponential_) ------------------------------------------
@op("exponential", kind="random", differentiable=False, method=False)
def _exponential(xp, gen, *, shape, dtype, lambd=1.0):
    """Exponential samples with rate `lambd` (torch exposes it as Tensor.exponential_)."""
    e = gen.standard_exponential(shape, dtype=_draw_dtype(dtype)) / lambd
    return xp.asarray(e.astype(dtype.np, copy=False))


@_exponential.infer
def _(gen, *, shape, dtype, lambd=1.0):
    return tuple(shape), dtype


# -- *_like and in-place fills (composites of the ops above) -------------------------
def _like_args(input, dtype, device):
    return (dtype or input.dtype), (device if device is not None else input.device)


@composite("rand_like", method=False)
def rand_like(input, *, generator=None, dtype=None, device=None, requires_grad=False,
              layout=None, memory_format=None):
    """Uniform [0, 1) samples with `input`'s shape, dtype and device."""
    dt, dev = _like_args(input, dtype, device)
    return rand(tuple(input.shape), generator=generator, dtype=dt, device=dev, requires_grad=requires_grad)


@composite("randn_like", method=False)
def randn_like(input, *, generator=None, dtype=None, device=None, requires_grad=False,
               layout=None, memory_format=None):
    """Standard normal samples with `input`'s shape, dtype and device."""
    dt, dev = _like_args(input, dtype, device)
    return randn(tuple(input.shape), generator=generator, dtype=dt, device=dev, requires_grad=requires_grad)


@composite("randint_like", method=False)
def randint_like(input, low=0, high=None, *, generator=None, dtype=None, device=None,
                 requires_grad=False, layout=None, memory_format=None):
    """Integers in [low, high) with `input`'s shape, dtype and device (`randint_like(x, high)`)."""
    if high is None:
        low, high = 0, low
    dt, dev = _like_args(input, dtype, device)
    return randint(low, high, tuple(input.shape), generator=generator, dtype=dt, device=dev,
                   requires_grad=requires_grad)


def _fill_from(self, t):
    """Write random `t` into `self` in place (a recorded copy_, so traces see the write)."""
    return self.copy_(t)


@composite("uniform_")
def uniform_(self, from_=0.0, to=1.0, *, generator=None):
    """Fill in place with uniform samples on [from_, to)."""
    from_, to = float(from_), float(to)
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={from_} > to={to}")
    dt = _float_dtype(self.dtype, "check_uniform_bounds")
    return _fill_from(self, _rand(_np_gen(generator), shape=tuple(self.shape), dtype=dt,
                                  low=from_, high=to))


@composite("normal_")
def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill in place with normal samples N(mean, std**2)."""
    dt = _float_dtype(self.dtype, "normal_kernel_cpu")
    return _fill_from(self, _normal(_np_gen(generator), float(mean), float(std),
                                    shape=tuple(self.shape), dtype=dt))


@composite("bernoulli_")
def bernoulli_(self, p=0.5, *, generator=None):
    """Fill in place with 0/1 draws, 1 with probability p (a float or a broadcastable tensor)."""
    from .._tensor import Tensor
    p = p if isinstance(p, Tensor) else float(p)
    return _fill_from(self, _bernoulli(_np_gen(generator), p, shape=tuple(self.shape), dtype=self.dtype))


def _random_bounds(dtype):
    if dtype is bool_:
        return 0, 2
    if dtype.is_floating_point:
        return 0, (1 << (np.finfo(dtype.np).nmant + 1)) + 1
    return 0, int(np.iinfo(dtype.np).max) + 1


@composite("random_")
def random_(self, from_=0, to=None, *, generator=None):
    """Fill in place with integers: [0, to) for `random_(to)`, [from_, to) for `random_(from_, to)`,
    or the dtype's whole exactly-representable range for `random_()`."""
    if to is None:
        if from_ == 0:
            low, high = _random_bounds(self.dtype)
        else:
            low, high = 0, int(from_)
    else:
        low, high = int(from_), int(to)
    _check_range(low, high)
    return _fill_from(self, _randint(_np_gen(generator), low=low, high=high,
                                     shape=tuple(self.shape), dtype=self.dtype))


@composite("exponential_")
def exponential_(self, lambd=1.0, *, generator=None):
    """Fill in place with exponential samples of rate `lambd`."""
    if lambd <= 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    dt = _float_dtype(self.dtype, "exponential_cpu")
    return _fill_from(self, _exponential(_np_gen(generator), shape=tuple(self.shape), dtype=dt,
                                         lambd=float(lambd)))
