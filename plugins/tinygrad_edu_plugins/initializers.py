"""The standard weight initialisations (book section 6.2).

Every initializer has the signature ::

    init(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32, **kwargs) -> np.ndarray

``fan_in`` / ``fan_out`` default to :func:`tinygrad_edu.init_utils.fans` of ``shape``
((in, out) affine weights, (FN, C, FH, FW) conv filters). ``rng`` is a
``numpy.random.Generator`` (an int seed is turned into one; None means the framework's
generator, which ``tg.manual_seed`` seeds). Values are drawn in
float64 and then cast to ``dtype``, so one seed gives the same numbers in every dtype.

==================  ===================================================  ==================
name (aliases)      distribution                                         std
==================  ===================================================  ==================
normal              N(0, std²), ``std`` keyword, default 0.01 (the book)  std
xavier (glorot)     N(0, 1/fan_in): the book's "Xavier" (sigmoid, tanh)   √(1/fan_in)
xavier_uniform      U(−b, b), b = √(6/(fan_in + fan_out)) (Glorot 2010)   √(2/(fan_in+fan_out))
he_normal (he)      N(0, 2/fan_in) (He 2015, for ReLU)                    √(2/fan_in)
he_uniform          U(−b, b), b = √(6/fan_in)                             √(2/fan_in)
zeros, ones         the constant 0 or 1                                   —
==================  ===================================================  ==================

Note on "xavier": Glorot & Bengio's paper uses √(2/(fan_in + fan_out)); the book (and Caffe)
simplify it to √(1/fan_in), and that is what ``xavier`` does here so that the book's
experiments come out the same. ``xavier_uniform`` is the paper's uniform version.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_edu.components import Component, InitializerCheck
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.init_utils import fans
from tinygrad_edu.random import default_generator

__all__ = ["normal", "xavier", "xavier_uniform", "he_normal", "he_uniform", "zeros", "ones"]


def _shape_and_dtype(name, shape, dtype):
    """Check the shape and dtype every initializer takes."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        if isinstance(shape, (str, bytes)):
            raise TypeError
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise TypeError(f"initializer {name!r}: shape must be a tuple of integers, got {shape!r}") from None
    if any(n < 0 for n in shape):
        raise ValueError(f"initializer {name!r}: negative dimension in shape {shape}")
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"initializer {name!r}: dtype must be a float type, got {dtype}")
    return shape, dtype


def _prepare(name, shape, fan_in, fan_out, rng, dtype):
    """Check the arguments a random initializer takes; fill in fan_in / fan_out / rng."""
    shape, dtype = _shape_and_dtype(name, shape, dtype)
    if fan_in is None or fan_out is None:
        computed_in, computed_out = fans(shape)
        fan_in = computed_in if fan_in is None else fan_in
        fan_out = computed_out if fan_out is None else fan_out
    return shape, int(fan_in), int(fan_out), _generator(rng), dtype


def _generator(rng):
    """A numpy Generator from a Generator, an int seed, or None: the framework's generator
    (:func:`tinygrad_edu.random.default_generator`, which ``tg.manual_seed`` seeds)."""
    if rng is None:
        return default_generator()
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _positive(name, **values):
    for what, value in values.items():
        if value <= 0:
            raise ValueError(f"initializer {name!r}: {what} must be positive, got {value}")


def _gaussian(shape, std, rng, dtype):
    return np.asarray(rng.standard_normal(shape) * std, dtype=dtype)  # an array also for shape ()


def _uniform(shape, bound, rng, dtype):
    return np.asarray(rng.uniform(-bound, bound, size=shape), dtype=dtype)


def normal(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32, std=0.01):
    """Gaussian N(0, std²) with a fixed std (default 0.01, the book's ``weight_init_std``)."""
    shape, dtype = _shape_and_dtype("normal", shape, dtype)  # fan_in / fan_out are not used
    if not (std >= 0 and math.isfinite(std)):
        raise ValueError(f"initializer 'normal': std must be a finite number >= 0, got {std!r}")
    return _gaussian(shape, std, _generator(rng), dtype)


def xavier(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    """Xavier as the book uses it: N(0, std²) with std = √(1/fan_in)."""
    shape, fan_in, fan_out, rng, dtype = _prepare("xavier", shape, fan_in, fan_out, rng, dtype)
    _positive("xavier", fan_in=fan_in)
    return _gaussian(shape, math.sqrt(1.0 / fan_in), rng, dtype)


def xavier_uniform(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    """Glorot uniform: U(−b, b) with b = √(6/(fan_in + fan_out)), so std = √(2/(fan_in + fan_out))."""
    shape, fan_in, fan_out, rng, dtype = _prepare("xavier_uniform", shape, fan_in, fan_out, rng, dtype)
    _positive("xavier_uniform", fan_in=fan_in, fan_out=fan_out)
    return _uniform(shape, math.sqrt(6.0 / (fan_in + fan_out)), rng, dtype)


def he_normal(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    """He: N(0, std²) with std = √(2/fan_in) (for ReLU networks)."""
    shape, fan_in, fan_out, rng, dtype = _prepare("he_normal", shape, fan_in, fan_out, rng, dtype)
    _positive("he_normal", fan_in=fan_in)
    return _gaussian(shape, math.sqrt(2.0 / fan_in), rng, dtype)


def he_uniform(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    """He uniform: U(−b, b) with b = √(6/fan_in), so std = √(2/fan_in)."""
    shape, fan_in, fan_out, rng, dtype = _prepare("he_uniform", shape, fan_in, fan_out, rng, dtype)
    _positive("he_uniform", fan_in=fan_in)
    return _uniform(shape, math.sqrt(6.0 / fan_in), rng, dtype)


def zeros(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    """All zeros (biases)."""
    shape, dtype = _shape_and_dtype("zeros", shape, dtype)
    return np.zeros(shape, dtype=dtype)


def ones(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    """All ones (BatchNorm's gamma)."""
    shape, dtype = _shape_and_dtype("ones", shape, dtype)
    return np.ones(shape, dtype=dtype)


@hookimpl
def register_initializers():
    return [
        Component("normal", normal, check=InitializerCheck(std=lambda fan_in, fan_out: 0.01)),
        Component("xavier", xavier, aliases=("glorot",),
                  check=InitializerCheck(std=lambda fan_in, fan_out: math.sqrt(1.0 / fan_in))),
        Component("xavier_uniform", xavier_uniform, aliases=("glorot_uniform",),
                  check=InitializerCheck(std=lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out)))),
        Component("he_normal", he_normal, aliases=("he",),
                  check=InitializerCheck(std=lambda fan_in, fan_out: math.sqrt(2.0 / fan_in))),
        Component("he_uniform", he_uniform,
                  check=InitializerCheck(std=lambda fan_in, fan_out: math.sqrt(2.0 / fan_in))),
        Component("zeros", zeros, check=InitializerCheck(constant=0.0)),
        Component("ones", ones, check=InitializerCheck(constant=1.0)),
    ]
