"""im2col / col2im: turn a convolution into one matrix product.

A convolution slides a (C, FH, FW) filter over a (C, H, W) image.  ``im2col`` copies every
patch the filter sees into one row of a matrix, so that the whole convolution becomes::

    out = im2col(x, FH, FW, stride, pad) @ W.reshape(FN, -1).T        # (N*OH*OW, FN)

with the output size

    OH = floor((H + 2*pad - FH) / stride) + 1,     OW = floor((W + 2*pad - FW) / stride) + 1.

The floor is the book's and PyTorch's: when the stride does not tile the padded input (say
H + 2*pad = 7, FH = 3, stride = 2 leaves one row after the last window), the last rows/columns
that no window reaches (fewer than ``stride`` of them, at the bottom and the right) are dropped.
They do not affect the output, so their gradient is zero: ``col2im`` leaves them 0.

Layout (the book's): row ``(n*OH + i)*OW + j`` holds the patch of image ``n`` whose top-left
corner is at ``(i*stride, j*stride)`` of the zero-padded image; its columns are ordered
``(c, dy, dx)`` with ``c`` slowest, i.e. exactly ``W[f].ravel()`` for a filter of shape
(C, FH, FW).  So ``col[(n*OH + i)*OW + j, (c*FH + dy)*FW + dx] = xpad[n, c, i*stride + dy,
j*stride + dx]``.

``col2im`` is the adjoint (the transpose) of ``im2col``, not its inverse: every column entry is
*added* back to the pixel it was copied from, so a pixel seen by k patches receives the sum of
k values.  That is exactly the backward pass of im2col: ``<im2col(x), y> == <x, col2im(y)>``.

Implementation: both functions loop over the FH*FW filter offsets (25 iterations for a 5x5
filter) and move one strided slice of all N*C*OH*OW pixels per iteration; there is no Python
loop over output pixels.  The matrix is filled as its transpose, ``colT`` of shape
(C*FH*FW, N*OH*OW): the filter offset (c, dy, dx) owns one row, and the slice copied into it is
read and written row after row of the image.  ``im2col`` returns ``colT.T``, a view with the
book's shape and values; numpy hands a transposed operand to BLAS without copying, so
``col @ W.T`` costs the same as on a contiguous matrix.  Measured (median of 30 runs, one
thread, float32):

    x (100, 1, 28, 28), 5x5 (SimpleConvNet)       book layout filled directly  0.96 ms   colT  0.32 ms
    x (1000, 1, 28, 28), 5x5                                                  12.5 ms          3.4 ms
    x (100, 16, 12, 12), 3x3, pad 1                                            1.14 ms          0.80 ms
    x (100, 30, 12, 12), 3x3, pad 1                                            2.16 ms          1.61 ms

(The book fills a (N, C, FH, FW, OH, OW) array and transposes it at the end: 2.2-3.0 ms for the
first shape.)  ``col2im`` sums in whichever of the two memory orders its ``col`` has; the
convolution's backward hands it ``(W.T @ dY.T).T``, the transposed layout, which is the faster
one for one channel (0.62 ms against 1.65 ms for a C-contiguous col of the first shape).
"""
from __future__ import annotations

import numpy as np

__all__ = ["im2col", "im2col_grouped", "col2im", "conv_output_size"]


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0,
                     *, op: str = "im2col") -> int:
    """``floor((input_size + 2*pad - filter_size) / stride) + 1``: how many windows fit.

    As in the book and PyTorch, a stride that does not tile the padded input is allowed: the
    ``(input_size + 2*pad - filter_size) % stride`` last pixels, which no window reaches, are
    dropped (they take no part in the output and receive a zero gradient).
    Raises ValueError (naming ``op`` and the sizes) when the filter is larger than the padded
    input, or for a stride, pad or filter size that is not a positive (pad: non-negative) int.
    """
    if stride < 1 or int(stride) != stride:
        raise ValueError(f"{op}: stride must be a positive integer, got {stride!r}")
    if pad < 0 or int(pad) != pad:
        raise ValueError(f"{op}: pad must be a non-negative integer, got {pad!r}")
    if filter_size < 1 or int(filter_size) != filter_size:
        raise ValueError(f"{op}: filter size must be a positive integer, got {filter_size!r}")
    padded = input_size + 2 * pad
    if filter_size > padded:
        raise ValueError(
            f"{op}: filter size {filter_size} is larger than the padded input size {padded} "
            f"(input {input_size} + 2*pad {pad})")
    return (padded - filter_size) // stride + 1


def _output_hw(H, W, filter_h, filter_w, stride, pad, op):
    return (conv_output_size(H, filter_h, stride, pad, op=op + " (height)"),
            conv_output_size(W, filter_w, stride, pad, op=op + " (width)"))


def im2col(x: np.ndarray, filter_h: int, filter_w: int, stride: int = 1,
           pad: int = 0, *, ones_column: bool = False) -> np.ndarray:
    """Unfold image patches into rows: x (N, C, H, W) -> col (N*OH*OW, C*FH*FW).

    ``col[(n*OH + i)*OW + j, (c*FH + dy)*FW + dx] = xpad[n, c, i*stride + dy, j*stride + dx]``
    where ``xpad`` is ``x`` zero-padded by ``pad`` on both sides of H and W and
    ``OH = floor((H + 2*pad - FH)/stride) + 1`` (likewise OW; a border that no window reaches
    is dropped, see :func:`conv_output_size`).  The argument order is the book's.
    The result is the transposed view of a contiguous (C*FH*FW, N*OH*OW) array (see above).

    ``ones_column=True`` appends a column of ones: a bias is the weight of an input that is
    always 1 (the book's Figure 3-3), so ``col @ [W | b].T`` is a convolution with its bias added
    by the matrix product itself, not by another pass over the output.

    >>> im2col(np.zeros((10, 3, 7, 7)), 5, 5).shape
    (90, 75)
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"im2col: expected x of shape (N, C, H, W), got shape {x.shape}")
    N, C, H, W = x.shape
    OH, OW = _output_hw(H, W, filter_h, filter_w, stride, pad, "im2col")
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)]) if pad else x
    img = img.transpose(1, 0, 2, 3)                          # (C, N, H, W) view
    K = C * filter_h * filter_w
    colT = np.empty((K + ones_column, N * OH * OW), dtype=x.dtype)
    if ones_column:
        colT[K] = 1
    cols = colT[:K].reshape(C, filter_h, filter_w, N, OH, OW)
    for dy in range(filter_h):
        y_end = dy + stride * OH
        for dx in range(filter_w):
            x_end = dx + stride * OW
            # the pixel at offset (dy, dx) of every patch, of every channel: one strided slice
            cols[:, dy, dx] = img[:, :, dy:y_end:stride, dx:x_end:stride]
    return colT.T


def im2col_grouped(x: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0,
                   *, group: int, ones_column: bool = False) -> np.ndarray:
    """One row per ``group`` horizontally adjacent output pixels: x (N, C, H, W) ->
    col (N*OH*OW/group, C*FH*WP [+ 1]) with WP = (group - 1)*stride + FW, C-contiguous.

    ``col[((n*OH + i)*OW/group + j), (c*FH + dy)*WP + u] = xpad[n, c, i*stride + dy,
    j*group*stride + u]``: the row holds the (FH, WP) patch that the filters of the output pixels
    (i, j*group) ... (i, j*group + group - 1) see together; pixel p of the group uses its columns
    u = p*stride ... p*stride + FW - 1. OW must be a multiple of ``group``.

    With weights spread accordingly (:func:`tinygrad_edu_plugins.layers.conv.grouped_weights`:
    zero where a pixel's filter does not reach), ``col @ Wg`` gives ``group`` output pixels
    per row, (N*OH*OW/group, group*FN), which is already the (N, OH, OW, FN) channels-last
    output. When C*FH*FW is small (SimpleConvNet: 25), the plain im2col product is a thin
    (N*OH*OW, 26) @ (26, 30) that BLAS runs far below its speed; grouping 6 pixels makes it
    (N*OH*OW/6, 51) @ (51, 180): twice the multiplications, in half the time, and a smaller
    col to write (A's shapes: im2col + product 1.4 ms against 2.1 ms, and dW 1.7 against 2.9 ms;
    2 threads). The zeros make a non-finite input spread to the neighbouring pixels of its group
    (0 * inf = nan): callers use it for finite inputs only.
    """
    x = np.asarray(x)
    N, C, H, W = x.shape
    OH, OW = _output_hw(H, W, filter_h, filter_w, stride, pad, "im2col_grouped")
    if OW % group:
        raise ValueError(f"im2col_grouped: output width {OW} is not a multiple of group {group}")
    width = (group - 1) * stride + filter_w
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)]) if pad else x
    patches = np.lib.stride_tricks.sliding_window_view(img, (filter_h, width), axis=(2, 3))
    patches = patches[:, :, :OH * stride:stride, :OW * stride:group * stride]   # (N, C, OH, G, FH, WP)
    K = C * filter_h * width
    col = np.empty((N * OH * (OW // group), K + ones_column), dtype=x.dtype)
    col[:, :K].reshape(N, OH, OW // group, C, filter_h, width)[...] = patches.transpose(0, 2, 3, 1, 4, 5)
    if ones_column:
        col[:, K] = 1
    return col


def col2im(col: np.ndarray, input_shape, filter_h: int, filter_w: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """Fold rows back onto the image, summing overlaps: col (N*OH*OW, C*FH*FW) -> (N, C, H, W).

    The adjoint of :func:`im2col`:
    ``img[n, c, i*stride + dy - pad, j*stride + dx - pad] += col[(n*OH + i)*OW + j,
    (c*FH + dy)*FW + dx]`` (entries that fall into the padding are dropped; pixels of a
    border that no window reaches, when the stride does not tile the input, stay 0).
    So ``sum(im2col(x) * y) == sum(x * col2im(y))`` for every x and y; this is the gradient
    of im2col.  The result has ``col``'s dtype; it is a (non-contiguous) view of a fresh array.
    """
    col = np.asarray(col)
    if len(input_shape) != 4:
        raise ValueError(f"col2im: input_shape must be (N, C, H, W), got {tuple(input_shape)}")
    N, C, H, W = (int(s) for s in input_shape)
    OH, OW = _output_hw(H, W, filter_h, filter_w, stride, pad, "col2im")
    expected = (N * OH * OW, C * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(
            f"col2im: col has shape {col.shape}, but input_shape {tuple(input_shape)} with a "
            f"{filter_h}x{filter_w} filter, stride {stride}, pad {pad} needs {expected}")
    # (N, OH, OW, C, FH, FW) view of col, whatever its memory order
    cols = col.T.reshape(C, filter_h, filter_w, N, OH, OW).transpose(3, 4, 5, 0, 1, 2)
    # the image is summed in the memory order col has: channels last for a C-contiguous col,
    # channels first for colT.T, so that each slice below is added in long runs
    Hp, Wp = H + 2 * pad, W + 2 * pad
    if col.flags.c_contiguous:
        img = np.zeros((N, Hp, Wp, C), dtype=col.dtype)
    else:
        img = np.zeros((C, N, Hp, Wp), dtype=col.dtype).transpose(1, 2, 3, 0)   # (N, Hp, Wp, C)
    for dy in range(filter_h):
        y_end = dy + stride * OH
        for dx in range(filter_w):
            x_end = dx + stride * OW
            img[:, dy:y_end:stride, dx:x_end:stride, :] += cols[:, :, :, :, dy, dx]
    return img[:, pad:H + pad, pad:W + pad, :].transpose(0, 3, 1, 2)
