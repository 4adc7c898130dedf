"""The Lion optimizer."""
from __future__ import annotations

import numpy as np

from tinygrad_edu.optimizer import Optimizer

__all__ = ["Lion", "lion_step"]


class Lion(Optimizer):
    """Lion, "EvoLved Sign Momentum" (Chen et al. 2023, arXiv:2302.06675):
    c = β1·m + (1 − β1)·g;  p ← p − lr·(sign(c) + λ·p);  m ← β2·m + (1 − β2)·g
    (m starts at 0; λ = weight_decay, decoupled from the gradient as in AdamW).

    Every coordinate moves by exactly ±lr (plus the decay), so Lion wants a learning rate
    3-10x smaller than Adam's; the default is 1e-4.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-4, beta1: float = 0.9, beta2: float = 0.99,
                 weight_decay: float = 0.0):
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Lion: {name} must lie in [0, 1), got {beta!r}")
        super().__init__(params, lr=lr, weight_decay=weight_decay, beta1=float(beta1),
                         beta2=float(beta2))

    def update_one(self, param, grad, state):
        if "m" not in state:
            state["m"] = np.zeros_like(param.data)
        m = state["m"]
        direction = np.sign(self.beta1 * m + (1.0 - self.beta1) * grad)
        if self.weight_decay:
            param.data *= 1.0 - self.lr * self.weight_decay
        param.data -= self.lr * direction
        m *= self.beta2
        m += (1.0 - self.beta2) * grad


def lion_step(p, g, state, lr, beta1=0.9, beta2=0.99, weight_decay=0.0):
    """One step in plain numpy, for the conformance suite (``OptimizerCheck.step``):
    c = β1·m + (1 − β1)·g;  p ← p·(1 − lr·λ) − lr·sign(c);  m ← β2·m + (1 − β2)·g."""
    m = state.get("m", 0.0)
    p = p * (1.0 - lr * weight_decay) - lr * np.sign(beta1 * m + (1.0 - beta1) * g)
    return p, {"m": beta2 * m + (1.0 - beta2) * g}
