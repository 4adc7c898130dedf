"""Tests of the standard initializers and of ``fans``.

The first half holds *generic property checks*: plain functions that take a registered
:class:`Component` and raise AssertionError naming it. They use only the initializer contract
``init(shape, fan_in, fan_out, rng, dtype)`` and the component's ``InitializerCheck``, so the
conformance suite can run them over every registered initializer.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu.components import Component, InitializerCheck
from tinygrad_edu.init_utils import fans
from tinygrad_edu.testing import shapes
from tinygrad_edu_plugins import initializers as standard

# ======================================================================================
# Generic property checks (move to tinygrad_edu/testing/conformance.py)
# ======================================================================================

SAMPLES = 20_000  # values drawn to estimate a standard deviation


def _label(comp: Component) -> str:
    return f"initializer {comp.name!r}" + (f" (plugin {comp.plugin!r})" if comp.plugin else "")


def check_shape_and_dtype(comp: Component, shape, fan_in: int, fan_out: int, dtype, seed: int) -> None:
    """The result is a finite numpy array of exactly ``shape`` and ``dtype``."""
    out = comp.obj(shape, fan_in, fan_out, np.random.default_rng(seed), dtype)
    assert isinstance(out, np.ndarray), f"{_label(comp)} returned a {type(out).__name__}, not an ndarray"
    assert out.shape == tuple(shape), f"{_label(comp)}: asked for shape {shape}, got {out.shape}"
    assert out.dtype == np.dtype(dtype), f"{_label(comp)}: asked for dtype {np.dtype(dtype)}, got {out.dtype}"
    assert np.all(np.isfinite(out)), f"{_label(comp)}: non-finite values"


def check_statistics(comp: Component, fan_in: int, fan_out: int, seed: int) -> None:
    """The promised constant exactly, or mean ≈ 0 and std ≈ the promised std (sampling tolerance:
    the std within 5% — about ten standard errors for 20 000 samples — and the mean within five
    standard errors)."""
    check = comp.check
    assert isinstance(check, InitializerCheck) and (check.std is not None or check.constant is not None), (
        f"{_label(comp)}: no InitializerCheck with std or constant declared")
    out = comp.obj((SAMPLES,), fan_in, fan_out, np.random.default_rng(seed), np.float64)
    if check.constant is not None:
        assert np.all(out == check.constant), (
            f"{_label(comp)}: promised the constant {check.constant}, got values in [{out.min()}, {out.max()}]")
        return
    std = check.std(fan_in, fan_out)
    got_std, got_mean = float(out.std()), float(out.mean())
    assert abs(got_std - std) <= 0.05 * std, (
        f"{_label(comp)}: fan_in={fan_in}, fan_out={fan_out}: promised std {std:.6g}, sample std {got_std:.6g}")
    assert abs(got_mean) <= 5 * std / math.sqrt(SAMPLES), (
        f"{_label(comp)}: fan_in={fan_in}, fan_out={fan_out}: sample mean {got_mean:.6g} is not ≈ 0 (std {std:.6g})")


def check_reproducible(comp: Component, shape, fan_in: int, fan_out: int, seed: int) -> None:
    """The same seed gives the same values; for a random initializer another seed gives others."""
    a = comp.obj(shape, fan_in, fan_out, np.random.default_rng(seed), np.float32)
    b = comp.obj(shape, fan_in, fan_out, np.random.default_rng(seed), np.float32)
    assert np.array_equal(a, b), f"{_label(comp)}: the same seed gave different values"
    if comp.check.constant is None and int(np.prod(shape)) >= 4:
        c = comp.obj(shape, fan_in, fan_out, np.random.default_rng(seed + 1), np.float32)
        assert not np.array_equal(a, c), f"{_label(comp)}: seeds {seed} and {seed + 1} gave the same values"


# ======================================================================================
# The standard initializers through the generic checks
# ======================================================================================

STANDARD = standard.register_initializers()
STANDARD_IDS = [c.name for c in STANDARD]
fan = st.integers(1, 5000)
seed = st.integers(0, 2**32 - 1)


@pytest.mark.parametrize("comp", STANDARD, ids=STANDARD_IDS)
@given(shape=shapes(min_dims=0, max_dims=4, min_side=0, max_side=5), fan_in=fan, fan_out=fan,
       dtype=st.sampled_from([np.float32, np.float64, np.float16]), seed=seed)
def test_shape_and_dtype(comp, shape, fan_in, fan_out, dtype, seed):
    check_shape_and_dtype(comp, shape, fan_in, fan_out, dtype, seed)


@pytest.mark.parametrize("comp", STANDARD, ids=STANDARD_IDS)
@given(fan_in=fan, fan_out=fan, seed=seed)
def test_statistics(comp, fan_in, fan_out, seed):
    check_statistics(comp, fan_in, fan_out, seed)


@pytest.mark.parametrize("comp", STANDARD, ids=STANDARD_IDS)
@given(shape=shapes(min_dims=1, max_dims=4, max_side=5), fan_in=fan, fan_out=fan, seed=st.integers(0, 2**31))
def test_reproducible(comp, shape, fan_in, fan_out, seed):
    check_reproducible(comp, shape, fan_in, fan_out, seed)


def test_checks_catch_a_wrong_std():
    """A he_normal that forgot the factor 2 fails the statistics check."""
    wrong = Component("wrong", lambda shape, fan_in, fan_out, rng, dtype=np.float32:
                      (rng.standard_normal(shape) * math.sqrt(1 / fan_in)).astype(dtype),
                      check=InitializerCheck(std=lambda fan_in, fan_out: math.sqrt(2 / fan_in)))
    with pytest.raises(AssertionError, match="promised std"):
        check_statistics(wrong, 100, 100, seed=0)
    ignores_seed = Component("unseeded", lambda shape, fan_in, fan_out, rng, dtype=np.float32:
                             np.random.default_rng().standard_normal(shape).astype(dtype),
                             check=InitializerCheck(std=lambda fan_in, fan_out: 1.0))
    with pytest.raises(AssertionError, match="same seed"):
        check_reproducible(ignores_seed, (10,), 1, 1, seed=0)
    wrong_dtype = Component("f64", lambda shape, fan_in, fan_out, rng, dtype=np.float32: np.zeros(shape),
                            check=InitializerCheck(constant=0.0))
    with pytest.raises(AssertionError, match="dtype"):
        check_shape_and_dtype(wrong_dtype, (2, 3), 2, 3, np.float32, seed=0)


# ======================================================================================
# The standard initializers specifically
# ======================================================================================

def test_promised_stds():
    std = {c.name: c.check.std for c in STANDARD if c.check.std is not None}
    assert std["normal"](100, 50) == 0.01
    assert std["xavier"](100, 50) == pytest.approx(math.sqrt(1 / 100))  # the book's Xavier
    assert std["xavier_uniform"](100, 50) == pytest.approx(math.sqrt(2 / 150))
    assert std["he_normal"](100, 50) == pytest.approx(math.sqrt(2 / 100))
    assert std["he_uniform"](100, 50) == pytest.approx(math.sqrt(2 / 100))


def test_uniform_bounds():
    x = standard.xavier_uniform((SAMPLES,), 10, 14, 0, np.float64)
    assert np.abs(x).max() <= math.sqrt(6 / 24) and np.abs(x).max() > 0.95 * math.sqrt(6 / 24)
    h = standard.he_uniform((SAMPLES,), 12, 3, 0, np.float64)
    assert np.abs(h).max() <= math.sqrt(6 / 12) and np.abs(h).max() > 0.95 * math.sqrt(6 / 12)


def test_normal_std_keyword():
    x = standard.normal((SAMPLES,), rng=np.random.default_rng(3), dtype=np.float64, std=0.5)
    assert x.std() == pytest.approx(0.5, rel=0.05)
    with pytest.raises(ValueError, match="std"):
        standard.normal((3,), std=-1.0)


def test_fans_default_from_the_shape():
    """Without fan_in / fan_out the initializer uses fans(shape): (in, out) and (FN, C, FH, FW)."""
    affine = standard.he_normal((800, 300), rng=np.random.default_rng(0), dtype=np.float64)
    assert affine.std() == pytest.approx(math.sqrt(2 / 800), rel=0.03)
    conv = standard.he_normal((64, 32, 3, 3), rng=np.random.default_rng(0), dtype=np.float64)
    assert conv.std() == pytest.approx(math.sqrt(2 / (32 * 9)), rel=0.03)
    x = standard.xavier((16, 3, 5, 5), rng=1)  # an int seed works too
    np.testing.assert_array_equal(x, standard.xavier((16, 3, 5, 5), None, None, np.random.default_rng(1)))
    assert x.dtype == np.float32  # the default dtype


def test_same_seed_same_numbers_in_every_dtype():
    a = standard.he_normal((5, 4), rng=7, dtype=np.float64)
    b = standard.he_normal((5, 4), rng=7, dtype=np.float32)
    np.testing.assert_array_equal(a.astype(np.float32), b)


def test_constants():
    assert np.array_equal(standard.zeros((2, 3)), np.zeros((2, 3), np.float32))
    assert standard.ones(4, dtype=np.float64).dtype == np.float64
    assert np.all(standard.ones((4,)) == 1)


@pytest.mark.parametrize("call, error, match", [
    (lambda: standard.he_normal((3, 3), dtype=np.int32), TypeError, "float"),
    (lambda: standard.zeros((3, -1)), ValueError, "negative"),
    (lambda: standard.he_normal((3, 3), fan_in=0, fan_out=3), ValueError, "fan_in must be positive"),
    (lambda: standard.xavier_uniform((3, 3), fan_in=3, fan_out=0), ValueError, "fan_out"),
    (lambda: standard.xavier("big"), TypeError, "shape"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_registry_finds_names_and_aliases():
    from tinygrad_edu import registry

    for comp in STANDARD:
        assert registry.get("initializer", comp.name) is comp.obj
        assert comp.doc, f"{comp.name} has no docstring"
    assert registry.get("initializer", "he") is standard.he_normal
    assert registry.get("initializer", "glorot") is standard.xavier
    assert registry.get("initializer", "glorot_uniform") is standard.xavier_uniform
    registered = {c.name: c for c in registry.components("initializer")}
    check_statistics(registered["he_normal"], 50, 10, seed=0)


# ======================================================================================
# fans
# ======================================================================================

def test_fans_affine_conv_bias():
    assert fans((784, 100)) == (784, 100)  # (in, out): x @ W
    assert fans((30, 1, 5, 5)) == (1 * 25, 30 * 25)  # (FN, C, FH, FW)
    assert fans((8, 4, 3)) == (12, 24)
    assert fans((10,)) == (10, 10)
    assert fans([3, np.int64(4)]) == (3, 4)


@pytest.mark.parametrize("shape, error", [((), ValueError), ((3, 0), ValueError), ((2.5, 3), TypeError)])
def test_fans_rejects_bad_shapes(shape, error):
    with pytest.raises(error, match="fans"):
        fans(shape)
