"""The fully connected layer: Affine (also called Linear), y = x W + b."""
from __future__ import annotations

import numbers

import numpy as np

from tinygrad_edu.components import Check, Component
from tinygrad_edu.module import Module
from tinygrad_edu.random import generator
from tinygrad_edu.tensor import Parameter, as_tensor

from ._common import _float_dtype, initial_weight

__all__ = ["Affine", "Linear"]


class Affine(Module):
    """Fully connected layer: y = x W + b with W of shape (in_features, out_features).

    An input of shape (N, d1, d2, ...) is flattened to (N, d1*d2*...) first (like the book's
    Affine, so it can follow a convolution directly); the gradient comes back in the input's
    shape. Backward: dL/dx = dL/dy W^T, dL/dW = x^T dL/dy, dL/db = sum over the batch of dL/dy.
    ``Linear`` is the same class.
    """

    def __init__(self, in_features, out_features, bias=True, weight_init="he", rng=None,
                 seed=None, dtype=np.float32):
        super().__init__()
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, numbers.Integral) or n <= 0:
                raise ValueError(f"Affine: {what} must be a positive int, got {n!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = _float_dtype("Affine", dtype)
        rng = generator(rng, seed, owner="Affine")
        self.W = Parameter(initial_weight("Affine", (self.in_features, self.out_features),
                                          self.in_features, self.out_features, weight_init,
                                          rng, dtype))
        self.b = Parameter(np.zeros(self.out_features, dtype=dtype)) if bias else None

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim == 0:
            raise ValueError("Affine: the input is a scalar; expected shape (N, in_features)")
        if x.ndim > 2:
            x = x.reshape(x.shape[0], -1)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Affine({self.in_features}, {self.out_features}): the input (shape "
                             f"{x.shape} after flattening) has {x.shape[-1]} features, expected "
                             f"{self.in_features}")
        y = x @ self.W
        return y + self.b if self.b is not None else y

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.b is not None}"


Linear = Affine


# ---- registration ---------------------------------------------------------------------------------
# (see the note on cases in tinygrad_edu_plugins.layers)


def _affine_cases(st):
    @st.composite
    def case(draw):
        feature_shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
        kwargs = {"in_features": int(np.prod(feature_shape)),
                  "out_features": draw(st.integers(1, 4)),
                  "bias": draw(st.booleans()),
                  "seed": draw(st.integers(0, 2**16)), "dtype": np.float64}
        return kwargs, (draw(st.integers(1, 3)),) + feature_shape
    return case()


COMPONENTS = [
    Component("affine", Affine, aliases=("linear",), check=Check(cases=_affine_cases)),
]
