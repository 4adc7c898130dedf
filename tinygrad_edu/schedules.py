"""Learning-rate schedules: the learning rate as a function of the step number.

A schedule is any callable ``step -> lr``; ``step`` counts the optimizer steps already done
(0 before the first one). The optimizer reads ``optimizer.lr`` at every ``step()``, so applying
a schedule is one line before each step::

    schedule = cosine(lr0=2e-3, total_steps=5 * 600)     # 5 epochs of 600 batches
    for step, (x, t) in enumerate(batches):
        optimizer.lr = schedule(step)
        optimizer.zero_grad()
        loss_fn(model(x), t).backward()
        optimizer.step()

``Trainer.fit(..., lr_schedule="cosine")`` (or any callable) does exactly this.

Why decay at all: with a fixed learning rate the last steps keep jumping around the minimum
with a size set by lr, so the test accuracy wanders (SimpleConvNet with Adam at a fixed 1e-3
hovers at 98.6-98.8% on MNIST). Letting lr fall to 0 lets the last epochs settle into it: the
same network reaches 99% in 5 epochs with a cosine schedule (docs/experiments.md, section 5).

The schedules are small frozen dataclasses: ``repr(schedule)`` says exactly what was used,
which is what ``History.lr_schedule`` records.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable, Union

__all__ = ["Schedule", "Constant", "Cosine", "StepDecay", "Exponential",
           "constant", "cosine", "step_decay", "exponential", "NAMED", "make_schedule"]


def _positive(value, name: str, owner: str, integer: bool = False):
    kind = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 \
            or not math.isfinite(value):
        what = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{owner}: {name} must be {what}, got {value!r}")
    return value


def _non_negative(value, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
            or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def _step(step, owner: str) -> int:
    try:
        t = operator.index(step)            # int, numpy integer; not float, not bool below
    except TypeError:
        t = -1
    if isinstance(step, bool) or t < 0:
        raise ValueError(f"{owner}: step must be an integer >= 0, got {step!r}")
    return t


class Schedule:
    """Base class of the schedules below: ``schedule(step) -> lr`` (a python float)."""

    def __call__(self, step: int) -> float:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Schedule):
    """lr_t = lr0 (no schedule; what a plain optimizer does)."""

    lr0: float

    def __post_init__(self):
        _non_negative(self.lr0, "lr0", "Constant")

    def __call__(self, step: int) -> float:
        _step(step, "Constant")
        return float(self.lr0)


@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine decay from lr0 to lr_min over ``total_steps`` steps (Loshchilov & Hutter, SGDR):

        lr_t = lr_min + (lr0 − lr_min) · ½ · (1 + cos(π · t / T)),   T = total_steps

    so lr_0 = lr0, lr_{T/2} = (lr0 + lr_min)/2, lr_T = lr_min; after T it stays at lr_min.
    The decay is slow at first and near the end, fastest in the middle.
    """

    lr0: float
    total_steps: int
    lr_min: float = 0.0

    def __post_init__(self):
        _non_negative(self.lr0, "lr0", "Cosine")
        _positive(self.total_steps, "total_steps", "Cosine", integer=True)
        _non_negative(self.lr_min, "lr_min", "Cosine")

    def __call__(self, step: int) -> float:
        t = min(_step(step, "Cosine"), self.total_steps)
        return self.lr_min + (self.lr0 - self.lr_min) * 0.5 * (1.0 + math.cos(math.pi * t / self.total_steps))


@dataclass(frozen=True)
class StepDecay(Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps:

        lr_t = lr0 · gamma^⌊t / step_size⌋

    (e.g. step_size = 10 epochs' worth of steps and gamma = 0.1: the classic "divide by 10").
    """

    lr0: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        _non_negative(self.lr0, "lr0", "StepDecay")
        _positive(self.step_size, "step_size", "StepDecay", integer=True)
        _positive(self.gamma, "gamma", "StepDecay")

    def __call__(self, step: int) -> float:
        return self.lr0 * self.gamma ** (_step(step, "StepDecay") // self.step_size)


@dataclass(frozen=True)
class Exponential(Schedule):
    """Multiply the learning rate by ``gamma`` at every step:

        lr_t = lr0 · gamma^t

    (gamma slightly below 1: gamma = 0.1^(1/n) divides lr by 10 every n steps).
    """

    lr0: float
    gamma: float

    def __post_init__(self):
        _non_negative(self.lr0, "lr0", "Exponential")
        _positive(self.gamma, "gamma", "Exponential")

    def __call__(self, step: int) -> float:
        return self.lr0 * self.gamma ** _step(step, "Exponential")


# Lower-case names, to read like functions: ``cosine(2e-3, 3000)(step)``.
constant, cosine, step_decay, exponential = Constant, Cosine, StepDecay, Exponential

#: The schedules that can be named in ``Trainer.fit(lr_schedule=...)``: built from the
#: trainer's learning rate lr0 and the number of steps T of the fit (a schedule needing more,
#: such as StepDecay's step size, is passed as an object instead).
NAMED: dict[str, Callable[[float, int], Schedule]] = {
    "constant": lambda lr0, total_steps: Constant(lr0),
    "cosine": lambda lr0, total_steps: Cosine(lr0, total_steps),
}

ScheduleLike = Union[str, Callable[[int], float], None]


def make_schedule(spec: ScheduleLike, lr0: float, total_steps: int) -> Callable[[int], float] | None:
    """The schedule ``spec`` stands for: None stays None (a fixed lr), a name from
    :data:`NAMED` is built with ``lr0`` and ``total_steps``, a callable is used as it is."""
    if spec is None or (callable(spec) and not isinstance(spec, str)):
        return spec
    if isinstance(spec, str):
        try:
            build = NAMED[spec.lower()]
        except KeyError:
            raise ValueError(f"unknown learning-rate schedule {spec!r}; named schedules: "
                             f"{', '.join(sorted(NAMED))} (or pass a callable step -> lr, such as "
                             f"tinygrad_edu.schedules.StepDecay(lr0, step_size))") from None
        return build(lr0, total_steps)
    raise TypeError(f"lr_schedule must be None, a schedule name ({', '.join(sorted(NAMED))}) or a "
                    f"callable step -> lr, got {spec!r}")
