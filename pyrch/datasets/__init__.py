"""Small real data sets that ship inside pyrch, so tutorials need no download.

digits: the UCI "Optical Recognition of Handwritten Digits" test set as
scikit-learn distributes it (1,797 8x8 grey images, values 0-16, 10 classes;
Alpaydin & Kaynak, UCI Machine Learning Repository, CC BY 4.0).

>>> from pyrch.datasets import load_digits
>>> x, y = load_digits()
>>> tuple(x.shape), tuple(y.shape)
((1797, 1, 8, 8), (1797,))
"""
import os

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))


def load_digits(normalize=True):
    """(images float32 [N, 1, 8, 8], labels int64 [N]) as pyrch tensors."""
    from .._creation import from_numpy
    with np.load(os.path.join(_HERE, "digits.npz")) as f:
        images, target = f["images"], f["target"]
    x = images.astype(np.float32)[:, None]
    if normalize:
        x = x / 16.0
    return from_numpy(np.ascontiguousarray(x)), from_numpy(target.astype(np.int64))


def train_test_split(x, y, test_fraction=0.2, seed=0):
    """A seeded shuffle split into (x_train, y_train, x_test, y_test)."""
    idx = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = idx[:n_test], idx[n_test:]
    from .._creation import from_numpy
    tr, te = from_numpy(train), from_numpy(test)
    return x[tr], y[tr], x[te], y[te]
