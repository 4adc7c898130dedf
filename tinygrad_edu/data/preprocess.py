"""Turning uint8 images and class labels into the arrays a network trains on.

    normalize_images(x)     x / 255 as float32 (or another float dtype), values in [0, 1]
    flatten_images(x)       (N, 28, 28) or (N, 1, 28, 28) -> (N, 784), for fully connected nets
    images_to_nchw(x)       (N, 28, 28) or (N, 784) -> (N, 1, 28, 28), for convolutions
    one_hot(t)              class numbers (N,) -> rows of 0s with a 1 at the class, (N, 10)
    preprocess(x, t, ...)   all of the above as the book's load_mnist options say
"""

from __future__ import annotations

import numpy as np

__all__ = ["flatten_images", "images_to_nchw", "normalize_images", "one_hot", "preprocess"]


def normalize_images(x: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Pixels 0..255 (uint8) -> ``x / 255`` in [0, 1] as floating ``dtype`` (default float32)."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"normalize_images: expected uint8 pixels 0..255, got dtype {x.dtype}")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"normalize_images: dtype must be a float type, got {np.dtype(dtype)}")
    out = x.astype(dtype)
    out /= 255
    return out


def flatten_images(x: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, 1, H, W) -> (N, H*W): each image becomes one row."""
    x = np.asarray(x)
    if x.ndim == 2:
        return x
    if x.ndim == 3 or (x.ndim == 4 and x.shape[1] == 1):
        return x.reshape(len(x), -1)
    raise ValueError(f"flatten_images: expected images (N, H, W) or (N, 1, H, W), got shape {x.shape}")


def images_to_nchw(x: np.ndarray, height: int = 28, width: int = 28) -> np.ndarray:
    """(N, H, W) or (N, H*W) -> (N, 1, H, W): one channel, as Conv2d expects."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[1:] == (1, height, width):
        return x
    if (x.ndim == 3 and x.shape[1:] == (height, width)) or (x.ndim == 2 and x.shape[1] == height * width):
        return x.reshape(len(x), 1, height, width)
    raise ValueError(
        f"images_to_nchw: expected images (N, {height}, {width}) or (N, {height * width}), got shape {x.shape}"
    )


def one_hot(t: np.ndarray, num_classes: int = 10, dtype=np.float32) -> np.ndarray:
    """Class numbers (N,) -> (N, num_classes) with ``out[i, t[i]] = 1`` and 0 elsewhere."""
    t = np.asarray(t)
    if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"one_hot: expected a 1-d array of integer class numbers, got {t.dtype} shape {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"one_hot: labels must be in 0..{num_classes - 1}, got values {t.min()}..{t.max()}")
    out = np.zeros((len(t), num_classes), dtype=dtype)
    out[np.arange(len(t)), t] = 1
    return out


def preprocess(
    x: np.ndarray,
    t: np.ndarray,
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels as the book's ``load_mnist(normalize, flatten, one_hot_label)`` returns them.

    normalize: x / 255 as ``dtype`` (else uint8 unchanged); flatten: (N, 784) (else
    (N, 1, 28, 28)); one_hot_label: (N, 10) of ``dtype`` (else the class numbers).
    """
    if normalize:
        x = normalize_images(x, dtype)
    x = flatten_images(x) if flatten else images_to_nchw(x)
    if one_hot_label:
        t = one_hot(t, dtype=dtype)
    return x, t
