"""Conformance checks of activations, and the checks losses share with them.

outputs and gradients  one forward and backward pass in float64 and one in float32: output a
                       Tensor of the input's shape (a loss: 0-d) and dtype, a gradient of x's
                       shape and dtype, x (and a loss's targets) unchanged by both; float32
                       output and gradient equal to float64's within float32 precision; the
                       float64 output equal to ``Check.reference`` when declared
gradient               gradcheck of ``f(x, **kwargs)`` in float64 w.r.t. x
large inputs           (``Check.large``) inputs scaled to that magnitude give finite outputs
                       and gradients, in both dtypes
second-order gradient  gradgradcheck, when ``Check.second_order``
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu.components import Check, Component
from tinygrad_edu.testing.conformance.common import (Recorder, check_gradient,
                                                     check_second_order_gradient, describe_array,
                                                     describe_kwargs, draw_case, fail,
                                                     input_strategy)
from tinygrad_edu.testing.conformance.outputs import (check_reference, compare_dtypes,
                                                      forward_backward)


def properties(comp: Component) -> list:
    """The (check name, property) pairs of an activation or a loss."""
    check = comp.check or Check()
    props = [("outputs and gradients", _function_outputs(comp, check)),
             ("gradient", _function_gradient(comp, check))]
    if check.large is not None:
        props.append(("large inputs", _function_large_inputs(comp, check)))
    if check.second_order:
        props.append(("second-order gradient", _function_gradient(comp, check, order=2)))
    return props


def draw_call(data: Recorder, comp: Component, check: Check):
    """(x, kwargs) for one call, noted in the report. A loss without ``cases`` gets a target
    ``t`` drawn like ``x``."""
    kwargs, shape = draw_case(data, comp, check)
    x = data.draw(input_strategy(check, shape), label="x")
    if comp.kind == "loss" and check.cases is None:
        kwargs = {"t": data.draw(input_strategy(check, shape), label="t")}
    data.note(f"call: {comp.name}(x, **{describe_kwargs(kwargs)})")
    data.note(describe_array("x", x))
    return x, kwargs


def _function_gradient(comp: Component, check: Check, order: int = 1):
    """gradcheck (or gradgradcheck) of an activation ``f(x, **kwargs)`` or a loss
    ``loss(y, **kwargs)`` (a loss's kwargs hold its targets ``t``)."""
    check_name = "gradient" if order == 1 else "second-order gradient"

    def prop(data: Recorder):
        x, kwargs = draw_call(data, comp, check)

        def fn(x):
            return comp.obj(x, **kwargs)

        if order == 1:
            check_gradient(comp, check_name, data, fn, [x], ["x"], check.atol, check.rtol)
        else:
            check_second_order_gradient(comp, check_name, data, fn, [x], ["x"], check.atol,
                                        check.rtol)
    return prop


def _constants(kwargs) -> list:
    return [(f"argument {key}", value) for key, value in kwargs.items()
            if isinstance(value, np.ndarray)]


def _function_outputs(comp: Component, check: Check):
    def prop(data: Recorder):
        x, kwargs = draw_call(data, comp, check)
        shape = () if comp.kind == "loss" else x.shape

        def fn(x):
            return comp.obj(x, **kwargs)

        passes = [forward_backward(comp, "outputs and gradients", data, fn, x, [], dtype,
                                   output_shape=shape, constants=_constants(kwargs))
                  for dtype in (np.float64, np.float32)]
        compare_dtypes(comp, data, passes[1], passes[0])
        if check.reference is not None:
            check_reference(comp, data, check.reference, x, kwargs, passes[0].output)
    return prop


def _function_large_inputs(comp: Component, check: Check):
    def prop(data: Recorder):
        x, kwargs = draw_call(data, comp, check)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak == 0.0:
            return
        large = (x / peak) * check.large  # x / peak first: check.large / 1e-308 overflows
        data.note(f"scaled so that max |x| = {check.large:g}")
        for dtype in (np.float64, np.float32):
            result = forward_backward(comp, "large inputs", data,
                                      lambda v: comp.obj(v, **kwargs), large, [], dtype)
            for name, array in [("output", result.output)] + [
                    (f"gradient of {n}", g) for n, g in result.grads.items()]:
                if not np.all(np.isfinite(array)):
                    fail(comp, "large inputs", data,
                         f"{np.dtype(dtype).name}: the {name} is not finite for inputs up to "
                         f"{check.large:g} in magnitude (declared Check.large); exp() "
                         f"overflows - subtract the maximum first")
    return prop
