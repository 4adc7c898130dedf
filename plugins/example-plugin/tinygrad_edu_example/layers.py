"""LayerNorm: normalise each sample over its last axis, then scale and shift."""
from __future__ import annotations

import numbers

import numpy as np

from tinygrad_edu import Module, Parameter, Tensor

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """Layer normalisation (Ba, Kiros & Hinton 2016) over the last axis of size F:
    mu = mean(x), var = mean((x - mu)**2), y = (x - mu) / sqrt(var + eps) * gamma + beta.

    Unlike BatchNorm it uses no batch statistics, so it behaves the same in train and eval mode
    and works for a batch of one. gamma (ones) and beta (zeros) have shape (F,) and are learned
    when ``elementwise_affine``. Built from core operations: autodiff gives the backward
    dL/dx = (g - mean(g) - xhat mean(g xhat)) / sqrt(var + eps) with g = gamma dL/dy and
    xhat the normalised input, and gradients of gradients too.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=np.float32):
        super().__init__()
        if not isinstance(normalized_shape, numbers.Integral) or normalized_shape <= 0:
            raise ValueError(f"LayerNorm: normalized_shape must be a positive int (the size of "
                             f"the last axis), got {normalized_shape!r}")
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be positive, got {eps!r}")
        self.normalized_shape, self.eps = int(normalized_shape), float(eps)
        self.gamma = self.beta = None
        if elementwise_affine:
            self.gamma = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.beta = Parameter(np.zeros(self.normalized_shape, dtype=dtype))

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.normalized_shape:
            raise ValueError(f"LayerNorm({self.normalized_shape}): the last axis of the input "
                             f"(shape {x.shape}) must have size {self.normalized_shape}")
        centered = x - x.mean(axis=-1, keepdims=True)
        var = (centered * centered).mean(axis=-1, keepdims=True)
        y = centered / (var + self.eps).sqrt()
        if self.gamma is not None:
            y = y * self.gamma + self.beta
        return y

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, " \
               f"elementwise_affine={self.gamma is not None}"
