"""Plumbing shared by the experiment scripts: the command line, MNIST and the results file.

Nothing here is an experiment; each ``exN_*.py`` script holds its own training loop. The
networks they train are the package's (``tinygrad_edu.models.MultiLayerNet`` and
``SimpleConvNet``), and accuracy is ``tinygrad_edu.train.accuracy``.

Every script takes the same options:

    --quick        a few seconds: fewer iterations and images (the tests use it)
    --out DIR      where the PNG figures and results.json go (default runs/examples/<name>)
    --seed N       the seed of every random choice (weights, batches, dropout masks)
    --data DIR     a folder holding the four MNIST files (or a folder with an ``mnist`` subfolder)
    --source S     auto (default): the full MNIST if found in --data, $TINYGRAD_EDU_DATA or the
                   user cache, else the embedded sample; full: the full data (downloaded if
                   missing); sample: the embedded sample (10,000 train / 2,000 test images)

``results.json`` holds the numbers each script prints, so that tests (and the write-up in
docs/experiments.md) read what a run really produced.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

from tinygrad_edu.atomic import atomic_write
from tinygrad_edu.data import load_mnist, preprocess


def make_parser(name: str, description: str, mnist: bool = True) -> argparse.ArgumentParser:
    """The options every experiment script takes (see the module docstring)."""
    parser = argparse.ArgumentParser(prog=f"python examples/{name}.py", description=description)
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds: fewer iterations and images (used by the tests)")
    parser.add_argument("--out", type=Path, default=Path("runs") / "examples" / name,
                        help="folder for the PNG figures and results.json (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    if mnist:
        parser.add_argument("--data", metavar="DIR", default=None,
                            help="folder with the four MNIST files (default: $TINYGRAD_EDU_DATA, "
                                 "the user cache, else the embedded sample)")
        parser.add_argument("--source", choices=("auto", "full", "sample"), default="auto",
                            help="auto: full MNIST if found, else the embedded sample; "
                                 "full: the full data (downloaded if missing); sample: the "
                                 "embedded 10,000/2,000 sample (default: auto)")
    return parser


def parse(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def mnist(args, flatten: bool = True):
    """``(x_train, t_train, x_test, t_test, source)``: float32 images in [0, 1] (flat rows or
    (N, 1, 28, 28)), class labels, and the sentence saying which data these are."""
    data = load_mnist(args.data, source=args.source)
    x_train, t_train = preprocess(data.x_train, data.t_train, flatten=flatten)
    x_test, t_test = preprocess(data.x_test, data.t_test, flatten=flatten)
    print(f"data: {data.source}")
    return x_train, t_train, x_test, t_test, data.source


def loss_curve_row(label: str, losses, seconds: float, width: int = 15) -> dict:
    """Print one line for a training-loss curve -- the first loss, the mean of the last 50
    (smoother than the last one), the time -- and return those numbers for results.json."""
    tail = float(np.mean(losses[-50:]))
    print(f"  {label:<{width}} loss {losses[0]:.3f} -> {tail:.3f} (mean of the last 50)  [{seconds:.1f} s]")
    return {"first_loss": losses[0], "final_loss_mean_last_50": tail, "seconds": seconds, "loss": losses}


def _plain(value):
    """JSON-ready: numpy numbers and arrays to Python ones, non-finite floats to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_results(args, name: str, results: dict) -> Path:
    """Write ``results`` (plus the command line and the mode) to ``<out>/results.json``, atomically."""
    record = {"experiment": name, "quick": bool(args.quick), "seed": args.seed,
              "command": " ".join(["python", f"examples/{name}.py", *args.argv]),
              "python": platform.python_version(), "numpy": np.__version__, **results}
    path = args.out / "results.json"
    with atomic_write(path, "w") as f:
        json.dump(_plain(record), f, indent=2)
        f.write("\n")
    print(f"numbers: {path}")
    return path


class Stopwatch:
    """Seconds since creation: ``watch()``."""

    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
