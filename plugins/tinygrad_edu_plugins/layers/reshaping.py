"""Reshaping layers: Flatten (N, C, H, W) -> (N, C*H*W)."""
from __future__ import annotations

from tinygrad_edu.components import Check, Component
from tinygrad_edu.module import Module
from tinygrad_edu.tensor import as_tensor


__all__ = ["Flatten"]


class Flatten(Module):
    """Merge dimensions start_dim.. into one: (N, C, H, W) -> (N, C*H*W) with the default
    start_dim=1. The gradient is reshaped back."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = int(start_dim)

    def forward(self, x):
        x = as_tensor(x)
        if not 0 <= self.start_dim < max(x.ndim, 1):
            raise ValueError(f"Flatten(start_dim={self.start_dim}): input of shape {x.shape} has "
                             f"no dimension {self.start_dim}")
        return x.flatten(self.start_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}"


# ---- registration ---------------------------------------------------------------------------------


def _flatten_cases(st):
    return st.lists(st.integers(1, 3), min_size=2, max_size=4).map(tuple).flatmap(
        lambda shape: st.tuples(
            st.fixed_dictionaries({"start_dim": st.integers(0, len(shape) - 1)}), st.just(shape)))


# second_order=False: linear in its input with no parameters
COMPONENTS = [
    Component("flatten", Flatten, check=Check(cases=_flatten_cases, second_order=False)),
]
