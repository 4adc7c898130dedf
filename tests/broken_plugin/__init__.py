"""A deliberately broken tinygrad_edu plugin: it loads fine, but each component has one bug that
the conformance suite must catch (tests/test_conformance.py registers it at run time).

Every name starts with ``broken_`` so that it never clashes with a real component.

========================  =========================================================  ===================
component                 the bug                                                    caught by
========================  =========================================================  ===================
broken_softplus           backward multiplies by 2 sigmoid(x) instead of sigmoid(x)   gradient
broken_numpy_tanh         backward computed with numpy, but declared second order     second-order gradient
broken_double             a float64 constant turns float32 inputs into float64        dtype
broken_mse                backward forgets the factor 2 of d/dy (y - t)**2            gradient
broken_affine             the bias gradient is the batch mean instead of the sum      gradient (parameter)
broken_dropout            in training, backward ignores the mask                     gradient (train mode)
broken_sgd                step() ignores the learning rate                           first step
broken_momentum           keeps its velocity outside ``state``: lost by state_dict   state_dict round trip
broken_out_of_place_sgd   replaces ``p.data`` instead of updating it in place         in-place update
broken_he                 std √(1/fan_in) while promising √(2/fan_in)                 distribution
========================  =========================================================  ===================
"""
import math

import numpy as np

from tinygrad_edu.components import Check, Component, InitializerCheck, OptimizerCheck
from tinygrad_edu.function import Function
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.module import Module
from tinygrad_edu.optimizer import Optimizer
from tinygrad_edu.tensor import Parameter, Tensor, as_tensor


# ---- activations -------------------------------------------------------------------------------


class _BrokenSoftplus(Function):
    """y = log(1 + exp(x)); dy/dx = sigmoid(x) -- but backward returns 2 sigmoid(x)."""

    def forward(self, x):
        return np.logaddexp(0.0, x).astype(x.dtype, copy=False)

    def backward(self, gy):
        x, = self.inputs
        sigmoid = 0.5 * ((x * 0.5).tanh() + 1.0)
        return gy * 2.0 * sigmoid          # BUG: the factor 2


def broken_softplus(x):
    """softplus with a wrong factor in its backward."""
    return _BrokenSoftplus()(as_tensor(x))


class _NumpyTanh(Function):
    """y = tanh(x), dy/dx = 1 - y**2, computed with numpy in backward (not differentiable again)."""

    def forward(self, x):
        return np.tanh(x)

    def backward(self, gy):
        y = self.output.data
        return Tensor(gy.data * (1.0 - y * y))   # fine for first order, invisible to create_graph


def broken_numpy_tanh(x):
    """tanh whose backward is plain numpy, yet the declaration says second_order=True."""
    return _NumpyTanh()(as_tensor(x))


def broken_double(x):
    """y = 2 x, with the 2 as a float64 Tensor: a float32 x gives a float64 y."""
    return as_tensor(x) * Tensor(np.array(2.0))   # BUG: should be a Python float


# ---- loss --------------------------------------------------------------------------------------


class _BrokenMSE(Function):
    """L = mean((y - t)**2); dL/dy = 2 (y - t) / n -- but backward forgets the 2."""

    def __init__(self, t):
        self.t = t

    def forward(self, y):
        self.diff = y - self.t.astype(y.dtype)   # keeps float32 float32: only the 2 is wrong
        return np.asarray(np.mean(self.diff ** 2), dtype=y.dtype)

    def backward(self, gy):
        return gy * Tensor(self.diff / self.diff.size)    # BUG: 2 * diff / n


def broken_mse(y, t):
    """mean squared error with the factor 2 missing from the gradient."""
    return _BrokenMSE(np.asarray(t, dtype=np.float64))(as_tensor(y))


# ---- layers ------------------------------------------------------------------------------------


class _AffineOp(Function):
    """y = x W + b; dL/dx = g W^T, dL/dW = x^T g, dL/db = sum_n g -- but backward returns the
    batch mean of g for b."""

    def forward(self, x, W, b):
        return x @ W + b

    def backward(self, gy):
        x, W, b = self.inputs
        return gy @ W.T, x.T @ gy, gy.mean(axis=0)          # BUG: sum, not mean


class BrokenAffine(Module):
    """Affine layer y = x W + b whose bias gradient is wrong."""

    def __init__(self, in_features, out_features, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.W = Parameter(rng.standard_normal((in_features, out_features)))
        self.b = Parameter(rng.standard_normal(out_features))

    def forward(self, x):
        return _AffineOp()(as_tensor(x), self.W, self.b)


class _MaskedScale(Function):
    """y = x mask / (1 - p); dL/dx = g mask / (1 - p) -- but backward drops the mask."""

    def __init__(self, mask, p):
        self.mask, self.p = mask, p

    def forward(self, x):
        return x * self.mask / (1.0 - self.p)

    def backward(self, gy):
        return gy / (1.0 - self.p)                            # BUG: times mask


class BrokenDropout(Module):
    """Inverted dropout whose training-mode backward ignores the mask."""

    def __init__(self, p=0.5, seed=0):
        super().__init__()
        self.p = p
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        x = as_tensor(x)
        if not self.training:
            return x
        mask = self.rng.random(x.shape) > self.p
        return _MaskedScale(mask, self.p)(x)


# ---- optimizers --------------------------------------------------------------------------------


class BrokenSGD(Optimizer):
    """p <- p - lr g -- but step() ignores lr."""

    def __init__(self, params, lr=0.01, weight_decay=0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay)

    def update_one(self, param, grad, state):
        param.data -= grad                                    # BUG: lr * grad


class BrokenMomentum(Optimizer):
    """v <- m v - lr g; p <- p + v -- but v lives in a private dict, not in ``state``."""

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
        self._velocity = {}                                   # BUG: invisible to state_dict()

    def update_one(self, param, grad, state):
        v = self._velocity.setdefault(id(param), np.zeros_like(param.data))
        v *= self.momentum
        v -= self.lr * grad
        param.data += v


class BrokenOutOfPlaceSGD(Optimizer):
    """p <- p - lr g -- but as a new array, so arrays shared with p never see the update."""

    def __init__(self, params, lr=0.01, weight_decay=0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay)

    def update_one(self, param, grad, state):
        param.data = param.data - self.lr * grad              # BUG: not in place


def _sgd_first(p, g, lr, weight_decay=0.0, momentum=None):
    return p - lr * (g + weight_decay * p)


# ---- initializer -------------------------------------------------------------------------------


def broken_he(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
    """Promises He's std √(2/fan_in) but draws with √(1/fan_in)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return (rng.standard_normal(shape) * math.sqrt(1.0 / fan_in)).astype(dtype)   # BUG


# ---- registration ------------------------------------------------------------------------------


def _affine_cases(st):
    return st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 3)).map(
        lambda s: ({"in_features": s[0], "out_features": s[1]}, (s[2], s[0])))


def _dropout_cases(st):
    return st.tuples(
        st.fixed_dictionaries({"p": st.floats(0.3, 0.7), "seed": st.integers(0, 99)}),
        st.lists(st.integers(2, 4), min_size=2, max_size=2).map(tuple))


@hookimpl
def register_activations():
    return [
        Component("broken_softplus", broken_softplus, check=Check(domain=(-4.0, 4.0))),
        Component("broken_numpy_tanh", broken_numpy_tanh, check=Check(second_order=True)),
        Component("broken_double", broken_double, check=Check(second_order=False)),
    ]


@hookimpl
def register_losses():
    return [Component("broken_mse", broken_mse)]


@hookimpl
def register_layers():
    return [
        Component("broken_affine", BrokenAffine, check=Check(cases=_affine_cases)),
        Component("broken_dropout", BrokenDropout,
                  check=Check(cases=_dropout_cases, second_order=False)),
    ]


@hookimpl
def register_optimizers():
    return [
        Component("broken_sgd", BrokenSGD, check=OptimizerCheck(first_step=_sgd_first)),
        Component("broken_momentum", BrokenMomentum,
                  check=OptimizerCheck(kwargs={"momentum": 0.9}, first_step=_sgd_first)),
        Component("broken_out_of_place_sgd", BrokenOutOfPlaceSGD,
                  check=OptimizerCheck(first_step=_sgd_first)),
    ]


@hookimpl
def register_initializers():
    return [Component("broken_he", broken_he,
                      check=InitializerCheck(std=lambda fan_in, fan_out: math.sqrt(2.0 / fan_in)))]
