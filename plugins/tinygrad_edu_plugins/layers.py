"""The standard layers, registered through the ``register_layers`` hook.

Every layer is a :class:`~tinygrad_edu.module.Module`: its learnable arrays are
:class:`~tinygrad_edu.tensor.Parameter` attributes (``W``, ``b``, ``gamma``, ``beta``, named as
in the book), found automatically. Layers with weights take

* ``weight_init``: an initializer name (``"he"``, ``"xavier"``, ``"normal"``, ... looked up in
  the registry), a float (the std of a normal distribution: the book's ``weight_init_std``), or
  a function ``init(shape, fan_in, fan_out, rng, dtype) -> np.ndarray``;
* ``rng`` (a ``numpy.random.Generator``) or ``seed`` (an int), for reproducible weights;
* ``dtype`` (default float32): the dtype of the parameters. A float32 input stays float32
  through forward and backward.

Conv2d and the pooling layers are dedicated Functions with hand-written backward passes built
on :mod:`tinygrad_edu.im2col`; Affine, Flatten, Dropout and BatchNorm are compositions of core
operations.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from tinygrad_edu.autograd import is_grad_enabled
from tinygrad_edu.components import Check, Component
from tinygrad_edu.function import Function
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.im2col import col2im, conv_output_size, im2col
from tinygrad_edu.module import Module
from tinygrad_edu.tensor import Parameter, Tensor

__all__ = ["Affine", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Dropout",
           "BatchNorm1d", "BatchNorm2d", "Sequential", "Conv2dFunction", "Im2col", "Col2im",
           "MaxPool2dFunction", "AvgPool2dFunction"]


# ---- helpers --------------------------------------------------------------------------------------


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _generator(rng, seed):
    if rng is not None and seed is not None:
        raise ValueError("give either rng or seed, not both")
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is not None:
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return np.random.default_rng(seed)


def _float_dtype(layer, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{layer}: dtype must be a float type, got {dtype}")
    return dtype


def initial_weight(layer, shape, fan_in, fan_out, weight_init, rng, dtype) -> np.ndarray:
    """An initial weight array of ``shape`` and ``dtype``.

    ``weight_init`` is a float ``std`` (N(0, std²), drawn in float64 then cast, like the
    ``normal`` initializer), an initializer name from the registry, or an initializer function
    ``init(shape, fan_in, fan_out, rng, dtype)``.
    """
    if isinstance(weight_init, numbers.Real) and not isinstance(weight_init, bool):
        if not (weight_init >= 0 and math.isfinite(weight_init)):
            raise ValueError(f"{layer}: weight_init as a std must be a finite number >= 0, got "
                             f"{weight_init!r}")
        return (rng.standard_normal(shape) * float(weight_init)).astype(dtype)
    if isinstance(weight_init, str):
        from tinygrad_edu import registry
        init = registry.get("initializer", weight_init)
    elif callable(weight_init):
        init = weight_init
    else:
        raise TypeError(f"{layer}: weight_init must be an initializer name, a std (float) or a "
                        f"function, got {weight_init!r}")
    array = np.asarray(init(shape, fan_in, fan_out, rng, dtype))
    if array.shape != tuple(shape):
        raise ValueError(f"{layer}: the initializer {weight_init!r} returned shape {array.shape}, "
                         f"expected {tuple(shape)}")
    return array.astype(dtype, copy=False)


def _pair(layer, what, value):
    """``k`` or ``(kh, kw)`` -> (kh, kw) of positive ints."""
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and v > 0 for v in pair):
        raise ValueError(f"{layer}: {what} must be a positive int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_nchw(layer, x, channels=None):
    if x.ndim != 4:
        raise ValueError(f"{layer}: expected input of shape (N, C, H, W), got {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer}: expected {channels} input channels, got input of shape "
                         f"{x.shape} ({x.shape[1]} channels)")


def _windows(kh, kw, stride, OH, OW):
    """The (N, C, OH, OW) strided view of every window offset (dy, dx), as index tuples:
    ``xp[index]`` holds, for every output pixel, the input pixel at offset (dy, dx) of its
    window. Looping over the kh*kw offsets (not over output pixels) keeps pooling vectorized."""
    for dy in range(kh):
        for dx in range(kw):
            yield (slice(None), slice(None), slice(dy, dy + stride * OH, stride),
                   slice(dx, dx + stride * OW, stride))


def _pad_hw(x, pad, value=0.0):
    if not pad:
        return x
    return np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=value)


def _crop_hw(x, pad):
    return x[:, :, pad:x.shape[2] - pad, pad:x.shape[3] - pad] if pad else x


# ---- Affine ---------------------------------------------------------------------------------------


class Affine(Module):
    """Fully connected layer: y = x W + b with W of shape (in_features, out_features).

    An input of shape (N, d1, d2, ...) is flattened to (N, d1*d2*...) first (like the book's
    Affine, so it can follow a convolution directly); the gradient comes back in the input's
    shape. Backward: dL/dx = dL/dy W^T, dL/dW = x^T dL/dy, dL/db = sum over the batch of dL/dy.
    ``Linear`` is the same class.
    """

    def __init__(self, in_features, out_features, bias=True, weight_init="he", rng=None,
                 seed=None, dtype=np.float32):
        super().__init__()
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, numbers.Integral) or n <= 0:
                raise ValueError(f"Affine: {what} must be a positive int, got {n!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = _float_dtype("Affine", dtype)
        rng = _generator(rng, seed)
        self.W = Parameter(initial_weight("Affine", (self.in_features, self.out_features),
                                          self.in_features, self.out_features, weight_init,
                                          rng, dtype))
        self.b = Parameter(np.zeros(self.out_features, dtype=dtype)) if bias else None

    def forward(self, x):
        x = _tensor(x)
        if x.ndim == 0:
            raise ValueError("Affine: the input is a scalar; expected shape (N, in_features)")
        if x.ndim > 2:
            x = x.reshape(x.shape[0], -1)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Affine({self.in_features}, {self.out_features}): the input (shape "
                             f"{x.shape} after flattening) has {x.shape[-1]} features, expected "
                             f"{self.in_features}")
        y = x @ self.W
        return y + self.b if self.b is not None else y

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.b is not None}"


Linear = Affine


# ---- Conv2d ---------------------------------------------------------------------------------------


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
    The columns computed in forward are kept for dW, and col2im is skipped when the input needs
    no gradient (the first layer's input never does). The backward works on numpy arrays; only
    when a graph of the backward is requested (``create_graph=True``) is it rebuilt from the
    differentiable :class:`Im2col` / :class:`Col2im` pair and matrix products.
    """

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
        # with a bias, col ends in a column of ones and the filters in b: one matrix product
        # computes col @ W.T + b (a separate `out += b` was a 0.3-0.45 ms pass per step)
        self.col = im2col(x, FH, FW, self.stride, self.pad, ones_column=b is not None)
        weights = W.reshape(FN, -1)
        if b is not None:
            weights = np.concatenate([weights, b[:, None]], axis=1)
        out = self.col @ weights.T
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
            # dY^T @ col gives dW and, from col's column of ones, db = the sum of dY's rows
            dWb = dY.T @ self.col if need_W or need_b else None
            gW = Tensor(dWb[:, :C * FH * FW].reshape(W.shape)) if need_W else None
            gb = Tensor(dWb[:, -1].copy()) if need_b else None
        return (gx, gW, gb) if has_bias else (gx, gW)


class Conv2d(Module):
    """2-D convolution layer: filters W of shape (FN, C, FH, FW), bias b of shape (FN,).

    y[n, f, i, j] = b[f] + sum_{c, dy, dx} W[f, c, dy, dx] * xpad[n, c, i*stride + dy,
    j*stride + dx], with output size OH = (H + 2*padding - FH) / stride + 1 (likewise OW),
    which must be an integer. Computed by im2col (see :class:`Conv2dFunction`).
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
                                          _generator(rng, seed), dtype))
        self.b = Parameter(np.zeros(self.out_channels, dtype=dtype)) if bias else None

    def forward(self, x):
        x = _tensor(x)
        _check_nchw(f"Conv2d({self.in_channels}, {self.out_channels})", x, self.in_channels)
        conv = Conv2dFunction(self.stride, self.padding)
        return conv(x, self.W, self.b) if self.b is not None else conv(x, self.W)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.b is not None}")


# ---- pooling --------------------------------------------------------------------------------------
#
# Both pooling layers loop over the kh*kw window offsets and combine whole (N, C, OH, OW)
# strided slices, instead of the book's im2col + max over rows of length kh*kw. Measured on 2
# CPU cores, x (100, 30, 24, 24) float32, 2x2 windows, stride 2 (SimpleConvNet), forward +
# backward (median CPU time):
#
#   book: im2col, argmax over rows, col2im                              27 ms
#   reshape to (N, C, OH, OW, 4) (one copy), argmax, put_along_axis     18 ms
#   reshape to (N, C, OH, kh, OW, kw), max over axes (3, 5)             26 ms forward alone
#   this: np.maximum over the 4 offset slices (forward, 0.9 ms) +
#         backward marking the first window element equal to the max   3.3 ms
#
# The offset loop handles every stride and padding the same way, so there is one code path.


class _PoolGeometry:
    """Window size, stride and padding of a pooling op, and its output size for an input."""

    def __init__(self, name, kernel_size, stride, padding):
        self.name = name
        self.kh, self.kw = kernel_size
        self.stride, self.pad = stride, padding

    def output_hw(self, shape):
        _, _, H, W = shape
        return (conv_output_size(H, self.kh, self.stride, self.pad, op=f"{self.name} (height)"),
                conv_output_size(W, self.kw, self.stride, self.pad, op=f"{self.name} (width)"))

    def windows(self, OH, OW):
        return _windows(self.kh, self.kw, self.stride, OH, OW)

    def tiles_exactly(self, shape):
        """Every input pixel lies in exactly one window (non-overlapping, nothing left over)."""
        _, _, H, W = shape
        return (self.pad == 0 and self.stride == self.kh == self.kw
                and H % self.kh == 0 and W % self.kw == 0)


class MaxPool2dFunction(Function):
    """y[n, c, i, j] = max of the window at (i*stride, j*stride) of x padded with -inf;
    dL/dx = dL/dy at the window's maximum (its first occurrence in row-major order, as the
    book's argmax), 0 elsewhere; a pixel in several windows sums what it receives."""

    def __init__(self, geometry: _PoolGeometry):
        self.geometry = geometry

    def forward(self, x):
        _check_nchw(self.geometry.name, x)
        OH, OW = self.geometry.output_hw(x.shape)
        neg_inf = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        self.xp = _pad_hw(x, self.geometry.pad, neg_inf)
        out = None
        for window in self.geometry.windows(OH, OW):
            if out is None:
                out = self.xp[window].copy(order="K")   # keep x's memory order (see below)
            else:
                np.maximum(out, self.xp[window], out=out)
        if is_grad_enabled():
            # the masks for backward are found here, while x is still in the CPU's cache (in
            # backward it has to come from memory again): 0.5 ms less per SimpleConvNet step
            self.hits = self._first_hits(out)
        return out

    def _first_hits(self, out):
        """One boolean mask per window offset: True where that offset holds its window's
        maximum for the first time (row-major order), so that ties send the gradient once."""
        hits = []
        for window in self.geometry.windows(*out.shape[2:]):
            hit = self.xp[window] == out
            if hits:
                hit &= undecided
                undecided ^= hit
            else:
                undecided = ~hit
            hits.append(hit)
        return hits

    def backward(self, gy):
        x_shape = self.inputs[0].shape
        return _WindowScatter(self.geometry, x_shape, self.xp.shape, self.hits, like=self.xp)(gy)


def _like(a, template):
    """``a`` copied into the memory order of ``template`` (same shape)."""
    out = np.empty_like(template, dtype=a.dtype)
    out[...] = a
    return out


class _WindowScatter(Function):
    """dx = sum over window offsets k of (weight_k * g) put at offset k of each window
    (weight_k: the 0/1 max-pooling masks, or 1/(kh*kw) for average pooling); the adjoint of
    :class:`_WindowGather`, so the pooling backward is differentiable again."""

    def __init__(self, geometry, x_shape, padded_shape, weights, like=None):
        self.geometry, self.x_shape, self.padded_shape = geometry, x_shape, padded_shape
        self.weights = weights
        self.like = like

    def forward(self, g):
        OH, OW = g.shape[2:]
        windows = list(self.geometry.windows(OH, OW))
        weights = self.weights if isinstance(self.weights, list) else [self.weights] * len(windows)
        if self.geometry.tiles_exactly(self.x_shape):
            if self.like is not None:
                # dx in the memory order of the forward input (channels-last after Conv2d), so
                # that the ReLU and Conv2d backward read it contiguously
                dx = np.empty_like(self.like, dtype=g.dtype)
                if weights[0].shape == g.shape and g.strides != weights[0].strides:
                    g = _like(g, weights[0])
            else:
                dx = np.empty(self.padded_shape, dtype=g.dtype)   # every pixel is written once
            for window, w in zip(windows, weights):
                np.multiply(g, w, out=dx[window])
        else:
            dx = np.zeros(self.padded_shape, dtype=g.dtype)
            for window, w in zip(windows, weights):
                dx[window] += g * w
        return _crop_hw(dx, self.geometry.pad)

    def backward(self, gx):
        return _WindowGather(self.geometry, self.weights)(gx)


class _WindowGather(Function):
    """y = sum over window offsets k of weight_k * x[offset k of each window] (zero padding);
    the adjoint of :class:`_WindowScatter`."""

    def __init__(self, geometry, weights):
        self.geometry, self.weights = geometry, weights

    def forward(self, x):
        OH, OW = self.geometry.output_hw(x.shape)
        xp = _pad_hw(x, self.geometry.pad)
        windows = list(self.geometry.windows(OH, OW))
        weights = self.weights if isinstance(self.weights, list) else [self.weights] * len(windows)
        out = np.zeros(x.shape[:2] + (OH, OW), dtype=x.dtype)
        for window, w in zip(windows, weights):
            out += xp[window] * w
        return out

    def backward(self, gy):
        shape = self.inputs[0].shape
        padded = shape[:2] + (shape[2] + 2 * self.geometry.pad, shape[3] + 2 * self.geometry.pad)
        return _WindowScatter(self.geometry, shape, padded, self.weights)(gy)


class AvgPool2dFunction(Function):
    """y[n, c, i, j] = mean of the window at (i*stride, j*stride) of x padded with zeros
    (padding counts in the mean, PyTorch's count_include_pad=True);
    dL/dx = dL/dy / (kh*kw) spread over the window."""

    def __init__(self, geometry: _PoolGeometry):
        self.geometry = geometry

    def forward(self, x):
        _check_nchw(self.geometry.name, x)
        self.scale = np.asarray(1.0 / (self.geometry.kh * self.geometry.kw), dtype=x.dtype)
        return _WindowGather(self.geometry, self.scale).forward(x)

    def backward(self, gy):
        shape = self.inputs[0].shape
        padded = shape[:2] + (shape[2] + 2 * self.geometry.pad, shape[3] + 2 * self.geometry.pad)
        return _WindowScatter(self.geometry, shape, padded, self.scale)(gy)


class _Pool2d(Module):
    _function = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _pair(name, "kernel_size", kernel_size)
        stride = self.kernel_size[0] if stride is None else stride
        if stride is None or not isinstance(stride, numbers.Integral) or stride <= 0:
            raise ValueError(f"{name}: stride must be a positive int, got {stride!r}")
        if not isinstance(padding, numbers.Integral) or padding < 0:
            raise ValueError(f"{name}: padding must be a non-negative int, got {padding!r}")
        if 2 * padding > min(self.kernel_size):
            raise ValueError(f"{name}: padding {padding} is more than half the window "
                             f"{self.kernel_size}; a window could lie entirely in the padding")
        self.stride, self.padding = int(stride), int(padding)
        self._geometry = _PoolGeometry(name, self.kernel_size, self.stride, self.padding)

    def forward(self, x):
        return self._function(self._geometry)(_tensor(x))

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling over kh x kw windows: y = the largest value of each window.

    ``stride`` defaults to the window size (non-overlapping windows, the usual 2x2/2); padding
    adds -inf borders. Each gradient goes to its window's maximum only (the first one if
    several values tie). The output size must be an integer (see :func:`conv_output_size`).
    """

    _function = MaxPool2dFunction


class AvgPool2d(_Pool2d):
    """Average pooling over kh x kw windows: y = the mean of each window (zero padding is
    counted); each window element receives dL/dy / (kh*kw)."""

    _function = AvgPool2dFunction


# ---- shape, regularisation ------------------------------------------------------------------------


class Flatten(Module):
    """Merge dimensions start_dim.. into one: (N, C, H, W) -> (N, C*H*W) with the default
    start_dim=1. The gradient is reshaped back."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = int(start_dim)

    def forward(self, x):
        x = _tensor(x)
        if not 0 <= self.start_dim < max(x.ndim, 1):
            raise ValueError(f"Flatten(start_dim={self.start_dim}): input of shape {x.shape} has "
                             f"no dimension {self.start_dim}")
        return x.flatten(self.start_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}"


class Dropout(Module):
    """Inverted dropout: in training, y = x * mask / (1 - p) with mask = (u > p), u ~ U[0, 1)
    drawn anew for every call, so each element is dropped with probability p and the expected
    value of y equals x; dL/dx = mask / (1 - p) * dL/dy. In eval mode y = x.

    Scaling during training (PyTorch's convention) means inference needs no change. The book
    instead multiplies by (1 - p) at inference (``tinygrad_edu.book`` keeps that); both give
    the same expected activations.
    """

    def __init__(self, p=0.5, rng=None, seed=None):
        super().__init__()
        if not (isinstance(p, numbers.Real) and 0.0 <= p <= 1.0):
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = _generator(rng, seed)

    def forward(self, x):
        x = _tensor(x)
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * np.zeros(x.shape, dtype=x.dtype)
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
        keep = self.rng.random(x.shape, dtype=dtype) > self.p
        scale = np.asarray(1.0 / (1.0 - self.p), dtype=x.dtype)
        return x * (keep * scale)

    def extra_repr(self):
        return f"p={self.p}"


# ---- batch normalization --------------------------------------------------------------------------


class _BatchNorm(Module):
    """Shared code of BatchNorm1d / BatchNorm2d; ``_axes`` are the reduced axes."""

    _input_ndims: tuple = ()

    def __init__(self, num_features, momentum=0.1, eps=1e-5, affine=True, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, numbers.Integral) or num_features <= 0:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must lie in [0, 1], got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"{name}: eps must be positive, got {eps!r}")
        dtype = _float_dtype(name, dtype)
        self.num_features, self.momentum, self.eps = int(num_features), float(momentum), eps
        if affine:
            self.gamma = Parameter(np.ones(self.num_features, dtype=dtype))
            self.beta = Parameter(np.zeros(self.num_features, dtype=dtype))
        else:
            self.gamma = self.beta = None
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))

    def _check(self, x):
        name = type(self).__name__
        if x.ndim not in self._input_ndims or x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): expected input of shape "
                             f"{self._shape_text()}, got {x.shape}")

    def forward(self, x):
        x = _tensor(x)
        self._check(x)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)   # broadcasts over the batch
        if self.training:
            count = x.size // self.num_features
            if count < 2:
                raise ValueError(f"{type(self).__name__}: training needs more than one value per "
                                 f"feature to compute a variance, got input of shape {x.shape}")
            mean = x.mean(axis=axes, keepdims=True)
            centred = x - mean
            var = (centred * centred).mean(axis=axes, keepdims=True)
            x_hat = centred / (var + self.eps).sqrt()
            self._update_running_stats(mean.data.reshape(-1), var.data.reshape(-1), count)
        else:
            mean = self.running_mean.reshape(shape).astype(x.dtype, copy=False)
            std = np.sqrt(self.running_var.reshape(shape) + self.eps).astype(x.dtype, copy=False)
            x_hat = (x - mean) / std
        if self.gamma is None:
            return x_hat
        return x_hat * self.gamma.reshape(shape) + self.beta.reshape(shape)

    def _update_running_stats(self, mean, var, count):
        """running = (1 - momentum) * running + momentum * batch statistic, in place; the
        running variance takes the unbiased batch variance (times count / (count - 1))."""
        m = self.momentum
        self.running_mean *= 1.0 - m
        self.running_mean += m * mean
        self.running_var *= 1.0 - m
        self.running_var += m * var * (count / (count - 1))

    def extra_repr(self):
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization over the batch for each feature of (N, F) (or each channel of
    (N, F, L)) inputs: y = gamma * (x - mu) / sqrt(var + eps) + beta.

    Training: mu and var are the batch mean and (biased) variance, and the running averages are
    updated: running = (1 - momentum) * running + momentum * batch (running_var gets the
    unbiased variance). Eval: mu and var are the running averages. This is PyTorch's
    convention: momentum=0.1 here is the book's ``momentum=0.9`` (which weights the old value).
    Gradients flow through mu and var (the full batch-norm backward), built from core ops.
    """

    _input_ndims = (2, 3)

    def _shape_text(self):
        return f"(N, {self.num_features}) or (N, {self.num_features}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization per channel of (N, C, H, W) inputs: statistics over N, H and W;
    gamma and beta have shape (C,). Otherwise as :class:`BatchNorm1d`."""

    _input_ndims = (4,)

    def _shape_text(self):
        return f"(N, {self.num_features}, H, W)"


# ---- containers -----------------------------------------------------------------------------------


class Sequential(Module):
    """Apply layers one after another: y = f_n(... f_2(f_1(x))).

    Layers are Modules or any callables of one Tensor (``F.relu``). ``model[i]``, ``len(model)``
    and iteration work; parameters are named ``layers.<i>.<name>``.
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential: layer {i} ({layer!r}) is not callable")
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def append(self, layer):
        if not callable(layer):
            raise TypeError(f"Sequential.append: {layer!r} is not callable")
        self.layers.append(layer)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        lines = ["Sequential("]
        for i, layer in enumerate(self.layers):
            text = repr(layer) if isinstance(layer, Module) else getattr(layer, "__name__",
                                                                            repr(layer))
            lines.append(f"  ({i}): " + text.replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"


# ---- registration ---------------------------------------------------------------------------------
#
# Each case is (constructor kwargs, input shape). The kwargs ask for float64 parameters and a
# fixed seed, so that gradcheck (in float64) can perturb the parameters in place and every
# example is reproducible.


def _affine_cases(st):
    @st.composite
    def case(draw):
        feature_shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
        kwargs = {"in_features": int(np.prod(feature_shape)),
                  "out_features": draw(st.integers(1, 4)),
                  "bias": draw(st.booleans()),
                  "seed": draw(st.integers(0, 2**16)), "dtype": np.float64}
        return kwargs, (draw(st.integers(1, 3)),) + feature_shape
    return case()


def _two_layer_sequential(in_features, hidden, out_features, seed, dtype):
    """Sequential(Affine, tanh, Affine): what the conformance suite checks Sequential with."""
    return Sequential(Affine(in_features, hidden, seed=seed, dtype=dtype), Tensor.tanh,
                      Affine(hidden, out_features, seed=seed + 1, dtype=dtype))


def _sequential_cases(st):
    @st.composite
    def case(draw):
        kwargs = {"in_features": draw(st.integers(1, 4)), "hidden": draw(st.integers(1, 4)),
                  "out_features": draw(st.integers(1, 3)), "seed": draw(st.integers(0, 2**16)),
                  "dtype": np.float64}
        return kwargs, (draw(st.integers(1, 3)), kwargs["in_features"])
    return case()


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


def _pool_cases(st):
    @st.composite
    def case(draw):
        k = draw(st.integers(1, 3))
        stride = draw(st.integers(1, 3))
        pad = draw(st.integers(0, k // 2))
        OH, OW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        H, W = (OH - 1) * stride + k - 2 * pad, (OW - 1) * stride + k - 2 * pad
        if H < 1 or W < 1:
            pad, H, W = 0, H + 2 * pad, W + 2 * pad
        shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), H, W)
        return {"kernel_size": k, "stride": stride, "padding": pad}, shape
    return case()


def _flatten_cases(st):
    return st.lists(st.integers(1, 3), min_size=2, max_size=4).map(tuple).flatmap(
        lambda shape: st.tuples(
            st.fixed_dictionaries({"start_dim": st.integers(0, len(shape) - 1)}), st.just(shape)))


def _dropout_cases(st):
    # Training-mode dropout draws a new mask on every call: a gradient check must replay the
    # same mask (the conformance suite copies the layer, generator included, for every call).
    return st.tuples(st.fixed_dictionaries({"p": st.sampled_from([0.0, 0.2, 0.5, 0.9]),
                                            "seed": st.integers(0, 99)}),
                     st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple))


def _batchnorm_cases(st, ndims):
    @st.composite
    def case(draw):
        ndim = draw(st.sampled_from(ndims))
        F = draw(st.integers(1, 3))
        shape = (draw(st.integers(2, 4)), F) + tuple(
            draw(st.lists(st.integers(1, 3), min_size=ndim - 2, max_size=ndim - 2)))
        kwargs = {"num_features": F, "momentum": draw(st.floats(0.0, 1.0)),
                  "affine": draw(st.booleans()), "dtype": np.float64}
        return kwargs, shape
    return case()


@hookimpl
def register_layers():
    # second_order=False where the layer is linear in its input with no parameters (its
    # first derivative is constant, so there is no second derivative to check)
    return [
        Component("affine", Affine, aliases=("linear",), check=Check(cases=_affine_cases)),
        Component("conv2d", Conv2d, aliases=("convolution",), check=Check(cases=_conv_cases)),
        Component("maxpool2d", MaxPool2d, aliases=("max_pool2d",),
                  check=Check(cases=_pool_cases, distinct=True, second_order=False)),
        Component("avgpool2d", AvgPool2d, aliases=("avg_pool2d",),
                  check=Check(cases=_pool_cases, second_order=False)),
        Component("flatten", Flatten, check=Check(cases=_flatten_cases, second_order=False)),
        Component("dropout", Dropout, check=Check(cases=_dropout_cases, second_order=False)),
        Component("batchnorm1d", BatchNorm1d, aliases=("batch_norm1d",),
                  check=Check(cases=lambda st: _batchnorm_cases(st, (2, 3)), domain=(-3.0, 3.0))),
        Component("batchnorm2d", BatchNorm2d, aliases=("batch_norm2d",),
                  check=Check(cases=lambda st: _batchnorm_cases(st, (4,)), domain=(-3.0, 3.0))),
        Component("sequential", Sequential,
                  check=Check(cases=_sequential_cases, build=_two_layer_sequential)),
    ]
