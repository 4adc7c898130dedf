"""Layers, each correct one ("Ok...") next to the ways a plugin author gets it wrong ("Bad...").
A mutant shares its sibling's declaration."""
import numpy as np

from tinygrad_edu import Check, Component, Function, Module, Parameter, Tensor, hookimpl


# ---- dense: y = x W + b, a numpy Function -----------------------------------------------------


class DenseFunction(Function):
    """y = x W + b;  dL/dx = g W^T, dL/dW = x^T g, dL/db = sum_n g"""
    differentiable_backward = False

    def forward(self, x, W, b):
        return x @ W + b

    def backward(self, gy):
        x, W, _ = (t.data for t in self.inputs)
        g = gy.data
        return Tensor(g @ W.T), Tensor(x.T @ g), Tensor(g.sum(axis=0))


class TransposedWeightGrad(DenseFunction):
    def backward(self, gy):
        x, W, _ = (t.data for t in self.inputs)
        g = gy.data
        return Tensor(g @ W.T), Tensor((x.T @ g).T), Tensor(g.sum(axis=0))   # BUG: .T


class MissingBiasGrad(DenseFunction):
    def backward(self, gy):
        x, W, _ = (t.data for t in self.inputs)
        g = gy.data
        return Tensor(g @ W.T), Tensor(x.T @ g), None          # BUG: forgot the bias


class BiasGradFirstSample(DenseFunction):
    def backward(self, gy):
        x, W, _ = (t.data for t in self.inputs)
        g = gy.data
        return Tensor(g @ W.T), Tensor(x.T @ g), Tensor(g[0])  # BUG: not summed over the batch


class Float64WeightGrad(DenseFunction):
    def backward(self, gy):
        x, W, _ = (t.data for t in self.inputs)
        g = gy.data
        gW = x.T.astype(np.float64) @ g                       # BUG: float64 weight gradient
        return Tensor(g @ W.T), Tensor(gW), Tensor(g.sum(axis=0))


class UntransposedInputGrad(DenseFunction):
    def backward(self, gy):
        x, W, _ = (t.data for t in self.inputs)
        g = gy.data
        return Tensor(g @ W), Tensor(x.T @ g), Tensor(g.sum(axis=0))   # BUG: W, not W^T


class OkDense(Module):
    """y = x W + b with W of shape (in, out)"""
    function = DenseFunction

    def __init__(self, features_in, features_out, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.W = Parameter(rng.standard_normal((features_in, features_out)) * 0.5)
        self.b = Parameter(rng.standard_normal(features_out) * 0.1)

    def forward(self, x):
        return self.function()(x, self.W, self.b)


class BadDenseTransposedWeightGrad(OkDense):
    function = TransposedWeightGrad


class BadDenseMissingBiasGrad(OkDense):
    function = MissingBiasGrad


class BadDenseBiasGradFirstSample(OkDense):
    function = BiasGradFirstSample


class BadDenseFloat64WeightGrad(OkDense):
    function = Float64WeightGrad


class BadDenseInputGradUntransposed(OkDense):
    function = UntransposedInputGrad


class BadDensePlainTensorWeight(OkDense):
    def __init__(self, features_in, features_out, seed=0):
        super().__init__(features_in, features_out, seed)
        self.W = Tensor(self.W.data, requires_grad=True)      # BUG: not a Parameter


class BadDenseNormalisesWeightInForward(OkDense):
    def forward(self, x):
        self.W.data /= np.linalg.norm(self.W.data, axis=0) + 1.0  # BUG: max-norm in place
        return super().forward(x)


# ---- max and average pooling: k x k windows, stride s, numpy loops ---------------------------


class MaxPoolFunction(Function):
    """y[n,c,i,j] = max of the window at (i s, j s); the gradient goes to each window's max"""
    differentiable_backward = False

    def __init__(self, k, s):
        self.k, self.s = k, s

    def out_size(self, x):
        return (x.shape[2] - self.k) // self.s + 1, (x.shape[3] - self.k) // self.s + 1

    def forward(self, x):
        oh, ow = self.out_size(x)
        y = np.empty(x.shape[:2] + (oh, ow), dtype=x.dtype)
        self.arg = np.empty(y.shape, dtype=np.int64)
        for i in range(oh):
            for j in range(ow):
                window = x[:, :, i * self.s:i * self.s + self.k, j * self.s:j * self.s + self.k]
                flat = window.reshape(x.shape[0], x.shape[1], -1)
                self.arg[:, :, i, j] = flat.argmax(axis=2)
                y[:, :, i, j] = flat.max(axis=2)
        return y

    def zeros(self, x):
        return np.zeros_like(x)

    def backward(self, gy):
        x = self.inputs[0].data
        gx = self.zeros(x)
        oh, ow = self.out_size(x)
        n, c = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[1]), indexing="ij")
        for i in range(oh):
            for j in range(ow):
                di, dj = np.divmod(self.arg[:, :, i, j], self.k)
                gx[n, c, i * self.s + di, j * self.s + dj] += gy.data[:, :, i, j]
        return Tensor(gx)


class MaxPoolOffByOne(MaxPoolFunction):
    def backward(self, gy):
        x = self.inputs[0].data
        gx = np.zeros_like(x)
        oh, ow = (x.shape[2] - self.k) // self.s, (x.shape[3] - self.k) // self.s  # BUG: no + 1
        n, c = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[1]), indexing="ij")
        for i in range(oh):
            for j in range(ow):
                di, dj = np.divmod(self.arg[:, :, i, j], self.k)
                gx[n, c, i * self.s + di, j * self.s + dj] += gy.data[:, :, i, j]
        return Tensor(gx)


class MaxPoolFloat64Grad(MaxPoolFunction):
    def zeros(self, x):
        return np.zeros(x.shape)                              # BUG: float64 by default


class AvgPoolFunction(MaxPoolFunction):
    """y[n,c,i,j] = mean of the window; each element gets gy / k^2 from each of its windows"""
    scale_backward = True

    def forward(self, x):
        oh, ow = self.out_size(x)
        y = np.empty(x.shape[:2] + (oh, ow), dtype=x.dtype)
        for i in range(oh):
            for j in range(ow):
                y[:, :, i, j] = x[:, :, i * self.s:i * self.s + self.k,
                                  j * self.s:j * self.s + self.k].mean(axis=(2, 3))
        return y

    def backward(self, gy):
        x = self.inputs[0].data
        gx = np.zeros_like(x)
        oh, ow = self.out_size(x)
        share = gy.data / (self.k * self.k) if self.scale_backward else gy.data
        for i in range(oh):
            for j in range(ow):
                gx[:, :, i * self.s:i * self.s + self.k,
                   j * self.s:j * self.s + self.k] += share[:, :, i, j, None, None]
        return Tensor(gx)


class AvgPoolNoDivide(AvgPoolFunction):
    scale_backward = False                                    # BUG: forgot / k^2


class OkMaxPool(Module):
    """k x k max pooling with stride s"""
    function = MaxPoolFunction

    def __init__(self, k=2, s=2):
        super().__init__()
        self.k, self.s = k, s

    def forward(self, x):
        return self.function(self.k, self.s)(x)


class BadMaxPoolBackwardOffByOne(OkMaxPool):
    function = MaxPoolOffByOne


class BadMaxPoolFloat64Grad(OkMaxPool):
    function = MaxPoolFloat64Grad


class OkAvgPool(OkMaxPool):
    """k x k average pooling with stride s"""
    function = AvgPoolFunction


class BadAvgPoolNoDivide(OkMaxPool):
    function = AvgPoolNoDivide


# ---- small layers with Tensor operations ------------------------------------------------------


class OkCenter(Module):
    """y = x - mean(x) over the last axis"""

    def forward(self, x):
        return x - x.mean(axis=-1, keepdims=True)


class BadCenterInPlace(OkCenter):
    def forward(self, x):
        x.data -= x.data.mean(axis=-1, keepdims=True)         # BUG: centres the caller's array
        return x * 1.0


class OkScale(Module):
    """y = x * gamma, one learned factor per feature"""

    def __init__(self, features):
        super().__init__()
        self.gamma = Parameter(np.linspace(0.5, 1.5, features))

    def forward(self, x):
        return x * self.gamma


class BadScaleFrozen(OkScale):
    def __init__(self, features):
        super().__init__(features)
        self.gamma = Parameter(self.gamma.data, requires_grad=False)   # BUG: never learns


class DropoutFunction(Function):
    """y = x * mask / (1 - p);  dL/dx = g * mask / (1 - p)"""
    differentiable_backward = False

    def __init__(self, mask, scale, backward_scale=True):
        self.mask, self.scale, self.backward_scale = mask, scale, backward_scale

    def forward(self, x):
        return x * (self.mask * self.scale).astype(x.dtype)

    def backward(self, gy):
        factor = self.mask * self.scale if self.backward_scale else self.mask
        return Tensor(gy.data * factor.astype(gy.dtype))


class OkDropout(Module):
    """inverted dropout with its own generator"""
    backward_scale = True

    def __init__(self, p=0.5, seed=0):
        super().__init__()
        self.p, self.rng = p, np.random.default_rng(seed)

    def forward(self, x):
        if not self.training:
            return x * 1.0
        mask = self.rng.random(x.shape) >= self.p
        return DropoutFunction(mask, 1.0 / (1.0 - self.p), self.backward_scale)(x)


class BadDropoutBackwardUnscaled(OkDropout):
    backward_scale = False                                    # BUG: forgot / (1 - p)


# ---- declarations -----------------------------------------------------------------------------


def _dense_cases(st):
    return st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)).map(
        lambda t: ({"features_in": t[1], "features_out": t[2]}, (t[0], t[1])))


def _pool_cases(st):
    @st.composite
    def case(draw):
        k = draw(st.integers(1, 3))
        s = draw(st.integers(1, 2))
        h, w = draw(st.integers(k, k + 3)), draw(st.integers(k, k + 3))
        return {"k": k, "s": s}, (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w)
    return case()


def _feature_cases(st):
    return st.tuples(st.integers(1, 3), st.integers(1, 4)).map(
        lambda t: ({"features": t[1]}, t))


def _center_cases(st):
    return st.tuples(st.integers(1, 3), st.integers(2, 4)).map(lambda t: ({}, t))


def _dropout_cases(st):
    return st.tuples(st.fixed_dictionaries({"p": st.floats(0.2, 0.7),
                                            "seed": st.integers(0, 99)}),
                     st.tuples(st.integers(1, 3), st.integers(2, 5)))


DENSE = Check(cases=_dense_cases, second_order=False)
POOL = Check(cases=_pool_cases, distinct=True, second_order=False)
AVG_POOL = Check(cases=_pool_cases, second_order=False)
SCALE = Check(cases=_feature_cases)
CENTER = Check(cases=_center_cases)
DROPOUT = Check(cases=_dropout_cases, second_order=False)


@hookimpl
def register_layers():
    return [Component(name, obj, check=check) for name, obj, check in [
        ("OkDense", OkDense, DENSE),
        ("BadDenseTransposedWeightGrad", BadDenseTransposedWeightGrad, DENSE),
        ("BadDenseMissingBiasGrad", BadDenseMissingBiasGrad, DENSE),
        ("BadDenseBiasGradFirstSample", BadDenseBiasGradFirstSample, DENSE),
        ("BadDenseFloat64WeightGrad", BadDenseFloat64WeightGrad, DENSE),
        ("BadDenseInputGradUntransposed", BadDenseInputGradUntransposed, DENSE),
        ("BadDensePlainTensorWeight", BadDensePlainTensorWeight, DENSE),
        ("BadDenseNormalisesWeightInForward", BadDenseNormalisesWeightInForward, DENSE),
        ("OkMaxPool", OkMaxPool, POOL),
        ("BadMaxPoolBackwardOffByOne", BadMaxPoolBackwardOffByOne, POOL),
        ("BadMaxPoolFloat64Grad", BadMaxPoolFloat64Grad, POOL),
        ("OkAvgPool", OkAvgPool, AVG_POOL),
        ("BadAvgPoolNoDivide", BadAvgPoolNoDivide, AVG_POOL),
        ("OkCenter", OkCenter, CENTER),
        ("BadCenterInPlace", BadCenterInPlace, CENTER),
        ("OkScale", OkScale, SCALE),
        ("BadScaleFrozen", BadScaleFrozen, SCALE),
        ("OkDropout", OkDropout, DROPOUT),
        ("BadDropoutBackwardUnscaled", BadDropoutBackwardUnscaled, DROPOUT),
    ]]
