"""Regularisation layers: Dropout (inverted dropout)."""
from __future__ import annotations

import numbers

import numpy as np

from tinygrad_edu.components import Check, Component
from tinygrad_edu.module import Module
from tinygrad_edu.random import generator
from tinygrad_edu.tensor import as_tensor


__all__ = ["Dropout"]


class Dropout(Module):
    """Inverted dropout: in training, y = x * mask / (1 - p) with mask = (u > p), u ~ U[0, 1)
    drawn anew for every call, so each element is dropped with probability p and the expected
    value of y equals x; dL/dx = mask / (1 - p) * dL/dy. In eval mode y = x.

    Scaling during training (PyTorch's convention) means inference needs no change. The book
    instead multiplies by (1 - p) at inference (``tinygrad_edu.book`` keeps that); both give
    the same expected activations.

    The masks come from ``rng`` (a ``numpy.random.Generator``), from a generator seeded with
    ``seed``, or, given neither, from the framework's generator (``tg.manual_seed`` seeds it).
    """

    def __init__(self, p=0.5, rng=None, seed=None):
        super().__init__()
        if not (isinstance(p, numbers.Real) and 0.0 <= p <= 1.0):
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = generator(rng, seed, owner="Dropout")

    def forward(self, x):
        x = as_tensor(x)
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * np.zeros(x.shape, dtype=x.dtype)
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
        keep = self.rng.random(x.shape, dtype=dtype) > self.p
        scale = np.asarray(1.0 / (1.0 - self.p), dtype=x.dtype)
        return x * (keep * scale)

    def extra_repr(self):
        return f"p={self.p}"


# ---- registration ---------------------------------------------------------------------------------


def _dropout_cases(st):
    # Training-mode dropout draws a new mask on every call: a gradient check must replay the
    # same mask (the conformance suite copies the layer, generator included, for every call).
    return st.tuples(st.fixed_dictionaries({"p": st.sampled_from([0.0, 0.2, 0.5, 0.9]),
                                            "seed": st.integers(0, 99)}),
                     st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple))


# second_order=False: with its mask fixed, dropout is linear in its input with no parameters
COMPONENTS = [
    Component("dropout", Dropout, check=Check(cases=_dropout_cases, second_order=False)),
]
