"""Callbacks: code a Trainer runs at fixed points of training, chosen per Trainer.

    from tinygrad_edu.callbacks import Callback, Checkpoint

    class PrintLoss(Callback):
        def after_epoch(self, trainer, epoch, logs):
            print(epoch, logs["loss"])

    Trainer(model, callbacks=[PrintLoss(), Checkpoint("runs/mine")]).fit(x, t, epochs=5)

A callback overrides any of the events below (the others do nothing); each is called with
the arguments named in its signature, by keyword. One iteration runs::

    before_fit
      before_epoch
        before_batch -> forward, loss, backward -> after_backward -> optimizer.step() -> after_batch
      after_epoch                       (after the evaluation; ``logs`` holds its metrics)
    after_fit                           (on every way out: see below)

``after_fit`` is called whatever ends the run: the last epoch, ``trainer.stop_training = True``,
Ctrl-C or SIGTERM (``trainer.history.interrupted``), or an exception (``trainer.error`` holds it;
it is raised again once every ``after_fit`` has run). That is where :class:`Checkpoint` saves.

Callbacks are opt-in: a Trainer runs exactly the ones it was given. A plugin offers callbacks
by name (the ``register_callbacks`` hook; ``tinygrad-edu train --callback NAME``,
``registry.get("callback", NAME)``) but never imposes them. The older lifecycle hooks
(``before_fit`` ... in :mod:`tinygrad_edu.hookspecs`) reach a Trainer only through
:class:`PluginHooks`, which relays every event to every installed plugin that implements it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tinygrad_edu import interrupts

__all__ = ["Callback", "EVENTS", "PluginHooks", "Checkpoint", "as_callbacks"]

EVENTS = ("before_fit", "after_fit", "before_epoch", "after_epoch", "before_batch",
          "after_batch", "after_backward")


class Callback:
    """Base class of callbacks: every event is a method that does nothing until overridden."""

    def before_fit(self, trainer) -> None:
        """Once, before the first epoch of ``trainer.fit``."""

    def after_fit(self, trainer) -> None:
        """Once, on every way out of ``fit`` (``trainer.error`` is the exception, if any)."""

    def before_epoch(self, trainer, epoch: int) -> None:
        """At the start of every epoch (``epoch`` counts from 0 over all fits)."""

    def after_epoch(self, trainer, epoch: int, logs: dict) -> None:
        """At the end of every epoch, after evaluation; ``logs`` may be extended."""

    def before_batch(self, trainer, iteration: int) -> None:
        """Before each mini-batch's forward pass (``iteration`` counts from 0 over all fits)."""

    def after_backward(self, trainer, model, iteration: int) -> None:
        """Gradients computed, not yet applied: inspect or change ``p.grad`` here (clipping)."""

    def after_batch(self, trainer, iteration: int, logs: dict) -> None:
        """After each optimizer step; ``logs["loss"]`` is the batch loss."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def as_callbacks(callbacks) -> list:
    """Check the ``callbacks=`` of a Trainer: a list of callback objects (instances)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (Callback, str)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"Trainer: callbacks must be a list of callbacks, got {callbacks!r}")
    out = list(callbacks)
    for cb in out:
        if isinstance(cb, type):
            raise TypeError(f"Trainer: callbacks must be instances; got the class "
                            f"{cb.__name__} (write {cb.__name__}())")
        if not isinstance(cb, Callback) and not any(callable(getattr(cb, e, None)) for e in EVENTS):
            raise TypeError(f"Trainer: {cb!r} is not a callback: subclass "
                            f"tinygrad_edu.callbacks.Callback and override one of {', '.join(EVENTS)}")
    return out


def handlers(callbacks: list, event: str) -> list:
    """The bound methods of ``callbacks`` that really handle ``event`` (not the base's no-op)."""
    found = []
    for cb in callbacks:
        method = getattr(cb, event, None)
        if callable(method) and getattr(type(cb), event, None) is not getattr(Callback, event):
            found.append(method)
    return found


class PluginHooks(Callback):
    """Relay every event to the lifecycle hooks of the installed plugins (the behaviour every
    Trainer had before callbacks existed; now chosen per Trainer)."""

    def _call(self, name: str, **kwargs) -> None:
        from tinygrad_edu import plugins

        if getattr(plugins.hook(), name).get_hookimpls():
            plugins.call_hook(name, **kwargs)

    def before_fit(self, trainer):
        self._call("before_fit", trainer=trainer)

    def after_fit(self, trainer):
        self._call("after_fit", trainer=trainer)

    def before_epoch(self, trainer, epoch):
        self._call("before_epoch", trainer=trainer, epoch=epoch)

    def after_epoch(self, trainer, epoch, logs):
        self._call("after_epoch", trainer=trainer, epoch=epoch, logs=logs)

    def before_batch(self, trainer, iteration):
        self._call("before_batch", trainer=trainer, iteration=iteration)

    def after_backward(self, trainer, model, iteration):
        self._call("after_backward", trainer=trainer, model=model, iteration=iteration)

    def after_batch(self, trainer, iteration, logs):
        self._call("after_batch", trainer=trainer, iteration=iteration, logs=logs)


def _json_number(value):
    """numpy scalars as plain numbers, for ``json.dump(default=...)``."""
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serializable: {value!r}")


class Checkpoint(Callback):
    """Save the state of training at the end of every epoch and on every way out of ``fit``,
    each file atomically (complete or not at all), so at most one epoch of work is ever lost
    (one batch, unless the process is killed with ``kill -9``).

    ``directory``/params.npz      the model's parameters and buffers (:func:`save_params`);
                                  written only while every value is finite, so a diverged
                                  run never replaces good weights
    ``directory``/optimizer.npz   the optimizer's state (``optimizer.state_dict()``), with params
    ``directory``/history.json    ``record`` (what the run was: model, data, options), the
                                  trainer's progress (``epochs_done``, ``iteration``, how it
                                  ended) and the history
    ``directory``/curves.png      the training curves (:func:`plot_history`), at the end only,
                                  titled ``title``; ``plot=False`` leaves them out

    Saving holds Ctrl-C and SIGTERM back until the files are written. ``saved`` says what the
    last save wrote; :meth:`summary` says it in words.
    """

    def __init__(self, directory, record: dict | None = None, title: str | None = None,
                 plot: bool = True):
        self.directory = Path(directory)
        self.record = dict(record or {})
        self.title = title
        self.plot = plot
        self.params_at: tuple[int, int] | None = None   # (epochs done, iteration) of params.npz
        self.saved: list[str] = []                       # files written by the last save
        self.params_problem = ""                         # why the last save kept old params

    def after_epoch(self, trainer, epoch, logs):
        self.save(trainer)

    def after_fit(self, trainer):
        self.save(trainer, final=True)

    def save(self, trainer, final: bool = False) -> list[str]:
        """Write the files now (see the class docstring); returns their names."""
        from tinygrad_edu.atomic import atomic_write, save_npz_atomic
        from tinygrad_edu.serialization import save_params
        from tinygrad_edu.divergence import DivergenceError, is_finite

        with interrupts.deferred():
            self.saved = []
            self.params_problem = ""
            if isinstance(getattr(trainer, "error", None), DivergenceError):
                self.params_problem = "the run diverged"
            elif not is_finite(trainer.model):
                self.params_problem = "the parameters are not finite"
            if not self.params_problem:
                save_params(trainer.model, self.directory / "params.npz")
                save_npz_atomic(self.directory / "optimizer.npz", **trainer.optimizer.state_dict())
                self.params_at = (trainer.epochs_done, trainer.iteration)
                self.saved += ["params.npz", "optimizer.npz"]
            record = {**self.record, **trainer.progress(), "params_saved_at": self.params_at,
                      **trainer.history.as_dict()}
            with atomic_write(self.directory / "history.json", "w") as f:
                json.dump(record, f, indent=1, default=_json_number)
                f.write("\n")
            self.saved.append("history.json")
            if final and self.plot:
                from tinygrad_edu.plots import plot_history

                plot_history(trainer.history, self.directory / "curves.png", title=self.title,
                             smooth_window=10)
                self.saved.append("curves.png")
        return self.saved

    def summary(self) -> str:
        """What is on disk, in words: "params.npz (iteration 120, 2 complete epochs),
        history.json and curves.png in runs/mlp/run3"."""
        others = [name for name in self.saved if name not in ("params.npz", "optimizer.npz")]
        files = " and ".join([", ".join(others[:-1]), others[-1]] if len(others) > 1 else others)
        if self.params_at is None:
            params = f"no parameters ({self.params_problem or 'none saved yet'})"
        else:
            epochs, iteration = self.params_at
            params = f"params.npz (iteration {iteration}, {epochs} complete epoch(s))"
            if self.params_problem:
                params = f"the last good {params}, not the newer ones ({self.params_problem})"
        return f"{params}; {files} in {self.directory}" if files else f"{params} in {self.directory}"

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.directory)!r})"
