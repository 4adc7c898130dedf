"""Conformance checks of activations (and the gradient check losses share with them)."""
from __future__ import annotations

import numpy as np

from tinygrad_edu.components import Check, Component
from tinygrad_edu.tensor import Tensor
from tinygrad_edu.testing.conformance.common import (Recorder, check_gradient,
                                                     check_second_order_gradient, describe_array,
                                                     describe_kwargs, draw_case, fail,
                                                     input_strategy)


def properties(comp: Component) -> list:
    """The (check name, property) pairs of an activation or a loss."""
    check = comp.check or Check()
    props = [("gradient", _function_gradient(comp, check))]
    if check.second_order:
        props.append(("second-order gradient", _function_gradient(comp, check, order=2)))
    return props


def _function_gradient(comp: Component, check: Check, order: int = 1):
    """gradcheck (or gradgradcheck) of an activation ``f(x, **kwargs)`` or a loss
    ``loss(y, **kwargs)`` (a loss's kwargs hold its targets ``t``)."""
    is_loss = comp.kind == "loss"
    check_name = "gradient" if order == 1 else "second-order gradient"

    def prop(data: Recorder):
        kwargs, shape = draw_case(data, comp, check)
        x = data.draw(input_strategy(check, shape), label="x")
        if is_loss and check.cases is None:
            kwargs = {"t": data.draw(input_strategy(check, shape), label="t")}
        data.note(f"call: {comp.name}(x, **{describe_kwargs(kwargs)})")
        data.note(describe_array("x", x))

        def fn(x):
            return comp.obj(x, **kwargs)

        if order == 1:
            _check_output(comp, data, fn, x, is_loss)
            check_gradient(comp, check_name, data, fn, [x], ["x"], check.atol, check.rtol)
        else:
            check_second_order_gradient(comp, check_name, data, fn, [x], ["x"], check.atol, check.rtol)
    return prop


def _check_output(comp, data, fn, x, is_loss):
    """Output type and shape, and float32 in -> float32 out."""
    for dtype in (np.float64, np.float32):
        y = fn(Tensor(x.astype(dtype)))
        if not isinstance(y, Tensor):
            fail(comp, "output", data, f"returned a {type(y).__name__}, not a Tensor")
        expected = () if is_loss else x.shape
        if y.shape != expected:
            what = "a loss must return a 0-d Tensor (the mean over the batch)" if is_loss \
                else "an activation returns a Tensor of its input's shape"
            fail(comp, "output", data, f"returned shape {y.shape} for a {dtype.__name__} "
                                        f"input of shape {x.shape}; {what}")
        if y.dtype != dtype:
            fail(comp, "dtype", data,
                  f"a {np.dtype(dtype).name} input gave a {y.dtype} output; the float dtype "
                  f"must be preserved (constants take the tensor's dtype: x * 2.0 stays "
                  f"float32)")
