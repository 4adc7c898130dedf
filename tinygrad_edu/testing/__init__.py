"""Testing tools for tinygrad_edu and its plugins: hypothesis strategies and the conformance suite.

    from tinygrad_edu.testing import float_arrays, shapes          # strategies
    from tinygrad_edu.testing import check_component, run_checks   # the conformance suite
    from tinygrad_edu.testing import conformance_tests             # one-line pytest tests

    test_my_plugin = conformance_tests("mish", "lion")             # in a test module

Requires the test extra (``pip install tinygrad-edu[test]``), since it uses hypothesis. The names
are imported lazily, on first use: this package is also the home of the pytest plugin that every
pytest run loads, and that plugin must work (and cost nothing) where hypothesis is missing.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "broadcastable_shapes": "strategies",
    "float_arrays": "strategies",
    "positive_arrays": "strategies",
    "shapes": "strategies",
    "ConformanceError": "conformance",
    "CheckResult": "conformance",
    "check_component": "conformance",
    "run_checks": "conformance",
    "resolve": "conformance",
    "conformance_tests": "pytest_plugin",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value   # found once, then an ordinary attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
