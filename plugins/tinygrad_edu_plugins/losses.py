"""The standard loss functions, registered through the ``register_losses`` hook.

A loss takes the network output ``y`` (a Tensor) and the targets ``t`` (a numpy array or
Tensor, treated as constants) and returns a 0-d Tensor: the mean over the batch.
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu.autograd import is_grad_enabled
from tinygrad_edu.components import Check, Component
from tinygrad_edu.function import Function
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.tensor import Tensor, as_tensor

__all__ = ["softmax_cross_entropy", "mean_squared_error", "SoftmaxCrossEntropy"]


def _as_array(t) -> np.ndarray:
    return np.asarray(t.data if isinstance(t, Tensor) else t)


class SoftmaxCrossEntropy(Function):
    """L = -(1/N) sum_n sum_k t_nk log softmax(x_n)_k   (the book's SoftmaxWithLoss);
    dL/dx_n = (softmax(x_n) sum_k t_nk - t_n) / N,  which is (softmax(x_n) - t_n) / N for
    one-hot or probability targets whose rows sum to 1.

    ``x`` has shape (N, C) (or (C,): one sample). ``t`` is either class labels, an integer array
    of shape (N,), or one-hot / probability targets of shape (N, C). Labels are used directly
    as indices, never expanded to a one-hot matrix.

    Fused and stable: log softmax(x) = (x - m) - log sum exp(x - m) with m = max_k x_k, so the
    loss stays finite for logits of +-1e4 (and any finite logits). Everything is computed in
    the logits' dtype: float32 logits give a float32 loss and gradient.
    """

    def __init__(self, t):
        self.t = t

    def forward(self, x):
        t = self.t
        if x.ndim == 1:                       # one sample: a batch of one
            x = x[None, :]
            one_label = t.dtype.kind in "iu" and t.size == 1
            t = t.reshape(1) if one_label else t.reshape(1, -1)
        if x.ndim != 2:
            raise ValueError(f"softmax_cross_entropy: logits must have shape (N, C), got "
                             f"{x.shape}")
        N, C = x.shape
        shifted = x - x.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_p = shifted - log_sum
        if t.shape == (N,) and t.dtype.kind in "iu":
            if t.size and (t.min() < 0 or t.max() >= C):
                raise ValueError(f"softmax_cross_entropy: class labels must lie in [0, {C}), "
                                 f"got labels from {t.min()} to {t.max()}")
            self.labels, self.target = t, None
            loss = -log_p[np.arange(N), t].sum()
        elif t.shape == (N, C):
            self.labels, self.target = None, t.astype(x.dtype, copy=False)
            loss = -(self.target * log_p).sum()
        else:
            raise ValueError(
                f"softmax_cross_entropy: targets of shape {t.shape} (dtype {t.dtype}) do not fit "
                f"logits of shape {(N, C)}: give integer class labels of shape ({N},) or "
                f"one-hot / probability targets of shape ({N}, {C})")
        self.log_p = log_p
        return np.asarray(loss / N, dtype=x.dtype)

    def _gradient(self, p):
        """(p * sum_k t_k - t) / N for probabilities ``p`` (numpy or Tensor)."""
        N = self.log_p.shape[0]
        if self.labels is not None:
            onehot = np.zeros(self.log_p.shape, dtype=self.log_p.dtype)
            onehot[np.arange(N), self.labels] = 1
            return (p - onehot) / N
        return (p * self.target.sum(axis=1, keepdims=True) - self.target) / N

    def backward(self, gy):
        x, = self.inputs
        if is_grad_enabled():
            # create_graph=True: rebuild softmax from x with Tensor operations, so this
            # gradient can itself be differentiated (Hessian-vector products)
            from tinygrad_edu_plugins.activations import softmax
            p = softmax(x.reshape(self.log_p.shape), axis=1)
            return (self._gradient(p) * gy).reshape(x.shape)
        # the usual case: plain numpy, reusing log softmax from forward
        p = np.exp(self.log_p)
        if self.labels is not None:          # p - onehot without building the one-hot matrix
            p[np.arange(p.shape[0]), self.labels] -= 1
            g = p / p.shape[0]
        else:
            g = self._gradient(p)
        return Tensor((g * gy.data).reshape(x.shape))


def softmax_cross_entropy(logits, t):
    """Mean cross-entropy of softmax(logits) against targets ``t``:
    L = -(1/N) sum_n log softmax(logits_n)[t_n]  for integer labels t of shape (N,), or
    L = -(1/N) sum_n sum_k t_nk log softmax(logits_n)_k  for one-hot / probability t of shape
    (N, C).  dL/dlogits = (softmax(logits) - onehot(t)) / N.  Stable for any finite logits.
    """
    logits = as_tensor(logits)
    t = _as_array(t)
    return SoftmaxCrossEntropy(t)(logits)


def mean_squared_error(y, t):
    """Mean squared error over all elements: L = mean((y - t)**2) = sum((y - t)**2) / y.size;
    dL/dy = 2 (y - t) / y.size.

    Note: the book's ``mean_squared_error`` is 0.5 * sum((y - t)**2) (no mean); the book API
    keeps that formula, the framework uses the mean (like PyTorch's ``MSELoss``). ``t`` may be
    an array or a Tensor; it must have y's shape.
    """
    y = as_tensor(y)
    if not isinstance(t, Tensor):          # a constant target takes the output's float dtype
        t = Tensor(np.asarray(t, dtype=y.dtype if y.dtype.kind == "f" else None))
    if t.shape != y.shape:
        raise ValueError(f"mean_squared_error: targets of shape {t.shape} do not match "
                         f"outputs of shape {y.shape}")
    diff = y - t
    return (diff * diff).mean()


# ---- registration -------------------------------------------------------------------------------


def _ce_cases(st):
    """(kwargs, logits shape) with targets ``t`` as labels or probability rows."""
    @st.composite
    def case(draw):
        N, C = draw(st.integers(1, 4)), draw(st.integers(2, 5))
        if draw(st.booleans()):
            t = np.array(draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)))
        else:
            w = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=N * C,
                                       max_size=N * C))).reshape(N, C)
            t = w / w.sum(axis=1, keepdims=True)
        return {"t": t}, (N, C)
    return case()


def _mse_cases(st):
    @st.composite
    def case(draw):
        shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
        size = int(np.prod(shape))
        t = np.array(draw(st.lists(st.floats(-3.0, 3.0), min_size=size, max_size=size)))
        return {"t": t.reshape(shape)}, shape
    return case()


@hookimpl
def register_losses():
    return [
        Component("softmax_cross_entropy", softmax_cross_entropy,
                  aliases=("cross_entropy", "softmax_with_loss"),
                  check=Check(domain=(-5.0, 5.0), cases=_ce_cases, large=1e4)),
        Component("mean_squared_error", mean_squared_error, aliases=("mse",),
                  check=Check(cases=_mse_cases)),
    ]
