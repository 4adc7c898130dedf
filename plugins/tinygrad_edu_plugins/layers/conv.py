"""Convolution: the Conv2d layer, its Function, and the differentiable Im2col / Col2im pair
it builds a second-order backward from (as DeZero keeps ``functions_conv.py`` apart)."""
from __future__ import annotations

import numbers

import numpy as np

from tinygrad_edu.autograd import is_grad_enabled
from tinygrad_edu.components import Check, Component
from tinygrad_edu.function import Function
from tinygrad_edu.im2col import col2im, conv_output_size, im2col, im2col_grouped
from tinygrad_edu.module import Module
from tinygrad_edu.random import generator
from tinygrad_edu.tensor import Parameter, Tensor, as_tensor

from ._common import _check_nchw, _float_dtype, _pair, initial_weight

__all__ = ["Conv2d", "Conv2dFunction", "Im2col", "Col2im", "grouped_weights", "pixel_group"]


class Im2col(Function):
    """col = im2col(x) (see :mod:`tinygrad_edu.im2col`);  dL/dx = col2im(dL/dcol).
    Linear, with its adjoint as backward, so it is differentiable to any order."""

    def __init__(self, filter_h, filter_w, stride=1, pad=0):
        self.geometry = (filter_h, filter_w, stride, pad)

    def forward(self, x):
        return im2col(x, *self.geometry)

    def backward(self, gy):
        return Col2im(self.inputs[0].shape, *self.geometry)(gy)


class Col2im(Function):
    """x = col2im(col);  dL/dcol = im2col(dL/dx) (the adjoint pair of :class:`Im2col`)."""

    def __init__(self, input_shape, filter_h, filter_w, stride=1, pad=0):
        self.input_shape = tuple(input_shape)
        self.geometry = (filter_h, filter_w, stride, pad)

    def forward(self, col):
        return col2im(col, self.input_shape, *self.geometry)

    def backward(self, gy):
        return Im2col(*self.geometry)(gy)


#: Group this many adjacent output pixels into one im2col row (the first that divides the
#: output width), when the filters are thin: C*FH*FW <= GROUPED_MAX_K and at most
#: GROUPED_MAX_FILTERS of them (see im2col_grouped; a wide product gains nothing from it).
PIXEL_GROUPS = (6, 4, 3, 2)
GROUPED_MAX_K = 32
GROUPED_MAX_FILTERS = 64


def pixel_group(x, W, OW) -> int:
    """How many adjacent output pixels :class:`Conv2dFunction` puts in one im2col row for input
    x, filters W and output width OW: 1 (the plain im2col) unless the filters are thin and x
    is finite (0 * inf = nan would spread a non-finite pixel into its group's neighbours)."""
    FN, C, FH, FW = W.shape
    if C * FH * FW > GROUPED_MAX_K or FN > GROUPED_MAX_FILTERS:
        return 1
    group = next((g for g in PIXEL_GROUPS if OW % g == 0), 1)
    if group > 1 and not np.isfinite(x).all():
        return 1
    return group


def grouped_weights(W, b, group, stride):
    """The filters for :func:`~tinygrad_edu.im2col.im2col_grouped`: Wg (C*FH*WP [+ 1],
    group*FN) with Wg[(c, dy, p*stride + dx), (p, f)] = W[f, c, dy, dx] and zeros elsewhere
    (pixel p's filter does not reach those columns); the last row is b for every pixel."""
    FN, C, FH, FW = W.shape
    width = (group - 1) * stride + FW
    Wg = np.zeros((C, FH, width, group, FN), dtype=W.dtype)
    filters = W.transpose(1, 2, 3, 0)                       # (C, FH, FW, FN)
    for p in range(group):
        Wg[:, :, p * stride:p * stride + FW, p, :] = filters
    Wg = Wg.reshape(C * FH * width, group * FN)
    if b is None:
        return Wg
    return np.concatenate([Wg, np.tile(b, group)[None, :]], axis=0)


def _ungroup_weight_gradient(dWg, W_shape, group, stride, has_bias):
    """dW (FN, C, FH, FW) and db (FN,) from the gradient of :func:`grouped_weights`' matrix:
    each filter weight appears once per pixel of the group, so its gradient is the sum."""
    FN, C, FH, FW = W_shape
    width = (group - 1) * stride + FW
    K = C * FH * width
    blocks = dWg[:K].reshape(C, FH, width, group, FN)
    dW = sum(blocks[:, :, p * stride:p * stride + FW, p, :] for p in range(group))
    db = dWg[K].reshape(group, FN).sum(axis=0) if has_bias else None
    return dW.transpose(3, 0, 1, 2), db


class Conv2dFunction(Function):
    """2-D convolution (cross-correlation, as in the book and PyTorch) by im2col:

        col = im2col(x)                                   (N*OH*OW, C*FH*FW)
        y   = col @ W.reshape(FN, -1).T + b               (N*OH*OW, FN) -> (N, FN, OH, OW)

    Backward, with dY the output gradient as (N*OH*OW, FN):
        dW = (dY^T @ col).reshape(FN, C, FH, FW),  db = sum of dY over rows,
        dx = col2im(dY @ W.reshape(FN, -1)).

    With a bias, col gets a column of ones and W.reshape(FN, -1) the column b, so that one matrix
    product adds the bias in forward and yields db next to dW in backward (the sum of dY's rows
    is dY^T @ ones).
    Thin filters (C*FH*FW <= 32, SimpleConvNet's 25) put several horizontally adjacent output
    pixels in one row (:func:`~tinygrad_edu.im2col.im2col_grouped`, :func:`grouped_weights`):
    the same y in a product BLAS runs faster, and dW is summed back from the grouped weights.
    The columns computed in forward are kept for dW, and col2im is skipped when the input needs
    no gradient (the first layer's input never does). The backward works on numpy arrays; only
    when a graph of the backward is requested (``create_graph=True``) is it rebuilt from the
    differentiable :class:`Im2col` / :class:`Col2im` pair and matrix products.
    """

    #: images per im2col chunk in inference (no gradient): about 6 MB of columns for MNIST
    CHUNK = 100

    def __init__(self, stride=1, pad=0):
        self.stride, self.pad = stride, pad

    def forward(self, x, W, b=None):
        if W.ndim != 4:
            raise ValueError(f"Conv2d: filters must have shape (FN, C, FH, FW), got {W.shape}")
        FN, C, FH, FW = W.shape
        _check_nchw("Conv2d", x, C)
        if b is not None and b.shape != (FN,):
            raise ValueError(f"Conv2d: bias must have shape ({FN},), got {b.shape}")
        N, _, H, Wd = x.shape
        OH = conv_output_size(H, FH, self.stride, self.pad, op="Conv2d (height)")
        OW = conv_output_size(Wd, FW, self.stride, self.pad, op="Conv2d (width)")
        geometry = (FH, FW, self.stride, self.pad)
        self.group = pixel_group(x, W, OW)
        if self.group == 1:
            # with a bias, col ends in a column of ones and the filters in b: one matrix
            # product computes col @ W.T + b (a separate `out += b` was a 0.3-0.45 ms pass)
            weights = W.reshape(FN, -1)
            if b is not None:
                weights = np.concatenate([weights, b[:, None]], axis=1)
            weights = weights.T                                  # (C*FH*FW [+ 1], FN)
        else:
            weights = grouped_weights(W, b, self.group, self.stride)   # (.., group*FN)

        def columns(images):
            if self.group == 1:
                return im2col(images, *geometry, ones_column=b is not None)
            return im2col_grouped(images, *geometry, group=self.group, ones_column=b is not None)

        if is_grad_enabled() or N <= self.CHUNK:
            self.col = columns(x)                                # kept for dW
            out = self.col @ weights
        else:
            # inference on a large batch: im2col and the product a chunk of images at a time,
            # so that each chunk's columns are still in the cache when they are multiplied
            # (D, 1,000 images: 19 ms instead of 29 ms); nothing is kept
            rows = OH * OW // self.group
            out = np.empty((N * rows, weights.shape[1]), dtype=np.result_type(x, weights))
            for i in range(0, N, self.CHUNK):
                images = x[i:i + self.CHUNK]
                np.matmul(columns(images), weights, out=out[i * rows:(i + len(images)) * rows])
        return out.reshape(N, OH, OW, FN).transpose(0, 3, 1, 2)

    def backward(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        has_bias = len(self.inputs) == 3
        need_x, need_W = self.needs_input_grad[0], self.needs_input_grad[1]
        need_b = has_bias and self.needs_input_grad[2]
        FN, C, FH, FW = W.shape
        geometry = (FH, FW, self.stride, self.pad)
        if is_grad_enabled():   # create_graph=True: build the backward from differentiable ops
            dY = gy.transpose(0, 2, 3, 1).reshape(-1, FN)
            gx = Col2im(x.shape, *geometry)(dY @ W.reshape(FN, -1)) if need_x else None
            gW = (dY.T @ Im2col(*geometry)(x)).reshape(W.shape) if need_W else None
            gb = dY.sum(axis=0) if need_b else None
        else:
            dY = gy.data.transpose(0, 2, 3, 1).reshape(-1, FN)
            # dcol as the transpose of a contiguous (C*FH*FW, N*OH*OW) matrix: the layout
            # col2im reads fastest (see tinygrad_edu.im2col)
            gx = Tensor(col2im((W.data.reshape(FN, -1).T @ dY.T).T, x.shape, *geometry)) \
                if need_x else None
            if (need_W or need_b) and self.group > 1:
                # rows of `group` pixels: dY's (N*OH*OW, FN) seen as (N*OH*OW/group, group*FN)
                dWg = self.col.T @ dY.reshape(-1, self.group * FN)
                dW, db = _ungroup_weight_gradient(dWg, W.shape, self.group, self.stride, has_bias)
                gW = Tensor(np.ascontiguousarray(dW)) if need_W else None
                gb = Tensor(db) if need_b else None
            elif need_W or need_b:
                # dY^T @ col gives dW and, from col's column of ones, db = the sum of dY's
                # rows; computed as (col^T @ dY)^T: col^T is the contiguous matrix im2col
                # wrote, and OpenBLAS takes 2.7 ms for it against 3.5 ms for dY^T @ col
                dWb = (self.col.T @ dY).T
                gW = Tensor(dWb[:, :C * FH * FW].reshape(W.shape)) if need_W else None
                gb = Tensor(dWb[:, -1].copy()) if need_b else None
            else:
                gW = gb = None
        return (gx, gW, gb) if has_bias else (gx, gW)


class Conv2d(Module):
    """2-D convolution layer: filters W of shape (FN, C, FH, FW), bias b of shape (FN,).

    y[n, f, i, j] = b[f] + sum_{c, dy, dx} W[f, c, dy, dx] * xpad[n, c, i*stride + dy,
    j*stride + dx], with output size OH = floor((H + 2*padding - FH) / stride) + 1 (likewise
    OW), as in the book and PyTorch: when the stride does not tile the padded input, the last
    (H + 2*padding - FH) % stride rows (columns) that no filter position reaches are dropped;
    they do not affect y, so their gradient is zero. Computed by im2col (see
    :class:`Conv2dFunction`).
    Weights are initialised with fan_in = C*FH*FW, fan_out = FN*FH*FW.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 weight_init="he", rng=None, seed=None, dtype=np.float32):
        super().__init__()
        for what, n in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("stride", stride)):
            if not isinstance(n, numbers.Integral) or n <= 0:
                raise ValueError(f"Conv2d: {what} must be a positive int, got {n!r}")
        if not isinstance(padding, numbers.Integral) or padding < 0:
            raise ValueError(f"Conv2d: padding must be a non-negative int, got {padding!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair("Conv2d", "kernel_size", kernel_size)
        self.stride, self.padding = int(stride), int(padding)
        dtype = _float_dtype("Conv2d", dtype)
        FH, FW = self.kernel_size
        shape = (self.out_channels, self.in_channels, FH, FW)
        self.W = Parameter(initial_weight("Conv2d", shape, self.in_channels * FH * FW,
                                          self.out_channels * FH * FW, weight_init,
                                          generator(rng, seed, owner="Conv2d"), dtype))
        self.b = Parameter(np.zeros(self.out_channels, dtype=dtype)) if bias else None

    def forward(self, x):
        x = as_tensor(x)
        _check_nchw(f"Conv2d({self.in_channels}, {self.out_channels})", x, self.in_channels)
        conv = Conv2dFunction(self.stride, self.padding)
        return conv(x, self.W, self.b) if self.b is not None else conv(x, self.W)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.b is not None}")


# ---- registration ---------------------------------------------------------------------------------
# (see the note on cases in tinygrad_edu_plugins.layers)


def _conv_cases(st):
    @st.composite
    def case(draw):
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 1))
        OH, OW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        H, W = (OH - 1) * stride + kh - 2 * pad, (OW - 1) * stride + kw - 2 * pad
        if H < 1 or W < 1:
            pad, H, W = 0, H + 2 * pad, W + 2 * pad
        C = draw(st.integers(1, 2))
        kwargs = {"in_channels": C, "out_channels": draw(st.integers(1, 3)),
                  "kernel_size": (kh, kw), "stride": stride, "padding": pad,
                  "bias": draw(st.booleans()),
                  "seed": draw(st.integers(0, 2**16)), "dtype": np.float64}
        return kwargs, (draw(st.integers(1, 2)), C, H, W)
    return case()


COMPONENTS = [
    Component("conv2d", Conv2d, aliases=("convolution",), check=Check(cases=_conv_cases)),
]
