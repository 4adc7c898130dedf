"""Testing tools for tinygrad_edu and its plugins: hypothesis strategies and the conformance suite.

Requires the test extra (``pip install tinygrad-edu[test]``), since it uses hypothesis.
"""
from tinygrad_edu.testing.strategies import (broadcastable_shapes, float_arrays, positive_arrays,
                                             shapes)

__all__ = ["broadcastable_shapes", "float_arrays", "positive_arrays", "shapes"]
