"""Conformance checks of initializers.

shape, dtype and seed  an ndarray of the requested shape and dtype (float32, float64; dense
                       (in, out) and conv (FN, C, FH, FW) shapes), finite; the same seed gives
                       the same values, another seed others
distribution           on large shapes, with the shape's fans and with fans the shape does not
                       imply (an initializer uses the fans it is given): sample std = the declared
                       ``std(fan_in, fan_out)`` and sample mean = the declared ``mean`` (0 by
                       default) within sampling error, or every element = ``constant``
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tinygrad_edu.components import Component, InitializerCheck
from tinygrad_edu.testing.conformance.common import Recorder, exception_line, fail


def properties(comp: Component) -> list:
    """The (check name, property) pairs of an initializer."""
    check = comp.check or InitializerCheck()
    props = [("shape, dtype and seed", _initializer_basics(comp, check))]
    if check.std is not None or check.constant is not None:
        props.append(("distribution", _initializer_distribution(comp, check)))
    return props


def _init_shapes(large: bool):
    """Dense (in, out) and conv (FN, C, FH, FW) shapes; large ones for the statistics."""
    if large:
        dense = st.tuples(st.integers(128, 384), st.integers(128, 384))
        conv = st.tuples(st.integers(32, 64), st.integers(16, 48), st.sampled_from([3, 5]),
                         st.sampled_from([3, 5]))
    else:
        dense = st.tuples(st.integers(1, 8), st.integers(1, 8))
        conv = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
                         st.integers(1, 3))
    return st.one_of(dense, conv)


def _call_init(comp, data, shape, rng, dtype, check_name, fan_in=None, fan_out=None):
    """``init(shape, fan_in=, fan_out=, rng=, dtype=)``, the fans those of the shape unless
    given (the framework always passes them: an initializer uses what it is given)."""
    from tinygrad_edu.init_utils import fans

    if fan_in is None:
        fan_in, fan_out = fans(shape)
    try:
        return comp.obj(shape, fan_in=fan_in, fan_out=fan_out, rng=rng, dtype=dtype)
    except Exception as error:
        fail(comp, check_name, data,
              f"{comp.name}({shape}, fan_in={fan_in}, fan_out={fan_out}, rng=<Generator>, "
              f"dtype={np.dtype(dtype).name}) raised {exception_line(error)}", error)


def _initializer_basics(comp: Component, check: InitializerCheck):
    def prop(data: Recorder):
        shape = data.draw(_init_shapes(large=False), label="shape")
        dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
        seed = data.draw(st.integers(0, 2**32 - 2), label="seed")
        data.note(f"call: {comp.name}({shape}, fan_in, fan_out, rng=default_rng({seed}), "
                  f"dtype={np.dtype(dtype).name})")
        name = "shape, dtype and seed"
        w = _call_init(comp, data, shape, np.random.default_rng(seed), dtype, name)
        if not isinstance(w, np.ndarray):
            fail(comp, name, data, f"returned a {type(w).__name__}, not a numpy array")
        if w.shape != shape or w.dtype != dtype:
            fail(comp, name, data, f"returned shape {w.shape} dtype {w.dtype}; expected shape "
                                    f"{shape} dtype {np.dtype(dtype).name}")
        if not np.all(np.isfinite(w)):
            fail(comp, name, data, "returned non-finite values")
        again = _call_init(comp, data, shape, np.random.default_rng(seed), dtype, name)
        if not np.array_equal(w, again):
            fail(comp, name, data, "the same seed gave different values; draw every random "
                                    "number from the rng argument (not np.random)")
        if check.constant is None and (check.std is None or _promised_std(check, shape) > 0) \
                and w.size >= 4:
            other = _call_init(comp, data, shape, np.random.default_rng(seed + 1), dtype, name)
            if np.array_equal(w, other):
                fail(comp, name, data, "another seed gave the same values; use the rng argument")
    return prop


def _promised_std(check: InitializerCheck, shape) -> float:
    from tinygrad_edu.init_utils import fans

    return float(check.std(*fans(shape)))


def _initializer_distribution(comp: Component, check: InitializerCheck):
    """Twice: with the shape's fans ((in, out), or (C·FH·FW, FN·FH·FW) for conv filters) and
    with fans the shape does not imply, which the initializer must use as given.
    Each time the sample mean and std match the declared ``mean`` and ``std(fan_in, fan_out)``
    (or every element is ``constant``)."""
    def prop(data: Recorder):
        from tinygrad_edu.init_utils import fans

        shape = data.draw(_init_shapes(large=True), label="shape")
        seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
        # one small fan and one large: a formula that takes the wrong one is far off
        small, large = data.draw(st.integers(8, 64), label="small fan"), \
            data.draw(st.integers(256, 2048), label="large fan")
        given = (small, large) if data.draw(st.booleans(), label="fan_in small") \
            else (large, small)
        for chosen in (None, given):
            if chosen is None:
                fan_in, fan_out = fans(shape)
                fan_text = f"fan_in={fan_in}, fan_out={fan_out} (the shape's)"
            else:
                fan_in, fan_out = chosen
                fan_text = f"fan_in={fan_in}, fan_out={fan_out} (given, not the shape's)"
            call = (f"{comp.name}({shape}, fan_in={fan_in}, fan_out={fan_out}, "
                    f"rng=default_rng({seed}), dtype=float64)")
            w = _call_init(comp, data, shape, np.random.default_rng(seed), np.float64,
                           "distribution", fan_in=fan_in, fan_out=fan_out)
            data.note(f"call: {call}")
            _check_sample(comp, check, data, w, fan_in, fan_out, fan_text)
            data.lines.pop()
    return prop


def _check_sample(comp, check, data, w, fan_in, fan_out, fan_text) -> None:
    if check.constant is not None:
        if not np.all(w == check.constant):
            fail(comp, "distribution", data,
                 f"promised the constant {check.constant}, got values from {w.min():.6g} "
                 f"to {w.max():.6g}")
        return
    promised = float(check.std(fan_in, fan_out))
    got = float(np.std(w))
    # the sample std of n values has a relative standard error of about 1/sqrt(2n) for a
    # Gaussian (less for a uniform); allow 5 of them, and never less than 2%
    tolerance = max(0.02, 5.0 / math.sqrt(2.0 * w.size))
    if not abs(got - promised) <= tolerance * promised:
        fail(comp, "distribution", data,
             f"sample std {got:.6g} over {w.size} values, promised std for {fan_text}: "
             f"{promised:.6g} (relative difference "
             f"{abs(got - promised) / promised if promised else float('inf'):.3g} > "
             f"tolerance {tolerance:.3g}); is the std computed from the right fan?")
    if check.mean is not None:
        # the sample mean has a standard error of std/sqrt(n); allow 6 of them
        allowed = 6.0 * promised / math.sqrt(w.size) + 1e-12
        if not abs(float(np.mean(w)) - check.mean) <= allowed:
            fail(comp, "distribution", data,
                 f"sample mean {np.mean(w):.6g} over {w.size} values, promised mean "
                 f"{check.mean:g} (allowed {allowed:.3g}); the distribution is not centred "
                 f"where the declaration says (U(-b, b), not U(0, b))")
