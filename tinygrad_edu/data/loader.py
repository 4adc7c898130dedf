"""DataLoader: cut a dataset into mini-batches, optionally in a fresh random order every epoch.

    loader = DataLoader(x_train, t_train, batch_size=100, shuffle=True, seed=0)
    for epoch in range(10):
        for x_batch, t_batch in loader:     # one pass over the data = one epoch
            ...

With ``shuffle=True`` each pass uses a new permutation of the samples, drawn from a
generator seeded once with ``seed``: the same seed gives the same sequence of epochs. Without a
seed (or ``rng=``) the permutations come from the framework's generator (``tg.manual_seed``).
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from tinygrad_edu.random import generator

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate ``(x_batch, t_batch)`` numpy arrays of ``batch_size`` samples (rows of x and t).

    shuffle: visit the samples in a new random order every epoch (else in order).
    seed: seeds the shuffling; the n-th epoch of two loaders with the same seed is identical.
    rng: a ``numpy.random.Generator`` to shuffle with instead (neither: the framework's one).
    drop_last: leave out the last batch if it has fewer than ``batch_size`` samples.
    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, x, t, batch_size: int, shuffle: bool = False, seed: int | None = None, drop_last: bool = False,
                 rng: np.random.Generator | None = None):
        x, t = np.asarray(x), np.asarray(t)
        if x.ndim == 0 or t.ndim == 0:
            raise ValueError(f"DataLoader: x and t must be arrays of samples, got shapes {x.shape} and {t.shape}")
        if len(x) != len(t):
            raise ValueError(f"DataLoader: x has {len(x)} samples but t has {len(t)} (shapes {x.shape} and {t.shape})")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.x, self.t = x, t
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.rng = generator(rng, seed, owner="DataLoader")

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # One permutation per epoch, drawn when the epoch starts: an epoch stopped
        # early does not change the order of the epochs after it.
        order = self.rng.permutation(self.num_samples) if self.shuffle else None
        return self._batches(order)

    def _batches(self, order: np.ndarray | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for b in range(len(self)):
            start, stop = b * self.batch_size, min((b + 1) * self.batch_size, self.num_samples)
            if order is None:
                yield self.x[start:stop], self.t[start:stop]
            else:
                index = order[start:stop]
                yield self.x[index], self.t[index]

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.num_samples} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"seed={self.seed}, drop_last={self.drop_last}, {len(self)} batches)"
        )
