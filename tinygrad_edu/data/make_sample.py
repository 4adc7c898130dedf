"""Make the embedded MNIST sample, tinygrad_edu/data/mnist_sample.npz, from the full data.

    python -m tinygrad_edu.data.make_sample --source /path/to/mnist

The sample is stratified by class: 1,000 training images of each digit (10,000) drawn from
the 60,000 training images and 200 test images of each digit (2,000) drawn from the 10,000
test images, without replacement, by numpy's default_rng(seed). The chosen images keep
their original order. The archive also stores ``train_index`` and ``test_index``: where each
sample image sits in the original training / test set, so anyone can check it against the
real data. The source must be the canonical MNIST (checked by the MD5 of the uncompressed
files), so the same seed always gives the same sample.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from ..atomic import save_npz_atomic
from .idx import DatasetError, read_idx_bytes
from .mnist import MNIST_CONTENT_MD5, SAMPLE_PATH, load_mnist

TRAIN_PER_CLASS = 1000
TEST_PER_CLASS = 200
SEED = 20240229
NUM_CLASSES = 10


def stratified_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` indices of each class 0..9, drawn without replacement, returned sorted."""
    chosen = []
    for c in range(NUM_CLASSES):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"only {len(members)} examples of class {c}, cannot draw {per_class}")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def check_canonical(directory: Path) -> None:
    """Raise DatasetError unless the four files have the canonical MNIST content (MD5 of the uncompressed bytes)."""
    for name, expected in MNIST_CONTENT_MD5.items():
        path = directory / name
        if not path.exists():
            path = directory / name.removesuffix(".gz")
        actual = hashlib.md5(read_idx_bytes(path)).hexdigest()
        if actual != expected:
            raise DatasetError(f"{path}: not the canonical MNIST file (MD5 of content {actual}, expected {expected})")


def make_sample(source: str | Path, seed: int = SEED) -> dict[str, np.ndarray]:
    """The sample's arrays, drawn from the full MNIST in ``source``."""
    data = load_mnist(source, source="full", download=False)
    check_canonical(data.directory)
    rng = np.random.default_rng(seed)
    train_index = stratified_indices(data.t_train, TRAIN_PER_CLASS, rng)
    test_index = stratified_indices(data.t_test, TEST_PER_CLASS, rng)
    return {
        "x_train": data.x_train[train_index],
        "t_train": data.t_train[train_index],
        "x_test": data.x_test[test_index],
        "t_test": data.t_test[test_index],
        "train_index": train_index.astype(np.int32),
        "test_index": test_index.astype(np.int32),
        "seed": np.array(seed, dtype=np.int64),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="folder with the four MNIST IDX files")
    parser.add_argument("--output", default=str(SAMPLE_PATH), help=f"where to write the .npz (default {SAMPLE_PATH})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)
    arrays = make_sample(args.source, args.seed)
    path = save_npz_atomic(args.output, compressed=True, **arrays)
    print(
        f"wrote {path}: {len(arrays['x_train']):,} train / {len(arrays['x_test']):,} test images, "
        f"{path.stat().st_size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
