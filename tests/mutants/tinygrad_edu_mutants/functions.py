"""Activations and losses, each correct one ("ok_...") next to the ways a plugin author gets it
wrong ("bad_..."). A mutant shares its sibling's declaration: the author copied it."""
import numpy as np

from tinygrad_edu import Check, Component, Function, Tensor, hookimpl


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _sigmoid(x):
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))


# ---- softplus: y = log(1 + exp(x)), dy/dx = sigmoid(x); numpy forward and backward ----------


class Softplus(Function):
    """y = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|));  dy/dx = sigmoid(x)"""
    differentiable_backward = False

    def forward(self, x):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    def backward(self, gy):
        x, = self.inputs
        return Tensor(gy.data * _sigmoid(x.data))


class SoftplusSignError(Softplus):
    def backward(self, gy):
        x, = self.inputs
        return Tensor(gy.data * _sigmoid(-x.data))          # BUG: sigmoid(-x)


class SoftplusFloat64Grad(Softplus):
    def backward(self, gy):
        x, = self.inputs
        s = 1.0 / (1.0 + np.exp(-x.data.astype(np.float64)))  # BUG: float64 gradient
        return Tensor(gy.data * s)


class SoftplusFloat64Forward(Softplus):
    def forward(self, x):
        return np.log1p(np.exp(np.asarray(x, dtype=np.float64)))   # BUG: float64 output


class SoftplusNoReturn(Softplus):
    def backward(self, gy):
        x, = self.inputs
        gx = Tensor(gy.data * _sigmoid(x.data))   # BUG: computed, never returned  # noqa: F841


def ok_softplus(x):
    """softplus(x) = log(1 + exp(x))"""
    return Softplus()(_t(x))


def bad_softplus_sign(x):
    return SoftplusSignError()(_t(x))


def bad_softplus_float64_grad(x):
    return SoftplusFloat64Grad()(_t(x))


def bad_softplus_float64_forward(x):
    return SoftplusFloat64Forward()(_t(x))


def bad_softplus_no_return(x):
    return SoftplusNoReturn()(_t(x))


def bad_softplus_ndarray(x):
    x = _t(x)
    return np.maximum(x.data, 0) + np.log1p(np.exp(-np.abs(x.data)))   # BUG: not a Tensor


# ---- leaky relu: numpy Function ----------------------------------------------------------------


class LeakyReLU(Function):
    """y = x for x > 0, a x otherwise"""
    differentiable_backward = False

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        return np.where(x > 0, x, x * np.asarray(self.slope, x.dtype))

    def backward(self, gy):
        x, = self.inputs
        return Tensor(gy.data * np.where(x.data > 0, 1, self.slope).astype(gy.dtype))


class LeakyInPlace(LeakyReLU):
    def forward(self, x):
        x[x < 0] *= self.slope                     # BUG: overwrites its input
        return x


class LeakyBackwardInPlace(LeakyReLU):
    def backward(self, gy):
        x = self.inputs[0].data
        x[x > 0] = 1                               # BUG: reuses the input as the mask array
        x[x <= 0] = self.slope
        return Tensor(gy.data * x)


class LeakyWrongKink(LeakyReLU):
    def backward(self, gy):
        x, = self.inputs
        return Tensor(gy.data * np.where(x.data > 0, 1, 0).astype(gy.dtype))  # BUG: slope 0


def ok_leaky_relu(x, slope=0.1):
    """y = max(x, slope x)"""
    return LeakyReLU(slope)(_t(x))


def bad_leaky_relu_inplace(x, slope=0.1):
    return LeakyInPlace(slope)(_t(x))


def bad_leaky_relu_backward_inplace(x, slope=0.1):
    return LeakyBackwardInPlace(slope)(_t(x))


def bad_leaky_relu_kink(x, slope=0.1):
    return LeakyWrongKink(slope)(_t(x))


# ---- softmax along an axis, with Tensor operations -------------------------------------------


def ok_softmax(x, axis=-1):
    """softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x)"""
    x = _t(x)
    e = (x - Tensor(x.data.max(axis=axis, keepdims=True))).exp()
    return e / e.sum(axis=axis, keepdims=True)


def bad_softmax_overflow(x, axis=-1):
    e = _t(x).exp()                                # BUG: no max subtraction
    return e / e.sum(axis=axis, keepdims=True)


def bad_softmax_last_axis(x, axis=-1):
    x = _t(x)
    e = (x - Tensor(x.data.max(axis=-1, keepdims=True))).exp()
    return e / e.sum(axis=-1, keepdims=True)       # BUG: ignores axis


def _softmax_reference(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---- elu: Tensor operations -----------------------------------------------------------------


def ok_elu(x, alpha=1.0):
    """y = x for x > 0, alpha (exp(x) - 1) otherwise"""
    x = _t(x)
    positive = Tensor((x.data > 0).astype(x.dtype))
    return positive * x + (1 - positive) * alpha * (x.exp() - 1)


class EluNumpyBackward(Function):
    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(x)).astype(x.dtype)

    def backward(self, gy):                        # BUG: numpy backward, declared second_order
        x, = self.inputs
        return Tensor(gy.data * np.where(x.data > 0, 1, self.alpha * np.exp(x.data))
                      .astype(gy.dtype))


def bad_elu_numpy_backward(x, alpha=1.0):
    return EluNumpyBackward(alpha)(_t(x))


# ---- losses -----------------------------------------------------------------------------------


def ok_mse(y, t):
    """L = mean over the batch of sum_k (y - t)**2 / 2"""
    y = _t(y)
    d = y - Tensor(np.asarray(t, dtype=y.dtype))
    return (d * d).sum() * (0.5 / y.shape[0])


def bad_mse_sum(y, t):
    y = _t(y)
    d = y - Tensor(np.asarray(t, dtype=y.dtype))
    return (d * d).sum() * 0.5                     # BUG: the book's sum, no mean


def bad_mse_float64(y, t):
    y = _t(y)
    d = y - Tensor(np.asarray(t, dtype=np.float64))   # BUG: float64 target promotes the loss
    return (d * d).sum() * (0.5 / y.shape[0])


def bad_mse_overwrites_target(y, t):
    y = _t(y)
    t = np.asarray(t)
    t -= y.data                                    # BUG: reuses the target's memory
    t *= -1
    d = Tensor(t.astype(y.dtype))
    d_y = y - Tensor((y.data - d.data))            # y - (y - d) has gradient 1 w.r.t. y
    return (d_y * d_y).sum() * (0.5 / y.shape[0])


class CrossEntropy(Function):
    """L = -(1/N) sum_n log softmax(x_n)[t_n],  dL/dx = (softmax(x) - onehot(t)) / N"""
    differentiable_backward = False

    def __init__(self, t):
        self.t = np.asarray(t)

    def _log_softmax(self, x):
        shifted = x - x.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def forward(self, x):
        self.log_p = self._log_softmax(x)
        n = x.shape[0]
        return np.asarray(-self.log_p[np.arange(n), self.t].sum() / n, dtype=x.dtype)

    def backward(self, gy):
        n = self.log_p.shape[0]
        g = np.exp(self.log_p)
        g[np.arange(n), self.t] -= 1
        return Tensor(g * (gy.data / n))


class CrossEntropyOverflow(CrossEntropy):
    def _log_softmax(self, x):
        e = np.exp(x)                              # BUG: no max subtraction
        return np.log(e / e.sum(axis=1, keepdims=True))


class CrossEntropySum(CrossEntropy):
    def forward(self, x):
        self.log_p = self._log_softmax(x)
        return np.asarray(-self.log_p[np.arange(x.shape[0]), self.t].sum(), dtype=x.dtype)

    def backward(self, gy):                        # BUG: sums over the batch (both passes)
        g = np.exp(self.log_p)
        g[np.arange(g.shape[0]), self.t] -= 1
        return Tensor(g * gy.data)


class CrossEntropyGradNotDivided(CrossEntropy):
    def backward(self, gy):
        g = np.exp(self.log_p)
        g[np.arange(g.shape[0]), self.t] -= 1
        return Tensor(g * gy.data)                 # BUG: forgot / N


class CrossEntropyMeanOverClasses(CrossEntropy):
    def forward(self, x):
        self.log_p = self._log_softmax(x)
        onehot = np.eye(x.shape[1], dtype=x.dtype)[self.t]
        return np.asarray(-(onehot * self.log_p).mean(), dtype=x.dtype)   # BUG: / (N C)

    def backward(self, gy):
        g = np.exp(self.log_p)
        g[np.arange(g.shape[0]), self.t] -= 1
        return Tensor(g * (gy.data / g.size))


def ok_cross_entropy(x, t):
    """mean over the batch of -log softmax(x_n)[t_n]"""
    return CrossEntropy(t)(_t(x))


def bad_cross_entropy_overflow(x, t):
    return CrossEntropyOverflow(t)(_t(x))


def bad_cross_entropy_sum(x, t):
    return CrossEntropySum(t)(_t(x))


def bad_cross_entropy_grad_not_divided(x, t):
    return CrossEntropyGradNotDivided(t)(_t(x))


def bad_cross_entropy_mean_over_classes(x, t):
    return CrossEntropyMeanOverClasses(t)(_t(x))


def _cross_entropy_reference(x, t):
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(x.shape[0]), t].mean()


# ---- declarations -----------------------------------------------------------------------------


def _slope_cases(st):
    return st.tuples(st.fixed_dictionaries({"slope": st.floats(0.05, 0.5)}),
                     st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))


def _axis_cases(st):
    return st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple).flatmap(
        lambda shape: st.tuples(st.fixed_dictionaries(
            {"axis": st.integers(-len(shape), len(shape) - 1)}), st.just(shape)))


def _mse_cases(st):
    @st.composite
    def case(draw):
        n, k = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        t = np.array(draw(st.lists(st.floats(-2, 2), min_size=n * k, max_size=n * k)))
        return {"t": t.reshape(n, k)}, (n, k)
    return case()


def _label_cases(st):
    @st.composite
    def case(draw):
        n, c = draw(st.integers(1, 4)), draw(st.integers(2, 4))
        return {"t": np.array(draw(st.lists(st.integers(0, c - 1), min_size=n,
                                            max_size=n)))}, (n, c)
    return case()


SOFTPLUS = Check(domain=(-4.0, 4.0), second_order=False)
LEAKY = Check(avoid=(0.0,), second_order=False, cases=_slope_cases)
SOFTMAX = Check(domain=(-4.0, 4.0), cases=_axis_cases, reference=_softmax_reference, large=1e4)
ELU = Check(avoid=(0.0,))
MSE = Check(cases=_mse_cases, reference=lambda y, t: 0.5 * np.sum((y - t) ** 2) / y.shape[0])
CROSS_ENTROPY = Check(domain=(-4.0, 4.0), cases=_label_cases, second_order=False, large=1e4,
                      reference=_cross_entropy_reference)


@hookimpl
def register_activations():
    return [Component(name, obj, check=check) for name, obj, check in [
        ("ok_softplus", ok_softplus, SOFTPLUS),
        ("bad_softplus_sign", bad_softplus_sign, SOFTPLUS),
        ("bad_softplus_float64_grad", bad_softplus_float64_grad, SOFTPLUS),
        ("bad_softplus_float64_forward", bad_softplus_float64_forward, SOFTPLUS),
        ("bad_softplus_no_return", bad_softplus_no_return, SOFTPLUS),
        ("bad_softplus_ndarray", bad_softplus_ndarray, SOFTPLUS),
        ("ok_leaky_relu", ok_leaky_relu, LEAKY),
        ("bad_leaky_relu_inplace", bad_leaky_relu_inplace, LEAKY),
        ("bad_leaky_relu_backward_inplace", bad_leaky_relu_backward_inplace, LEAKY),
        ("bad_leaky_relu_kink", bad_leaky_relu_kink, LEAKY),
        ("ok_softmax", ok_softmax, SOFTMAX),
        ("bad_softmax_overflow", bad_softmax_overflow, SOFTMAX),
        ("bad_softmax_last_axis", bad_softmax_last_axis, SOFTMAX),
        ("ok_elu", ok_elu, ELU),
        ("bad_elu_numpy_backward", bad_elu_numpy_backward, ELU),
    ]]


@hookimpl
def register_losses():
    return [Component(name, obj, check=check) for name, obj, check in [
        ("ok_mse", ok_mse, MSE),
        ("bad_mse_sum", bad_mse_sum, MSE),
        ("bad_mse_float64", bad_mse_float64, MSE),
        ("bad_mse_overwrites_target", bad_mse_overwrites_target, MSE),
        ("ok_cross_entropy", ok_cross_entropy, CROSS_ENTROPY),
        ("bad_cross_entropy_overflow", bad_cross_entropy_overflow, CROSS_ENTROPY),
        ("bad_cross_entropy_sum", bad_cross_entropy_sum, CROSS_ENTROPY),
        ("bad_cross_entropy_grad_not_divided", bad_cross_entropy_grad_not_divided,
         CROSS_ENTROPY),
        ("bad_cross_entropy_mean_over_classes", bad_cross_entropy_mean_over_classes,
         CROSS_ENTROPY),
    ]]
