"""Graph semantics of the Tensor core: what a user relies on beyond correct derivatives."""
import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Function, GradcheckError, Tensor, gradcheck, no_grad


class CountingSquare(Function):
    """y = x**2, counting how often backward runs."""
    calls = 0

    def forward(self, x):
        return x * x

    def backward(self, gy):
        CountingSquare.calls += 1
        return gy * 2 * self.inputs[0]


def test_a_long_chain_backpropagates_without_recursion():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_a_shared_node_gets_its_gradient_summed_and_backward_runs_once():
    CountingSquare.calls = 0
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    s = CountingSquare()(x)          # s = x^2, used by both branches of the diamond
    y = (s * 3 + s.exp()).sum()      # dy/dx = (3 + e^(x^2)) * 2x
    y.backward()
    assert CountingSquare.calls == 1
    np.testing.assert_allclose(x.grad.data, (3 + np.exp(x.data ** 2)) * 2 * x.data)


def test_a_tensor_used_twice():
    x = Tensor(3.0, requires_grad=True)
    (x * x).backward()
    assert x.grad.item() == 6.0
    z = Tensor(2.0, requires_grad=True)
    (z + z + z).backward()
    assert z.grad.item() == 3.0


def test_broadcast_gradients_come_back_in_each_inputs_shape():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    c = Tensor(np.ones((2, 1)), requires_grad=True)
    (a * b + c).sum().backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,) and c.grad.shape == (2, 1)
    np.testing.assert_array_equal(b.grad.data, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(c.grad.data, [[3.0], [3.0]])


def test_numpy_arrays_on_the_left_defer_to_the_tensor():
    x = Tensor(np.ones(3), requires_grad=True)
    y = np.arange(3.0) * x + np.ones(3)
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 2.0])


def test_no_grad_records_nothing_as_context_and_decorator():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = x * 2
    assert y._ctx is None and not y.requires_grad

    @no_grad()
    def infer(t):
        return (t * t).sum()

    z = infer(x)
    assert z._ctx is None and tg.is_grad_enabled()
    with pytest.raises(RuntimeError, match="does not require grad"):
        z.backward()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_through_ops_and_backward(dtype):
    x = Tensor(np.linspace(0.5, 1.5, 6, dtype=dtype).reshape(2, 3), requires_grad=True)
    w = Tensor(np.ones((3, 2), dtype=dtype), requires_grad=True)
    y = (x * 2.0 + np.float64(1.0) - np.ones(3)) / 3 + x ** 2 + 1.5 ** x
    y = y * (x.data > 1.0) + x * np.arange(1, 4)         # a bool mask, an integer array
    y = (y.exp().log().sqrt().tanh() @ w).mean()
    assert y.dtype == dtype
    y.backward()
    assert x.grad.dtype == dtype and w.grad.dtype == dtype


def test_integer_data_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        Tensor(np.arange(3), requires_grad=True)
    t = Tensor(np.arange(3))
    assert t.dtype.kind == "i"


def test_gradients_accumulate_until_zeroed():
    x = Tensor(2.0, requires_grad=True)
    (x * 3).backward()
    (x * 3).backward()
    assert x.grad.item() == 6.0
    x.grad = None
    (x * 3).backward()
    assert x.grad.item() == 3.0


def test_the_graph_is_freed_after_backward_unless_retained():
    x = Tensor(2.0, requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 8.0
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_shape_mismatch_names_the_op_and_both_shapes():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"Add.*\(2, 3\).*\(4, 5\)"):
        a + b
    with pytest.raises(ValueError, match=r"MatMul.*\(2, 3\).*\(4, 5\)"):
        a @ b


def test_backward_on_a_non_scalar_says_what_to_pass():
    y = Tensor(np.ones(3), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*grad=.*\.sum\(\)"):
        y.backward()
    y.backward(np.array([1.0, 2.0, 3.0]))


def test_array_interop_repr_detach():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    assert np.asarray(x) is x.data and x.numpy() is x.data
    y = x * 2
    assert "grad_fn=<Mul>" in repr(y) and "float32" in repr(y)
    d = y.detach()
    assert d._ctx is None and not d.requires_grad and np.shares_memory(d.data, y.data)
    assert (x > 1.5).data.tolist() == [False, True] and not (x > 1.5).requires_grad


def test_a_one_element_tensor_reads_like_a_number():
    loss = Tensor(np.float32(0.25), requires_grad=True) * 2
    assert float(loss) == 0.5 and int(Tensor(3.7)) == 3
    assert f"{loss:.3f}" == "0.500" and bool(Tensor(1.0)) and not Tensor(0.0)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor(np.ones(3)))


def test_grad_returns_gradients_without_touching_dot_grad():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = tg.grad((x ** 2).sum(), [x])
    np.testing.assert_array_equal(g.data, [2.0, 4.0])
    assert x.grad is None


def test_higher_order_via_backward_create_graph():
    x = Tensor(1.5, requires_grad=True)
    y = x ** 3
    y.backward(create_graph=True)
    gx = x.grad
    assert gx.item() == pytest.approx(3 * 1.5 ** 2)
    x.grad = None
    gx.backward()
    assert x.grad.item() == pytest.approx(6 * 1.5)


def test_create_graph_through_a_numpy_only_backward_is_a_clear_error():
    class NumpyOnly(Function):
        differentiable_backward = False

        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return Tensor(gy.data * 2)

    x = Tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="NumpyOnly does not support higher-order"):
        NumpyOnly()(x).backward(create_graph=True)


# ---- gradcheck reports ----------------------------------------------------------------------


class WrongFactor(Function):
    def forward(self, x):
        return np.sin(x)

    def backward(self, gy):
        return gy * 2 * Tensor(np.cos(self.inputs[0].data))


class IgnoresIncomingGradient(Function):
    def forward(self, x):
        return 3 * x

    def backward(self, gy):
        return Tensor(np.full(gy.shape, 3.0))


def test_gradcheck_report_names_input_index_and_values():
    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda w, t: WrongFactor()(t) * w, np.ones((2, 2)), x, names=["w", "x"])
    message = str(info.value)
    assert "x (shape (2, 2))" in message and "worst element: index (" in message
    assert "analytic" in message and "numerical" in message
    assert gradcheck(lambda t: WrongFactor()(t), x, raise_exception=False) is False


def test_gradcheck_catches_a_backward_that_ignores_the_incoming_gradient():
    with pytest.raises(GradcheckError, match="not match|not linear"):
        gradcheck(lambda t: IgnoresIncomingGradient()(t), np.array([0.5, 1.0]))


def test_gradcheck_passes_correct_functions_in_float32_inputs_too():
    x = np.array([0.5, -1.0], dtype=np.float32)
    assert gradcheck(lambda t: (t * t).exp(), x)
