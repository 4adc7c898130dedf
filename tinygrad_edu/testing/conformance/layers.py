"""Conformance checks of layers.

registered parameters  every Tensor a freshly built layer keeps (its sub-layers' too) is a
                       Parameter: anything else is invisible to parameters(), so never trained
                       (constants are numpy buffers: ``register_buffer``)
outputs and gradients  per mode, one forward and backward pass in float64 and one in float32
                       (copies of the same layer): output of the input's dtype; a gradient for
                       the input and every parameter, of its shape and dtype; input and
                       parameters unchanged by both; float32 output and gradients equal to
                       float64's within float32 precision (in train mode only for a layer
                       that is not random there: Dropout draws its numbers per dtype)
gradient               gradcheck in float64 w.r.t. the input and every parameter, in train mode
                       and in eval mode when that computes something else
second-order gradient  gradgradcheck, when ``Check.second_order``
"""
from __future__ import annotations

import copy

import numpy as np

from tinygrad_edu.components import Check, Component
from tinygrad_edu.tensor import Parameter, Tensor
from tinygrad_edu.testing.conformance.common import (ConformanceError, Recorder, check_gradient,
                                                     check_second_order_gradient, describe_array,
                                                     describe_kwargs, draw_case, fail,
                                                     input_strategy)
from tinygrad_edu.testing.conformance.outputs import (compare_dtypes, forward_backward,
                                                      unregistered_tensors)


def properties(comp: Component) -> list:
    """The (check name, property) pairs of a layer."""
    props = [("registered parameters", _layer_parameters(comp, comp.check)),
             ("outputs and gradients", _layer_outputs(comp, comp.check)),
             ("gradient", _layer_gradient(comp, comp.check))]
    if comp.check.second_order:
        props.append(("second-order gradient", _layer_gradient(comp, comp.check, order=2)))
    return props


def _float_parameters(layer, dtype) -> list[tuple[str, Parameter]]:
    """Convert the layer's parameters to ``dtype`` in place; return them with their names."""
    named = layer.named_parameters() if hasattr(layer, "named_parameters") else []
    for _, p in named:
        p.data = p.data.astype(dtype)
        p.grad = None
    return named


class _FrozenLayer:
    """Calls a layer so that every call computes the same function of (x, parameters): each call
    runs a fresh copy of the pristine layer (its generator state, its caches) that shares the
    Parameters, starting from the same global numpy random state."""

    _SEED = 20240601

    def __init__(self, layer, params):
        self.params = params
        pristine = self._copy(layer)
        self.copies = pristine is not None
        self.layer = pristine if self.copies else layer

    def _copy(self, layer):
        try:
            return copy.deepcopy(layer, {id(p): p for p in self.params})
        except Exception:   # something in the layer cannot be copied: call it as it is
            return None

    def __call__(self, x, *params):
        layer = self._copy(self.layer) if self.copies else None
        if layer is None:
            layer = self.layer
        np.random.seed(self._SEED)
        return layer(x)


def _draw_layer_case(data: Recorder, comp: Component, check: Check):
    kwargs, shape = draw_case(data, comp, check)
    x = data.draw(input_strategy(check, shape), label="x")
    data.note(f"layer: {getattr(comp.obj, '__name__', comp.name)}(**{describe_kwargs(kwargs)})")
    data.note(describe_array("x", x))
    return kwargs, x


def _layer_parameters(comp: Component, check: Check):
    def prop(data: Recorder):
        kwargs, _ = draw_case(data, comp, check)
        data.note(f"layer: {getattr(comp.obj, '__name__', comp.name)}(**{describe_kwargs(kwargs)})")
        layer = (check.build or comp.obj)(**kwargs)
        hidden = unregistered_tensors(layer)
        if hidden:
            fail(comp, "registered parameters", data,
                 f"the layer keeps {', '.join(repr(n) for n in hidden)} as a Tensor that is not "
                 f"a Parameter: parameters() does not list it, so no optimizer trains it. Make "
                 f"it a Parameter (learned) or a numpy buffer with register_buffer (not learned)")
    return prop


def _layer_outputs(comp: Component, check: Check):
    def prop(data: Recorder):
        kwargs, x = _draw_layer_case(data, comp, check)
        saved_random = np.random.get_state()
        try:
            pristine = (check.build or comp.obj)(**kwargs)
            for mode in ("train", "eval") if hasattr(pristine, "eval") else ("train",):
                data.note(f"mode: {mode}")
                passes = []
                for dtype in (np.float64, np.float32):
                    layer = _copy_or_rebuild(pristine, check.build or comp.obj, kwargs)
                    if hasattr(layer, mode):
                        getattr(layer, mode)()
                    named = _float_parameters(layer, dtype)
                    np.random.seed(_FrozenLayer._SEED)
                    passes.append(forward_backward(comp, "outputs and gradients", data, layer,
                                                   x, named, dtype))
                try:
                    compare_dtypes(comp, data, passes[1], passes[0])
                except ConformanceError:
                    if not (mode == "train" and _draws_at_random(pristine, x)):
                        raise
                data.lines.pop()
        finally:
            np.random.set_state(saved_random)
    return prop


def _draws_at_random(layer, x, calls: int = 100) -> bool:
    """Whether repeated calls of the layer in train mode give different outputs (Dropout): its
    random numbers then depend on the dtype, and float32 is not compared with float64."""
    try:
        layer = copy.deepcopy(layer).train() if hasattr(layer, "train") else layer
        probe = np.random.default_rng(0).standard_normal(x.shape)   # x itself may be zeros
        first = layer(Tensor(probe)).data
        return any(not np.array_equal(first, layer(Tensor(probe)).data) for _ in range(calls))
    except Exception:
        return False


def _copy_or_rebuild(layer, build, kwargs):
    """A copy of ``layer`` (its weights, its random generator), or, if it cannot be copied,
    one built again from the same global random state."""
    try:
        return copy.deepcopy(layer)
    except Exception:
        np.random.seed(_FrozenLayer._SEED)
        return build(**kwargs)


def _layer_gradient(comp: Component, check: Check, order: int = 1):
    check_name = "gradient" if order == 1 else "second-order gradient"

    def prop(data: Recorder):
        kwargs, x = _draw_layer_case(data, comp, check)
        saved_random = np.random.get_state()
        try:
            layer = (check.build or comp.obj)(**kwargs)
            named = _float_parameters(layer, np.float64)
            params = [p for _, p in named]
            names = ["input x"] + [f"parameter {n!r}" for n, _ in named]
            data.note("parameters: " + (", ".join(f"{n} {p.shape}" for n, p in named) or "none"))
            frozen_train = _FrozenLayer(layer.train() if hasattr(layer, "train") else layer,
                                        params)
            modes = [("train", frozen_train)]
            if hasattr(layer, "eval"):
                frozen_eval = _FrozenLayer(layer.eval(), params)
                y_train = frozen_train(Tensor(x))
                y_eval = frozen_eval(Tensor(x))
                if y_train.shape != y_eval.shape or not np.array_equal(y_train.data, y_eval.data):
                    modes.append(("eval", frozen_eval))
            for mode, fn in modes:
                data.note(f"mode: {mode}")
                inputs = [Tensor(x, requires_grad=True), *params]
                if order == 1:
                    check_gradient(comp, check_name, data, fn, inputs, names, check.atol, check.rtol)
                else:
                    check_second_order_gradient(comp, check_name, data, fn, inputs, names, check.atol,
                                   check.rtol)
                data.lines.pop()
        finally:
            np.random.set_state(saved_random)
    return prop
