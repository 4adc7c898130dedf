"""Containers: Sequential, layers applied one after another."""
from __future__ import annotations

import numpy as np

from tinygrad_edu.components import Check, Component
from tinygrad_edu.module import Module
from tinygrad_edu.tensor import Tensor

from .dense import Affine

__all__ = ["Sequential"]


class Sequential(Module):
    """Apply layers one after another: y = f_n(... f_2(f_1(x))).

    Layers are Modules or any callables of one Tensor (``F.relu``). ``model[i]``, ``len(model)``
    and iteration work; parameters are named ``layers.<i>.<name>``.
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential: layer {i} ({layer!r}) is not callable")
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def append(self, layer):
        if not callable(layer):
            raise TypeError(f"Sequential.append: {layer!r} is not callable")
        self.layers.append(layer)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        lines = ["Sequential("]
        for i, layer in enumerate(self.layers):
            text = repr(layer) if isinstance(layer, Module) else getattr(layer, "__name__",
                                                                            repr(layer))
            lines.append(f"  ({i}): " + text.replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"


# ---- registration ---------------------------------------------------------------------------------
# (see the note on cases in tinygrad_edu_plugins.layers)


def _two_layer_sequential(in_features, hidden, out_features, seed, dtype):
    """Sequential(Affine, tanh, Affine): what the conformance suite checks Sequential with."""
    return Sequential(Affine(in_features, hidden, seed=seed, dtype=dtype), Tensor.tanh,
                      Affine(hidden, out_features, seed=seed + 1, dtype=dtype))


def _sequential_cases(st):
    @st.composite
    def case(draw):
        kwargs = {"in_features": draw(st.integers(1, 4)), "hidden": draw(st.integers(1, 4)),
                  "out_features": draw(st.integers(1, 3)), "seed": draw(st.integers(0, 2**16)),
                  "dtype": np.float64}
        return kwargs, (draw(st.integers(1, 3)), kwargs["in_features"])
    return case()


COMPONENTS = [
    Component("sequential", Sequential,
              check=Check(cases=_sequential_cases, build=_two_layer_sequential)),
]
