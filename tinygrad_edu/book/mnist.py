"""The book's ``dataset/mnist.py``: ``load_mnist(normalize, flatten, one_hot_label)``.

    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)

Arrays as the book returns them:

* images: float32 in [0, 1] (``normalize=True``) or uint8 0..255; shape (N, 784)
  (``flatten=True``) or (N, 1, 28, 28);
* labels: uint8 class numbers (N,), or float64 one-hot rows (N, 10) (``one_hot_label=True``).

The data come from :func:`tinygrad_edu.data.load_mnist`: the full MNIST if it is found locally
(``root``, the ``TINYGRAD_EDU_DATA`` environment variable, the user cache), otherwise the
embedded sample of 10,000 training and 2,000 test images. Which one was used is printed once
per process on stderr (stdout stays what the book's code prints) and kept in :data:`last_source`. MNIST is by Yann LeCun, Corinna Cortes and
Christopher J.C. Burges (CC BY-SA 3.0).
"""
from __future__ import annotations

import sys

import numpy as np

from tinygrad_edu import data as _data

__all__ = ["load_mnist", "init_mnist", "img_dim", "img_size", "train_num", "test_num"]

img_dim = (1, 28, 28)
img_size = 784
train_num = 60000   # of the full data; the embedded sample has 10,000 / 2,000
test_num = 10000

#: The sentence describing the data the last ``load_mnist`` call returned.
last_source: str | None = None
_announced: set[str] = set()


def load_mnist(normalize=True, flatten=True, one_hot_label=False, *, source="auto", root=None):
    """``((x_train, t_train), (x_test, t_test))`` as the book's ``load_mnist`` returns them.

    normalize      images as float32 x / 255 in [0, 1], else uint8 0..255
    flatten        images as (N, 784), else (N, 1, 28, 28)
    one_hot_label  labels as float64 one-hot rows (N, 10), else uint8 class numbers (N,)
    source         "auto" (full MNIST if found locally, else the embedded sample), "full"
                   (may download, see tinygrad_edu.data.load_mnist) or "sample"
    root           a folder holding the four MNIST files (searched first)
    """
    global last_source
    dataset = _data.load_mnist(root, source=source)
    last_source = dataset.source
    if dataset.source not in _announced:
        _announced.add(dataset.source)
        print(f"load_mnist: using {dataset.source}", file=sys.stderr)
    out = []
    for x, t in ((dataset.x_train, dataset.t_train), (dataset.x_test, dataset.t_test)):
        x, t = _data.preprocess(x, t, normalize=normalize, flatten=flatten, one_hot_label=False)
        if one_hot_label:
            t = _data.one_hot(t, num_classes=10, dtype=np.float64)
        out.append((x, t))
    return tuple(out)


def init_mnist(root=None):
    """Make sure the full MNIST is available locally (downloading it, verified, into ``root``
    or the user cache if it is not there) -- the book's ``init_mnist``."""
    dataset = _data.load_mnist(root, source="full")
    print(f"MNIST ready: {dataset.source}")
