"""Conformance checks of models (``register_models`` builders).

A builder ``build(input_shape, num_classes, **kwargs) -> Module`` is built for MNIST-shaped
inputs (1, 28, 28) and 10 classes, the shape the CLI uses. Checked: it returns a Module; a batch
of N float32 images gives float32 scores of shape (N, 10); the backward of the summed scores
gives a finite gradient of the parameter's shape for every parameter; the same ``seed`` builds
the same initial parameters.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tinygrad_edu.components import Component
from tinygrad_edu.testing.conformance.common import Recorder, exception_line, fail

INPUT_SHAPE, NUM_CLASSES = (1, 28, 28), 10


def properties(comp: Component) -> list:
    """The (check name, property) pairs of a model builder."""
    return [("forward and backward", _forward_backward(comp)),
            ("seeded build", _seeded_build(comp))]


def _build(comp: Component, data: Recorder, check_name: str, seed: int):
    from tinygrad_edu.module import Module

    try:
        model = comp.obj(INPUT_SHAPE, NUM_CLASSES, seed=seed)
    except Exception as error:
        fail(comp, check_name, data, f"{comp.name}({INPUT_SHAPE}, {NUM_CLASSES}, seed={seed}) "
                                     f"raised {exception_line(error)}", error)
    if not isinstance(model, Module):
        fail(comp, check_name, data, f"the builder returned a {type(model).__name__}, "
                                     f"not a tinygrad_edu.Module")
    return model


def _forward_backward(comp: Component):
    def prop(data: Recorder):
        name = "forward and backward"
        n = data.draw(st.integers(1, 3), label="batch size")
        seed = data.draw(st.integers(0, 99), label="seed")
        data.note(f"model = {comp.name}({INPUT_SHAPE}, {NUM_CLASSES}, seed={seed}); "
                  f"x: ({n}, *{INPUT_SHAPE}) float32")
        model = _build(comp, data, name, seed)
        x = np.random.default_rng(seed).random((n, *INPUT_SHAPE)).astype(np.float32)
        scores = model(x)
        if tuple(scores.shape) != (n, NUM_CLASSES) or scores.dtype != np.float32:
            fail(comp, name, data, f"scores have shape {tuple(scores.shape)} dtype "
                                   f"{scores.dtype}; expected ({n}, {NUM_CLASSES}) float32")
        scores.sum().backward()
        for pname, p in model.named_parameters():
            if p.grad is None or p.grad.shape != p.shape or not np.all(np.isfinite(p.grad.data)):
                fail(comp, name, data, f"parameter {pname!r} got no finite gradient of its "
                                       f"shape {p.shape}")
    return prop


def _seeded_build(comp: Component):
    def prop(data: Recorder):
        name = "seeded build"
        seed = data.draw(st.integers(0, 99), label="seed")
        data.note(f"two builds with seed={seed}")
        first, second = (_build(comp, data, name, seed).state_dict() for _ in range(2))
        for key, value in first.items():
            if not np.array_equal(np.asarray(value), np.asarray(second[key])):
                fail(comp, name, data, f"parameter {key!r} differs between two builds with "
                                       f"the same seed")
    return prop
