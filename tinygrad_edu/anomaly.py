"""Anomaly detection: find the op whose backward first produced a NaN or an infinity.

    with tg.detect_anomaly():
        loss = loss_fn(model(x), t)
        loss.backward()   # AnomalyError: Log.backward produced nan ... Log was created at: ...

While it is on (in the calling thread), every op that records itself also remembers where in your
code it was created (a stack trace) and a copy of the arrays it saved for backward. Backward then
checks, op by op, that no saved array was changed in place behind the graph's back (through
``.data`` or a numpy array the Tensor shares) and that every gradient it produces is finite; the
first failure raises :class:`AnomalyError` naming the op, the input, and the line that created the
op. It is slow and memory-hungry (a copy of everything saved), a tool for finding a bug; off, the
default, it costs nothing but one check per recorded op.
"""
from __future__ import annotations

import contextvars
import traceback

import numpy as np

from tinygrad_edu.grad_mode import ModeSwitch

_anomaly_enabled = contextvars.ContextVar("tinygrad_edu.anomaly_enabled", default=False)

#: ``is_anomaly_enabled() -> bool``: whether anomaly detection is on in the calling thread
#: (the ContextVar's own ``get``, as ``is_grad_enabled``).
is_anomaly_enabled = _anomaly_enabled.get


class AnomalyError(RuntimeError):
    """Raised by backward under ``detect_anomaly()``."""


class detect_anomaly(ModeSwitch):
    """Check every backward step for NaN/inf and for saved arrays changed in place; name the op
    and where it was created. ``with detect_anomaly(): ...`` or ``@detect_anomaly()``."""

    variable = _anomaly_enabled

    def __init__(self, mode: bool = True):
        super().__init__(mode)


def remember(function, inputs, output):
    """Called for each op recorded under detect_anomaly: keep where it was created and copies of
    the arrays it saved (its inputs and its output)."""
    stack = traceback.extract_stack()[:-2]  # without this function and Function.__call__
    function.anomaly_created_at = "".join(traceback.format_list(_user_frames(stack)))
    function.anomaly_saved = [x.data.copy() for x in inputs] + [output.data.copy()]


def _user_frames(stack):
    """The frames of the stack outside this package (the user's code), or the whole stack."""
    package = __file__.rsplit("/", 1)[0] + "/"
    user = [frame for frame in stack if not frame.filename.startswith(package)]
    return (user or stack)[-4:]


def _where(function) -> str:
    site = function.__dict__.get("anomaly_created_at")
    if site is None:
        return " (it was recorded before detect_anomaly() was turned on, so where is unknown)"
    return f". {type(function).__name__} was created at:\n{site.rstrip()}"


def check_saved(function, output):
    """Before ``function.backward`` runs: its saved arrays must be as they were when recorded."""
    copies = function.__dict__.get("anomaly_saved")
    if copies is None:
        return
    name = type(function).__name__
    for i, (tensor, copy) in enumerate(zip(list(function.inputs) + [output], copies)):
        if tensor.data.shape != copy.shape or not np.array_equal(tensor.data, copy, equal_nan=True):
            what = f"input {i}" if i < len(function.inputs) else "output"
            raise AnomalyError(
                f"backward: {name}'s {what} (shape {copy.shape}) was changed in place after "
                f"{name} saved it for backward (through .data or a numpy array the Tensor "
                f"shares), so its gradient would be wrong{_where(function)}")


def check_gradients(function, grads):
    """After ``function.backward`` ran: every gradient it returned must be finite."""
    for i, g in enumerate(grads):
        if g is None or np.isfinite(g.data).all():
            continue
        kind = "nan" if np.isnan(g.data).any() else "inf"
        name = type(function).__name__
        raise AnomalyError(
            f"backward: {name}.backward produced {kind} in the gradient for its input {i} "
            f"(shape {g.shape}); the gradient flowing into it was finite{_where(function)}")


def check_root(tensor, g):
    """The gradient backward starts from must be finite too."""
    if not np.isfinite(g.data).all():
        raise AnomalyError(f"backward: the gradient given for the output (shape {g.shape}) "
                           f"already contains nan or inf")
