"""How training meets Ctrl-C (SIGINT) and SIGTERM: stop at a batch boundary, never mid-save.

A scheduler, ``timeout`` or a container runtime asks a program to stop with SIGTERM; a person
presses Ctrl-C. Either way the work done so far should be saved, so while ``Trainer.fit`` runs,
:class:`StopSignals` turns both into a request:

* the first signal sets ``requested`` ("Ctrl-C" or "SIGTERM"); the loop stops after the current
  batch, and the checkpoint is saved;
* a second one raises KeyboardInterrupt at once (the unfinished batch is dropped), and the
  checkpoint is still saved;
* while a checkpoint is being written (:func:`deferred`) and once training has stopped
  (``finishing``), further signals are only noted: a save that has begun always completes.

Signal handlers can only be installed in the main thread; elsewhere these classes do nothing,
and Python's defaults apply. A handler somebody else installed (not Python's default) is left
alone.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["StopSignals", "deferred", "SIGNAL_NAMES", "EXIT_STATUS"]

SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C"}
EXIT_STATUS = {"Ctrl-C": 130}          # what a shell reports: 128 + the signal number
if hasattr(signal, "SIGTERM"):
    SIGNAL_NAMES[signal.SIGTERM] = "SIGTERM"
    EXIT_STATUS["SIGTERM"] = 128 + int(signal.SIGTERM)

_DEFAULTS = {signal.SIGINT: signal.default_int_handler}
if hasattr(signal, "SIGTERM"):
    _DEFAULTS[signal.SIGTERM] = signal.SIG_DFL


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class StopSignals:
    """A context manager for the duration of a training run; see the module docstring."""

    def __init__(self) -> None:
        self.requested: str | None = None   # "Ctrl-C" or "SIGTERM": the first signal received
        self.finishing = False              # training has stopped: only note further signals
        self.deferring = 0                  # > 0 while a checkpoint is being written
        self.noted: list[str] = []          # signals that arrived while finishing or deferring
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if _in_main_thread():
            for signum in _DEFAULTS:
                if signal.getsignal(signum) is _DEFAULTS[signum]:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        name = SIGNAL_NAMES.get(signum, str(signum))
        if self.finishing or self.deferring:
            self.noted.append(name)
            if self.requested is None:
                self.requested = name
            return
        if self.requested is not None:
            raise KeyboardInterrupt(f"second signal ({name})")
        self.requested = name

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    @contextlib.contextmanager
    def deferring_signals(self) -> Iterator[None]:
        """While the block runs, a signal is noted (and requests a stop) instead of interrupting."""
        self.deferring += 1
        try:
            yield
        finally:
            self.deferring -= 1


_active: list[StopSignals] = []   # the guards of the fits running in this process (innermost last)


@contextlib.contextmanager
def guarding() -> Iterator[StopSignals]:
    """``with guarding() as guard:`` a :class:`StopSignals` that :func:`deferred` can find."""
    with StopSignals() as guard:
        _active.append(guard)
        try:
            yield guard
        finally:
            _active.remove(guard)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Run a block (a checkpoint save) that Ctrl-C or SIGTERM must not cut short.

    Inside a training run the run's guard notes the signal and training stops after the
    save. Outside one (a save by hand, in the main thread), the signal is held back and
    delivered again when the block ends."""
    if _active:
        with _active[-1].deferring_signals():
            yield
        return
    if not _in_main_thread():
        yield
        return
    held: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: held.append(signum))
                for signum in _DEFAULTS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(held):
            signal.raise_signal(signum)
