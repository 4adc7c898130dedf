"""Every output of a differentiable component (activation, loss, layer), not just the first.

:func:`forward_backward` runs one forward and one backward pass in one float dtype and checks
what each pass must give: a Tensor output of that dtype (and the expected shape), a gradient
for the input and for every parameter with the shape and dtype of what it is the gradient of,
and inputs, targets and parameters left as they were (by forward and by backward).
:func:`compare_dtypes` then holds the float32 pass to the float64 one, output and every
gradient, value by value; the float64 gradients themselves are held to central differences
by the "gradient" check. :func:`unregistered_tensors` finds tensors a layer keeps that the
optimizer would never see.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygrad_edu.components import Component
from tinygrad_edu.tensor import Parameter, Tensor
from tinygrad_edu.testing.conformance.common import Recorder, fail

# float32 against float64: the largest difference allowed, relative to the largest magnitude
FLOAT32_TOLERANCE = 2e-3


@dataclass
class Pass:
    """What one forward and backward pass gave: the output and the gradients by name
    (``"input x"``, ``"parameter 'W'"``), as float64 arrays."""

    output: np.ndarray
    grads: dict


def forward_backward(comp: Component, check_name: str, data: Recorder, fn, x: np.ndarray,
                     named_params, dtype, *, output_shape=None, constants=(),
                     upstream_seed: int = 0) -> Pass:
    """``fn(Tensor(x))`` in ``dtype`` (``named_params`` already converted to it), then backward
    with a random upstream gradient. ``constants`` are further (name, array) pairs the call
    reads (a loss's targets) that must not change either."""
    dtype = np.dtype(dtype)
    what = f"{dtype.name} pass"
    x_array = np.array(x, dtype=dtype)
    watched = [("input x", x_array)] + [(f"parameter {n!r}", p.data) for n, p in named_params] \
        + [(name, np.asarray(a)) for name, a in constants]
    before = [(name, array, array.copy()) for name, array in watched]
    x_tensor = Tensor(x_array, requires_grad=True)
    y = fn(x_tensor)
    if not isinstance(y, Tensor):
        fail(comp, "output", data, f"returned a {type(y).__name__}, not a Tensor")
    if y.dtype != dtype:
        fail(comp, "dtype", data,
             f"a {dtype.name} input gave a {y.dtype} output (parameters {dtype.name} too); the "
             f"float dtype must be preserved (constants take the tensor's dtype: x * 2.0 stays "
             f"float32)")
    if output_shape is not None and y.shape != tuple(output_shape):
        fail(comp, "output", data, f"returned shape {y.shape} for a {dtype.name} input of shape "
                                   f"{x_array.shape}; expected {tuple(output_shape)}")
    _unchanged(comp, data, before, x_tensor, "forward", what)
    output = np.array(y.data, dtype=np.float64)
    upstream = np.random.default_rng(upstream_seed).standard_normal(y.shape).astype(dtype)
    y.backward(Tensor(upstream))
    _unchanged(comp, data, before, x_tensor, "backward", what)
    grads = {}
    for name, tensor in [("input x", x_tensor)] + [(f"parameter {n!r}", p)
                                                   for n, p in named_params]:
        g = tensor.grad
        if g is None:
            fail(comp, "gradients", data,
                 f"{what}: no gradient reached {name} after backward (its .grad is None); "
                 f"every input and parameter the output depends on must get one")
        g_array = g.data if isinstance(g, Tensor) else np.asarray(g)
        if g_array.shape != tensor.shape:
            fail(comp, "gradients", data, f"{what}: the gradient of {name} has shape "
                                          f"{g_array.shape}, {name} has shape {tensor.shape}")
        if g_array.dtype != dtype:
            fail(comp, "dtype", data,
                 f"{what}: the gradient of {name} is {g_array.dtype}, not {dtype.name}; a "
                 f"backward keeps the dtype of what it differentiates (cast the numpy result, "
                 f"or keep its constants in that dtype)")
        grads[name] = np.array(g_array, dtype=np.float64)
    return Pass(output, grads)


def _unchanged(comp, data, before, x_tensor, stage: str, what: str) -> None:
    for name, array, copy in before:
        current = x_tensor.data if name == "input x" else array
        if current.shape != copy.shape or not np.array_equal(current, copy, equal_nan=True):
            fail(comp, "inputs unchanged", data,
                 f"{what}: {stage} changed {name} in place; a component computes new arrays "
                 f"and never writes into what it is given (the caller still uses it)")


def compare_dtypes(comp: Component, data: Recorder, single: Pass, double: Pass) -> None:
    """The float32 pass agrees with the float64 pass: output and every gradient."""
    pairs = [("output", single.output, double.output)]
    pairs += [(f"gradient of {name}", single.grads[name], double.grads[name])
              for name in double.grads]
    for name, low, high in pairs:
        if low.shape != high.shape:
            fail(comp, "float32 values", data,
                 f"the {name} has shape {low.shape} in float32 and {high.shape} in float64")
        scale = max(1.0, float(np.max(np.abs(high)))) if high.size else 1.0
        with np.errstate(invalid="ignore"):
            difference = np.abs(low - high)
        if high.size and not np.all(difference <= FLOAT32_TOLERANCE * scale):
            worst = np.unravel_index(np.nanargmax(np.where(np.isnan(difference), np.inf,
                                                           difference)), high.shape)
            fail(comp, "float32 values", data,
                 f"the {name} in float32 differs from float64 at index "
                 f"{tuple(int(i) for i in worst)}: {low[worst]:.8g} against {high[worst]:.8g} "
                 f"(allowed {FLOAT32_TOLERANCE:g} x {scale:.3g}); the float32 computation is "
                 f"not the same formula, or loses precision (overflow, cancellation)")


def check_reference(comp: Component, data: Recorder, reference, x, kwargs, output) -> None:
    """The float64 output equals ``reference(x, **kwargs)`` (the declared numpy formula)."""
    expected = np.asarray(reference(np.array(x, dtype=np.float64), **kwargs), dtype=np.float64)
    if expected.shape != output.shape or not np.allclose(output, expected, rtol=1e-6,
                                                         atol=1e-9):
        if expected.shape != output.shape:
            problem = f"shape {output.shape}, the reference gives shape {expected.shape}"
        else:
            worst = np.unravel_index(np.argmax(np.abs(output - expected)), output.shape)
            problem = (f"{output[worst]:.10g} at index {tuple(int(i) for i in worst)}, the "
                       f"reference gives {expected[worst]:.10g}")
        fail(comp, "reference values", data,
             f"the float64 output does not match the declared Check.reference: {problem}")


def unregistered_tensors(layer) -> list[str]:
    """Dotted names of the Tensors a layer (or a sub-layer) keeps that are not Parameters:
    parameters() does not list them, so no optimizer ever updates them."""
    found, seen = [], set()

    def visit(value, name):
        if id(value) in seen:
            return
        if isinstance(value, Tensor):
            if not isinstance(value, Parameter):
                found.append(name)
            return
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(item, f"{name}.{i}")
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{name}.{key}")
        elif hasattr(value, "__dict__") and hasattr(value, "named_parameters"):
            seen.add(id(value))
            for key, item in vars(value).items():
                visit(item, f"{name}.{key}" if name else key)

    visit(layer, "")
    return found
