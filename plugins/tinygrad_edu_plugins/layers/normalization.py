"""Normalisation layers: BatchNorm1d and BatchNorm2d."""
from __future__ import annotations

import numbers

import numpy as np

from tinygrad_edu.components import Check, Component
from tinygrad_edu.module import Module
from tinygrad_edu.tensor import Parameter, as_tensor

from ._common import _float_dtype

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """Shared code of BatchNorm1d / BatchNorm2d; ``_axes`` are the reduced axes."""

    _input_ndims: tuple = ()

    def __init__(self, num_features, momentum=0.1, eps=1e-5, affine=True, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, numbers.Integral) or num_features <= 0:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must lie in [0, 1], got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"{name}: eps must be positive, got {eps!r}")
        dtype = _float_dtype(name, dtype)
        self.num_features, self.momentum, self.eps = int(num_features), float(momentum), eps
        if affine:
            self.gamma = Parameter(np.ones(self.num_features, dtype=dtype))
            self.beta = Parameter(np.zeros(self.num_features, dtype=dtype))
        else:
            self.gamma = self.beta = None
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))

    def _check(self, x):
        name = type(self).__name__
        if x.ndim not in self._input_ndims or x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): expected input of shape "
                             f"{self._shape_text()}, got {x.shape}")

    def forward(self, x):
        x = as_tensor(x)
        self._check(x)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)   # broadcasts over the batch
        if self.training:
            count = x.size // self.num_features
            if count < 2:
                raise ValueError(f"{type(self).__name__}: training needs more than one value per "
                                 f"feature to compute a variance, got input of shape {x.shape}")
            mean = x.mean(axis=axes, keepdims=True)
            centred = x - mean
            var = (centred * centred).mean(axis=axes, keepdims=True)
            x_hat = centred / (var + self.eps).sqrt()
            self._update_running_stats(mean.data.reshape(-1), var.data.reshape(-1), count)
        else:
            mean = self.running_mean.reshape(shape).astype(x.dtype, copy=False)
            std = np.sqrt(self.running_var.reshape(shape) + self.eps).astype(x.dtype, copy=False)
            x_hat = (x - mean) / std
        if self.gamma is None:
            return x_hat
        return x_hat * self.gamma.reshape(shape) + self.beta.reshape(shape)

    def _update_running_stats(self, mean, var, count):
        """running = (1 - momentum) * running + momentum * batch statistic, in place; the
        running variance takes the unbiased batch variance (times count / (count - 1))."""
        m = self.momentum
        self.running_mean *= 1.0 - m
        self.running_mean += m * mean
        self.running_var *= 1.0 - m
        self.running_var += m * var * (count / (count - 1))

    def extra_repr(self):
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization over the batch for each feature of (N, F) (or each channel of
    (N, F, L)) inputs: y = gamma * (x - mu) / sqrt(var + eps) + beta.

    Training: mu and var are the batch mean and (biased) variance, and the running averages are
    updated: running = (1 - momentum) * running + momentum * batch (running_var gets the
    unbiased variance). Eval: mu and var are the running averages. This is PyTorch's
    convention: momentum=0.1 here is the book's ``momentum=0.9`` (which weights the old value).
    Gradients flow through mu and var (the full batch-norm backward), built from core ops.
    """

    _input_ndims = (2, 3)

    def _shape_text(self):
        return f"(N, {self.num_features}) or (N, {self.num_features}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization per channel of (N, C, H, W) inputs: statistics over N, H and W;
    gamma and beta have shape (C,). Otherwise as :class:`BatchNorm1d`."""

    _input_ndims = (4,)

    def _shape_text(self):
        return f"(N, {self.num_features}, H, W)"


# ---- registration ---------------------------------------------------------------------------------
# (see the note on cases in tinygrad_edu_plugins.layers)


def _batchnorm_cases(st, ndims):
    @st.composite
    def case(draw):
        ndim = draw(st.sampled_from(ndims))
        F = draw(st.integers(1, 3))
        shape = (draw(st.integers(2, 4)), F) + tuple(
            draw(st.lists(st.integers(1, 3), min_size=ndim - 2, max_size=ndim - 2)))
        kwargs = {"num_features": F, "momentum": draw(st.floats(0.0, 1.0)),
                  "affine": draw(st.booleans()), "dtype": np.float64}
        return kwargs, shape
    return case()


COMPONENTS = [
    Component("batchnorm1d", BatchNorm1d, aliases=("batch_norm1d",),
              check=Check(cases=lambda st: _batchnorm_cases(st, (2, 3)), domain=(-3.0, 3.0))),
    Component("batchnorm2d", BatchNorm2d, aliases=("batch_norm2d",),
              check=Check(cases=lambda st: _batchnorm_cases(st, (4,)), domain=(-3.0, 3.0))),
]
