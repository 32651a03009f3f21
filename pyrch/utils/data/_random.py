"""The random draws that samplers and random_split make, through pyrch's RNG.

`generator` is a `pyrch.Generator` or None (the global generator that
`pyrch.manual_seed` seeds). Results are plain Python lists of ints.
"""


def randperm(n, generator=None):
    """A random permutation of range(n) as a list."""
    import pyrch
    return pyrch.randperm(n, generator=generator).tolist()


def randint(high, size, generator=None):
    """`size` ints drawn uniformly from [0, high) as a list."""
    import pyrch
    return pyrch.randint(high, (size,), generator=generator).tolist()


def seed(generator=None):
    """A fresh 62-bit seed drawn from `generator` (worker seeds)."""
    return randint(2 ** 62, 1, generator)[0]


def multinomial(weights, num_samples, replacement, generator=None):
    """Indices drawn with probability proportional to `weights` (a float64 tensor)."""
    import pyrch
    return pyrch.multinomial(weights, num_samples, replacement, generator=generator).tolist()
