"""The plugin: ``relu`` and ``maxpool2d`` computed by the numba kernels of :mod:`.kernels`.

Both components declare ``replaces=``: while this plugin is enabled they take over the standard
names, so ``F.relu``, ``nn.MaxPool2d`` and every model built from them (SimpleConvNet included)
use the compiled kernels without a change to user code. They compute exactly what the standard
components compute (same values, same gradients, the first maximum of a window in row-major
order gets the gradient), take the same arguments and raise the same errors;
``tinygrad_edu.testing.differential.check_replacement`` checks that on random inputs.

Other dtypes than float32 and float64 (integers, float16) go to the standard numpy code.
Gradients of gradients work: each backward is itself a Function whose backward is its adjoint.
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu.components import Component
from tinygrad_edu.function import Function
from tinygrad_edu.grad_mode import is_grad_enabled
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.tensor import as_tensor
from tinygrad_edu_plugins.layers import MaxPool2d as StandardMaxPool2d
from tinygrad_edu_plugins.layers import MaxPool2dFunction as StandardMaxPool2dFunction

from tinygrad_edu_numba import kernels

__all__ = ["relu", "ReLU", "MaxPool2d", "MaxPool2dFunction"]

COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ---- memory layouts -----------------------------------------------------------------------------


def _flat(a, order):
    """``a`` as a 1-D view in the axis order ``order`` (a permutation that makes it contiguous),
    or None when that is not a contiguous view."""
    view = a.transpose(order)
    return view.reshape(-1) if view.flags.c_contiguous else None


def _memory_order(a):
    """The axes of ``a`` from the largest stride to the smallest (its layout in memory)."""
    return tuple(sorted(range(a.ndim), key=lambda axis: -abs(a.strides[axis])))


def _nhwc(a):
    """An (N, C, H, W) array seen as (N, H, W, C): the kernels' view (no copy)."""
    return a.transpose(0, 2, 3, 1)


def _channels_last(a):
    """Whether an (N, C, H, W) array is channels-last in memory (a convolution's output is)."""
    return _nhwc(a).flags.c_contiguous and not a.flags.c_contiguous


def _empty_nchw(shape, channels_last, dtype):
    """An uninitialised (N, C, H, W) array, channels-last in memory or C-ordered."""
    if channels_last:
        N, C, H, W = shape
        return np.empty((N, H, W, C), dtype=dtype).transpose(0, 3, 1, 2)
    return np.empty(shape, dtype=dtype)


# ---- ReLU ---------------------------------------------------------------------------------------


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 for x > 0, 0 for x <= 0 (the standard relu's formula), by
    :func:`kernels.relu_forward`. Backward reads the mask from the output (y > 0 exactly where
    x > 0), so no mask is stored."""

    def forward(self, x):
        order = _memory_order(x)
        if x.dtype not in COMPILED_DTYPES or _flat(x, order) is None:
            return np.maximum(x, 0)
        y = np.empty_like(x)     # same memory layout as x (numpy's order="K")
        if _flat(y, order) is None:
            return np.maximum(x, 0)
        kernels.pick(kernels.relu_forward, x.size)(_flat(x, order), _flat(y, order))
        return y

    def backward(self, gy):
        return _PassWherePositive(self.output.data)(gy)


class _PassWherePositive(Function):
    """gx = gy * (y > 0) for a fixed y (ReLU's output); linear in gy, and its own adjoint."""

    def __init__(self, y):
        self.y = y

    def forward(self, gy):
        y = self.y
        order = _memory_order(y)
        if gy.dtype not in COMPILED_DTYPES or gy.shape != y.shape or _flat(y, order) is None:
            return gy * (y > 0)
        g = _flat(gy, order)
        if g is None:           # gy has another memory layout: copy it into y's once
            g = _flat(_like(gy, y), order)
        gx = np.empty_like(y, dtype=gy.dtype)
        kernels.pick(kernels.relu_backward, y.size)(g, _flat(y, order), _flat(gx, order))
        return gx

    def backward(self, ggx):
        return _PassWherePositive(self.y)(ggx)


def _like(a, template):
    """``a`` copied into the memory layout of ``template`` (same shape)."""
    out = np.empty_like(template, dtype=a.dtype)
    out[...] = a
    return out


def relu(x):
    """Rectified linear unit: y = max(x, 0), dy/dx = 1 for x > 0 else 0 (compiled, numba)."""
    return ReLU()(as_tensor(x))


# ---- max pooling --------------------------------------------------------------------------------


class MaxPool2dFunction(Function):
    """y[n, c, i, j] = max of the window at (i*stride, j*stride) of x padded with -inf;
    dL/dx = dL/dy at the window's first maximum in row-major order, 0 elsewhere (summed where
    windows overlap): the standard max pooling, by :func:`kernels.max_pool_forward` (its
    2x2 form :func:`kernels.max_pool_2x2_forward` for unpadded 2x2 windows) and
    :func:`kernels.max_pool_backward` (:func:`kernels.max_pool_2x2_backward` when 2x2 windows
    tile the input). The window positions of the maxima are kept as int8."""

    def __init__(self, geometry):
        self.geometry = geometry

    def forward(self, x):
        g = self.geometry
        OH, OW = g.output_hw(x.shape)
        N, C = x.shape[:2]
        channels_last = _channels_last(x)
        # C-ordered whatever x's layout, as the standard's output: the ReLU and the flattening
        # reshape that usually follow then read it contiguously
        out = np.empty((N, C, OH, OW), dtype=x.dtype)
        keep_arg = is_grad_enabled()
        arg_dtype = np.int8 if g.kh * g.kw < 128 else np.int32
        arg = _empty_nchw((N, C, OH, OW), channels_last, arg_dtype) if keep_arg \
            else np.empty((1, 1, 1, 1), dtype=arg_dtype)
        if g.kh == g.kw == 2 and g.pad == 0:
            kernels.pick(kernels.max_pool_2x2_forward, x.size)(
                _nhwc(x), g.stride, _nhwc(out), _nhwc(arg), keep_arg)
        else:
            kernels.pick(kernels.max_pool_forward, x.size)(
                _nhwc(x), g.kh, g.kw, g.stride, g.pad, _nhwc(out), _nhwc(arg), keep_arg)
        if keep_arg:
            self.arg, self.x_shape, self.channels_last = arg, x.shape, channels_last
        return out

    def backward(self, gy):
        return _ScatterToMaxima(self.geometry, self.x_shape, self.arg, self.channels_last)(gy)


class _ScatterToMaxima(Function):
    """dx = each window's gradient put at its first maximum (``arg``); its adjoint, for
    gradients of gradients, is :class:`_GatherFromMaxima`."""

    def __init__(self, geometry, x_shape, arg, channels_last):
        self.geometry, self.x_shape, self.arg = geometry, x_shape, arg
        self.channels_last = channels_last     # dx in the memory layout of the pooled input

    def forward(self, gy):
        g = self.geometry
        dx = _empty_nchw(self.x_shape, self.channels_last, gy.dtype)
        tiles = g.tiles_exactly(self.x_shape)
        if tiles and g.kh == g.kw == 2:
            kernels.pick(kernels.max_pool_2x2_backward, dx.size)(
                _nhwc(gy), _nhwc(self.arg), _nhwc(dx))
        else:
            kernels.pick(kernels.max_pool_backward, dx.size)(
                _nhwc(gy), _nhwc(self.arg), g.kh, g.kw, g.stride, g.pad, _nhwc(dx), tiles)
        return dx

    def backward(self, ggx):
        return _GatherFromMaxima(self.geometry, self.arg)(ggx)


class _GatherFromMaxima(Function):
    """y = g at each window's first maximum (the adjoint of :class:`_ScatterToMaxima`)."""

    def __init__(self, geometry, arg):
        self.geometry, self.arg = geometry, arg

    def forward(self, gx):
        g = self.geometry
        out = np.empty(self.arg.shape, dtype=gx.dtype)
        kernels.pick(kernels.max_pool_gather, gx.size)(
            _nhwc(gx), _nhwc(self.arg), g.kh, g.kw, g.stride, g.pad, _nhwc(out))
        return out

    def backward(self, gy):
        return _ScatterToMaxima(self.geometry, self.inputs[0].shape, self.arg, False)(gy)


class MaxPool2d(StandardMaxPool2d):
    """Max pooling over kh x kw windows: y = the largest value of each window (compiled, numba).

    The standard MaxPool2d (same arguments, defaults and errors), computed by numba kernels for
    float32 and float64 inputs; each gradient goes to its window's first maximum.
    """

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim == 4 and x.dtype in COMPILED_DTYPES:
            return MaxPool2dFunction(self._geometry)(x)
        return StandardMaxPool2dFunction(self._geometry)(x)


# ---- registration -------------------------------------------------------------------------------
#
# No check= declarations: a replacement is checked with the declaration of the component it
# replaces (the same cases, domain and tolerances), and against that component by
# tinygrad_edu.testing.differential.


@hookimpl
def register_activations():
    return [Component("relu", relu, replaces="relu")]


@hookimpl
def register_layers():
    return [Component("maxpool2d", MaxPool2d, aliases=("max_pool2d",), replaces="maxpool2d")]
