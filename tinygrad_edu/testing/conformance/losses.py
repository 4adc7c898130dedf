"""Conformance checks of losses: those of a function of the network output (see
:mod:`.activations`), with the output a 0-d Tensor, after

reduction   the loss of a batch given twice (the input and every argument with the batch's
            first axis, concatenated with themselves) equals the loss of the batch for
            ``Check.reduction == "mean"`` (the default: the mean over the batch) and twice it
            for ``"sum"``
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu.components import Check, Component
from tinygrad_edu.tensor import Tensor
import tinygrad_edu.testing.conformance.activations as activations
from tinygrad_edu.testing.conformance.common import Recorder, fail

_FACTOR = {"mean": 1.0, "sum": 2.0}


def properties(comp: Component) -> list:
    """The (check name, property) pairs of a loss."""
    check = comp.check or Check()
    props = activations.properties(comp)
    props.insert(0, ("reduction", _loss_reduction(comp, check)))
    return props


def _loss_reduction(comp: Component, check: Check):
    def prop(data: Recorder):
        if check.reduction not in _FACTOR:
            fail(comp, "declaration", data, f"Check.reduction is {check.reduction!r}; a loss "
                                            f"declares 'mean' or 'sum'")
        x, kwargs = activations.draw_call(data, comp, check)
        if x.ndim == 0:
            return
        batch = x.shape[0]
        twice = {key: np.concatenate([value, value]) if isinstance(value, np.ndarray)
                 and value.ndim and value.shape[0] == batch else value
                 for key, value in kwargs.items()}
        data.note(f"the batch given twice: x of shape {(2 * batch,) + x.shape[1:]}")
        once = float(comp.obj(Tensor(x), **kwargs).data)
        doubled = float(comp.obj(Tensor(np.concatenate([x, x])), **twice).data)
        expected = _FACTOR[check.reduction] * once
        if not np.isclose(doubled, expected, rtol=1e-9, atol=1e-12):
            fail(comp, "reduction", data,
                 f"the loss of the batch is {once:.10g}, of the batch given twice "
                 f"{doubled:.10g}; with reduction {check.reduction!r} over the batch it must be "
                 f"{expected:.10g}" + (" (a loss averages over the batch: divide the sum by N, "
                                       "or declare Check(reduction='sum'))"
                                       if check.reduction == "mean" else ""))
    return prop
