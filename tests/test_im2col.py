"""im2col / col2im: shapes, layout, adjointness and equivalence with a naive convolution."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from helpers import naive_conv2d
from tinygrad_edu.im2col import col2im, conv_output_size, im2col, im2col_grouped


def test_book_shapes():
    assert im2col(np.random.rand(1, 3, 7, 7), 5, 5, stride=1, pad=0).shape == (9, 75)
    assert im2col(np.random.rand(10, 3, 7, 7), 5, 5, stride=1, pad=0).shape == (90, 75)


def test_layout_matches_formula():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 6))
    fh, fw, s, p = 3, 2, 2, 1
    col = im2col(x, fh, fw, stride=s, pad=p)
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    OH, OW = (5 + 2 * p - fh) // s + 1, (6 + 2 * p - fw) // s + 1
    assert col.shape == (2 * OH * OW, 3 * fh * fw)
    for n in range(2):
        for i in range(OH):
            for j in range(OW):
                patch = xp[n, :, i * s:i * s + fh, j * s:j * s + fw]
                np.testing.assert_array_equal(col[(n * OH + i) * OW + j], patch.ravel())


@st.composite
def conv_geometry(draw):
    """(N, C, H, W), FH, FW, stride, pad; H and W leave 0 .. stride-1 pixels after the last
    window (a stride that does not tile the padded input: that border is dropped)."""
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    oh, ow = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rest_h, rest_w = draw(st.integers(0, stride - 1)), draw(st.integers(0, stride - 1))
    H = (oh - 1) * stride + fh + rest_h - 2 * pad
    W = (ow - 1) * stride + fw + rest_w - 2 * pad
    if H < 1 or W < 1:
        H, W, pad = H + 2 * pad, W + 2 * pad, 0
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (N, C, H, W), fh, fw, stride, pad


@given(conv_geometry(), st.integers(0, 2**32 - 1))
def test_col2im_is_adjoint_of_im2col(geom, seed):
    shape, fh, fw, stride, pad = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    col = im2col(x, fh, fw, stride, pad)
    y = rng.standard_normal(col.shape)
    back = col2im(y, shape, fh, fw, stride, pad)
    assert back.shape == shape
    np.testing.assert_allclose(np.sum(col * y), np.sum(x * back), rtol=1e-10, atol=1e-10)


@given(conv_geometry(), st.integers(0, 2**32 - 1))
def test_col2im_same_result_for_either_memory_order(geom, seed):
    """col2im sums in the memory order of its col (rows of a C-contiguous col, or colT.T as the
    convolution's backward passes it); the result must not depend on which."""
    shape, fh, fw, stride, pad = geom
    y = np.random.default_rng(seed).standard_normal(im2col(np.zeros(shape), fh, fw, stride,
                                                           pad).shape)
    transposed = np.ascontiguousarray(y.T).T
    if min(y.shape) > 1:                      # (a single row or column is both at once)
        assert y.flags.c_contiguous and not transposed.flags.c_contiguous
    np.testing.assert_allclose(col2im(transposed, shape, fh, fw, stride, pad),
                               col2im(y, shape, fh, fw, stride, pad), rtol=1e-12, atol=1e-12)


@given(conv_geometry(), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_im2col_convolution_equals_naive_loop(geom, FN, seed):
    shape, fh, fw, stride, pad = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((FN, shape[1], fh, fw))
    b = rng.standard_normal(FN)
    N, _, H, W = shape
    OH, OW = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    out = im2col(x, fh, fw, stride, pad) @ w.reshape(FN, -1).T + b
    out = out.reshape(N, OH, OW, FN).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, stride, pad), rtol=1e-10, atol=1e-10)


def test_col2im_counts_overlaps():
    # every pixel receives one 1 per patch that covers it
    x = np.ones((1, 1, 4, 4))
    counts = col2im(im2col(x, 3, 3), x.shape, 3, 3)
    expected = np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    np.testing.assert_array_equal(counts[0, 0], expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(dtype):
    x = np.ones((2, 2, 6, 6), dtype=dtype)
    col = im2col(x, 3, 3, stride=1, pad=1)
    assert col.dtype == dtype
    assert col2im(col, x.shape, 3, 3, stride=1, pad=1).dtype == dtype


def test_errors():
    with pytest.raises(ValueError, match="larger than the padded input"):
        im2col(np.zeros((1, 1, 4, 4)), 5, 5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        im2col(np.zeros((4, 4)), 3, 3)
    with pytest.raises(ValueError, match="stride"):
        im2col(np.zeros((1, 1, 4, 4)), 2, 2, stride=0)
    with pytest.raises(ValueError, match="col2im: col has shape"):
        col2im(np.zeros((3, 9)), (1, 1, 4, 4), 3, 3)
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(24, 2, stride=2) == 12


def test_output_size_takes_the_floor_as_the_book_and_pytorch():
    # floor((H + 2*pad - FH) / stride) + 1: (6 - 3) / 2 + 1 = 2.5 -> 2 windows, the last
    # column of the input is reached by none
    assert conv_output_size(6, 3, stride=2) == 2
    assert conv_output_size(7, 3, stride=2, pad=1) == 4          # (7 + 2 - 3) / 2 + 1 = 4
    assert conv_output_size(8, 3, stride=2, pad=1) == 4          # 4.5 -> 4
    assert conv_output_size(5, 2, stride=3) == 2                 # 2 pixels of 5 dropped
    assert im2col(np.zeros((1, 1, 6, 6)), 3, 3, stride=2).shape == (4, 9)


@given(conv_geometry(), st.integers(0, 2**32 - 1))
def test_col2im_gives_the_dropped_border_zero(geom, seed):
    """Pixels that no window reaches (the bottom/right border left over by a stride that does
    not tile the padded input) take no part in im2col, so col2im gives them 0."""
    shape, fh, fw, stride, pad = geom
    N, C, H, W = shape
    OH, OW = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    reached_h = (OH - 1) * stride + fh - pad        # rows 0 .. reached_h-1 of x are seen
    reached_w = (OW - 1) * stride + fw - pad
    rng = np.random.default_rng(seed)
    back = col2im(rng.standard_normal((N * OH * OW, C * fh * fw)) + 3.0, shape, fh, fw,
                  stride, pad)
    assert np.all(back[:, :, reached_h:, :] == 0) and np.all(back[:, :, :, reached_w:] == 0)
    # and changing those pixels does not change im2col
    x = rng.standard_normal(shape)
    changed = x.copy()
    changed[:, :, reached_h:, :] += 1.0
    changed[:, :, :, reached_w:] += 1.0
    np.testing.assert_array_equal(im2col(x, fh, fw, stride, pad),
                                  im2col(changed, fh, fw, stride, pad))


@given(conv_geometry(), st.sampled_from([1, 2, 3, 4, 6]), st.booleans(), st.integers(0, 2**32 - 1))
def test_im2col_grouped_rows_hold_the_patches_of_adjacent_pixels(geom, group, ones, seed):
    """Row (n, i, j) of im2col_grouped is the (C, FH, WP) patch whose columns p*stride ...
    p*stride + FW - 1 are exactly the plain im2col row of output pixel (i, j*group + p)."""
    shape, fh, fw, stride, pad = geom
    N, C, H, W = shape
    OH, OW = conv_output_size(H, fh, stride, pad), conv_output_size(W, fw, stride, pad)
    x = np.random.default_rng(seed).standard_normal(shape)
    if OW % group:
        with pytest.raises(ValueError, match="not a multiple of group"):
            im2col_grouped(x, fh, fw, stride, pad, group=group)
        return
    grouped = im2col_grouped(x, fh, fw, stride, pad, group=group, ones_column=ones)
    width = (group - 1) * stride + fw
    assert grouped.shape == (N * OH * OW // group, C * fh * width + ones)
    assert grouped.flags.c_contiguous
    if ones:
        np.testing.assert_array_equal(grouped[:, -1], 1)
    patches = grouped[:, :C * fh * width].reshape(N, OH, OW // group, C, fh, width)
    plain = im2col(x, fh, fw, stride, pad).reshape(N, OH, OW, C, fh, fw)
    for p in range(group):
        np.testing.assert_array_equal(patches[..., p * stride:p * stride + fw],
                                      plain[:, :, p::group])
