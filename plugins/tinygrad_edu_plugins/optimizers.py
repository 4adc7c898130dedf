"""The standard optimizers of chapter 6 of the book, plus AdamW; SGD, Adam and AdamW also take
PyTorch's options (momentum, dampening, nesterov; betas) with PyTorch's formulas.

Notation: ``p`` a parameter, ``g`` its gradient, ``lr`` the learning rate. Every update is
done in place on ``p`` (and on the optimizer's state arrays) and keeps ``p``'s dtype.

Weight decay: every optimizer takes ``weight_decay``; except for AdamW it is L2
regularisation, ``g ← g + weight_decay · p`` before the formulas below (the base class does
that). AdamW decays the parameter directly ("decoupled" weight decay).

Each optimizer is registered together with its step as a plain numpy formula
(``OptimizerCheck.step``), which the conformance suite compares with ``step()`` over a
trajectory of steps.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_edu.components import Component, OptimizerCheck
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.optimizer import Optimizer

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "AdamW"]


def _fraction(value, what: str, name: str) -> float:
    """A decay rate such as momentum or beta1 must lie in [0, 1)."""
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: {what} must be in [0, 1), got {value!r}")
    return value


def _eps(value, name: str) -> float:
    value = float(value)
    if not (value >= 0.0 and math.isfinite(value)):
        raise ValueError(f"{name}: eps must be a finite number >= 0, got {value!r}")
    return value


def _zeros_state(state: dict, key: str, param) -> np.ndarray:
    """``state[key]``, created as zeros shaped (and typed) like the parameter on first use."""
    if key not in state:
        state[key] = np.zeros_like(param.data)
    return state[key]


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's ``torch.optim.SGD`` options and formulas.

    Without momentum (the default, the book's SGD): p ← p − lr·g.

    With ``momentum`` μ > 0, a buffer b per parameter (PyTorch's ``momentum_buffer``):
    b ← g at the first step, then b ← μ·b + (1 − dampening)·g;
    p ← p − lr·b, or with ``nesterov=True`` p ← p − lr·(g + μ·b).
    ``weight_decay`` λ is L2 regularisation, g ← g + λ·p first (as everywhere here).
    ``nesterov`` needs μ > 0 and dampening = 0, as in PyTorch.

    :class:`Momentum` and :class:`Nesterov` keep the book's formulas; see their docstrings for
    how they differ from this one.
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        momentum = _fraction(momentum, "momentum", "SGD")
        dampening = float(dampening)
        if not 0.0 <= dampening <= 1.0:
            raise ValueError(f"SGD: dampening must be in [0, 1], got {dampening!r}")
        if nesterov and (momentum == 0.0 or dampening != 0.0):
            raise ValueError(f"SGD: nesterov=True needs momentum > 0 and dampening = 0 (as in "
                             f"PyTorch), got momentum={momentum!r}, dampening={dampening!r}")
        super().__init__(params, lr=lr, weight_decay=weight_decay, momentum=momentum,
                         dampening=dampening, nesterov=bool(nesterov))

    def update_one(self, param, grad, state):
        if self.momentum:
            b = state.get("momentum_buffer")
            if b is None:
                # a new array in the parameter's dtype (g of a 0-d parameter may be a numpy scalar,
                # which the in-place updates below could not change)
                state["momentum_buffer"] = b = np.array(grad, dtype=param.data.dtype, copy=True)
            else:
                b *= self.momentum
                b += (1.0 - self.dampening) * grad
            grad = grad + self.momentum * b if self.nesterov else b
        param.data -= self.lr * grad


class Momentum(Optimizer):
    """Momentum SGD (book form): v ← momentum·v − lr·g;  p ← p + v.   (v starts at 0)

    How it differs from ``SGD(momentum=μ)`` (PyTorch's b ← μ·b + g; p ← p − lr·b): the book's
    velocity v holds the learning rate of the steps it was made from, PyTorch's buffer b does
    not. With a constant lr the two are the same trajectory (v = −lr·b); when lr changes (a
    schedule) the book's v still carries the old lr for a while, PyTorch applies the new lr to
    the whole buffer at once. The book also has no dampening.
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay,
                         momentum=_fraction(momentum, "momentum", "Momentum"))

    def update_one(self, param, grad, state):
        v = _zeros_state(state, "v", param)
        v *= self.momentum
        v -= self.lr * grad
        param.data += v


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient, exactly as the book's code writes it:
    v ← m·v − lr·g;  p ← p + m²·v − (1 + m)·lr·g   (m = momentum; the *new* v is used).

    The book cites Bengio et al. 2012 (arXiv:1212.0901), whose reformulation uses the *old*
    velocity: p ← p + m²·v_old − (1 + m)·lr·g. The book's code updates v first, so its step
    from a fresh state is p − (1 + m + m²)·lr·g. We keep the book's form so that results match
    the book's figures.

    How it differs from ``SGD(momentum=m, nesterov=True)`` (PyTorch: b ← m·b + g;
    p ← p − lr·(g + m·b)): PyTorch's step is Bengio's form with the old velocity (v = −lr·b),
    so its first step is p − (1 + m)·lr·g, not the book's p − (1 + m + m²)·lr·g, and every
    later step differs too; like :class:`Momentum`, the book's v also keeps old learning rates.
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay,
                         momentum=_fraction(momentum, "momentum", "Nesterov"))

    def update_one(self, param, grad, state):
        m = self.momentum
        v = _zeros_state(state, "v", param)
        v *= m
        v -= self.lr * grad
        param.data += (m * m) * v
        param.data -= ((1.0 + m) * self.lr) * grad


class AdaGrad(Optimizer):
    """AdaGrad: h ← h + g⊙g;  p ← p − lr·g / (√h + eps)   (h starts at 0, eps = 1e-7 as in the book)."""

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-7, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay, eps=_eps(eps, "AdaGrad"))

    def update_one(self, param, grad, state):
        h = _zeros_state(state, "h", param)
        h += grad * grad
        denom = np.sqrt(h)
        denom += self.eps
        param.data -= self.lr * grad / denom


class RMSprop(Optimizer):
    """RMSprop: h ← ρ·h + (1 − ρ)·g⊙g;  p ← p − lr·g / (√h + eps)
    (ρ = decay_rate = 0.99 and eps = 1e-7 as in the book; h starts at 0)."""

    def __init__(self, params, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-7,
                 weight_decay: float = 0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay,
                         decay_rate=_fraction(decay_rate, "decay_rate", "RMSprop"), eps=_eps(eps, "RMSprop"))

    def update_one(self, param, grad, state):
        h = _zeros_state(state, "h", param)
        h *= self.decay_rate
        h += (1.0 - self.decay_rate) * grad * grad
        denom = np.sqrt(h)
        denom += self.eps
        param.data -= self.lr * grad / denom


def _betas(name, beta1, beta2, betas):
    """(beta1, beta2) from either the book's two arguments or PyTorch's ``betas`` pair."""
    if betas is None:
        return _fraction(beta1, "beta1", name), _fraction(beta2, "beta2", name)
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}") from None
    b1, b2 = _fraction(b1, "beta1", name), _fraction(b2, "beta2", name)
    if (beta1, beta2) not in ((0.9, 0.999), (b1, b2)):
        raise ValueError(f"{name}: give betas=(beta1, beta2) or beta1/beta2, not both "
                         f"(got betas={betas!r}, beta1={beta1!r}, beta2={beta2!r})")
    return b1, b2


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), at step t = 1, 2, ... of this parameter:
    m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g⊙g;
    m̂ = m / (1 − β1^t);  v̂ = v / (1 − β2^t);  p ← p − lr·m̂ / (√v̂ + eps).

    This is PyTorch's ``torch.optim.Adam`` formula, ``weight_decay`` λ included (L2: g ← g + λ·p
    first); β1, β2 are given as ``beta1``/``beta2`` (the book's names) or as PyTorch's
    ``betas=(β1, β2)``.

    The book writes the same update with the bias corrections folded into the learning rate,
    lr_t = lr·√(1 − β2^t) / (1 − β1^t);  p ← p − lr_t·m / (√v + eps), and eps = 1e-7. The two
    differ only in where eps sits (the book's eps is effectively eps·√(1 − β2^t) here), which
    matters only when √v̂ is comparable to eps. We use the standard form with eps = 1e-8.
    """

    def __init__(self, params, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, *, betas=None):
        name = type(self).__name__
        beta1, beta2 = _betas(name, beta1, beta2, betas)
        super().__init__(params, lr=lr, weight_decay=weight_decay, beta1=beta1, beta2=beta2,
                         eps=_eps(eps, name))

    @property
    def betas(self) -> tuple[float, float]:
        """(beta1, beta2), PyTorch's name for the pair."""
        return self.beta1, self.beta2

    def update_one(self, param, grad, state):
        state["step"] = t = state.get("step", 0) + 1
        m = _zeros_state(state, "m", param)
        v = _zeros_state(state, "v", param)
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        v += (1.0 - self.beta2) * np.square(grad)
        denom = np.sqrt(v)
        denom /= math.sqrt(1.0 - self.beta2 ** t)  # √v̂
        denom += self.eps
        param.data -= (self.lr / (1.0 - self.beta1 ** t)) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019; PyTorch's
    ``torch.optim.AdamW``, default λ = weight_decay = 0.01):
    p ← p − lr·λ·p, then the Adam step above with the bare gradient g (no L2 term in g)."""

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01, *, betas=None):
        super().__init__(params, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                         weight_decay=weight_decay, betas=betas)

    def update_one(self, param, grad, state):
        if self.weight_decay:
            param.data *= 1.0 - self.lr * self.weight_decay
        super().update_one(param, grad, state)


# ---------------------------------------------------------------------------------------
# Each optimizer's step as a formula in plain numpy, for the conformance suite:
# step(p, g, state, lr, **hyper) -> (new p, new state), with g the bare gradient (the L2 term
# g + weight_decay·p is added here, except for AdamW); state is {} before the first step.


def _l2(p, g, weight_decay):
    return g + weight_decay * p


def _sgd_step(p, g, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    g = _l2(p, g, weight_decay)
    if not momentum:
        return p - lr * g, state
    b = g if "b" not in state else momentum * state["b"] + (1 - dampening) * g  # PyTorch's buffer
    return p - lr * (g + momentum * b if nesterov else b), {"b": b}


def _momentum_step(p, g, state, lr, momentum=0.9, weight_decay=0.0):
    v = momentum * state.get("v", 0.0) - lr * _l2(p, g, weight_decay)
    return p + v, {"v": v}


def _nesterov_step(p, g, state, lr, momentum=0.9, weight_decay=0.0):
    g, m = _l2(p, g, weight_decay), momentum
    v = m * state.get("v", 0.0) - lr * g
    return p + m * m * v - (1 + m) * lr * g, {"v": v}  # book form, see Nesterov


def _adagrad_step(p, g, state, lr, eps=1e-7, weight_decay=0.0):
    g = _l2(p, g, weight_decay)
    h = state.get("h", 0.0) + g * g
    return p - lr * g / (np.sqrt(h) + eps), {"h": h}


def _rmsprop_step(p, g, state, lr, decay_rate=0.99, eps=1e-7, weight_decay=0.0):
    g = _l2(p, g, weight_decay)
    h = decay_rate * state.get("h", 0.0) + (1 - decay_rate) * g * g
    return p - lr * g / (np.sqrt(h) + eps), {"h": h}


def _adam_step(p, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    g = _l2(p, g, weight_decay)
    t = state.get("t", 0) + 1
    m = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    v = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), {"t": t, "m": m, "v": v}


def _adamw_step(p, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    return _adam_step(p * (1 - lr * weight_decay), g, state, lr, beta1, beta2, eps)


@hookimpl
def register_optimizers():
    return [
        Component("sgd", SGD, check=OptimizerCheck(kwargs={"weight_decay": 0.1}, step=_sgd_step)),
        Component("momentum", Momentum,
                  check=OptimizerCheck(kwargs={"momentum": 0.8, "weight_decay": 0.1}, step=_momentum_step)),
        Component("nesterov", Nesterov,
                  check=OptimizerCheck(kwargs={"momentum": 0.8, "weight_decay": 0.1}, step=_nesterov_step)),
        Component("adagrad", AdaGrad,
                  check=OptimizerCheck(kwargs={"weight_decay": 0.1}, step=_adagrad_step)),
        Component("rmsprop", RMSprop,
                  check=OptimizerCheck(kwargs={"decay_rate": 0.9, "weight_decay": 0.1}, step=_rmsprop_step)),
        Component("adam", Adam,
                  check=OptimizerCheck(kwargs={"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1},
                                       step=_adam_step)),
        Component("adamw", AdamW,
                  check=OptimizerCheck(kwargs={"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1},
                                       step=_adamw_step)),
    ]
