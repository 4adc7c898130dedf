"""The standard activation functions, registered through the ``register_activations`` hook.

Each function takes a Tensor (or anything ``Tensor()`` accepts) and returns a Tensor of the same
shape and float dtype. The docstrings give the formula ``y = f(x)`` and the derivative that the
backward pass multiplies the incoming gradient by.

Functions whose backward needs the *output* (sigmoid: y(1-y), softmax) are their own
:class:`Function`, written with Tensor operations so that gradients of gradients work too
(``create_graph=True``). The others are compositions of core operations.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_edu.autograd import is_grad_enabled
from tinygrad_edu.components import Check, Component
from tinygrad_edu.function import Function
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.tensor import as_tensor

__all__ = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "swish", "softmax",
           "log_softmax", "identity", "Sigmoid", "ReLU", "LeakyReLU", "ELU", "Softmax",
           "LogSoftmax"]


def _check_axis(name, x, axis):
    if x.ndim == 0:
        raise ValueError(f"{name}: needs at least one dimension to normalise over, got a scalar")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for an input of shape {x.shape}")


# ---- the Functions ------------------------------------------------------------------------------


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y)

    Computed without overflow for any x as y = exp(min(x, 0)) / (1 + exp(-|x|)): that is
    1 / (1 + exp(-x)) for x >= 0 and exp(x) / (1 + exp(x)) for x < 0, and no exp argument is
    positive. (Branch-free: np.where over a random sign pattern is 3x slower here.)
    """

    def forward(self, x):
        return np.exp(np.minimum(x, 0)) / (1.0 + np.exp(-np.abs(x)))

    def backward(self, gy):
        y = self.output
        return gy * y * (1.0 - y)


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 for x > 0, 0 for x < 0 (and 0 at x = 0, like the book)"""

    def forward(self, x):
        if is_grad_enabled():        # the mask is for backward: inference (no_grad) skips it
            self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, gy):
        return gy * self.mask


class LeakyReLU(Function):
    """y = x for x > 0, a x otherwise;  dy/dx = 1 for x > 0, a otherwise (a = negative_slope)"""

    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        # the local slope: 1 where x > 0, negative_slope elsewhere (arithmetic, not np.where,
        # which is slow on a random sign pattern)
        a = np.asarray(self.negative_slope, dtype=x.dtype)
        self.slope = (x > 0) * (1 - a) + a
        return x * self.slope

    def backward(self, gy):
        return gy * self.slope


class ELU(Function):
    """y = x for x > 0, alpha (exp(x) - 1) otherwise;
    dy/dx = 1 for x > 0, alpha exp(x) = y + alpha otherwise"""

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, x):
        self.negative = (x <= 0).astype(x.dtype)
        # max(x, 0) + alpha (exp(min(x, 0)) - 1): exp only ever sees x <= 0, so no overflow
        return np.maximum(x, 0) + self.alpha * np.expm1(np.minimum(x, 0))

    def backward(self, gy):
        # dy/dx = 1 + [x <= 0] (y + alpha - 1), written with the output Tensor y so that the
        # backward is differentiable again
        return gy * ((self.output + (self.alpha - 1.0)) * self.negative + 1.0)


class Softmax(Function):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``axis``;
    dL/dx_i = y_i (g_i - sum_j g_j y_j)   (g = dL/dy)

    The maximum is subtracted before exp, so no exp overflows (softmax is unchanged by a shift).
    """

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.output
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """y_i = x_i - log sum_j exp(x_j) along ``axis`` (log-sum-exp with the maximum m taken out:
    log sum_j exp(x_j) = m + log sum_j exp(x_j - m));
    dL/dx_i = g_i - softmax(x)_i sum_j g_j   (softmax(x) = exp(y))"""

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        return gy - self.output.exp() * gy.sum(axis=self.axis, keepdims=True)


# ---- the functions ------------------------------------------------------------------------------


def sigmoid(x):
    """Sigmoid: y = 1 / (1 + exp(-x)), dy/dx = y (1 - y). Never overflows."""
    return Sigmoid()(as_tensor(x))


def tanh(x):
    """Hyperbolic tangent: y = tanh(x), dy/dx = 1 - y**2."""
    return as_tensor(x).tanh()


def relu(x):
    """Rectified linear unit: y = max(x, 0), dy/dx = 1 for x > 0 else 0."""
    return ReLU()(as_tensor(x))


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU: y = x for x > 0 else negative_slope * x; dy/dx = 1 or negative_slope."""
    return LeakyReLU(negative_slope)(as_tensor(x))


def elu(x, alpha=1.0):
    """Exponential linear unit: y = x for x > 0 else alpha (exp(x) - 1);
    dy/dx = 1 for x > 0 else alpha exp(x)."""
    return ELU(alpha)(as_tensor(x))


_GELU_C = math.sqrt(2.0 / math.pi)


def gelu(x):
    """GELU, tanh approximation (Hendrycks & Gimpel; used by BERT and GPT-2):
    y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x**3);
    dy/dx = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)**2) sqrt(2/pi) (1 + 3 * 0.044715 x**2).

    This is not the exact erf form x * Phi(x); the two differ by less than 1e-3 everywhere.
    Built from core operations, so every derivative order is available.
    """
    x = as_tensor(x)
    u = (x + 0.044715 * x * x * x) * _GELU_C
    return 0.5 * x * (1.0 + u.tanh())


def silu(x):
    """SiLU / swish: y = x sigmoid(x);  dy/dx = s + x s (1 - s) with s = sigmoid(x)."""
    x = as_tensor(x)
    return x * sigmoid(x)


swish = silu


def softmax(x, axis=-1):
    """Softmax along ``axis``: y_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j;
    dL/dx_i = y_i (g_i - sum_j g_j y_j). Finite for any finite input."""
    x = as_tensor(x)
    _check_axis("softmax", x, axis)
    return Softmax(axis)(x)


def log_softmax(x, axis=-1):
    """log(softmax(x)) along ``axis``, computed stably as x - m - log sum_j exp(x_j - m);
    dL/dx_i = g_i - softmax(x)_i sum_j g_j."""
    x = as_tensor(x)
    _check_axis("log_softmax", x, axis)
    return LogSoftmax(axis)(x)


def identity(x):
    """Identity: y = x, dy/dx = 1 (the book's output activation for regression)."""
    return as_tensor(x)


# ---- registration -------------------------------------------------------------------------------


def _shape_strategy(st, min_ndim=1, max_ndim=3, max_side=4):
    return st.lists(st.integers(1, max_side), min_size=min_ndim, max_size=max_ndim).map(tuple)


def _axis_cases(st):
    """(kwargs, shape) with an axis valid for the shape, for softmax / log_softmax."""
    return _shape_strategy(st).flatmap(
        lambda shape: st.tuples(
            st.fixed_dictionaries({"axis": st.integers(-len(shape), len(shape) - 1)}),
            st.just(shape)))


def _kwarg_cases(st, name, values):
    return st.tuples(st.fixed_dictionaries({name: values}), _shape_strategy(st))


@hookimpl
def register_activations():
    return [
        Component("sigmoid", sigmoid, check=Check(domain=(-8.0, 8.0))),
        Component("tanh", tanh, check=Check(domain=(-4.0, 4.0))),
        # piecewise linear: the second derivative is 0, there is nothing for gradgradcheck to see
        Component("relu", relu, check=Check(avoid=(0.0,), second_order=False)),
        Component("leaky_relu", leaky_relu, check=Check(
            avoid=(0.0,), second_order=False,
            cases=lambda st: _kwarg_cases(st, "negative_slope", st.floats(0.0, 0.5)))),
        Component("elu", elu, check=Check(
            avoid=(0.0,),
            cases=lambda st: _kwarg_cases(st, "alpha", st.floats(0.1, 2.0)))),
        Component("gelu", gelu, check=Check(domain=(-4.0, 4.0))),
        Component("silu", silu, aliases=("swish",), check=Check(domain=(-6.0, 6.0))),
        Component("softmax", softmax, check=Check(domain=(-5.0, 5.0), cases=_axis_cases,
                                                  large=1e4)),
        Component("log_softmax", log_softmax,
                  check=Check(domain=(-5.0, 5.0), cases=_axis_cases, large=1e4)),
        Component("identity", identity, check=Check(second_order=False)),
    ]
