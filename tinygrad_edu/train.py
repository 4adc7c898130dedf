"""The training loop: mini-batch gradient descent with evaluation, history and callbacks.

    from tinygrad_edu.train import Trainer
    trainer = Trainer(model, loss="softmax_cross_entropy", optimizer="adam", lr=0.001)
    history = trainer.fit(x_train, t_train, x_test, t_test, epochs=5, batch_size=100, seed=0)
    print(history.test_acc[-1])

One iteration is the four steps of chapter 4 of the book, with autodiff doing step 2:

1. a mini-batch ``(x, t)`` is drawn (a seeded shuffle of the training data every epoch),
2. ``L = loss(model(x), t) (+ model.regularization())``, then ``L.backward()`` fills every
   ``p.grad`` with dL/dp,
3. ``optimizer.step()`` updates every parameter in place (``p ← p − lr·dL/dp`` for SGD),
4. the loss is recorded in ``history.loss``, the learning rate used in ``history.lr``.

A learning-rate schedule (``fit(..., lr_schedule="cosine")`` or any callable ``step -> lr``,
see :mod:`tinygrad_edu.schedules`) sets ``optimizer.lr = schedule(step)`` before step 1 of
every iteration; ``step`` counts the iterations of this ``fit`` call from 0.

After each epoch (every ``eval_every`` epochs, and always after the last) the model is
evaluated on the training and test data in eval mode (Dropout off, BatchNorm running
statistics) under ``no_grad``, batch by batch, and the accuracies and losses are recorded.

Callbacks see the loop (``Trainer(model, callbacks=[...])``, see :mod:`tinygrad_edu.callbacks`):
``before_fit``, ``before_epoch``, ``before_batch``, ``after_backward`` (gradients computed, not
yet applied: clip them here), ``after_batch``, ``after_epoch`` and ``after_fit``, which is called
on every way out of ``fit``. A callback stops training by setting ``trainer.stop_training = True``;
the loop ends after the current batch. A Trainer runs only the callbacks it was given; the
plugins' lifecycle hooks reach it through ``callbacks.PluginHooks()``.

Ctrl-C (SIGINT) or SIGTERM during ``fit`` finishes the current batch, stops, keeps the
parameters learned so far and the history, sets ``history.interrupted`` (``trainer.stop_reason``
says which) and says so. A second signal interrupts at once; a checkpoint being written is
always completed (:mod:`tinygrad_edu.interrupts`). A KeyboardInterrupt raised inside the step
(by a callback, say) discards that batch's gradients and stops the same way.

A loss that is not a finite number stops training with :class:`DivergenceError` naming the
iteration and the epoch, before that loss reaches the parameters; a parameter that is not finite
at the end of an epoch does too.

The same seed gives the same history: the shuffling is seeded with ``seed``, and everything
else in a step is deterministic (a model with Dropout draws its masks from the generator it
was built with). Without ``seed``, ``tg.manual_seed`` makes the whole run reproducible.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from tinygrad_edu import interrupts, registry, schedules
from tinygrad_edu.callbacks import EVENTS, as_callbacks, handlers
from tinygrad_edu.evaluation import Evaluation, accuracy, check_data, evaluate, model_dtype, resolve_loss
from tinygrad_edu.data import DataLoader
from tinygrad_edu.module import Module
from tinygrad_edu.divergence import DivergenceError, is_finite
from tinygrad_edu.optimizer import Optimizer
from tinygrad_edu.random import generator
from tinygrad_edu.tensor import Tensor

__all__ = ["Trainer", "History", "Evaluation", "DivergenceError", "evaluate", "accuracy", "fit"]


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """What a :meth:`Trainer.fit` run recorded.

    loss         the training loss of every iteration (what was minimised: data loss plus
                 regularisation, as in the book)
    epochs       the epoch numbers (1-based) at which the model was evaluated
    iterations   the iteration count at each of those evaluations
    train_loss, train_acc, test_loss, test_acc
                 the evaluations (eval mode); test_* are empty without test data
    times        seconds since the start of fit at each evaluation
    lr           the learning rate of every iteration (what the optimizer used)
    lr_schedule  the schedule of the last fit, as its repr (None: a fixed learning rate)
    interrupted  True if Ctrl-C or SIGTERM ended the run; stopped_early: a callback set
                 stop_training
    """

    loss: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    lr_schedule: str | None = None
    interrupted: bool = False
    stopped_early: bool = False
    elapsed: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A plain dict of lists and numbers (for json, or ``np.savez``)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(self).items()}

    def __getitem__(self, key: str):   # history["test_acc"], like a Keras History.history
        return getattr(self, key)


# --------------------------------------------------------------------------- trainer


def _add_note(error: BaseException, note: str) -> None:
    if hasattr(error, "add_note"):   # Python 3.11+
        error.add_note(note)


def _one_line(error: BaseException, with_type: bool = True) -> str:
    """``"ValueError: bad epoch 3 (raised in callback X.after_epoch)"``: the type, the first
    line of the message and the notes, on one line."""
    lines = str(error).strip().splitlines()
    text = type(error).__name__ if with_type or not lines else ""
    text += (": " if text and lines else "") + (lines[0] if lines else "")
    notes = getattr(error, "__notes__", None) or []
    return " ".join([text, *(str(n) for n in notes)])


class Trainer:
    """Trains ``model`` by mini-batch gradient descent; see the module docstring.

    model              a Module whose ``forward`` maps a batch (N, ...) to scores (N, C)
    loss               a registered loss name (``"softmax_cross_entropy"``) or ``loss(y, t)``
    optimizer          an Optimizer instance, or a registered optimizer name or class
                       (built over ``model.parameters()`` with ``lr`` and ``optimizer_kwargs``)
    lr                 the learning rate (None: the optimizer's default)
    regularization     add ``model.regularization()`` (e.g. the L2 term 0.5·λ·ΣW²) to the loss
    eval_batch_size    batch size of the evaluations
    eval_train_samples evaluate training accuracy on at most this many samples (a fixed random
                       subset; None: all of them). Evaluation costs a forward pass over the data.
    callbacks          a list of callbacks (:mod:`tinygrad_edu.callbacks`), called in this order

    Attributes callbacks may use: ``model``, ``optimizer``, ``loss_fn``, ``history``,
    ``epoch``, ``iteration``, ``epochs_done``, ``stop_training``, ``base_lr`` (the optimizer's
    learning rate when the trainer was built: where a named schedule starts), ``lr_schedule``
    (the schedule of the current or last fit, or None), ``stop_reason`` ("Ctrl-C", "SIGTERM"
    or None) and ``error`` (the exception that ended the last fit, or None).
    """

    def __init__(self, model: Module, loss="softmax_cross_entropy", optimizer="sgd",
                 lr: float | None = None, optimizer_kwargs: dict | None = None,
                 regularization: bool = True, eval_batch_size: int = 1000,
                 eval_train_samples: int | None = None, callbacks=None):
        if not isinstance(model, Module):
            raise TypeError(f"Trainer: model must be a Module, got {type(model).__name__}")
        self.model = model
        self.loss_fn = resolve_loss(loss)
        self.optimizer = self._make_optimizer(optimizer, lr, optimizer_kwargs or {})
        self.regularization = bool(regularization)
        self.eval_batch_size = int(eval_batch_size)
        self.eval_train_samples = eval_train_samples
        self.callbacks = as_callbacks(callbacks)
        self.history = History()
        self.stop_training = False
        self.stop_reason: str | None = None
        self.error: BaseException | None = None
        self.epoch = 0              # the current epoch, 0-based, counted over all fit() calls
        self.iteration = 0          # iterations done, over all fit() calls
        self.epochs_done = 0        # complete epochs, over all fit() calls
        self.status = "new"         # running, finished, stopped early, interrupted, diverged, failed
        self._handlers: dict[str, list] | None = None   # the callbacks per event, during fit()
        self.base_lr = float(self.optimizer.lr)
        self.lr_schedule: Callable[[int], float] | None = None
        self._schedule_start = 0    # self.iteration when the running fit's schedule began

    def _make_optimizer(self, optimizer, lr, kwargs) -> Optimizer:
        if isinstance(optimizer, Optimizer):
            if lr is not None:
                optimizer.lr = lr
            if kwargs:
                raise TypeError("Trainer: optimizer_kwargs only apply when the optimizer is given by name")
            return optimizer
        cls = registry.get("optimizer", optimizer) if isinstance(optimizer, str) else optimizer
        if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
            raise TypeError(f"Trainer: optimizer must be an Optimizer, a registered optimizer name or "
                            f"an Optimizer class, got {optimizer!r}")
        if lr is not None:
            kwargs = {**kwargs, "lr": lr}
        return cls(self.model.parameters(), **kwargs)

    # ----------------------------------------------------------------- callbacks

    def _call(self, event: str, **kwargs) -> None:
        """Call every callback that handles ``event``; an exception gets a note naming it."""
        for handler in self._handlers[event]:
            try:
                handler(**kwargs)
            except Exception as error:
                _add_note(error, f"(raised in callback {type(handler.__self__).__name__}.{event})")
                raise

    def progress(self) -> dict[str, Any]:
        """Where training stands, as plain values (what a checkpoint records)."""
        return {"status": self.status, "epochs_done": self.epochs_done, "iteration": self.iteration,
                "stop_reason": self.stop_reason,
                "error": None if self.error is None else _one_line(self.error)}

    # ----------------------------------------------------------------- one step

    def train_step(self, x_batch: np.ndarray, t_batch: np.ndarray) -> float:
        """One iteration on one batch: forward, backward, optimizer step. Returns the loss.

        A loss that is not finite raises :class:`DivergenceError` before the backward pass, so
        the parameters never take a step computed from it. (Callbacks ``before_batch`` and
        ``after_batch`` are called by ``fit`` around this.)"""
        model = self.model
        self.optimizer.zero_grad()
        loss = self.loss_fn(model(Tensor(x_batch)), t_batch)
        if self.regularization:
            reg = getattr(model, "regularization", None)
            term = reg() if callable(reg) else None
            if term is not None:
                loss = loss + term
        value = float(loss.data)
        if not math.isfinite(value):
            raise DivergenceError(
                f"training diverged: the loss is {value} at iteration {self.iteration} (epoch "
                f"{self.epoch + 1}); stopped before it changed the parameters. Try a smaller "
                f"learning rate than {self.base_lr:g}")
        loss.backward()
        if self._handlers is not None and self._handlers["after_backward"]:
            self._call("after_backward", trainer=self, model=model, iteration=self.iteration)
        self.optimizer.step()
        return value

    # ----------------------------------------------------------------- fit

    def fit(self, x_train, t_train, x_test=None, t_test=None, epochs: int = 1,
            batch_size: int = 100, seed: int | None = None, eval_every: int = 1,
            progress: bool = True, verbose: bool | None = None, shuffle: bool = True,
            drop_last: bool = False, lr_schedule: schedules.ScheduleLike = None,
            initial_epoch: int = 0) -> History:
        """Train for ``epochs`` passes over ``(x_train, t_train)``; returns :attr:`history`
        (which keeps growing if ``fit`` is called again).

        x_test, t_test  evaluated with the training data every ``eval_every`` epochs (and
                        after the last); ``eval_every=0`` evaluates only after the last epoch
        seed            seeds the shuffling (same seed, same model → same history;
                        None: the framework's generator, seeded by ``tg.manual_seed``)
        progress        show a tqdm progress bar over the iterations (on stderr)
        verbose         print one line per evaluation (default: same as ``progress``)
        lr_schedule     None (the optimizer's lr, fixed), a name (``"cosine"``: from
                        :attr:`base_lr` to 0 over the ``epochs · batches`` iterations of this
                        fit; ``"constant"``) or a callable ``step -> lr``, called with the
                        iteration of this fit (0, 1, ...); the optimizer keeps the last value
        initial_epoch   resume a run of ``epochs`` epochs whose first ``initial_epoch`` epochs
                        are done (as Keras): only the rest are run, and the shuffling and the
                        schedule go on as if the whole run were this one call
        """
        model = self.model
        dtype = model_dtype(model)
        x_train, t_train = check_data(x_train, t_train, "fit: training data", dtype)
        if len(x_train) == 0:
            raise ValueError("fit: the training data hold no samples")
        has_test = x_test is not None
        if has_test:
            if t_test is None:
                raise ValueError("fit: x_test given without t_test")
            x_test, t_test = check_data(x_test, t_test, "fit: test data", dtype)
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"fit: {name} must be a positive integer, got {value!r}")
        for name, value in (("eval_every", eval_every), ("initial_epoch", initial_epoch)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"fit: {name} must be an integer >= 0, got {value!r}")
        if initial_epoch >= epochs:
            raise ValueError(f"fit: initial_epoch ({initial_epoch}) must be less than epochs ({epochs})")
        verbose = progress if verbose is None else verbose

        loader = DataLoader(x_train, t_train, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
        for _ in range(initial_epoch if shuffle else 0):
            iter(loader)            # draw the orders of the epochs already done
        self.lr_schedule = schedules.make_schedule(lr_schedule, self.base_lr, epochs * len(loader))
        train_eval = (x_train, t_train)
        if self.eval_train_samples is not None and self.eval_train_samples < len(x_train):
            pick = generator(seed=seed).choice(len(x_train), self.eval_train_samples, replace=False)
            pick.sort()
            train_eval = (x_train[pick], t_train[pick])

        self._handlers = {event: handlers(self.callbacks, event) for event in EVENTS}
        history = self.history
        history.lr_schedule = None if self.lr_schedule is None else repr(self.lr_schedule)
        self._schedule_start = self.iteration - initial_epoch * len(loader)
        self.stop_training = False
        self.stop_reason = self.error = None
        self.status = "running"
        history.interrupted = history.stopped_early = False
        start_time = time.perf_counter()

        model.train()
        bar = None
        if progress:
            from tqdm import tqdm
            total = (epochs - initial_epoch) * len(loader)
            bar = tqdm(total=total, unit="it", dynamic_ncols=True, mininterval=0.25,
                       leave=True, file=sys.stderr)

        def say(message: str) -> None:
            if bar is not None:
                bar.write(message, file=sys.stderr)
            else:
                print(message, file=sys.stderr)

        try:
            with interrupts.guarding() as guard:
                try:
                    self._call("before_fit", trainer=self)
                    self._run_epochs(loader, epochs - initial_epoch, eval_every, train_eval,
                                     (x_test, t_test) if has_test else None, guard, bar,
                                     say if verbose else None, start_time)
                except KeyboardInterrupt:   # raised by a callback, or a second Ctrl-C
                    self.optimizer.zero_grad()   # drop the gradients of an unfinished batch
                    guard.requested = guard.requested or "Ctrl-C"
                except BaseException as error:   # noqa: B036 - saved below, then raised again
                    self.error = error
                guard.finishing = True   # from here on, signals are only noted
                if bar is not None:
                    bar.close()
                    bar = None
                history.elapsed += time.perf_counter() - start_time
                self._finish(guard.requested)
                if self.stop_reason is not None:
                    say(self._stop_message())
                elif self.status == "stopped early" and verbose:
                    say(f"Training stopped early by a callback at epoch {self.epoch + 1}, "
                        f"iteration {self.iteration}.")
        finally:
            if bar is not None:
                bar.close()
            self._handlers = None
        if self.error is not None:
            raise self.error
        return history

    def _finish(self, stop_reason: str | None) -> None:
        """Record how the run ended, then call every ``after_fit`` (all of them, even if one
        raises: the first exception is kept in :attr:`error`)."""
        history = self.history
        if self.error is not None:
            self.status = "diverged" if isinstance(self.error, DivergenceError) else "failed"
        elif stop_reason is not None:
            self.status, self.stop_reason, history.interrupted = "interrupted", stop_reason, True
        elif self.stop_training:
            self.status, history.stopped_early = "stopped early", True
        else:
            self.status = "finished"
        for handler in self._handlers["after_fit"]:
            try:
                handler(trainer=self)
            except BaseException as error:   # noqa: B036 - kept, raised by fit
                _add_note(error, f"(raised in callback {type(handler.__self__).__name__}.after_fit)")
                if self.error is None:
                    self.error = error
                else:
                    _add_note(self.error, f"(then callback {type(handler.__self__).__name__}"
                                          f".after_fit raised {_one_line(error)})")

    def _stop_message(self) -> str:
        text = (f"Training interrupted ({self.stop_reason}) at epoch {self.epoch + 1}, iteration "
                f"{self.iteration}: stopped after the last complete batch")
        saved = [cb.summary() for cb in self.callbacks if callable(getattr(cb, "summary", None))]
        if saved:
            return text + "; saved " + "; ".join(saved)
        return text + "; the parameters learned so far and the history are kept."

    def _run_epochs(self, loader, epochs, eval_every, train_eval, test_data, guard, bar, say,
                    start_time) -> None:
        """The epoch and batch loops of :meth:`fit`; returns at the first batch boundary after
        a Ctrl-C or SIGTERM (``guard.requested``) or ``stop_training``."""
        handlers_of, history, model = self._handlers, self.history, self.model
        first_epoch = self.epochs_done
        last_epoch = first_epoch + epochs
        for e in range(epochs):
            self.epoch = epoch = first_epoch + e
            self._call("before_epoch", trainer=self, epoch=epoch)
            epoch_losses: list[float] = []
            for x_batch, t_batch in loader:
                it = self.iteration
                if self.lr_schedule is not None:
                    self.optimizer.lr = self._scheduled_lr(it - self._schedule_start)
                if handlers_of["before_batch"]:
                    self._call("before_batch", trainer=self, iteration=it)
                value = self.train_step(x_batch, t_batch)
                history.loss.append(value)
                history.lr.append(self.optimizer.lr)
                epoch_losses.append(value)
                self.iteration = it + 1
                if bar is not None:
                    bar.update(1)
                    if it % 10 == 0:
                        bar.set_postfix(epoch=f"{epoch + 1}/{last_epoch}",
                                        loss=f"{value:.4f}", refresh=False)
                if handlers_of["after_batch"]:
                    self._call("after_batch", trainer=self, iteration=it,
                               logs={"loss": value, "batch_size": len(x_batch)})
                if guard.requested or self.stop_training:
                    break
            if guard.requested:
                return
            if not is_finite(model):
                raise DivergenceError(
                    f"training diverged: a parameter is NaN or infinite after epoch {epoch + 1} "
                    f"(iteration {self.iteration - 1}). Try a smaller learning rate than "
                    f"{self.base_lr:g}")
            self.epochs_done += 1
            logs: dict[str, Any] = {"loss": float(np.mean(epoch_losses)) if epoch_losses else math.nan}
            if self.stop_training or e == epochs - 1 or (eval_every and (e + 1) % eval_every == 0):
                logs.update(self._evaluate(train_eval, test_data, epoch, start_time))
                if say is not None:
                    say(self._summary(epoch + 1, logs))
                model.train()
            self._call("after_epoch", trainer=self, epoch=epoch, logs=logs)
            if guard.requested or self.stop_training:
                return

    def _scheduled_lr(self, step: int) -> float:
        lr = float(self.lr_schedule(step))
        if not (lr >= 0 and math.isfinite(lr)):
            raise ValueError(f"fit: the learning-rate schedule {self.lr_schedule!r} gave lr = {lr!r} "
                             f"at step {step}; a learning rate must be a finite number >= 0")
        return lr

    def _evaluate(self, train_data, test_data, epoch, start_time) -> dict[str, float]:
        """Evaluate, then record everything at once (an interrupted evaluation records nothing,
        so the history's lists stay the same length)."""
        h = self.history
        train = evaluate(self.model, *train_data, batch_size=self.eval_batch_size, loss=self.loss_fn)
        test = evaluate(self.model, *test_data, batch_size=self.eval_batch_size, loss=self.loss_fn) \
            if test_data is not None else None
        logs = {"train_loss": train.loss, "train_acc": train.accuracy}
        h.epochs.append(epoch + 1)
        h.iterations.append(self.iteration)
        h.train_loss.append(train.loss)
        h.train_acc.append(train.accuracy)
        if test is not None:
            logs.update(test_loss=test.loss, test_acc=test.accuracy)
            h.test_loss.append(test.loss)
            h.test_acc.append(test.accuracy)
        h.times.append(time.perf_counter() - start_time)
        return logs

    @staticmethod
    def _summary(epoch: int, logs: dict) -> str:
        text = f"epoch {epoch}: loss {logs['loss']:.4f}, train acc {logs['train_acc']:.4f}"
        if "test_acc" in logs:
            text += f", test acc {logs['test_acc']:.4f}"
        return text

    def evaluate(self, x, t, batch_size: int | None = None) -> Evaluation:
        """:func:`evaluate` with this trainer's model and loss."""
        return evaluate(self.model, x, t, batch_size=batch_size or self.eval_batch_size, loss=self.loss_fn)


def fit(model: Module, x_train, t_train, x_test=None, t_test=None, *, loss="softmax_cross_entropy",
        optimizer="sgd", lr: float | None = None, **fit_kwargs) -> History:
    """Shortcut: ``Trainer(model, loss, optimizer, lr).fit(...)``; returns the history."""
    return Trainer(model, loss=loss, optimizer=optimizer, lr=lr).fit(
        x_train, t_train, x_test, t_test, **fit_kwargs)
