"""Hypothesis strategies for testing differentiable code, importable by any project.

    from hypothesis import given
    from tinygrad_edu.testing import float_arrays, shapes
    from tinygrad_edu import gradcheck

    @given(float_arrays(shapes(), avoid=(0.0,)))
    def test_relu_backward(x):
        assert gradcheck(my_relu, x)

Numerical gradients are only meaningful where a function is smooth, so the strategies can keep
values away from kinks (``avoid``), away from each other (``distinct``: no ties for max), and
inside a domain (``low``/``high``: log needs x > 0).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes such as (), (3,), (2, 1, 4)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4):
    """``num_shapes`` shapes that broadcast together, e.g. ((3, 1), (4,)), as a tuple."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda result: result.input_shapes)


@st.composite
def float_arrays(draw, shape=None, low=-3.0, high=3.0, avoid=(), margin=1e-2, distinct=False,
                 dtype=np.float64):
    """Float arrays of a drawn (or given) shape with values in [low, high].

    avoid     points to keep at least ``margin`` away from (kinks: relu and abs at 0)
    distinct  every pair of values differs by at least ``margin`` (no ties for max/min/pool)
    ``shape`` may be a tuple or a strategy of tuples.
    """
    if shape is None:
        shape = shapes()
    if not isinstance(shape, tuple):
        shape = draw(shape)
    size = int(np.prod(shape))
    if distinct:
        # a random order of evenly spaced values, each nudged by less than half a gap
        order = np.array(draw(st.permutations(range(size)))) if size else np.zeros(0, int)
        gap = max((high - low) / max(size, 1), 2 * margin)
        nudge = draw(hnp.arrays(np.float64, size, elements=st.floats(-0.25, 0.25)))
        values = low + (order + 0.5 + nudge) * gap
        return _off_points(values, avoid, margin).reshape(shape).astype(dtype)
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
    if avoid:
        elements = elements.filter(lambda v: all(abs(v - p) >= margin for p in avoid))
    return draw(hnp.arrays(np.float64, shape, elements=elements)).astype(dtype)


def seeded_arrays(shape, low=-3.0, high=3.0, avoid=(), margin=1e-2, distinct=False,
                  dtype=np.float64):
    """Like :func:`float_arrays` for a given ``shape``, but hypothesis draws only a seed (and
    whether to use edge values): numpy makes the values. Ten times cheaper for arrays of more
    than a few elements (the conformance suite's budget), at the price of shrinking: a failing
    example is reported as drawn, not minimised.

    One example in four takes its values from ``low``, ``high``, 0 and the midpoint only
    (those not within ``margin`` of an ``avoid`` point), where boundary bugs show.
    """
    shape = tuple(shape)

    def make(drawn):
        seed, edges = drawn
        rng = np.random.default_rng(seed)
        size = int(np.prod(shape))
        if distinct:
            gap = max((high - low) / max(size, 1), 2 * margin)
            values = low + (rng.permutation(size) + 0.5 + rng.uniform(-0.25, 0.25, size)) * gap
        elif edges:
            points = [v for v in (low, high, 0.0, (low + high) / 2) if low <= v <= high
                      and all(abs(v - p) >= margin for p in avoid)]
            values = rng.choice(points, size) if points else rng.uniform(low, high, size)
        else:
            values = rng.uniform(low, high, size)
        return _off_points(values, avoid, margin).reshape(shape).astype(dtype)

    return st.tuples(st.integers(0, 2**32 - 1), st.sampled_from([False, False, False, True])
                     ).map(make)


def _off_points(values, avoid, margin):
    """Shift values that landed within ``margin`` of an avoided point to just outside it."""
    for point in avoid:
        near = np.abs(values - point) < margin
        values = np.where(near, point + np.where(values >= point, margin, -margin), values)
    return values


def positive_arrays(shape=None, low=0.1, high=3.0, dtype=np.float64):
    """Arrays inside the domain of log and sqrt (x > 0, kept away from 0)."""
    return float_arrays(shape, low=low, high=high, dtype=dtype)
