"""Every core op's backward against numerical gradients, over drawn shapes and values."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinygrad_edu as tg
from tinygrad_edu import Tensor, gradcheck, gradgradcheck
from tinygrad_edu.testing import broadcastable_shapes, float_arrays, positive_arrays, shapes


def pair(shapes_pair, **kw):
    a, b = shapes_pair
    return st.tuples(float_arrays(a, **kw), float_arrays(b, **kw))


@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
    lambda a, b: tg.maximum(a, b), lambda a, b: tg.minimum(a, b),
], ids=["add", "sub", "mul", "maximum", "minimum"])
@given(data=st.data())
def test_broadcasting_binary_ops(op, data):
    a, b = data.draw(pair(data.draw(broadcastable_shapes())))
    assume(np.all(np.abs(a - b) > 1e-2))  # maximum/minimum have a kink where a == b
    assert gradcheck(op, a, b)


@given(shapes=broadcastable_shapes(), data=st.data())
def test_div(shapes, data):
    a = data.draw(float_arrays(shapes[0]))
    b = data.draw(float_arrays(shapes[1], low=0.5, high=3.0))
    assert gradcheck(lambda a, b: a / b, a, b)
    assert gradcheck(lambda a, b: a / -b, a, b)


@given(x=positive_arrays(), y=float_arrays(shapes(max_dims=2), low=-2, high=2))
def test_pow_with_tensor_exponent_and_base(x, y):
    assert gradcheck(lambda x: x ** 2.5, x)
    assert gradcheck(lambda x: 2.0 ** x, y)
    assert gradcheck(lambda x, y: x ** y, x, x.copy())


@given(base=float_arrays(shapes(max_dims=2), low=0.5, high=2.0), data=st.data())
def test_pow_at_a_zero_base_has_the_true_limits(base, data):
    """Where the formulas give 0 * inf (b * 0**(b-1) at b = 0, log(0) * 0**b) the gradients are
    the limits, 0 (as PyTorch); central differences at a = 0 agree."""
    a = np.where(data.draw(st.lists(st.booleans(), min_size=base.size, max_size=base.size)
                           .map(lambda m: np.array(m).reshape(base.shape))), 0.0, base)
    b = data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0]), min_size=a.size,
                           max_size=a.size).map(lambda v: np.array(v).reshape(a.shape)))
    assert gradcheck(lambda a: a ** Tensor(b), a)
    assert gradcheck(lambda a: a ** 0, a)
    if (b > 0).all():  # at a = 0, b = 0 the difference quotient in b is one-sided (0**-eps = inf)
        assert gradcheck(lambda b: Tensor(a) ** b, b)


@pytest.mark.parametrize("int_dtype", [np.int32, np.int64, np.bool_])
@given(x=float_arrays(shapes(max_dims=2)), data=st.data())
def test_gradients_through_integer_constants(int_dtype, x, data):
    k = data.draw(st.lists(st.integers(1, 3), min_size=x.size, max_size=x.size)
                  .map(lambda v: np.array(v).reshape(x.shape).astype(int_dtype)))
    assert gradcheck(lambda x: x * Tensor(k) + Tensor(k) / (x * x + 1), x)


@pytest.mark.parametrize("scalar", [2, -1.5, 0.5])
@given(x=float_arrays())
def test_python_scalars_on_either_side(scalar, x):
    for f in (lambda t: t + scalar, lambda t: scalar + t, lambda t: t - scalar,
              lambda t: scalar - t, lambda t: t * scalar, lambda t: scalar * t,
              lambda t: t / scalar, lambda t: -t):
        assert gradcheck(f, x)


@given(x=float_arrays(low=-3, high=3))
def test_unary_smooth_ops(x):
    assert gradcheck(tg.exp, x)
    assert gradcheck(tg.tanh, x)


@given(x=positive_arrays())
def test_log_sqrt_on_their_domain(x):
    assert gradcheck(tg.log, x)
    assert gradcheck(tg.sqrt, x)


@given(x=float_arrays(avoid=(0.0,)))
def test_abs_away_from_its_kink(x):
    assert gradcheck(tg.abs, x)


@given(x=float_arrays(avoid=(-1.0, 1.0)))
def test_clip(x):
    assert gradcheck(lambda t: t.clip(-1.0, 1.0), x)


@given(shapes=broadcastable_shapes(3), data=st.data())
def test_where(shapes, data):
    cond = data.draw(float_arrays(shapes[0])) > 0
    a, b = data.draw(float_arrays(shapes[1])), data.draw(float_arrays(shapes[2]))
    assert gradcheck(lambda a, b: tg.where(cond, a, b), a, b)


@st.composite
def array_and_axis(draw, distinct=False):
    x = draw(float_arrays(shapes(min_dims=1), distinct=distinct))
    axis = draw(st.none() | st.integers(-x.ndim, x.ndim - 1) |
                st.just(tuple(range(x.ndim))[:2]))
    return x, axis, draw(st.booleans())


@given(case=array_and_axis())
def test_sum_mean_var(case):
    x, axis, keepdims = case
    assert gradcheck(lambda t: t.sum(axis, keepdims), x)
    assert gradcheck(lambda t: t.mean(axis, keepdims), x)
    assert gradcheck(lambda t: t.var(axis, keepdims), x)
    np.testing.assert_allclose(Tensor(x).var(axis, keepdims).data, x.var(axis, keepdims=keepdims))


@given(case=array_and_axis(distinct=True))
def test_max_min_away_from_ties(case):
    x, axis, keepdims = case
    assert gradcheck(lambda t: t.max(axis, keepdims), x)
    assert gradcheck(lambda t: t.min(axis, keepdims), x)


@given(x=float_arrays(shapes(min_dims=1)), data=st.data())
def test_shape_ops(x, data):
    perm = tuple(data.draw(st.permutations(range(x.ndim))))
    assert gradcheck(lambda t: t.reshape(-1), x)
    assert gradcheck(lambda t: t.transpose(perm), x)
    assert gradcheck(lambda t: t.T, x)
    assert gradcheck(lambda t: t.flatten(), x)
    assert gradcheck(lambda t: t.broadcast_to((2,) + x.shape), x)
    assert gradcheck(lambda t: tg.pad(t, 1), x)


@given(x=float_arrays(shapes(min_dims=1, min_side=2)), data=st.data())
def test_indexing_slices_integer_arrays_and_masks(x, data):
    n = x.shape[0]
    index = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6)))
    mask = x > 0
    assert gradcheck(lambda t: t[1:], x)
    assert gradcheck(lambda t: t[::-1, ...], x)
    assert gradcheck(lambda t: t[index], x)  # repeated indices accumulate
    assert gradcheck(lambda t: t[mask] * 2, x)


def test_repeated_indices_accumulate():
    x = Tensor(np.zeros(3), requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0])


@given(shape=shapes(min_dims=1), data=st.data())
def test_concatenate_and_stack(shape, data):
    a, b = data.draw(float_arrays(shape)), data.draw(float_arrays(shape))
    axis = data.draw(st.integers(0, len(shape) - 1))
    assert gradcheck(lambda a, b: tg.concatenate([a, b * 2], axis), a, b)
    assert gradcheck(lambda a, b: tg.stack([a, b, a], axis), a, b)


@st.composite
def matmul_operands(draw):
    n, k, m = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = draw(st.sampled_from([(), (2,), (3, 1)]))
    kind = draw(st.sampled_from(["vector-vector", "vector-matrix", "matrix-vector",
                                 "matrix-matrix", "batched", "batched-broadcast"]))
    a_shape, b_shape = {
        "vector-vector": ((k,), (k,)), "vector-matrix": ((k,), (k, m)),
        "matrix-vector": ((n, k), (k,)), "matrix-matrix": ((n, k), (k, m)),
        "batched": (batch + (n, k), batch + (k, m)),
        "batched-broadcast": (batch + (n, k), (k, m)),
    }[kind]
    return draw(float_arrays(a_shape)), draw(float_arrays(b_shape))


@given(operands=matmul_operands())
def test_matmul_1d_2d_batched(operands):
    a, b = operands
    assert gradcheck(lambda a, b: a @ b, a, b)
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).data, a @ b)


# ---- second order --------------------------------------------------------------------------


@given(x=float_arrays(shapes(max_dims=2), low=-2, high=2))
def test_second_derivatives_of_core_ops(x):
    assert gradgradcheck(tg.tanh, x)
    assert gradgradcheck(lambda t: t ** 3, x)
    assert gradgradcheck(lambda t: tg.exp(t) * t, x)
    assert gradgradcheck(lambda t: (t * t).sum() * t, x)


@given(operands=matmul_operands())
def test_second_derivative_of_a_matmul_chain(operands):
    a, b = operands
    assert gradgradcheck(lambda a, b: tg.tanh(a @ b) * (a @ b), a, b)


def test_second_derivative_values():
    x = Tensor(np.array([0.3, -1.2]), requires_grad=True)
    y = x.tanh()
    (gx,) = tg.grad(y.sum(), [x], create_graph=True)
    (ggx,) = tg.grad(gx.sum(), [x])
    t = np.tanh(x.data)
    np.testing.assert_allclose(ggx.data, -2 * t * (1 - t ** 2))
    z = Tensor(2.0, requires_grad=True)
    (g,) = tg.grad(z ** 3, [z], create_graph=True)
    (gg,) = tg.grad(g, [z])
    assert g.item() == 12.0 and gg.item() == 12.0
