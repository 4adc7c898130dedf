"""What each workload is: the definitions both frameworks implement, and the issue's goals.

A workload module (``workloads_tinygrad``, ``workloads_torch``) provides ``workload_A`` ...
``workload_F``; each returns a :class:`Workload` whose ``run()`` is one timed repetition, whose
duration is divided by ``per`` to report the time per ``unit`` (E returns a result dict instead).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

#: C: the chain has this many elementwise ops, on arrays of this shape (float32). The ops cycle
#: through y*w, y+b, tanh(y), y-b (w, b constant arrays of the same shape).
CHAIN_LENGTH = 1000
CHAIN_SHAPE = (100,)
#: D: inference batch size.
INFER_BATCH = 1000
#: E: the test accuracy to reach, and the most epochs to try.
E_TARGET = 0.989
E_MAX_EPOCHS = 20

DESCRIPTIONS = {
    "A": "SimpleConvNet train step, batch 100, float32, SGD",
    "B": "MLP 784-6x100-10 ReLU train step, batch 100, float32, SGD",
    "C": f"chain of {CHAIN_LENGTH} elementwise ops on shape {CHAIN_SHAPE} float32, fwd+bwd, per op",
    "D": f"SimpleConvNet inference, 10,000 test images, batches of {INFER_BATCH}, float32",
    "E": f"SimpleConvNet training to {E_TARGET:.1%} MNIST test accuracy, Adam 1e-3, batch 100",
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
