"""A first look at the autodiff core: derivatives computed by backpropagation, checked
against the definition of the derivative.

    python examples/core_demo.py
"""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu import Tensor


def main():
    # y = x^2 + 3x at x = 2: dy/dx = 2x + 3 = 7
    x = Tensor(2.0, requires_grad=True)
    y = x ** 2 + 3 * x
    y.backward()
    print(f"y = x**2 + 3x at x = 2:  y = {y.item():g}, dy/dx = {x.grad.item():g} (expected 7)")

    # the second derivative of tanh: d2/dx2 tanh(x) = -2 tanh(x) (1 - tanh(x)^2)
    x = Tensor(0.5, requires_grad=True)
    (g,) = tg.grad(x.tanh(), [x], create_graph=True)
    (gg,) = tg.grad(g, [x])
    t = np.tanh(0.5)
    print(f"tanh''(0.5) = {gg.item():.6f} (expected {-2 * t * (1 - t * t):.6f})")

    # a tiny linear regression fitted by gradient descent
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((100, 3))
    targets = inputs @ np.array([1.5, -2.0, 0.5]) + 0.3
    w = Tensor(np.zeros(3), requires_grad=True)
    b = Tensor(0.0, requires_grad=True)
    for step in range(200):
        loss = ((inputs @ w + b - targets) ** 2).mean()
        w.grad = b.grad = None
        loss.backward()
        w.data -= 0.1 * w.grad.data
        b.data -= 0.1 * b.grad.data
    print(f"linear regression: w = {np.round(w.data, 3)}, b = {b.item():.3f}, "
          f"loss = {loss.item():.2e} (true w = [1.5, -2.0, 0.5], b = 0.3)")

    # gradient checking: backprop against central differences
    ok = tg.gradcheck(lambda a, b: (a @ b).tanh().sum(axis=0), rng.standard_normal((4, 3)),
                      rng.standard_normal((3, 2)))
    print(f"gradcheck of tanh(A @ B).sum(axis=0): {'passed' if ok else 'FAILED'}")


if __name__ == "__main__":
    main()
