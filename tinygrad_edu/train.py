"""The training loop: mini-batch gradient descent with evaluation, history and plugin hooks.

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

Plugins see the loop through the lifecycle hooks (``tinygrad_edu.hookspecs``): ``before_fit``,
``before_epoch``, ``before_batch``, ``after_backward`` (gradients computed, not yet applied: clip
them here), ``after_batch``, ``after_epoch`` and ``after_fit``. A plugin stops training by
setting ``trainer.stop_training = True``; the loop ends after the current batch.

Ctrl-C (SIGINT) during ``fit`` finishes the current batch, stops, keeps the parameters learned
so far and the history, sets ``history.interrupted`` and says so. A second Ctrl-C interrupts
at once. A KeyboardInterrupt raised inside the step (by a hook, say) discards that batch's
gradients and stops the same way.

The same seed gives the same history: the shuffling is seeded with ``seed``, and everything
else in a step is deterministic (a model with Dropout draws its masks from the generator it
was built with). Without ``seed``, ``tg.manual_seed`` makes the whole run reproducible.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from tinygrad_edu import plugins, registry, schedules
from tinygrad_edu.autograd import no_grad
from tinygrad_edu.data import DataLoader
from tinygrad_edu.module import Module
from tinygrad_edu.optimizer import Optimizer
from tinygrad_edu.random import generator
from tinygrad_edu.tensor import Tensor

__all__ = ["Trainer", "History", "Evaluation", "evaluate", "accuracy", "fit"]

_LIFECYCLE = ("before_fit", "after_fit", "before_epoch", "after_epoch", "before_batch",
              "after_batch", "after_backward")


# --------------------------------------------------------------------------- evaluation


class Evaluation(NamedTuple):
    """The result of :func:`evaluate`: mean loss and accuracy over a dataset."""

    loss: float
    accuracy: float


def _labels(t: np.ndarray) -> np.ndarray:
    """Class numbers from integer labels (N,) or one-hot / probability rows (N, C)."""
    t = np.asarray(t)
    return t.argmax(axis=1) if t.ndim == 2 else t


def _resolve_loss(loss) -> Callable:
    if isinstance(loss, str):
        return registry.get("loss", loss)
    if callable(loss):
        return loss
    raise TypeError(f"loss must be a registered loss name or a callable loss(y, t), got {loss!r}")


def _check_data(x, t, what: str, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    t = np.asarray(t.data if isinstance(t, Tensor) else t)
    if x.ndim == 0 or len(x) != len(t):
        raise ValueError(f"{what}: x and t must hold the same number of samples, got shapes "
                         f"{x.shape} and {t.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{what}: x must be floating point (e.g. float32 in [0, 1]), got {x.dtype}; "
                        f"normalize images first (tinygrad_edu.data.normalize_images)")
    if dtype is not None and x.dtype != dtype:
        x = x.astype(dtype)   # once, here, so that every batch already has the model's dtype
    return x, t


def _model_dtype(model) -> np.dtype | None:
    params = model.parameters() if isinstance(model, Module) else []
    return params[0].data.dtype if params else None


def evaluate(model, x, t, batch_size: int = 1000, loss="softmax_cross_entropy") -> Evaluation:
    """Mean loss and accuracy of ``model`` on ``(x, t)``, batch by batch, in eval mode and
    under ``no_grad``; the model's previous train/eval mode is restored afterwards.

    accuracy = (1/N) · #{n : argmax_k y_nk = t_n}  (t: labels, or one-hot rows);
    loss     = (1/N) · Σ_batches n_b · loss(y_b, t_b)  (``loss=None`` skips it: NaN).
    """
    loss_fn = _resolve_loss(loss) if loss is not None else None
    x, t = _check_data(x, t, "evaluate", _model_dtype(model))
    n = len(x)
    if n == 0:
        raise ValueError("evaluate: no samples")
    if batch_size < 1:
        raise ValueError(f"evaluate: batch_size must be positive, got {batch_size}")
    was_training = getattr(model, "training", False)
    if isinstance(model, Module):
        model.eval()
    correct, total_loss = 0, 0.0
    try:
        with no_grad():
            for start in range(0, n, batch_size):
                xb, tb = x[start:start + batch_size], t[start:start + batch_size]
                y = model(Tensor(xb))
                correct += int(np.count_nonzero(y.data.argmax(axis=1) == _labels(tb)))
                if loss_fn is not None:
                    total_loss += float(loss_fn(y, tb).data) * len(xb)
    finally:
        if isinstance(model, Module) and was_training:
            model.train()
    return Evaluation(total_loss / n if loss_fn is not None else math.nan, correct / n)


def accuracy(model, x, t, batch_size: int = 1000) -> float:
    """The fraction of samples whose largest output is the true class (eval mode, no_grad)."""
    return evaluate(model, x, t, batch_size=batch_size, loss=None).accuracy


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
    interrupted  True if Ctrl-C ended the run; stopped_early: a plugin set stop_training
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


class _SigintGuard:
    """During fit: the first Ctrl-C sets a flag checked at the next batch boundary; the second
    raises KeyboardInterrupt at once. Only in the main thread (elsewhere signals cannot be
    handled) and only if SIGINT has Python's default handler."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


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

    Attributes plugins may use: ``model``, ``optimizer``, ``loss_fn``, ``history``,
    ``epoch``, ``iteration``, ``stop_training``, ``base_lr`` (the optimizer's learning rate
    when the trainer was built: where a named schedule starts), ``lr_schedule`` (the schedule
    of the current or last fit, or None).
    """

    def __init__(self, model: Module, loss="softmax_cross_entropy", optimizer="sgd",
                 lr: float | None = None, optimizer_kwargs: dict | None = None,
                 regularization: bool = True, eval_batch_size: int = 1000,
                 eval_train_samples: int | None = None):
        if not isinstance(model, Module):
            raise TypeError(f"Trainer: model must be a Module, got {type(model).__name__}")
        self.model = model
        self.loss_fn = _resolve_loss(loss)
        self.optimizer = self._make_optimizer(optimizer, lr, optimizer_kwargs or {})
        self.regularization = bool(regularization)
        self.eval_batch_size = int(eval_batch_size)
        self.eval_train_samples = eval_train_samples
        self.history = History()
        self.stop_training = False
        self.epoch = 0              # the current epoch, 0-based, counted over all fit() calls
        self.iteration = 0          # iterations done, over all fit() calls
        self.epochs_done = 0        # complete epochs, over all fit() calls
        self._active: dict[str, bool] | None = None   # hooks implemented, during fit()
        self.base_lr = float(self.optimizer.lr)
        self.lr_schedule: Callable[[int], float] | None = None
        self._schedule_start = 0    # self.iteration when the running fit began

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

    # ----------------------------------------------------------------- hooks

    def _hooks(self) -> dict[str, bool]:
        """Which lifecycle hooks some plugin implements (the others are skipped for speed)."""
        relay = plugins.hook()
        return {name: bool(getattr(relay, name).get_hookimpls()) for name in _LIFECYCLE}

    # ----------------------------------------------------------------- one step

    def train_step(self, x_batch: np.ndarray, t_batch: np.ndarray) -> float:
        """One iteration on one batch: forward, backward, optimizer step. Returns the loss.

        (Hooks ``before_batch``/``after_batch`` are called by ``fit`` around this.)"""
        model = self.model
        active = self._active if self._active is not None else self._hooks()
        self.optimizer.zero_grad()
        loss = self.loss_fn(model(Tensor(x_batch)), t_batch)
        if self.regularization:
            reg = getattr(model, "regularization", None)
            term = reg() if callable(reg) else None
            if term is not None:
                loss = loss + term
        loss.backward()
        if active["after_backward"]:
            plugins.call_hook("after_backward", trainer=self, model=model, iteration=self.iteration)
        self.optimizer.step()
        return float(loss.data)

    # ----------------------------------------------------------------- fit

    def fit(self, x_train, t_train, x_test=None, t_test=None, epochs: int = 1,
            batch_size: int = 100, seed: int | None = None, eval_every: int = 1,
            progress: bool = True, verbose: bool | None = None, shuffle: bool = True,
            drop_last: bool = False, lr_schedule: schedules.ScheduleLike = None) -> History:
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
        """
        model = self.model
        dtype = _model_dtype(model)
        x_train, t_train = _check_data(x_train, t_train, "fit: training data", dtype)
        has_test = x_test is not None
        if has_test:
            if t_test is None:
                raise ValueError("fit: x_test given without t_test")
            x_test, t_test = _check_data(x_test, t_test, "fit: test data", dtype)
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"fit: {name} must be a positive integer, got {value!r}")
        if isinstance(eval_every, bool) or not isinstance(eval_every, (int, np.integer)) or eval_every < 0:
            raise ValueError(f"fit: eval_every must be an integer >= 0, got {eval_every!r}")
        verbose = progress if verbose is None else verbose

        loader = DataLoader(x_train, t_train, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
        self.lr_schedule = schedules.make_schedule(lr_schedule, self.base_lr, epochs * len(loader))
        train_eval = (x_train, t_train)
        if self.eval_train_samples is not None and self.eval_train_samples < len(x_train):
            pick = generator(seed=seed).choice(len(x_train), self.eval_train_samples, replace=False)
            pick.sort()
            train_eval = (x_train[pick], t_train[pick])

        self._active = self._hooks()
        active = self._active
        history = self.history
        history.lr_schedule = None if self.lr_schedule is None else repr(self.lr_schedule)
        self._schedule_start = self.iteration
        self.stop_training = False
        history.interrupted = history.stopped_early = False
        start_time = time.perf_counter()
        first_epoch = self.epochs_done

        model.train()
        if active["before_fit"]:
            plugins.call_hook("before_fit", trainer=self)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=epochs * len(loader), unit="it", dynamic_ncols=True, mininterval=0.25,
                       leave=True, file=sys.stderr)

        def say(message: str) -> None:
            if bar is not None:
                bar.write(message, file=sys.stderr)
            else:
                print(message, file=sys.stderr)

        guard = _SigintGuard()
        try:
            with guard:
                try:
                    self._run_epochs(loader, epochs, first_epoch, eval_every, train_eval,
                                     (x_test, t_test) if has_test else None, guard, bar,
                                     say if verbose else None, start_time)
                except KeyboardInterrupt:   # raised by a hook, or a second Ctrl-C
                    self.optimizer.zero_grad()   # drop the gradients of an unfinished batch
                    guard.requested = True
        finally:
            self._active = None
            if bar is not None:
                bar.close()
            history.elapsed += time.perf_counter() - start_time
        if guard.requested:
            history.interrupted = True
            say(f"Training interrupted (Ctrl-C) at epoch {self.epoch + 1}, iteration "
                f"{self.iteration}: stopped cleanly after the last complete batch; the parameters "
                f"learned so far and the history are kept.")
        elif self.stop_training:
            history.stopped_early = True
            if verbose:
                say(f"Training stopped early by a plugin at epoch {self.epoch + 1}, "
                    f"iteration {self.iteration}.")
        if active["after_fit"]:
            plugins.call_hook("after_fit", trainer=self)
        return history

    def _run_epochs(self, loader, epochs, first_epoch, eval_every, train_eval, test_data, guard,
                    bar, say, start_time) -> None:
        """The epoch and batch loops of :meth:`fit`; returns at the first batch boundary after
        a Ctrl-C (``guard.requested``) or ``stop_training``."""
        active, history, model = self._active, self.history, self.model
        for e in range(epochs):
            self.epoch = epoch = first_epoch + e
            if active["before_epoch"]:
                plugins.call_hook("before_epoch", trainer=self, epoch=epoch)
            epoch_losses: list[float] = []
            for x_batch, t_batch in loader:
                it = self.iteration
                if self.lr_schedule is not None:
                    self.optimizer.lr = self._scheduled_lr(it - self._schedule_start)
                if active["before_batch"]:
                    plugins.call_hook("before_batch", trainer=self, iteration=it)
                value = self.train_step(x_batch, t_batch)
                history.loss.append(value)
                history.lr.append(self.optimizer.lr)
                epoch_losses.append(value)
                self.iteration = it + 1
                if bar is not None:
                    bar.update(1)
                    if it % 10 == 0:
                        bar.set_postfix(epoch=f"{epoch + 1}/{first_epoch + epochs}",
                                        loss=f"{value:.4f}", refresh=False)
                if active["after_batch"]:
                    plugins.call_hook("after_batch", trainer=self, iteration=it,
                                      logs={"loss": value, "batch_size": len(x_batch)})
                if guard.requested or self.stop_training:
                    break
            if guard.requested:
                return
            self.epochs_done += 1
            logs: dict[str, Any] = {"loss": float(np.mean(epoch_losses)) if epoch_losses else math.nan}
            if self.stop_training or e == epochs - 1 or (eval_every and (e + 1) % eval_every == 0):
                logs.update(self._evaluate(train_eval, test_data, epoch, start_time))
                if say is not None:
                    say(self._summary(epoch + 1, logs))
                model.train()
            if active["after_epoch"]:
                plugins.call_hook("after_epoch", trainer=self, epoch=epoch, logs=logs)
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
