"""Divergence: training that has left the finite numbers.

A loss of NaN or inf (a learning rate far too large, a log of zero) poisons every parameter it
reaches. The Trainer checks the loss before the backward pass and the parameters at each
epoch's end, and stops with :class:`DivergenceError`; a checkpoint is only ever written with
finite values (:func:`is_finite`). Kept apart from ``train`` and ``callbacks`` because both
need it.
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu.module import Module


class DivergenceError(FloatingPointError):
    """Training stopped: the loss (or a parameter) is no longer a finite number."""


def is_finite(model: Module) -> bool:
    """Whether every floating-point parameter and buffer of ``model`` is a finite number."""
    return all(np.isfinite(a).all() for a in model.state_dict().values()
               if isinstance(a, np.ndarray) and a.dtype.kind in "fc")
