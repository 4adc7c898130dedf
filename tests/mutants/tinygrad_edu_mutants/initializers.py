"""Initializers, each correct one ("ok_...") next to the ways a plugin author gets it wrong
("bad_..."). A mutant shares its sibling's declaration."""
import math

import numpy as np

from tinygrad_edu import Component, InitializerCheck, hookimpl


def ok_he_normal(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    """N(0, 2 / fan_in)"""
    rng = np.random.default_rng(rng)
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(dtype)


def bad_he_uses_fan_out(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    rng = np.random.default_rng(rng)
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_out)).astype(dtype)   # BUG


def bad_he_fan_from_shape(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    rng = np.random.default_rng(rng)
    fan_in = shape[0] if len(shape) == 2 else int(np.prod(shape[1:]))   # BUG: ignores the
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(dtype)   # given fan


def bad_he_always_float64(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    rng = np.random.default_rng(rng)
    return rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)        # BUG: dtype ignored


def bad_he_global_random(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    return (np.random.randn(*shape) * math.sqrt(2.0 / fan_in)).astype(dtype)   # BUG: not rng


def bad_he_variance_as_std(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    rng = np.random.default_rng(rng)
    return (rng.standard_normal(shape) * (2.0 / fan_in)).astype(dtype)   # BUG: no sqrt


def bad_he_transposed(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    rng = np.random.default_rng(rng)
    return (rng.standard_normal(shape[::-1]) * math.sqrt(2.0 / fan_in)).astype(dtype)  # BUG


def ok_he_uniform(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    """U(-b, b) with b = sqrt(6 / fan_in)"""
    bound = math.sqrt(6.0 / fan_in)
    return np.random.default_rng(rng).uniform(-bound, bound, shape).astype(dtype)


def bad_he_uniform_not_centred(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    bound = math.sqrt(6.0 / fan_in)
    rng = np.random.default_rng(rng)
    return (rng.random(shape) * 2 * bound).astype(dtype)   # BUG: U(0, 2b), forgot "- b"


def bad_he_uniform_std_as_bound(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    bound = math.sqrt(2.0 / fan_in)                        # BUG: the std used as the bound
    return np.random.default_rng(rng).uniform(-bound, bound, shape).astype(dtype)


HE = InitializerCheck(std=lambda fan_in, fan_out: math.sqrt(2.0 / fan_in))


@hookimpl
def register_initializers():
    return [Component(name, obj, check=HE) for name, obj in [
        ("ok_he_normal", ok_he_normal),
        ("bad_he_uses_fan_out", bad_he_uses_fan_out),
        ("bad_he_fan_from_shape", bad_he_fan_from_shape),
        ("bad_he_always_float64", bad_he_always_float64),
        ("bad_he_global_random", bad_he_global_random),
        ("bad_he_variance_as_std", bad_he_variance_as_std),
        ("bad_he_transposed", bad_he_transposed),
        ("ok_he_uniform", ok_he_uniform),
        ("bad_he_uniform_not_centred", bad_he_uniform_not_centred),
        ("bad_he_uniform_std_as_bound", bad_he_uniform_std_as_bound),
    ]]
