"""The standard activations: formulas, numerical stability, gradients, dtype, registration."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_edu import Tensor, gradcheck, gradgradcheck, registry
from tinygrad_edu.testing import float_arrays, shapes
from tinygrad_edu_plugins import activations as A

NAMES = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softmax",
         "log_softmax", "identity"]


def _reference(name, x, **kw):
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        return np.where(x > 0, x, kw.get("negative_slope", 0.01) * x)
    if name == "elu":
        return np.where(x > 0, x, kw.get("alpha", 1.0) * (np.exp(x) - 1))
    if name == "gelu":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "silu":
        return x / (1 + np.exp(-x))
    axis = kw.get("axis", -1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    s = e / e.sum(axis=axis, keepdims=True)
    if name == "softmax":
        return s
    if name == "log_softmax":
        return np.log(s)
    return x


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_matches_formula_and_gradcheck(name, data):
    comp = registry.get_component("activation", name)
    check = comp.check
    if check.cases is not None:
        kwargs, shape = data.draw(check.cases(st))
    else:
        kwargs, shape = {}, data.draw(shapes(min_dims=check.ndim[0], max_dims=check.ndim[1]))
    x = data.draw(float_arrays(shape, low=check.domain[0], high=check.domain[1],
                               avoid=check.avoid, margin=check.margin))
    y = comp.obj(Tensor(x), **kwargs)
    np.testing.assert_allclose(y.data, _reference(name, x, **kwargs), rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda t: comp.obj(t, **kwargs), x, atol=check.atol, rtol=check.rtol)
    if check.second_order:
        assert gradgradcheck(lambda t: comp.obj(t, **kwargs), x)


def test_piecewise_linear_ones_declare_no_second_order():
    # their first derivative does not depend on x: gradgradcheck has nothing to check
    for name in ("relu", "leaky_relu", "identity"):
        assert registry.get_component("activation", name).check.second_order is False
    for name in ("relu", "leaky_relu", "elu"):
        assert 0.0 in registry.get_component("activation", name).check.avoid


def test_derivatives_at_known_points():
    x = Tensor(np.array([-2.0, -0.5, 0.5, 2.0]), requires_grad=True)
    A.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0, 1, 1])
    x.grad = None
    A.leaky_relu(x, negative_slope=0.2).sum().backward()
    np.testing.assert_allclose(x.grad.data, [0.2, 0.2, 1, 1])
    x.grad = None
    A.elu(x, alpha=2.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2 * np.exp(-2), 2 * np.exp(-0.5), 1, 1])
    x.grad = None
    y = A.sigmoid(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, y.data * (1 - y.data))
    # relu's gradient at exactly 0 is 0, as in the book's Relu layer
    z = Tensor(np.zeros(3), requires_grad=True)
    A.relu(z).sum().backward()
    np.testing.assert_array_equal(z.grad.data, 0)


def test_sigmoid_is_stable_for_huge_inputs():
    x = np.array([-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no overflow warning from exp
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            for dtype in (np.float32, np.float64):
                t = Tensor(x.astype(dtype), requires_grad=True)
                y = A.sigmoid(t)
                y.sum().backward()
                assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(t.grad.data))
                assert y.data[0] == 0.0 and y.data[-1] == 1.0 and y.data[3] == 0.5
    np.testing.assert_allclose(A.sigmoid(Tensor(np.array([-30.0]))).data, [np.exp(-30.0)],
                               rtol=1e-12)


def test_elu_does_not_overflow_for_large_positive_input():
    with np.errstate(over="raise"):
        y = A.elu(Tensor(np.array([1e4, -1e4], dtype=np.float32)))
    np.testing.assert_array_equal(y.data, [1e4, -1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_stable(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [3.0, 1.0, 0.2]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = A.softmax(Tensor(x)).data
        ls = A.log_softmax(Tensor(x)).data
    assert s.dtype == dtype and ls.dtype == dtype
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    np.testing.assert_allclose(s.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(s[1], 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(ls[0], [0.0, -2e4, -1e4], rtol=1e-6)
    np.testing.assert_allclose(np.exp(ls[2]), s[2], rtol=1e-5)


def test_softmax_axis():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    for axis in (0, 1, 2, -1):
        s = A.softmax(Tensor(x), axis=axis).data
        np.testing.assert_allclose(s.sum(axis=axis), 1)
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        A.softmax(Tensor(x), axis=3)


def test_gelu_close_to_exact_erf_form():
    x = np.linspace(-6, 6, 241)
    exact = 0.5 * x * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x]))
    assert np.max(np.abs(A.gelu(Tensor(x)).data - exact)) < 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_float32_preserved_forward_and_backward(name):
    fn = registry.get("activation", name)
    x = Tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4) + 0.05, requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32
    (y * Tensor(np.ones(y.shape, dtype=np.float32))).sum().backward()
    assert x.grad.dtype == np.float32


def test_registry_names_and_alias():
    assert registry.get("activation", "swish") is A.silu
    assert registry.get("activation", "ReLU") is A.relu
    for name in NAMES:
        assert registry.get("activation", name) is getattr(A, name)
        assert registry.get_component("activation", name).doc   # documented formula
