"""What the layer rooms share: argument checks and the initial weights of a layer.

Layers with weights take ``weight_init`` (an initializer name, a std, or a function: see
:func:`initial_weight`), ``rng`` or ``seed``, and ``dtype``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np


def _float_dtype(layer, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{layer}: dtype must be a float type, got {dtype}")
    return dtype


def initial_weight(layer, shape, fan_in, fan_out, weight_init, rng, dtype) -> np.ndarray:
    """An initial weight array of ``shape`` and ``dtype``.

    ``weight_init`` is a float ``std`` (N(0, std²), drawn in float64 then cast, like the
    ``normal`` initializer), an initializer name from the registry, or an initializer function
    ``init(shape, fan_in, fan_out, rng, dtype)``.
    """
    if isinstance(weight_init, numbers.Real) and not isinstance(weight_init, bool):
        if not (weight_init >= 0 and math.isfinite(weight_init)):
            raise ValueError(f"{layer}: weight_init as a std must be a finite number >= 0, got "
                             f"{weight_init!r}")
        return (rng.standard_normal(shape) * float(weight_init)).astype(dtype)
    if isinstance(weight_init, str):
        from tinygrad_edu import registry
        init = registry.get("initializer", weight_init)
    elif callable(weight_init):
        init = weight_init
    else:
        raise TypeError(f"{layer}: weight_init must be an initializer name, a std (float) or a "
                        f"function, got {weight_init!r}")
    array = np.asarray(init(shape, fan_in, fan_out, rng, dtype))
    if array.shape != tuple(shape):
        raise ValueError(f"{layer}: the initializer {weight_init!r} returned shape {array.shape}, "
                         f"expected {tuple(shape)}")
    return array.astype(dtype, copy=False)


def _pair(layer, what, value):
    """``k`` or ``(kh, kw)`` -> (kh, kw) of positive ints."""
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and v > 0 for v in pair):
        raise ValueError(f"{layer}: {what} must be a positive int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_nchw(layer, x, channels=None):
    if x.ndim != 4:
        raise ValueError(f"{layer}: expected input of shape (N, C, H, W), got {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer}: expected {channels} input channels, got input of shape "
                         f"{x.shape} ({x.shape[1]} channels)")
