"""Conformance checks of layers."""
from __future__ import annotations

import copy

import numpy as np

from tinygrad_edu.components import Check, Component
from tinygrad_edu.tensor import Parameter, Tensor
from tinygrad_edu.testing.conformance.common import (Recorder, check_gradient,
                                                     check_second_order_gradient, describe_array,
                                                     describe_kwargs, draw_case, fail,
                                                     input_strategy)


def properties(comp: Component) -> list:
    """The (check name, property) pairs of a layer."""
    props = [("gradient", _layer_gradient(comp, comp.check))]
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


def _layer_gradient(comp: Component, check: Check, order: int = 1):
    check_name = "gradient" if order == 1 else "second-order gradient"

    def prop(data: Recorder):
        kwargs, shape = draw_case(data, comp, check)
        x = data.draw(input_strategy(check, shape), label="x")
        data.note(f"layer: {getattr(comp.obj, '__name__', comp.name)}"
                  f"(**{describe_kwargs(kwargs)})")
        data.note(describe_array("x", x))
        saved_random = np.random.get_state()
        try:
            if order == 1:
                _check_layer_dtype(comp, data, kwargs, x)
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


def _check_layer_dtype(comp, data, kwargs, x):
    """With float32 parameters, a float32 input gives a float32 output."""
    layer = (comp.check.build or comp.obj)(**kwargs)
    _float_parameters(layer, np.float32)
    y = layer(Tensor(x.astype(np.float32)))
    if not isinstance(y, Tensor):
        fail(comp, "output", data, f"the layer returned a {type(y).__name__}, not a Tensor")
    if y.dtype != np.float32:
        fail(comp, "dtype", data,
              f"with float32 parameters a float32 input gave a {y.dtype} output; the float "
              f"dtype must be preserved (keep buffers and constants in the input's dtype)")
