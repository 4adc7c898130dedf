"""The book's ``common/util.py``: smoothing a loss curve, shuffling a dataset, and im2col/col2im.

``im2col`` and ``col2im`` are the framework's (:mod:`tinygrad_edu.im2col`, the ones its Conv2d
uses), with the book's argument order; like the book's they return float64 arrays.
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu import im2col as _im2col_module

__all__ = ["smooth_curve", "shuffle_dataset", "conv_output_size", "im2col", "col2im"]


def smooth_curve(x, window_len=11):
    """A smoothed copy of a curve (a loss history) of the same length: the moving average
    with a Kaiser window (beta = 2) of ``window_len`` points, the curve being mirrored at both
    ends so the average is defined there (the book's smoothing for plotting losses).

        y_i = sum_k w_k s_{i+k} / sum_k w_k,  w = kaiser(window_len, 2),  s = mirrored x
    """
    x = np.asarray(x, dtype=np.float64)
    half = window_len // 2
    # mirror window_len - 1 points on each side: x[10..1] before (the first point itself is
    # not repeated) and x[-1..-10] after (the last point is repeated), as the book does
    before = x[window_len - 1:0:-1]
    after = x[::-1][:window_len - 1]
    mirrored = np.concatenate([before, x, after])
    weights = np.kaiser(window_len, 2)
    smoothed = np.convolve(weights / weights.sum(), mirrored, mode="valid")
    return smoothed[half:len(smoothed) - half]


def shuffle_dataset(x, t):
    """``(x[p], t[p])`` for one random permutation ``p`` of the samples (numpy's global
    random state, so ``np.random.seed`` makes it reproducible)."""
    permutation = np.random.permutation(x.shape[0])
    return x[permutation], t[permutation]


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    """(input_size + 2*pad - filter_size) / stride + 1 -- a float, as in the book. Where the
    stride does not tile the padded input the layers, like the book's im2col, use the floor of
    it and leave out the border no window reaches (:func:`tinygrad_edu.im2col.conv_output_size`)."""
    return (input_size + 2 * pad - filter_size) / stride + 1


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """Unfold the patches of images (N, C, H, W) into rows: (N*OH*OW, C*FH*FW), float64.

    Row ``(n*OH + i)*OW + j`` is the patch of image n at output position (i, j), its entries
    in (c, dy, dx) order, so a convolution is ``im2col(x, FH, FW) @ W.reshape(FN, -1).T``.
    """
    return _im2col_module.im2col(np.asarray(input_data), filter_h, filter_w, stride,
                                 pad).astype(np.float64, copy=False)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of :func:`im2col`: add each row entry back onto the pixel it came from,
    giving images of ``input_shape`` (N, C, H, W), float64."""
    return _im2col_module.col2im(np.asarray(col, dtype=np.float64), input_shape, filter_h,
                                 filter_w, stride, pad)
