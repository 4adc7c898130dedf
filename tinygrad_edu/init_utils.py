"""fan_in / fan_out of a weight array, the numbers the Xavier and He initialisations scale by.

Conventions of this project (see docs/DESIGN.md):

- affine weights have shape (in, out) and compute ``x @ W + b``:
  fan_in = in, fan_out = out (note: PyTorch's Linear stores (out, in); we follow the book);
- convolution filters have shape (FN, C, FH, FW): each output value sees C·FH·FW inputs and
  each input value reaches FN·FH·FW outputs, so fan_in = C·FH·FW, fan_out = FN·FH·FW
  (the book's deep ConvNet uses exactly fan_in = C·FH·FW for its He initialisation);
  any shape (FN, C, k1, k2, ...) is treated the same way;
- a 1-d array (a bias) of length n: fan_in = fan_out = n.
"""
from __future__ import annotations

import math
from typing import Sequence

__all__ = ["fans"]


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of this shape: (in, out) affine or (FN, C, FH, FW) conv."""
    shape = tuple(shape)
    if not all(isinstance(n, int) or hasattr(n, "__index__") for n in shape):
        raise TypeError(f"fans: shape must be a tuple of integers, got {shape!r}")
    shape = tuple(int(n) for n in shape)
    if len(shape) == 0:
        raise ValueError("fans: a scalar (shape ()) has no fan_in/fan_out")
    if any(n <= 0 for n in shape):
        raise ValueError(f"fans: every dimension must be positive, got shape {shape}")
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        fan_in, fan_out = shape
        return fan_in, fan_out
    filters, channels, *kernel = shape
    receptive_field = math.prod(kernel)
    return channels * receptive_field, filters * receptive_field
