"""Grad mode: whether operations record the computation graph, kept per thread.

Every op asks ``is_grad_enabled()`` before it records itself. The answer lives in a
``contextvars.ContextVar``, so each thread (and each asyncio task) has its own: ``no_grad()`` in a
data-loading or evaluation thread does not stop another thread's training step from recording.
A new thread starts with recording on, as in PyTorch.
"""
from __future__ import annotations

import contextvars
import functools

_grad_enabled = contextvars.ContextVar("tinygrad_edu.grad_enabled", default=True)

#: ``is_grad_enabled() -> bool``: whether operations record the graph in the calling thread.
#: It is the ContextVar's own ``get`` rather than a function around it: every op calls it, and a
#: Python-level call would add its cost to each one.
is_grad_enabled = _grad_enabled.get


class ModeSwitch:
    """A per-thread on/off setting used as ``with switch: ...`` or as a decorator ``@switch``.

    A subclass names its ``variable`` (a ContextVar); the instance carries the value to set.
    Grad mode and anomaly detection (anomaly.py) are both switches of this kind.
    """

    variable: contextvars.ContextVar

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._tokens = []  # a stack, so one instance may be entered again while inside itself

    def __enter__(self):
        self._tokens.append(self.variable.set(self.mode))
        return self

    def __exit__(self, *exc):
        self.variable.reset(self._tokens.pop())

    def __call__(self, func):
        """As a decorator: each call of ``func`` runs in a ``with`` block of its own (so threads
        and recursive calls never share one)."""
        variable, mode = self.variable, self.mode

        @functools.wraps(func)
        def switched(*args, **kwargs):
            token = variable.set(mode)
            try:
                return func(*args, **kwargs)
            finally:
                variable.reset(token)
        return switched


class set_grad_enabled(ModeSwitch):
    """Turn graph recording on or off inside a ``with`` block or a decorated function
    (for the calling thread only)."""

    variable = _grad_enabled


class no_grad(set_grad_enabled):
    """Record nothing: inference without a graph. ``with no_grad(): ...`` or ``@no_grad()``."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record the graph again inside a ``no_grad`` region."""

    def __init__(self):
        super().__init__(True)
