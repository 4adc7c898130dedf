"""The book's ``common/gradient.py`` (numerical differentiation) and chapter 4's
``gradient_descent``.

Numerical gradients are the book's check on backpropagation: perturb one entry at a time and
take the central difference

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h),   h = 1e-4.

``x`` is changed *in place* and restored, so ``f`` may ignore its argument and read the array
through something else -- that is how ``network.numerical_gradient`` works
(``f = lambda W: network.loss(x, t)`` with ``W`` being one of ``network.params``).

    >>> gradient_descent(lambda x: x[0]**2 + x[1]**2, np.array([-3.0, 4.0]), lr=0.1, step_num=100)
    array([-6.11110793e-10,  8.14814391e-10])
"""
from __future__ import annotations

import numpy as np

__all__ = ["numerical_diff", "numerical_gradient", "numerical_gradient_1d",
           "numerical_gradient_2d", "gradient_descent"]

H = 1e-4


def numerical_diff(f, x):
    """df/dx at the number x by the central difference (f(x + h) - f(x - h)) / 2h, h = 1e-4."""
    return (f(x + H) - f(x - H)) / (2 * H)


def _check_array(x, who):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{who}: x must be a numpy array (it is changed in place and restored), "
                        f"got {type(x).__name__}; use np.array(...)")
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: x must be a float array to be perturbed by h = {H}, got dtype "
                        f"{x.dtype}; use x.astype(np.float64)")


def numerical_gradient(f, x):
    """The gradient of the number ``f(x)`` with respect to every entry of the array ``x`` (any
    shape), by central differences with h = 1e-4. Returns an array shaped like ``x``."""
    _check_array(x, "numerical_gradient")
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = float(original) + H
        f_plus = f(x)
        x[index] = float(original) - H
        f_minus = f(x)
        x[index] = original                     # restore before anything else reads x
        grad[index] = (f_plus - f_minus) / (2 * H)
    return grad


def numerical_gradient_1d(f, x):
    """:func:`numerical_gradient` for a 1-d ``x`` (the book's first version)."""
    _check_array(x, "numerical_gradient_1d")
    if x.ndim != 1:
        raise ValueError(f"numerical_gradient_1d: x must be 1-d, got shape {x.shape}")
    return numerical_gradient(f, x)


def numerical_gradient_2d(f, X):
    """For a 1-d ``X``: the gradient of ``f`` at X. For a 2-d ``X``: the gradient of ``f`` at
    every row of X, one row each (chapter 4's picture of the gradient field)."""
    _check_array(X, "numerical_gradient_2d")
    if X.ndim == 1:
        return numerical_gradient(f, X)
    grad = np.zeros_like(X)
    for i, row in enumerate(X):
        grad[i] = numerical_gradient(f, row)
    return grad


def gradient_descent(f, init_x, lr=0.01, step_num=100, return_history=False):
    """Minimise ``f`` by ``step_num`` steps of x <- x - lr * grad f(x) from ``init_x``, with the
    gradient taken numerically. Returns x (the book's text), or ``(x, history)`` with the
    (step_num, ...) array of the points visited before each step when ``return_history=True``
    (what the repository's ``ch04/gradient_method.py`` returns).

    As in the book, ``init_x`` itself is updated in place and returned.
    """
    x = init_x
    _check_array(x, "gradient_descent")
    history = []
    for _ in range(step_num):
        history.append(x.copy())
        x -= lr * numerical_gradient(f, x)
    return (x, np.array(history)) if return_history else x
