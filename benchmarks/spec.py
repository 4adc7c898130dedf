"""What each workload is: the definitions both frameworks implement, and the issue's goals.

A workload module (``workloads_tinygrad``, ``workloads_torch``) provides ``workload_A`` ...
``workload_F``; each returns a :class:`Workload` whose ``run()`` is one timed repetition, whose
duration is divided by ``per`` to report the time per ``unit`` (E returns a result dict instead).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

#: C: the chain has this many elementwise ops, on arrays of this shape (float32). The ops cycle
#: through y*w, y+b, tanh(y), y-b (w, b constant arrays of the same shape).
CHAIN_LENGTH = 1000
CHAIN_SHAPE = (100,)
#: D: inference batch size.
INFER_BATCH = 1000
#: E: the test accuracy to reach.
E_TARGET = 0.989


@dataclass(frozen=True)
class Recipe:
    """How E trains SimpleConvNet, the same on both sides (Adam, batches of 100, the same
    shuffled order and the same initial weights, see :func:`e_initial_weights`).

    init           "book": weights N(0, 0.01²); "he": He normal N(0, 2 / fan_in); biases 0
    lr             Adam's learning rate (the initial one when it decays)
    cosine_epochs  None: a fixed lr. Otherwise the lr decays to 0 by a cosine over this many
                   epochs, set before every iteration t: lr_t = lr · ½(1 + cos(π t / T)),
                   T = cosine_epochs · 600 (:func:`e_learning_rate`)
    max_epochs     give up after this many epochs
    """

    init: str
    lr: float
    cosine_epochs: int | None
    max_epochs: int

    def describe(self) -> str:
        decay = f" decayed to 0 by a cosine over {self.cosine_epochs} epochs" \
            if self.cosine_epochs else " (fixed)"
        return f"{self.init} init, Adam lr {self.lr:g}{decay}, batch 100"


#: E's recipes (``run.py --e-recipe``). book: the book's method. fast: the same network and
#: optimizer, He init, a larger learning rate that decays to 0 over 5 epochs.
E_RECIPES = {"book": Recipe(init="book", lr=1e-3, cosine_epochs=None, max_epochs=20),
             "fast": Recipe(init="he", lr=2e-3, cosine_epochs=5, max_epochs=5)}
E_DEFAULT_RECIPE = "fast"
E_BATCHES_PER_EPOCH = 600    # 60,000 images / 100


def e_recipe(name: str = E_DEFAULT_RECIPE, init: str | None = None,
             max_epochs: int | None = None) -> Recipe:
    """The recipe ``name``, with its init or its epoch limit replaced when given."""
    recipe = E_RECIPES[name]
    if init is not None:
        recipe = replace(recipe, init=init)
    if max_epochs is not None:
        recipe = replace(recipe, max_epochs=max_epochs)
    return recipe


def e_learning_rate(recipe: Recipe, step: int, batches_per_epoch: int = E_BATCHES_PER_EPOCH) -> float:
    """The learning rate of iteration ``step`` (0-based) under ``recipe``: lr, or the cosine
    lr · ½(1 + cos(π · min(t, T) / T)) with T = cosine_epochs · batches_per_epoch."""
    if not recipe.cosine_epochs:
        return recipe.lr
    total = recipe.cosine_epochs * batches_per_epoch
    return recipe.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def e_initial_weights(init: str, seed: int = 0) -> dict[str, np.ndarray]:
    """SimpleConvNet's initial parameters, drawn once in numpy so that both frameworks start
    from the very same weights: float32, in the book's layout (conv weights (30, 1, 5, 5),
    affine weights (in, out)); weights N(0, std²) with std 0.01 ("book") or √(2 / fan_in)
    ("he"), biases 0."""
    if init not in ("book", "he"):
        raise ValueError(f"E: unknown init {init!r}; choose book or he")
    rng = np.random.default_rng(seed)
    shapes = {"conv_W": ((30, 1, 5, 5), 25), "fc1_W": ((30 * 12 * 12, 100), 30 * 12 * 12),
              "fc2_W": ((100, 10), 100)}
    weights = {}
    for name, (shape, fan_in) in shapes.items():
        std = 0.01 if init == "book" else math.sqrt(2.0 / fan_in)
        weights[name] = (rng.standard_normal(shape) * std).astype(np.float32)
    weights.update(conv_b=np.zeros(30, np.float32), fc1_b=np.zeros(100, np.float32),
                   fc2_b=np.zeros(10, np.float32))
    return weights

DESCRIPTIONS = {
    "A": "SimpleConvNet train step, batch 100, float32, SGD",
    "B": "MLP 784-6x100-10 ReLU train step, batch 100, float32, SGD",
    "C": f"chain of {CHAIN_LENGTH} elementwise ops on shape {CHAIN_SHAPE} float32, fwd+bwd, per op",
    "D": f"SimpleConvNet inference, 10,000 test images, batches of {INFER_BATCH}, float32",
    "E": f"SimpleConvNet training to {E_TARGET:.1%} MNIST test accuracy, Adam, batch 100",
    "F": "peak RSS while training A (fresh process)",
}

#: The issue's goals, as the ratio tinygrad_edu / PyTorch (E: an absolute time).
GOAL_TEXT = {"A": "≤ 1 (stretch 0.8)", "B": "≤ 1", "C": "≤ 1", "D": "≤ 0.5", "E": "< 2 min",
             "F": "< 1"}

#: Default number of timed repetitions (and untimed warm-up runs) per workload.
DEFAULT_REPEAT = {"A": 30, "B": 100, "C": 20, "D": 5, "F": 20}
QUICK_REPEAT = {"A": 1, "B": 1, "C": 1, "D": 1, "F": 1}
WARMUP = {"A": 3, "B": 5, "C": 2, "D": 1, "F": 2}


@dataclass
class Workload:
    run: Callable[[], object]
    per: float = 1.0
    unit: str = "run"
    note: str = ""
