"""The book's ``common/functions.py``: activation and loss functions on plain numpy arrays.

Same names, arguments and results as the book, so ``from common.functions import *`` can become
``from tinygrad_edu.book import *``. Where the framework has a registered component for the
job (sigmoid, relu, softmax, softmax cross-entropy) the function runs that component on the
array and hands back a numpy array; the derivative helpers are computed by backpropagation.

    >>> sigmoid(np.array([-1.0, 1.0, 2.0]))
    array([0.26894142, 0.73105858, 0.88079708])
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu import registry
from tinygrad_edu.autograd import enable_grad, no_grad
from tinygrad_edu.tensor import Tensor

__all__ = ["identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu", "relu_grad",
           "softmax", "sum_squared_error", "mean_squared_error", "cross_entropy_error",
           "softmax_loss"]


def _as_result(out: np.ndarray, x) -> np.ndarray:
    """A 0-d result for a scalar input becomes a numpy scalar, as numpy's own functions give."""
    return out[()] if out.ndim == 0 and np.ndim(x) == 0 else out


def _run(kind: str, name: str, x, **kwargs) -> np.ndarray:
    """Run the registered component ``name`` on the array ``x`` (no graph) -> numpy array."""
    fn = registry.get(kind, name)
    with no_grad():
        return fn(Tensor(np.asarray(x)), **kwargs).data


def identity_function(x):
    """y = x (the output activation for regression)."""
    return x


def step_function(x):
    """y = 1 if x > 0 else 0, as an integer array (the perceptron's activation)."""
    return np.array(np.asarray(x) > 0, dtype=int)


def sigmoid(x):
    """y = 1 / (1 + exp(-x)), elementwise (the registered ``sigmoid``; it never overflows)."""
    return _as_result(_run("activation", "sigmoid", x), x)


def sigmoid_grad(x):
    """dy/dx of the sigmoid at x: (1 - y) y with y = sigmoid(x), obtained by backpropagating
    ones through the registered ``sigmoid``."""
    array = np.asarray(x)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    xt = Tensor(array, requires_grad=True)
    with enable_grad():
        registry.get("activation", "sigmoid")(xt).backward(np.ones_like(array))
    return _as_result(xt.grad.data, x)


def relu(x):
    """y = max(0, x), elementwise (the registered ``relu``)."""
    return _as_result(_run("activation", "relu", x), x)


def relu_grad(x):
    """dy/dx of ReLU with the book's convention: 1 where x >= 0, 0 where x < 0.

    (At x = 0 the derivative does not exist; this helper says 1 like the book's, while the
    Relu layer -- and the framework's relu -- pass no gradient at 0.)
    """
    x = np.asarray(x)
    grad = np.zeros_like(x)
    grad[x >= 0] = 1
    return grad


def softmax(x):
    """y_k = exp(x_k - m) / sum_j exp(x_j - m) along the last axis, m = max_j x_j
    (the registered ``softmax``)."""
    return _run("activation", "softmax", x, axis=-1)


def sum_squared_error(y, t):
    """E = 1/2 sum_k (y_k - t_k)**2 (the book's mean_squared_error of chapter 4)."""
    return 0.5 * np.sum((np.asarray(y) - np.asarray(t)) ** 2)


#: The book's chapter 4 text calls ``sum_squared_error`` ``mean_squared_error``.
mean_squared_error = sum_squared_error


def cross_entropy_error(y, t):
    """E = -(1/N) sum_n log(y[n, t_n] + 1e-7) for probabilities ``y`` (N, C) (or one sample
    (C,)) and labels ``t`` (N,) or one-hot rows (N, C); the 1e-7 keeps log(0) away."""
    y, t = np.asarray(y), np.asarray(t)
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:                      # one-hot rows -> labels
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def softmax_loss(X, t):
    """Cross-entropy of softmax(X) against ``t``: -(1/N) sum_n log softmax(X_n)[t_n], computed
    by the registered ``softmax_cross_entropy`` (exactly, without the book's + 1e-7)."""
    X, t = np.asarray(X), np.asarray(t)
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
        t = t.reshape(1, -1) if t.size == X.size else t.reshape(1)
    if t.ndim == 2 and t.dtype.kind != "f":
        t = t.astype(X.dtype)
    with no_grad():
        return registry.get("loss", "softmax_cross_entropy")(Tensor(X), t).data[()]
