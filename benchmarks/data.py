"""The inputs of the benchmarks, identical for every framework (numpy arrays, float32).

Workloads A, B, C and F time single steps, whose cost does not depend on the values, so they use
a fixed random batch. D and E use the real MNIST test (and training) images when they are found
at ``../shared/data/mnist`` relative to the repository root (or ``$TINYGRAD_EDU_MNIST``); D falls
back to random images of the same shape, E needs the real data.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
BATCH = 100
SEED = 0


def mnist_directory() -> Path | None:
    """Where the full MNIST IDX files are, or None."""
    candidates = [os.environ.get("TINYGRAD_EDU_MNIST"), REPO_ROOT.parent / "shared/data/mnist"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "t10k-images-idx3-ubyte.gz").exists():
            return Path(candidate)
    return None


def random_batch(batch: int = BATCH, flat: bool = False, seed: int = SEED):
    """A fixed batch of MNIST-shaped images in [0, 1) (float32) and integer labels 0..9."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, size=batch).astype(np.int64)
    return (x.reshape(batch, 784) if flat else x), t


def _idx(path: Path, header_bytes: int) -> np.ndarray:
    """The uint8 payload of a gzipped IDX file (read here with no framework import, so that
    the PyTorch process measures PyTorch alone)."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header_bytes)


def _read(directory: Path, images: str, labels: str):
    x = _idx(directory / images, 16).astype(np.float32) / np.float32(255.0)
    t = _idx(directory / labels, 8).astype(np.int64)
    return x.reshape(-1, 1, 28, 28), t


def mnist_test():
    """(x (10000, 1, 28, 28) float32 in [0, 1], t (10000,) int64, source description)."""
    directory = mnist_directory()
    if directory is None:
        x, t = random_batch(10_000, seed=1)
        return x, t, "random images (full MNIST not found)"
    x, t = _read(directory, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return x, t, f"MNIST test set ({directory})"


def mnist_train():
    """The 60,000 MNIST training images (float32 in [0, 1]) and labels; raises if not found."""
    directory = mnist_directory()
    if directory is None:
        raise FileNotFoundError(
            "workload E needs the full MNIST at ../shared/data/mnist (relative to the repository "
            "root) or in $TINYGRAD_EDU_MNIST")
    return _read(directory, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
