"""The standard layers: gradients over their declared cases, reference results, train/eval
behaviour, dtype and registration."""
import copy

import numpy as np
import pytest
from hypothesis import given, strategies as st

from helpers import naive_conv2d
from tinygrad_edu import Tensor, gradcheck, gradgradcheck, no_grad, registry
from tinygrad_edu.module import Module
from tinygrad_edu.testing import float_arrays
from tinygrad_edu_plugins import layers as L
from tinygrad_edu_plugins.layers import conv as conv_room
from tinygrad_edu_plugins.activations import relu

LAYERS = ["affine", "conv2d", "maxpool2d", "avgpool2d", "flatten", "dropout", "batchnorm1d",
          "batchnorm2d"]


def _draw_layer_and_input(name, data):
    comp = registry.get_component("layer", name)
    kwargs, shape = data.draw(comp.check.cases(st))
    lo, hi = comp.check.domain
    x = data.draw(float_arrays(shape, low=lo, high=hi, distinct=comp.check.distinct))
    return comp, comp.obj(**kwargs), x


def _replaying(layer):
    """Call a fresh copy of ``layer`` (sharing its Parameters) every time, so that Dropout
    replays the same mask in each of gradcheck's many evaluations."""
    params = layer.parameters()
    return lambda x, *ps: copy.deepcopy(layer, {id(p): p for p in params})(x)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("mode", ["train", "eval"])
@given(data=st.data())
def test_gradcheck_input_and_parameters(name, mode, data):
    comp, layer, x = _draw_layer_and_input(name, data)
    layer.train(mode == "train")
    params = layer.parameters()
    assert all(p.dtype == np.float64 for p in params)
    names = ["x"] + [n for n, _ in layer.named_parameters()]
    fn = _replaying(layer)
    assert gradcheck(fn, x, *params, names=names, atol=comp.check.atol, rtol=comp.check.rtol)
    if comp.check.second_order and (mode == "train" or params):
        assert gradgradcheck(fn, x, *params)


# ---- reference results ------------------------------------------------------------------------


def naive_pool(x, k, stride, pad, reduce):
    N, C, H, W = x.shape
    fill = -np.inf if reduce is np.max else 0.0
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=fill)
    OH, OW = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    out = np.zeros((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            out[:, :, i, j] = reduce(xp[:, :, i * stride:i * stride + k,
                                        j * stride:j * stride + k], axis=(2, 3))
    return out


@given(data=st.data())
def test_conv2d_equals_naive_convolution(data):
    _, layer, x = _draw_layer_and_input("conv2d", data)
    if layer.b is not None:
        layer.b.data[...] = np.arange(layer.out_channels)
    b = layer.b.data if layer.b is not None else np.zeros(layer.out_channels)
    np.testing.assert_allclose(layer(Tensor(x)).data,
                               naive_conv2d(x, layer.W.data, b, layer.stride, layer.padding),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
@given(data=st.data())
def test_pooling_equals_naive_loop(kind, data):
    _, layer, x = _draw_layer_and_input(kind, data)
    reduce = np.max if kind == "maxpool2d" else np.mean
    np.testing.assert_allclose(layer(Tensor(x)).data,
                               naive_pool(x, layer.kernel_size[0], layer.stride, layer.padding,
                                          reduce), rtol=1e-12,
                               atol=1e-300)   # sum of x/k against sum/k: subnormals round apart


def test_affine_is_x_w_plus_b_with_flattening():
    layer = L.Affine(12, 5, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 2))
    t = Tensor(x, requires_grad=True)
    y = layer(t)
    np.testing.assert_allclose(y.data, x.reshape(2, 12) @ layer.W.data + layer.b.data)
    y.sum().backward()
    assert t.grad.shape == x.shape   # the gradient comes back in the input's shape
    np.testing.assert_allclose(layer.b.grad.data, [2.0] * 5)
    assert L.Linear is L.Affine


# ---- max pooling sends each gradient to its window's maximum only -------------------------------


def test_maxpool_gradient_goes_to_window_max_only():
    x = np.array([[[[1., 5., 2., 0.],
                    [3., 4., 8., 7.],
                    [0., 0., 1., 1.],
                    [9., 0., 1., 1.]]]])     # last window ties: the first 1 gets it
    t = Tensor(x, requires_grad=True)
    y = L.MaxPool2d(2)(t)
    np.testing.assert_array_equal(y.data[0, 0], [[5, 8], [9, 1]])
    y.backward(np.array([[[[10., 20.], [30., 40.]]]]))
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 2], expected[3, 0], expected[2, 2] = 10, 20, 30, 40
    np.testing.assert_array_equal(t.grad.data[0, 0], expected)


def test_overlapping_maxpool_accumulates_into_shared_maximum():
    x = np.array([[[[0., 1., 0.],
                    [1., 9., 1.],
                    [0., 1., 0.]]]])
    t = Tensor(x, requires_grad=True)
    y = L.MaxPool2d(2, stride=1)(t)               # all four windows share the 9
    np.testing.assert_array_equal(y.data, 9)
    y.sum().backward()
    expected = np.zeros((3, 3))
    expected[1, 1] = 4
    np.testing.assert_array_equal(t.grad.data[0, 0], expected)


def test_maxpool_padding_is_minus_infinity():
    x = -np.ones((1, 1, 2, 2))
    y = L.MaxPool2d(2, stride=1, padding=1)(Tensor(x))
    np.testing.assert_array_equal(y.data, -1)     # zero padding would have given 0


@pytest.mark.parametrize("kind, kwargs", [("max", {"kernel_size": 2}),
                                          ("max", {"kernel_size": 3, "stride": 2, "padding": 1}),
                                          ("avg", {"kernel_size": 2})])
@pytest.mark.parametrize("channels_last", [False, True])
def test_pooling_a_chunk_of_images_at_a_time_changes_nothing(monkeypatch, kind, kwargs,
                                                             channels_last):
    """Large batches are pooled a chunk of images at a time (for the cache): the whole batch in
    one chunk, and one image per chunk, give what each image pooled alone gives, values and
    gradients, ties and a conv-like channels-last input included."""
    from tinygrad_edu_plugins.layers import pooling
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (5, 3, 6, 6)).astype(np.float32)   # small integers: many ties
    if channels_last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    layer = (L.MaxPool2d if kind == "max" else L.AvgPool2d)(**kwargs)
    gy = rng.standard_normal(layer(Tensor(x)).shape).astype(np.float32)

    def pool(images):
        t = Tensor(x[images], requires_grad=True)
        y = layer(t)
        y.backward(gy[images])
        return y.data, t.grad.data

    alone = [np.concatenate(parts) for parts in zip(*(pool([i]) for i in range(len(x))))]
    for chunk_bytes in (pooling.CHUNK_BYTES, 1):
        monkeypatch.setattr(pooling, "CHUNK_BYTES", chunk_bytes)
        assert len(pooling._image_chunks(x)) == (1 if chunk_bytes > 1 else 5)
        for a, b in zip(alone, pool(slice(None))):
            np.testing.assert_array_equal(a, b)


# ---- a stride that does not tile the padded input: the border is dropped (floor) ------------


@st.composite
def non_tiling_geometry(draw, square=False):
    """kernel (kh, kw), stride >= 2, pad and (H, W) leaving 1 .. stride-1 pixels after the last
    window in both directions: floor((H + 2*pad - kh) / stride) + 1 windows fit. Square
    kernels and pad <= k // 2 (what pooling accepts) with ``square``."""
    kh = draw(st.integers(1, 3))
    kw = kh if square else draw(st.integers(1, 3))
    stride = draw(st.integers(2, 3))
    pad = draw(st.integers(0, kh // 2 if square else 1))
    oh, ow = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H = (oh - 1) * stride + kh + draw(st.integers(1, stride - 1)) - 2 * pad
    W = (ow - 1) * stride + kw + draw(st.integers(1, stride - 1)) - 2 * pad
    if H < 1 or W < 1:
        H, W, pad = H + 2 * pad, W + 2 * pad, 0
    return (kh, kw), stride, pad, (H, W), (oh, ow)


def _dropped_border_grad(grad, kernel, stride, pad, out_hw):
    """The gradient of the rows/columns of x that no window reaches."""
    rows = (out_hw[0] - 1) * stride + kernel[0] - pad
    cols = (out_hw[1] - 1) * stride + kernel[1] - pad
    return np.concatenate([grad[:, :, rows:, :].ravel(), grad[:, :, :, cols:].ravel()])


@given(geometry=non_tiling_geometry(), C=st.integers(1, 2), FN=st.integers(1, 2),
       bias=st.booleans(), seed=st.integers(0, 2**16), data=st.data())
def test_conv2d_with_a_non_tiling_stride_drops_the_border(geometry, C, FN, bias, seed, data):
    kernel, stride, pad, (H, W), out_hw = geometry
    conv = L.Conv2d(C, FN, kernel, stride=stride, padding=pad, bias=bias, seed=seed,
                    dtype=np.float64)
    x = data.draw(float_arrays((1, C, H, W)))
    y = conv(Tensor(x))
    assert y.shape == (1, FN) + out_hw
    b = conv.b.data if bias else np.zeros(FN)
    np.testing.assert_allclose(y.data, naive_conv2d(x, conv.W.data, b, stride, pad),
                               rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda x, *ps: conv(x), x, *conv.parameters())
    assert gradgradcheck(lambda x, *ps: conv(x) * conv(x), x, *conv.parameters())
    t = Tensor(x, requires_grad=True)
    conv(t).backward(np.ones(y.shape))
    border = _dropped_border_grad(t.grad.data, kernel, stride, pad, out_hw)
    assert np.all(border == 0)


@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
@given(geometry=non_tiling_geometry(square=True), data=st.data())
def test_pooling_with_a_non_tiling_stride_drops_the_border(kind, geometry, data):
    kernel, stride, pad, (H, W), out_hw = geometry
    layer = registry.get("layer", kind)(kernel, stride=stride, padding=pad)
    x = data.draw(float_arrays((2, 2, H, W), distinct=True))
    y = layer(Tensor(x))
    reduce = np.max if kind == "maxpool2d" else np.mean
    # (an average that cancels to 0: the sum of x/k and sum/k differ by an ulp of the terms)
    np.testing.assert_allclose(y.data, naive_pool(x, kernel[0], stride, pad, reduce),
                               rtol=1e-12, atol=1e-14 * max(1.0, float(np.abs(x).max())))
    assert y.shape == (2, 2) + out_hw
    assert gradcheck(layer, x)
    t = Tensor(x, requires_grad=True)
    layer(t).backward(np.ones(y.shape))
    border = _dropped_border_grad(t.grad.data, kernel, stride, pad, out_hw)
    assert np.all(border == 0)


def test_book_example_of_a_dropped_border():
    """7x7 input, 3x3 filter, stride 2: (7 - 3)/2 + 1 = 3 exactly; with 8x8 it is 3.5 -> 3
    (the book's and PyTorch's floor), and the last row and column of the input are read by no
    filter position."""
    conv = L.Conv2d(1, 1, 3, stride=2, seed=0, dtype=np.float64)
    x = Tensor(np.ones((1, 1, 8, 8)), requires_grad=True)
    y = conv(x)
    assert y.shape == (1, 1, 3, 3)
    y.sum().backward()
    assert np.all(x.grad.data[0, 0, 7, :] == 0) and np.all(x.grad.data[0, 0, :, 7] == 0)
    assert np.all(x.grad.data[0, 0, :7, :7] != 0)


def test_book_layers_follow_the_floor_too():
    """The book API's Convolution and Pooling are the framework's layers: a 7x7 input, 2x2
    windows, stride 3 gives floor((7 - 2)/3) + 1 = 2 windows, as the book's own code computes;
    the last row and column get a zero gradient."""
    from tinygrad_edu import book
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 7))
    W, b = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(4)
    conv = book.Convolution(W, b, stride=3)
    np.testing.assert_allclose(conv.forward(x), naive_conv2d(x, W, b, 3, 0), rtol=1e-10)
    dx = conv.backward(np.ones((2, 4, 2, 2)))
    assert dx.shape == x.shape and np.all(dx[:, :, 6, :] == 0) and np.all(dx[:, :, :, 6] == 0)
    pool = book.Pooling(2, 2, stride=3)
    np.testing.assert_allclose(pool.forward(x), naive_pool(x, 2, 3, 0, np.max))
    dx = pool.backward(np.ones((2, 3, 2, 2)))
    assert dx.sum() == 2 * 3 * 2 * 2 and np.all(dx[:, :, 6, :] == 0)


# ---- conv2d backward details ------------------------------------------------------------------


def test_conv2d_skips_col2im_when_input_needs_no_grad(monkeypatch):
    calls = []
    real = conv_room.col2im
    monkeypatch.setattr(conv_room, "col2im", lambda *a, **k: calls.append(1) or real(*a, **k))
    conv = L.Conv2d(1, 2, 3, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5)).astype(np.float32)
    conv(Tensor(x)).sum().backward()               # a first layer: x is plain data
    assert calls == [] and conv.W.grad is not None and conv.b.grad is not None
    t = Tensor(x, requires_grad=True)
    conv(t).sum().backward()
    assert calls == [1] and t.grad.shape == x.shape


def test_conv2d_reuses_forward_columns(monkeypatch):
    calls = []
    for name in ("im2col", "im2col_grouped"):       # (thin filters group pixels: either)
        real = getattr(conv_room, name)
        monkeypatch.setattr(conv_room, name, lambda *a, real=real, **k: calls.append(1) or real(*a, **k))
    conv = L.Conv2d(2, 3, 3, padding=1, seed=0)
    t = Tensor(np.ones((1, 2, 4, 4), dtype=np.float32), requires_grad=True)
    conv(t).sum().backward()
    assert calls == [1]                           # im2col in forward only


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_inference_in_chunks_equals_the_whole_batch(monkeypatch, bias):
    """Without gradients a large batch goes through im2col a chunk of images at a time (the
    last chunk shorter); the output is the one-product result, and nothing is kept."""
    calls = []
    for name in ("im2col", "im2col_grouped"):       # (thin filters group pixels: either)
        real = getattr(conv_room, name)
        monkeypatch.setattr(conv_room, name,
                            lambda x, *a, real=real, **k: calls.append(len(x)) or real(x, *a, **k))
    monkeypatch.setattr(conv_room.Conv2dFunction, "CHUNK", 4)
    conv = L.Conv2d(2, 3, 3, stride=2, padding=1, bias=bias, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((11, 2, 7, 6))
    expected = conv(Tensor(x)).data
    assert calls == [11]
    with no_grad():
        y = conv(Tensor(x))
    assert calls == [11, 4, 4, 3]
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)
    assert y.data.shape == expected.shape and y.data.dtype == expected.dtype


@pytest.mark.parametrize("grad", [True, False])
def test_conv2d_grouped_pixels_keep_a_nan_in_its_own_windows(grad):
    """Thin filters group adjacent output pixels into one im2col row with zero weights where a
    pixel's filter does not reach; 0 * nan = nan would spread a non-finite pixel to its
    neighbours, so a non-finite input takes the plain path: only the windows that contain it
    are nan, as in the naive convolution."""
    conv = L.Conv2d(1, 3, 3, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8))
    x[0, 0, 4, 4] = np.nan
    x[1, 0, 0, 7] = np.inf
    expected = naive_conv2d(x, conv.W.data, conv.b.data, 1, 0)
    if grad:
        y = conv(Tensor(x)).data
    else:
        with no_grad():
            y = conv(Tensor(x)).data
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(y[finite], expected[finite], rtol=1e-12)
    assert conv_room.pixel_group(np.nan_to_num(x), conv.W.data, 6) == 6   # finite: grouped


def test_conv2d_grouped_weight_gradient_sums_each_filter_weight_over_the_group():
    """dW and db from grouped rows equal the plain dY^T @ col, for every group size."""
    rng = np.random.default_rng(1)
    x, W = rng.standard_normal((3, 2, 6, 14)), rng.standard_normal((4, 2, 3, 3))
    b, gy = rng.standard_normal(4), rng.standard_normal((3, 4, 4, 12))
    plain = conv_room.im2col(x, 3, 3, 1, 0)
    dY = gy.transpose(0, 2, 3, 1).reshape(-1, 4)
    for group in (2, 3, 4, 6):
        Wg = conv_room.grouped_weights(W, b, group, 1)
        col = conv_room.im2col_grouped(x, 3, 3, 1, 0, group=group, ones_column=True)
        np.testing.assert_allclose((col @ Wg).reshape(-1, 4), plain @ W.reshape(4, -1).T + b,
                                   rtol=1e-12)
        dW, db = conv_room._ungroup_weight_gradient(col.T @ dY.reshape(-1, group * 4), W.shape,
                                                    group, 1, True)
        np.testing.assert_allclose(dW, (dY.T @ plain).reshape(W.shape), rtol=1e-12)
        np.testing.assert_allclose(db, dY.sum(axis=0), rtol=1e-12)


def test_conv2d_second_order():
    rng = np.random.default_rng(3)
    conv = L.Conv2d(2, 2, (2, 3), stride=2, padding=1, seed=1, dtype=np.float64)
    x = rng.standard_normal((2, 2, 4, 5))
    assert gradgradcheck(lambda x, *ps: (conv(x) * conv(x)).sum(), x, *conv.parameters())


# ---- dropout ----------------------------------------------------------------------------------


def test_dropout_train_and_eval():
    drop = L.Dropout(0.3, seed=0)
    x = np.ones((200, 100), dtype=np.float32)
    t = Tensor(x, requires_grad=True)
    y = drop(t)
    assert y.dtype == np.float32
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)   # inverted dropout
    y.sum().backward()
    np.testing.assert_allclose(t.grad.data, kept / 0.7, rtol=1e-6)
    assert not np.array_equal(drop(Tensor(x)).data != 0, kept)   # a new mask every call
    drop.eval()
    assert np.array_equal(drop(Tensor(x)).data, x)                # eval: identity
    drop.train()
    assert np.any(drop(Tensor(x)).data == 0)


def test_dropout_extremes_and_errors():
    x = Tensor(np.ones(10))
    assert np.array_equal(L.Dropout(0.0)(x).data, x.data)
    assert np.array_equal(L.Dropout(1.0)(x).data, np.zeros(10))
    with pytest.raises(ValueError, match="probability"):
        L.Dropout(1.5)


# ---- batch normalization ----------------------------------------------------------------------


def test_batchnorm1d_normalizes_and_tracks_running_stats():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(64, 4))
    bn = L.BatchNorm1d(4, momentum=0.1, dtype=np.float64)
    y = bn(Tensor(x)).data
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=0, ddof=1))
    names = [n for n, _ in bn.named_buffers()]
    assert names == ["running_mean", "running_var"]
    for _ in range(200):
        bn(Tensor(x))
    np.testing.assert_allclose(bn.running_mean, x.mean(axis=0), rtol=1e-6)
    bn.eval()
    before = bn.running_mean.copy()
    y_eval = bn(Tensor(x)).data
    np.testing.assert_array_equal(bn.running_mean, before)         # eval does not update
    expected = (x - bn.running_mean) / np.sqrt(bn.running_var + bn.eps)
    np.testing.assert_allclose(y_eval, expected)


def test_batchnorm2d_is_per_channel():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3, 5, 5)) * np.array([1, 5, 10])[:, None, None] + 7
    bn = L.BatchNorm2d(3, dtype=np.float64)
    bn.gamma.data[...] = [1, 2, 3]
    bn.beta.data[...] = [0, -1, 1]
    y = bn(Tensor(x)).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), [0, -1, 1], atol=1e-12)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), [1, 2, 3], rtol=1e-3)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)"):
        bn(Tensor(np.zeros((2, 4, 3, 3))))


def test_batchnorm_needs_more_than_one_value_in_training():
    with pytest.raises(ValueError, match="more than one value"):
        L.BatchNorm1d(3)(Tensor(np.ones((1, 3))))


# ---- float32 end to end, registry, containers, errors ---------------------------------------


@pytest.mark.parametrize("make, shape", [
    (lambda: L.Affine(12, 4, seed=0), (3, 12)),
    (lambda: L.Conv2d(2, 3, 3, stride=1, padding=1, seed=0), (2, 2, 5, 5)),
    (lambda: L.MaxPool2d(2), (2, 3, 4, 4)),
    (lambda: L.MaxPool2d(3, stride=2, padding=1), (2, 3, 5, 5)),
    (lambda: L.AvgPool2d(2), (2, 3, 4, 4)),
    (lambda: L.AvgPool2d(3, stride=1, padding=1), (2, 3, 4, 4)),
    (lambda: L.Flatten(), (2, 3, 4, 4)),
    (lambda: L.Dropout(0.5, seed=0), (4, 6)),
    (lambda: L.BatchNorm1d(6), (4, 6)),
    (lambda: L.BatchNorm2d(3), (2, 3, 4, 4)),
])
@pytest.mark.parametrize("training", [True, False])
def test_float32_preserved_forward_and_backward(make, shape, training):
    layer = make().train(training)
    x = Tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32),
               requires_grad=True)
    y = layer(x)
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    for name, p in layer.named_parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32, name
    for name, b in layer.named_buffers():
        assert b.dtype == np.float32, name


def test_simple_convnet_float32_end_to_end():
    from tinygrad_edu_plugins.losses import softmax_cross_entropy
    model = L.Sequential(L.Conv2d(1, 4, 5, seed=0), relu, L.MaxPool2d(2), L.Flatten(),
                         L.Affine(4 * 4 * 4, 10, seed=1), relu, L.Affine(10, 3, seed=2))
    x = np.random.default_rng(0).standard_normal((5, 1, 12, 12)).astype(np.float32)
    loss = softmax_cross_entropy(model(x), np.array([0, 1, 2, 0, 1]))
    assert loss.dtype == np.float32
    loss.backward()
    assert [n for n, _ in model.named_parameters()] == [
        "layers.0.W", "layers.0.b", "layers.4.W", "layers.4.b", "layers.6.W", "layers.6.b"]
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    assert len(model) == 7 and model[2].kernel_size == (2, 2)
    assert "(1): relu" in repr(model)


def test_weight_init_options():
    a = L.Affine(400, 300, weight_init=0.01, seed=0)
    assert abs(a.W.data.std() - 0.01) < 0.001 and a.W.dtype == np.float32
    he = L.Affine(400, 300, weight_init="he", seed=0)
    assert abs(he.W.data.std() - np.sqrt(2 / 400)) < 0.005
    conv = L.Conv2d(8, 16, 3, weight_init="he", seed=0)
    assert abs(conv.W.data.std() - np.sqrt(2 / (8 * 9))) < 0.02
    custom = L.Affine(3, 2, weight_init=lambda shape, fi, fo, rng, dtype: np.ones(shape, dtype))
    assert np.array_equal(custom.W.data, np.ones((3, 2)))
    same = L.Affine(5, 4, seed=3).W.data, L.Affine(5, 4, seed=3).W.data
    assert np.array_equal(*same)
    assert L.Affine(5, 4, dtype=np.float64).W.dtype == np.float64
    with pytest.raises(Exception, match="nitializer"):
        L.Affine(5, 4, weight_init="no_such_init")


def test_registry_resolves_the_classes():
    from tinygrad_edu import nn
    expected = {"affine": L.Affine, "linear": L.Affine, "conv2d": L.Conv2d,
                "maxpool2d": L.MaxPool2d, "avgpool2d": L.AvgPool2d, "flatten": L.Flatten,
                "dropout": L.Dropout, "batchnorm1d": L.BatchNorm1d, "batchnorm2d": L.BatchNorm2d,
                "sequential": L.Sequential}
    for name, cls in expected.items():
        assert registry.get("layer", name) is cls
        assert issubclass(cls, Module)
    assert nn.Conv2d is L.Conv2d and nn.Linear is L.Affine and nn.MaxPool2d is L.MaxPool2d


def test_clear_errors():
    with pytest.raises(ValueError, match=r"Affine\(4, 2\).*has 5 features, expected 4"):
        L.Affine(4, 2)(Tensor(np.zeros((3, 5))))
    with pytest.raises(ValueError, match="expected 3 input channels"):
        L.Conv2d(3, 2, 3)(Tensor(np.zeros((1, 2, 5, 5))))
    with pytest.raises(ValueError, match="larger than the padded input"):
        L.MaxPool2d(3)(Tensor(np.zeros((1, 1, 2, 2))))
    with pytest.raises(ValueError, match="more than half the window"):
        L.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        L.AvgPool2d(2)(Tensor(np.zeros((4, 4))))
    with pytest.raises(TypeError, match="not callable"):
        L.Sequential(L.Flatten(), 3)


def test_no_grad_records_nothing():
    conv = L.Conv2d(1, 2, 3, seed=0)
    with no_grad():
        y = conv(Tensor(np.ones((1, 1, 4, 4))))
    assert y._ctx is None and not y.requires_grad
