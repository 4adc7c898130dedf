"""Two smooth activations: softplus and mish.

softplus is a :class:`Function` with a hand-written backward, written with Tensor operations so
that it can be differentiated again (``create_graph=True``); mish is a composition of softplus
and core operations, so autodiff derives its backward.
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu import Function, Tensor

__all__ = ["Softplus", "softplus", "mish"]


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _sigmoid(z: Tensor) -> Tensor:
    """sigmoid(z) = 1 / (1 + exp(-z)) = (1 + tanh(z / 2)) / 2, with core operations only (never
    overflows, and differentiable to any order)."""
    return 0.5 * ((z * 0.5).tanh() + 1.0)


class Softplus(Function):
    """y = log(1 + exp(beta x)) / beta;  dy/dx = sigmoid(beta x).

    Computed as (max(z, 0) + log(1 + exp(-|z|))) / beta with z = beta x, so that exp never
    overflows (log(1 + exp(z)) = max(z, 0) + log(1 + exp(-|z|)) for every z).
    """

    def __init__(self, beta: float = 1.0):
        if not beta > 0:
            raise ValueError(f"softplus: beta must be positive, got {beta!r}")
        self.beta = float(beta)

    def forward(self, x):
        z = x * self.beta
        y = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / self.beta
        return y.astype(x.dtype, copy=False)

    def backward(self, gy):
        x, = self.inputs
        return gy * _sigmoid(x * self.beta)


def softplus(x, beta=1.0):
    """Softplus, a smooth ReLU: y = log(1 + exp(beta x)) / beta, dy/dx = sigmoid(beta x).
    Tends to relu(x) as beta grows. Never overflows."""
    return Softplus(beta)(_tensor(x))


def mish(x):
    """Mish (Misra 2019): y = x tanh(softplus(x));
    dy/dx = tanh(s) + x (1 - tanh(s)**2) sigmoid(x) with s = softplus(x)."""
    x = _tensor(x)
    return x * softplus(x).tanh()
