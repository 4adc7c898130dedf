"""The framework's random number generator, and ``manual_seed`` to make a script reproducible.

    import tinygrad_edu as tg
    tg.manual_seed(0)          # weights, dropout masks and shuffling are now the same every run

Every component that draws random numbers - the initializers, the layers' initial weights,
Dropout's masks, DataLoader's shuffling, the Trainer's evaluation subset - takes them from
ONE ``numpy.random.Generator``, :func:`default_generator`, unless it is given its own
(``rng=`` a Generator, or ``seed=`` an int, which makes a new generator for that component
alone). ``manual_seed(s)`` resets that generator in place to the state of
``numpy.random.default_rng(s)``, so a component that already holds it (a Dropout built before
the call) follows too. Without ``manual_seed`` the generator starts from fresh OS entropy, so
unseeded runs differ, as in PyTorch.

The draws then depend only on the seed and on the order in which a script makes them: the
same script gives the same numbers, but building one more layer before the model shifts every
later draw (give that layer its own ``seed=`` to keep it apart). numpy's global state
(``np.random.seed``, which the book API follows as the book does) is separate: this module
neither reads nor sets it.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["manual_seed", "default_generator", "generator"]

_DEFAULT = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the framework's generator to ``numpy.random.default_rng(seed)``; returns it."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"manual_seed: seed must be an int >= 0, got {seed!r}")
    _DEFAULT.bit_generator.state = np.random.default_rng(int(seed)).bit_generator.state
    return _DEFAULT


def default_generator() -> np.random.Generator:
    """The framework's generator: what every component draws from unless given its own."""
    return _DEFAULT


def generator(rng=None, seed=None, *, owner: str = "generator") -> np.random.Generator:
    """The generator a component draws from: ``rng`` (a ``numpy.random.Generator``) if given,
    a new generator seeded with ``seed`` if given, else the framework's. ``owner`` names the
    component in the error raised for a wrong argument."""
    if rng is not None and seed is not None:
        raise ValueError(f"{owner}: give either rng or seed, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{owner}: rng must be a numpy.random.Generator, got "
                            f"{type(rng).__name__}")
        return rng
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"{owner}: seed must be an int >= 0, got {seed!r}")
        return np.random.default_rng(int(seed))
    return _DEFAULT
