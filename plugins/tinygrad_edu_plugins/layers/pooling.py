"""Pooling: MaxPool2d and AvgPool2d, their Functions and the window gather/scatter pair their
backward passes are built from."""
from __future__ import annotations

import numbers

import numpy as np

from tinygrad_edu.autograd import is_grad_enabled
from tinygrad_edu.components import Check, Component
from tinygrad_edu.function import Function
from tinygrad_edu.im2col import conv_output_size
from tinygrad_edu.module import Module
from tinygrad_edu.tensor import as_tensor

from ._common import _check_nchw, _pair

__all__ = ["MaxPool2d", "AvgPool2d", "MaxPool2dFunction", "AvgPool2dFunction"]


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


#: bytes of (padded) input per chunk of images: a chunk and what is computed from it stay in
#: the CPU's cache (L2, 1-2 MB a core) while every window offset passes over it
CHUNK_BYTES = 1 << 20


def _image_chunks(a):
    """Slices of ``a``'s first axis (images), each about :data:`CHUNK_BYTES` of ``a``."""
    per_image = max(1, a[:1].nbytes)
    step = max(1, CHUNK_BYTES // per_image)
    return [slice(i, i + step) for i in range(0, len(a), step)]


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
# Both passes go over the batch a chunk of images at a time (CHUNK_BYTES), so that the offsets
# after the first find the chunk in the CPU's cache: SimpleConvNet's whole training step (2
# threads, 8 alternations of 30 steps in one process) 15.7 -> 14.9 and 17.7 -> 16.6 ms.


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
        windows = list(self.geometry.windows(OH, OW))
        # out (and the masks) in x's memory order: numpy's empty_like of a strided view keeps it
        out = np.empty_like(self.xp[windows[0]])
        grad = is_grad_enabled()
        if grad:
            self.hits = [np.empty_like(out, dtype=bool) for _ in windows]
        for images in _image_chunks(self.xp):
            xp, y = self.xp[images], out[images]
            np.copyto(y, xp[windows[0]])
            for window in windows[1:]:
                np.maximum(y, xp[window], out=y)
            if grad:
                # the masks for backward are found here, while x is still in the CPU's cache
                # (in backward it has to come from memory again)
                self._mark_first_hits(xp, y, [hit[images] for hit in self.hits])
        # returned C-ordered (a copy when x was channels-last, as after Conv2d): what follows
        # (a ReLU, then Affine's flattening reshape, and their backward) then reads and writes
        # one memory order; mixed orders cost SimpleConvNet's step about 1 ms more than the copy
        return np.ascontiguousarray(out)

    def _mark_first_hits(self, xp, out, hits):
        """Fill one boolean mask per window offset (``hits``, in the order of
        ``geometry.windows``): True where that offset holds its window's maximum ``out`` for
        the first time (row-major order), so that ties send the gradient once."""
        undecided = None
        for window, hit in zip(self.geometry.windows(*out.shape[2:]), hits):
            np.equal(xp[window], out, out=hit)
            if undecided is None:
                undecided = ~hit
            else:
                hit &= undecided
                undecided ^= hit

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
            # a chunk of images at a time: each window offset writes its own pixels of dx, and a
            # chunk's dx stays in the cache until every offset has written it
            for images in _image_chunks(dx):
                d = dx[images]
                for window, w in zip(windows, weights):
                    np.multiply(g[images], w[images] if w.ndim else w, out=d[window])
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
        return self._function(self._geometry)(as_tensor(x))

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling over kh x kw windows: y = the largest value of each window.

    ``stride`` defaults to the window size (non-overlapping windows, the usual 2x2/2); padding
    adds -inf borders. Each gradient goes to its window's maximum only (the first one if
    several values tie). Output size OH = floor((H + 2*padding - kh) / stride) + 1 (likewise
    OW), as in the book and PyTorch: rows and columns that no window reaches (when the stride
    does not tile the padded input) are dropped and get a zero gradient.
    """

    _function = MaxPool2dFunction


class AvgPool2d(_Pool2d):
    """Average pooling over kh x kw windows: y = the mean of each window (zero padding is
    counted); each window element receives dL/dy / (kh*kw). The output size and the dropped
    border are those of :class:`MaxPool2d`."""

    _function = AvgPool2dFunction


# ---- registration ---------------------------------------------------------------------------------
# (see the note on cases in tinygrad_edu_plugins.layers)


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


# second_order=False: pooling is linear in its input given the window choice and has no
# parameters (its first derivative is constant, so there is no second derivative to check)
COMPONENTS = [
    Component("maxpool2d", MaxPool2d, aliases=("max_pool2d",),
              check=Check(cases=_pool_cases, distinct=True, second_order=False)),
    Component("avgpool2d", AvgPool2d, aliases=("avg_pool2d",),
              check=Check(cases=_pool_cases, second_order=False)),
]
