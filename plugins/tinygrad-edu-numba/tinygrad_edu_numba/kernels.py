"""The compiled kernels: plain loops over numpy arrays, compiled to machine code by numba.

Why loops beat numpy here: numpy runs one pass over the whole array per operation (``x > 0``,
``np.maximum``, one strided pass per window offset, one comparison pass per mask ...), each
pass reading and writing the array. A compiled loop does all the work for one element (or one
pooling window) while it is in a register, in a single pass.

Every kernel is compiled twice from the same source (:func:`_compile`): a serial version, used
by default, and a ``parallel=True`` one whose ``prange`` spreads the loop over images across the
cores (numba's thread pool), used for large arrays only when TINYGRAD_EDU_NUMBA_PARALLEL=1
(:data:`PARALLEL`, :func:`pick`: on 2 cores it gained nothing in a training step). ``cache=True``
stores the machine code on disk next to this file (or in numba's user-wide cache when that is
not writable), so only the very first run of a new (dtype, memory layout) compiles.

Pooling kernels see arrays as (N, H, W, C) views (channels last): a convolution's output has
that memory order, so the innermost loop over channels reads and writes contiguous memory and
is vectorised. Any other layout works too (numba follows the strides), only slower.

Inside the loops over images every array is indexed in full (``x[n, h, w, c]``), never through
a sub-array (``pixel = x[n, h, w]``): each sub-array is a new array object whose reference
count numba updates atomically, and that alone made the pooling kernels about 2x slower (A's
shapes: backward 1.34 -> 0.70 ms, forward 1.27 -> 1.13 ms).
"""
from __future__ import annotations

import os
import types

import numba
import numpy as np
from numba import njit, prange

# numba's default thread pool on Linux is OpenMP's, whose idle workers spin-wait for a while
# after each parallel loop, stealing the cores from the BLAS threads of the matrix products that
# follow (measured, A: 21-33 ms a step against 12.3 ms with the workqueue pool, B: 8.0 against
# 1.4 ms). The workqueue pool sleeps when idle. A user's own NUMBA_THREADING_LAYER still wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

#: Whether the multi-core (``prange``) versions are used, for arrays of PARALLEL_MIN_SIZE
#: elements or more. Off unless TINYGRAD_EDU_NUMBA_PARALLEL=1: on the 2-core benchmark machine
#: they are faster alone (A's 2x2 pooling forward 1.07 -> 0.58 ms) but gain nothing in the
#: training step, next to OpenBLAS's 2 threads (9 alternations of one process each: the step
#: 1.8-2.7x its matrix products, mean 2.26, against 2.0-2.4x, mean 2.23, serial), nor in D.
#: Serial, they leave the second core to the rest. Machines with more cores may differ.
PARALLEL = os.environ.get("TINYGRAD_EDU_NUMBA_PARALLEL") == "1"
#: Arrays smaller than this (in elements) always use the serial kernels.
PARALLEL_MIN_SIZE = 1 << 16


def _compile(function):
    """(serial, parallel) compiled versions of ``function``, both cached on disk.

    The parallel one is compiled from a copy of ``function`` named ``<name>_parallel``: numba
    files its disk cache under the function's name and finds an entry by the bytecode alone,
    not by the compile options (numba issue #6845), so with one name the version compiled first
    (serial or parallel) would be loaded for both."""
    parallel = types.FunctionType(function.__code__, function.__globals__,
                                  f"{function.__name__}_parallel", function.__defaults__,
                                  function.__closure__)
    parallel.__qualname__ = f"{function.__qualname__}_parallel"
    return (njit(cache=True, nogil=True)(function),
            njit(cache=True, nogil=True, parallel=True)(parallel))


def pick(kernels, size):
    """The serial or the parallel version of a kernel pair (see :data:`PARALLEL`)."""
    return kernels[PARALLEL and size >= PARALLEL_MIN_SIZE]


# ---- ReLU ---------------------------------------------------------------------------------------


def _relu_forward(x, y):
    """y = max(x, 0) over flat arrays, in one pass.

    Replaces ``mask = x > 0; y = np.maximum(x, 0)`` (two passes, and a boolean mask kept for
    backward): the backward below reads the mask from y (y > 0 exactly where x > 0), so nothing
    else is stored. NaN stays NaN and -0.0 becomes 0.0, as with np.maximum(x, 0).
    """
    for i in prange(x.size):
        v = x[i]
        y[i] = v if (v > 0 or v != v) else 0


def _relu_backward(gy, y, gx):
    """gx = gy * (y > 0) over flat arrays, in one pass.

    Replaces ``gy * mask`` with the stored boolean mask (which numpy first converts to gy's
    dtype); the product (not a select) keeps numpy's answer for a NaN or inf gy where y <= 0.
    """
    for i in prange(gy.size):
        gx[i] = gy[i] * (1 if y[i] > 0 else 0)


relu_forward = _compile(_relu_forward)
relu_backward = _compile(_relu_backward)


# ---- max pooling --------------------------------------------------------------------------------
#
# k = dy * kw + dx numbers the positions of a window in row-major order; ``arg`` keeps, for
# every output element, the k of its window's first maximum, or -1 when the window holds a NaN
# (the output is then NaN and, as in the standard, no gradient flows through that window).
# Positions in the padding count as -inf.


@njit(cache=True, nogil=True, inline="always")
def _first_maxima(x, n, oh, ow, kh, kw, stride, pad, best, first):
    """first[oh, ow, c] = the row-major position k of the first element of the window equal to
    its maximum best[oh, ow, c] (padding counts as -inf), or -1 when the maximum is NaN (equal
    to nothing: no gradient flows through that window)."""
    N, H, W, C = x.shape
    not_found = kh * kw
    for c in range(C):
        first[oh, ow, c] = not_found
    for dy in range(kh):
        h = oh * stride + dy - pad
        for dx in range(kw):
            w = ow * stride + dx - pad
            k = dy * kw + dx
            if 0 <= h < H and 0 <= w < W:
                for c in range(C):
                    f = first[oh, ow, c]
                    first[oh, ow, c] = k if (x[n, h, w, c] == best[oh, ow, c] and k < f) else f
            else:
                for c in range(C):
                    f = first[oh, ow, c]
                    first[oh, ow, c] = k if (best[oh, ow, c] == -np.inf and k < f) else f
    for c in range(C):
        f = first[oh, ow, c]
        first[oh, ow, c] = -1 if f == not_found else f


@njit(cache=True, nogil=True, inline="always")
def _store(buffer, out, n):
    """out[n] = buffer ((OH, OW, C)), looping in out's memory order (channels outermost when
    out is C-ordered (N, C, OH, OW) seen as (N, OH, OW, C))."""
    OH, OW, C = buffer.shape
    if out.strides[3] > out.strides[2]:
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    out[n, oh, ow, c] = buffer[oh, ow, c]
    else:
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    out[n, oh, ow, c] = buffer[oh, ow, c]


@njit(cache=True, nogil=True, inline="always")
def _load(a, n, buffer):
    """buffer ((OH, OW, C)) = a[n], looping in a's memory order (see :func:`_store`).
    (One copy helper taking the image slices a[n] / out[n] instead of this pair made the pooling
    kernels 1.5-2x slower, measured: numba no longer knows the layout of the slice.)"""
    OH, OW, C = buffer.shape
    if a.strides[3] > a.strides[2]:
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    buffer[oh, ow, c] = a[n, oh, ow, c]
    else:
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    buffer[oh, ow, c] = a[n, oh, ow, c]


def _max_pool_forward(x, kh, kw, stride, pad, out, arg, keep_arg):
    """out = max of each (kh, kw) window at (oh*stride - pad, ow*stride - pad), x padded with
    -inf; arg = the row-major position of the window's first maximum (when ``keep_arg``).

    Replaces the standard's ``np.pad`` (when padding), one ``np.maximum`` pass per window offset
    over strided views, and then for backward one ``==`` pass, one ``&`` and one ``^`` per
    offset to find the first maximum (kh*kw boolean masks of the output's size): about
    4*kh*kw passes over memory. Here, image by image (over the cores in the parallel version),
    one output pixel's windows (all channels) are read from memory once, their maximum is taken
    in a vectorised loop over the channels, and the first position equal to it is found in a
    second loop over the same pixels (now in the L1 cache). Both go to a small per-image
    buffer, copied to ``out`` and ``arg`` in their own memory order (``out`` is usually
    C-ordered while x is channels-last), so that every write is contiguous.
    """
    N, H, W, C = x.shape
    OH, OW = out.shape[1], out.shape[2]
    for n in prange(N):
        best = np.empty((OH, OW, C), dtype=out.dtype)
        first = np.empty((OH, OW, C), dtype=arg.dtype)
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    best[oh, ow, c] = -np.inf
                for dy in range(kh):
                    h = oh * stride + dy - pad
                    if h < 0 or h >= H:
                        continue
                    for dx in range(kw):
                        w = ow * stride + dx - pad
                        if w < 0 or w >= W:
                            continue
                        for c in range(C):   # a select, not a branch: vectorised
                            v = x[n, h, w, c]
                            b = best[oh, ow, c]
                            best[oh, ow, c] = v if (v > b or v != v) else b
                if keep_arg:
                    _first_maxima(x, n, oh, ow, kh, kw, stride, pad, best, first)
        _store(best, out, n)
        if keep_arg:
            _store(first, arg, n)


@njit(cache=True, nogil=True, inline="always")
def _max_of_2x2(x, n, h, w, c):
    """(m, k): the maximum m of the 2x2 window x[n, h:h+2, w:w+2, c] and the row-major
    position k (0..3) of its first occurrence; a NaN wins (m is then NaN and k meaningless).

    The same select as the general kernel (``v > m or v != v``), kept in registers."""
    m = x[n, h, w, c]
    k = 0
    v = x[n, h, w + 1, c]
    take = v > m or v != v
    m, k = (v, 1) if take else (m, k)
    v = x[n, h + 1, w, c]
    take = v > m or v != v
    m, k = (v, 2) if take else (m, k)
    v = x[n, h + 1, w + 1, c]
    take = v > m or v != v
    m, k = (v, 3) if take else (m, k)
    return m, k


def _max_pool_2x2_forward(x, stride, out, arg, keep_arg):
    """:func:`_max_pool_forward` for 2x2 windows without padding (the book's pooling, and
    SimpleConvNet's): the same results, the window loops written out.

    Why a kernel of its own: in the general kernel each window offset reads and writes the
    running maximum (and for backward each offset is compared again in a second loop), in a
    loop over channels whose length numba does not know. Here the four values of a window are
    compared in registers and the first maximum's position is tracked by the same selects, in
    one loop over the channels. Measured on SimpleConvNet's (N, 24, 24, 30) conv output, 2
    threads: 1,000 images 11.0 -> 9.0 ms without ``arg``; 20.4 -> 14.3 ms with it.
    """
    N, H, W, C = x.shape
    OH, OW = out.shape[1], out.shape[2]
    for n in prange(N):
        best = np.empty((OH, OW, C), dtype=out.dtype)
        first = np.empty((OH, OW, C), dtype=arg.dtype)
        for oh in range(OH):
            for ow in range(OW):
                if keep_arg:
                    for c in range(C):
                        m, k = _max_of_2x2(x, n, oh * stride, ow * stride, c)
                        best[oh, ow, c] = m
                        first[oh, ow, c] = k if m == m else -1
                else:
                    for c in range(C):
                        best[oh, ow, c] = _max_of_2x2(x, n, oh * stride, ow * stride, c)[0]
        _store(best, out, n)
        if keep_arg:
            _store(first, arg, n)


def _max_pool_backward(gy, arg, kh, kw, stride, pad, dx, tiles):
    """dx[window position k] += gy * (k == arg) for every window: the gradient goes to each
    window's first maximum.

    Replaces the standard's scatter: one ``np.multiply(gy, mask_k)`` (or ``dx[window] +=
    gy * mask_k`` after ``np.zeros`` when windows overlap or padding is cropped) per window
    offset, each a strided pass over dx. Here dx is written once, image by image (over the
    cores in the parallel version); each image's gy is first read into a small buffer in gy's
    own memory order (gy is usually C-ordered, dx channels-last). When the windows tile the
    input exactly (``tiles``: stride = window, no padding, nothing left over), every pixel is
    written exactly once and dx needs no zeroing; otherwise each image's part of dx is zeroed
    first and its windows accumulate, within one thread (overlapping windows of one image never
    race).
    """
    N, H, W, C = dx.shape
    OH, OW = gy.shape[1], gy.shape[2]
    for n in prange(N):
        g = np.empty((OH, OW, C), dtype=gy.dtype)
        _load(gy, n, g)
        if not tiles:
            for h in range(H):
                for w in range(W):
                    for c in range(C):
                        dx[n, h, w, c] = 0
        for oh in range(OH):
            for ow in range(OW):
                for dy in range(kh):
                    h = oh * stride + dy - pad
                    if h < 0 or h >= H:
                        continue
                    for dxi in range(kw):
                        w = ow * stride + dxi - pad
                        if w < 0 or w >= W:
                            continue
                        k = dy * kw + dxi
                        for c in range(C):
                            v = g[oh, ow, c] * (1 if arg[n, oh, ow, c] == k else 0)
                            if tiles:
                                dx[n, h, w, c] = v
                            else:
                                dx[n, h, w, c] += v


def _max_pool_2x2_backward(gy, arg, dx):
    """:func:`_max_pool_backward` for 2x2 windows that tile the input (stride 2, no padding,
    even height and width): dx written row by row, each row of dx in one left-to-right pass
    that puts a window's gradient at its two pixels on that row.

    Why by rows: writing a window's four pixels together (two rows of dx at once) was slower,
    measured on A's shapes (6 alternations): 1.66-2.41 ms (median 1.75) against 1.00-1.42 ms
    (median 1.03) serial, 0.92-1.33 against 0.75-0.95 ms parallel."""
    N, H, W, C = dx.shape
    OH, OW = gy.shape[1], gy.shape[2]
    for n in prange(N):
        g = np.empty((OH, OW, C), dtype=gy.dtype)
        _load(gy, n, g)
        for oh in range(OH):
            for dy in range(2):
                h = 2 * oh + dy
                left = 2 * dy          # the window positions on this row: left, left + 1
                for ow in range(OW):
                    w = 2 * ow
                    for c in range(C):
                        v = g[oh, ow, c]
                        k = arg[n, oh, ow, c]
                        dx[n, h, w, c] = v * (1 if k == left else 0)
                        dx[n, h, w + 1, c] = v * (1 if k == left + 1 else 0)


def _max_pool_gather(g, arg, kh, kw, stride, pad, out):
    """out = sum over window positions k of g[position k] * (k == arg): the adjoint of the
    backward scatter (g at each window's first maximum), used only for gradients of gradients.

    Replaces the standard's ``out += g_padded[window] * mask_k`` per window offset.
    """
    N, H, W, C = g.shape
    OH, OW = out.shape[1], out.shape[2]
    for job in prange(N * OH):
        n = job // OH
        oh = job - n * OH
        for ow in range(OW):
            for c in range(C):
                out[n, oh, ow, c] = 0
            for dy in range(kh):
                h = oh * stride + dy - pad
                if h < 0 or h >= H:
                    continue
                for dx in range(kw):
                    w = ow * stride + dx - pad
                    if w < 0 or w >= W:
                        continue
                    k = dy * kw + dx
                    for c in range(C):
                        out[n, oh, ow, c] += g[n, h, w, c] * (1 if arg[n, oh, ow, c] == k else 0)


max_pool_forward = _compile(_max_pool_forward)
max_pool_2x2_forward = _compile(_max_pool_2x2_forward)
max_pool_backward = _compile(_max_pool_backward)
max_pool_2x2_backward = _compile(_max_pool_2x2_backward)
max_pool_gather = _compile(_max_pool_gather)
