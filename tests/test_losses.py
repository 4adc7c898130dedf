"""The standard losses: softmax cross-entropy (fused, stable) and mean squared error."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_edu import Tensor, gradcheck, gradgradcheck, registry
from tinygrad_edu.testing import float_arrays
from tinygrad_edu_plugins.activations import log_softmax, softmax
from tinygrad_edu_plugins.losses import mean_squared_error, softmax_cross_entropy


def _log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "mean_squared_error"])
@given(data=st.data())
def test_gradcheck_over_declared_cases(name, data):
    comp = registry.get_component("loss", name)
    kwargs, shape = data.draw(comp.check.cases(st))
    lo, hi = comp.check.domain
    x = data.draw(float_arrays(shape, low=lo, high=hi))
    loss = comp.obj(Tensor(x), **kwargs)
    assert loss.shape == ()
    assert gradcheck(lambda y: comp.obj(y, **kwargs), x, atol=comp.check.atol,
                     rtol=comp.check.rtol)
    if comp.check.second_order:
        assert gradgradcheck(lambda y: comp.obj(y, **kwargs), x)


@given(data=st.data())
def test_cross_entropy_equals_minus_log_softmax(data):
    N, C = data.draw(st.integers(1, 5)), data.draw(st.integers(2, 6))
    x = data.draw(float_arrays((N, C), low=-5, high=5))
    labels = np.array(data.draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)))
    expected = -_log_softmax(x)[np.arange(N), labels].mean()
    by_label = softmax_cross_entropy(Tensor(x), labels)
    np.testing.assert_allclose(by_label.data, expected, rtol=1e-12)
    onehot = np.eye(C)[labels]
    np.testing.assert_allclose(softmax_cross_entropy(Tensor(x), onehot).data, expected, rtol=1e-12)
    # the same as composing log_softmax with a pick, but one fused node
    composed = -(log_softmax(Tensor(x)) * onehot).sum() / N
    np.testing.assert_allclose(composed.data, expected, rtol=1e-12)


def test_backward_is_softmax_minus_onehot_over_n():
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    t = np.array([0, 2, 1, 2])
    softmax_cross_entropy(x, t).backward()
    expected = (softmax(Tensor(x.data)).data - np.eye(3)[t]) / 4
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)
    # probability targets: (softmax - t) / N
    p = rng.dirichlet(np.ones(3), size=4)
    x.grad = None
    softmax_cross_entropy(x, p).backward()
    np.testing.assert_allclose(x.grad.data, (softmax(Tensor(x.data)).data - p) / 4, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_for_huge_logits(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    t = np.array([1, 0, 2])
    logits = Tensor(x, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = softmax_cross_entropy(logits, t)
        loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad.data))
    expected = (2e4 + (2e4 + np.log(2)) + np.log(3)) / 3
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
    np.testing.assert_allclose(logits.grad.data[0], [1 / 3, -1 / 3, 0], atol=1e-7)


@pytest.mark.parametrize("targets", ["labels", "onehot"])
def test_float32_stays_float32(targets):
    x = Tensor(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32),
               requires_grad=True)
    t = np.array([0, 1, 2, 3, 0], dtype=np.uint8)
    if targets == "onehot":
        t = np.eye(4)[t]            # float64 one-hot, as the book's loader produces
    loss = softmax_cross_entropy(x, t)
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    y = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    mse = mean_squared_error(y, np.zeros((2, 3)))
    assert mse.dtype == np.float32
    mse.backward()
    assert y.grad.dtype == np.float32


def test_single_sample_and_second_order():
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(softmax_cross_entropy(Tensor(x), 2).data, -_log_softmax(x)[2])
    np.testing.assert_allclose(softmax_cross_entropy(Tensor(x), np.array([0.2, 0.3, 0.5])).data,
                               -(np.array([0.2, 0.3, 0.5]) * _log_softmax(x)).sum())
    assert gradcheck(lambda y: softmax_cross_entropy(y, 1), x)
    # the backward is rebuilt from differentiable ops when create_graph=True
    X = np.random.default_rng(2).standard_normal((3, 4))
    assert gradgradcheck(lambda y: softmax_cross_entropy(y, np.array([3, 0, 1])), X)


def test_cross_entropy_errors():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 3\)"):
        softmax_cross_entropy(x, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"targets of shape \(3,\)"):
        softmax_cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"targets of shape \(2, 4\)"):
        softmax_cross_entropy(x, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\)"):
        softmax_cross_entropy(Tensor(np.zeros((2, 3, 4))), np.array([0, 1]))


def test_mean_squared_error_is_the_mean():
    y = Tensor(np.array([[1.0, 2.0], [3.0, 5.0]]), requires_grad=True)
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    loss = mean_squared_error(y, t)
    assert loss.item() == pytest.approx((0 + 4 + 9 + 16) / 4)
    loss.backward()
    np.testing.assert_allclose(y.grad.data, 2 * (y.data - t) / 4)
    with pytest.raises(ValueError, match="do not match"):
        mean_squared_error(y, np.zeros(4))


def test_registry_names():
    assert registry.get("loss", "softmax_cross_entropy") is softmax_cross_entropy
    assert registry.get("loss", "cross_entropy") is softmax_cross_entropy
    assert registry.get("loss", "mse") is mean_squared_error
