"""Evaluation: the mean loss and the accuracy of a model over a data set, batch by batch.

    from tinygrad_edu.evaluation import evaluate, accuracy
    result = evaluate(model, x_test, t_test)        # Evaluation(loss=..., accuracy=...)

Also the checks of training data (:func:`check_data`) and losses given by name
(:func:`resolve_loss`) that :class:`tinygrad_edu.train.Trainer` shares.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from tinygrad_edu import registry
from tinygrad_edu.autograd import no_grad
from tinygrad_edu.module import Module
from tinygrad_edu.tensor import Tensor

__all__ = ["Evaluation", "evaluate", "accuracy", "check_data", "resolve_loss", "model_dtype"]


class Evaluation(NamedTuple):
    """The result of :func:`evaluate`: mean loss and accuracy over a dataset."""

    loss: float
    accuracy: float


def _labels(t: np.ndarray) -> np.ndarray:
    """Class numbers from integer labels (N,) or one-hot / probability rows (N, C)."""
    t = np.asarray(t)
    return t.argmax(axis=1) if t.ndim == 2 else t


def resolve_loss(loss) -> Callable:
    if isinstance(loss, str):
        return registry.get("loss", loss)
    if callable(loss):
        return loss
    raise TypeError(f"loss must be a registered loss name or a callable loss(y, t), got {loss!r}")


def check_data(x, t, what: str, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    t = np.asarray(t.data if isinstance(t, Tensor) else t)
    if x.ndim == 0 or len(x) != len(t):
        raise ValueError(f"{what}: x and t must hold the same number of samples, got shapes "
                         f"{x.shape} and {t.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{what}: x must be floating point (e.g. float32 in [0, 1]), got {x.dtype}; "
                        f"normalize images first (tinygrad_edu.data.normalize_images)")
    if dtype is not None and x.dtype != dtype:
        x = x.astype(dtype)   # once, here, so that every batch already has the model's dtype
    return x, t


def model_dtype(model) -> np.dtype | None:
    params = model.parameters() if isinstance(model, Module) else []
    return params[0].data.dtype if params else None


def evaluate(model, x, t, batch_size: int = 1000, loss="softmax_cross_entropy") -> Evaluation:
    """Mean loss and accuracy of ``model`` on ``(x, t)``, batch by batch, in eval mode and
    under ``no_grad``; the model's previous train/eval mode is restored afterwards.

    accuracy = (1/N) · #{n : argmax_k y_nk = t_n}  (t: labels, or one-hot rows);
    loss     = (1/N) · Σ_batches n_b · loss(y_b, t_b)  (``loss=None`` skips it: NaN).
    """
    loss_fn = resolve_loss(loss) if loss is not None else None
    x, t = check_data(x, t, "evaluate", model_dtype(model))
    n = len(x)
    if n == 0:
        raise ValueError("evaluate: no samples")
    if batch_size < 1:
        raise ValueError(f"evaluate: batch_size must be positive, got {batch_size}")
    was_training = getattr(model, "training", False)
    if isinstance(model, Module):
        model.eval()
    correct, total_loss = 0, 0.0
    try:
        with no_grad():
            for start in range(0, n, batch_size):
                xb, tb = x[start:start + batch_size], t[start:start + batch_size]
                y = model(Tensor(xb))
                correct += int(np.count_nonzero(y.data.argmax(axis=1) == _labels(tb)))
                if loss_fn is not None:
                    total_loss += float(loss_fn(y, tb).data) * len(xb)
    finally:
        if isinstance(model, Module) and was_training:
            model.train()
    return Evaluation(total_loss / n if loss_fn is not None else math.nan, correct / n)


def accuracy(model, x, t, batch_size: int = 1000) -> float:
    """The fraction of samples whose largest output is the true class (eval mode, no_grad)."""
    return evaluate(model, x, t, batch_size=batch_size, loss=None).accuracy
