"""The core differentiable operations, one Function each, with the derivative in its docstring.

Every backward is written with Tensor operations, so with ``create_graph=True`` it is itself
recorded and can be differentiated again. Gradients of broadcast inputs come back in the output's
shape; the engine sums them back to each input's shape (see ``sum_to``).
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu.function import Function
from tinygrad_edu.tensor import Tensor

# ---- arithmetic -----------------------------------------------------------------------------


def float_wins(a, b):
    """a and b with PyTorch's rule for a float array meeting an integer or boolean one: the
    float's dtype wins, width and all (numpy alone turns float32 * int64 into float64). Ops call
    it only when the two dtypes differ, so the common case pays one comparison."""
    if a.dtype.kind == "f" and b.dtype.kind in "biu":
        return a, b.astype(a.dtype)
    if b.dtype.kind == "f" and a.dtype.kind in "biu":
        return a.astype(b.dtype), b
    return a, b


class Add(Function):
    """y = a + b;  dy/da = 1, dy/db = 1"""

    def forward(self, a, b):
        if a.dtype is not b.dtype:
            a, b = float_wins(a, b)
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(Function):
    """y = a - b;  dy/da = 1, dy/db = -1"""

    def forward(self, a, b):
        if a.dtype is not b.dtype:
            a, b = float_wins(a, b)
        return a - b

    def backward(self, gy):
        return gy, (-gy if self.inputs[1].requires_grad else None)


class Mul(Function):
    """y = a * b;  dy/da = b, dy/db = a"""

    def forward(self, a, b):
        if a.dtype is not b.dtype:
            a, b = float_wins(a, b)
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return (gy * b if a.requires_grad else None,
                gy * a if b.requires_grad else None)


class Div(Function):
    """y = a / b;  dy/da = 1/b, dy/db = -a/b**2"""

    def forward(self, a, b):
        if a.dtype is not b.dtype:
            a, b = float_wins(a, b)
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        return ga, (-ga * a / b if b.requires_grad else None)


class Neg(Function):
    """y = -x;  dy/dx = -1"""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class PowConst(Function):
    """y = x**c for a constant c;  dy/dx = c * x**(c-1), and 0 for c = 0 (x**0 is the constant 1,
    also at x = 0 where the formula would give 0 * inf)"""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        x, = self.inputs
        if self.c == 0:
            return Tensor.wrap(np.zeros_like(x.data))
        return gy * self.c * x ** (self.c - 1)


class Pow(Function):
    """y = a**b;  dy/da = b * a**(b-1),  dy/db = log(a) * a**b.
    Where the formulas give 0 * inf at a = 0 the true limits are used, as PyTorch does:
    dy/da = 0 where b = 0, and dy/db = 0 where a = 0 and b >= 0."""

    def forward(self, a, b):
        if a.dtype is not b.dtype:
            a, b = float_wins(a, b)
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        ga = gb = None
        at_zero = a.data == 0
        if self.needs_input_grad[0]:
            exponent = b - 1
            if at_zero.any():  # b * 0**(b-1) is 0 * inf for b = 0: use 0**1 there instead
                exponent = where(at_zero & (b.data == 0), 1.0, exponent)
            ga = gy * b * a ** exponent
        if self.needs_input_grad[1]:
            base = a
            if at_zero.any():  # log(0) * 0**b is -inf * 0 for b >= 0: use log(1) there instead
                base = where(at_zero & (b.data >= 0), 1.0, a)
            gb = gy * log(base) * self.output
        return ga, gb


def power(base, exponent):
    """base ** exponent; a python-number exponent is a constant (the common, cheaper case)."""
    if isinstance(exponent, (int, float)) and isinstance(base, Tensor):
        return PowConst(exponent)(base)
    return Pow()(base, exponent)


# ---- elementwise functions --------------------------------------------------------------------


class Exp(Function):
    """y = exp(x);  dy/dx = exp(x) = y"""

    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        return gy * self.output


class Log(Function):
    """y = log(x);  dy/dx = 1/x"""

    def forward(self, x):
        return np.log(x)

    def backward(self, gy):
        x, = self.inputs
        return gy / x


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 sqrt(x)) = 1 / (2y)"""

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.output)


class Tanh(Function):
    """y = tanh(x);  dy/dx = 1 - y**2"""

    def forward(self, x):
        return np.tanh(x)

    def backward(self, gy):
        return TanhGrad()(gy, self.output)


class TanhGrad(Function):
    """gx = gy * (1 - y**2), tanh's backward as one op (three separate ops cost three times the
    per-op overhead on every backward);  dgx/dgy = 1 - y**2,  dgx/dy = -2 gy y"""

    def forward(self, gy, y):
        return gy * (1 - y * y)

    def backward(self, g):
        gy, y = self.inputs
        return g * (1 - y * y), g * -2 * gy * y


class Abs(Function):
    """y = |x|;  dy/dx = sign(x) (taken as 0 at x = 0)"""

    def forward(self, x):
        return np.abs(x)

    def backward(self, gy):
        x, = self.inputs
        return gy * np.sign(x.data)


class Maximum(Function):
    """y = max(a, b) elementwise;  the gradient goes to the larger input (split evenly on ties)"""

    def forward(self, a, b):
        if a.dtype is not b.dtype:
            a, b = float_wins(a, b)
        return np.maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        to_a = (a.data > b.data) + 0.5 * (a.data == b.data)
        return gy * to_a, gy * (1 - to_a)


class Minimum(Function):
    """y = min(a, b) elementwise;  the gradient goes to the smaller input (split evenly on ties)"""

    def forward(self, a, b):
        if a.dtype is not b.dtype:
            a, b = float_wins(a, b)
        return np.minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        to_a = (a.data < b.data) + 0.5 * (a.data == b.data)
        return gy * to_a, gy * (1 - to_a)


class Clip(Function):
    """y = min(max(x, low), high);  dy/dx = 1 where low <= x <= high, else 0"""

    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, x):
        return np.clip(x, self.low, self.high)

    def backward(self, gy):
        x, = self.inputs
        inside = np.ones(x.shape, dtype=bool)
        if self.low is not None:
            inside &= x.data >= self.low
        if self.high is not None:
            inside &= x.data <= self.high
        return gy * inside


class Where(Function):
    """y = a where cond else b;  dy/da = cond, dy/db = not cond (cond is not differentiable)"""

    def __init__(self, cond):
        self.cond = np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)

    def forward(self, a, b):
        if a.dtype is not b.dtype:
            a, b = float_wins(a, b)
        return np.where(self.cond, a, b)

    def backward(self, gy):
        return gy * self.cond, gy * ~self.cond


class AsType(Function):
    """y = x converted to another dtype;  the gradient is converted back. A conversion to an
    integer or boolean dtype is not differentiable: its result is a constant, outside the graph
    (as in PyTorch)."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def __call__(self, x):
        y = super().__call__(x)
        return y if self.dtype.kind in "fc" else y.detach()

    def forward(self, x):
        self.input_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.input_dtype)


# ---- reductions -------------------------------------------------------------------------------


def _keepdims_shape(shape, axis):
    """The shape of a reduction over ``axis`` with keepdims=True."""
    if axis is None:
        return (1,) * len(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _count(shape, axis):
    """How many elements a reduction over ``axis`` combines into each result."""
    return int(np.prod(shape)) // int(np.prod(_keepdims_shape(shape, axis)))


class Sum(Function):
    """y = sum of x over axis;  dy/dx = 1 for every summed element (the gradient is broadcast)"""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return np.sum(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x, = self.inputs
        if not self.keepdims:
            gy = gy.reshape(_keepdims_shape(x.shape, self.axis))
        return gy.broadcast_to(x.shape)


class Max(Function):
    """y = max of x over axis;  dy/dx = 1 at the maximum (shared evenly between ties), else 0"""

    reduce = staticmethod(np.max)

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return self.reduce(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x, = self.inputs
        shape = _keepdims_shape(x.shape, self.axis)
        y = self.output.data.reshape(shape)
        is_extreme = x.data == y
        if np.isnan(y).any():  # NaN propagates: where the result is NaN, the NaNs are the extreme
            is_extreme |= np.isnan(x.data)
        share = is_extreme / is_extreme.sum(axis=self.axis, keepdims=True)
        return gy.reshape(shape).broadcast_to(x.shape) * share


class Min(Max):
    """y = min of x over axis;  dy/dx = 1 at the minimum (shared evenly between ties), else 0"""

    reduce = staticmethod(np.min)


def mean(x, axis=None, keepdims=False):
    """y = sum(x) / n over axis (built from Sum, so every order of derivative comes for free)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return x.sum(axis, keepdims) / _count(x.shape, axis)


def var(x, axis=None, keepdims=False, ddof=0):
    """y = sum((x - mean(x))**2) / (n - ddof) over axis."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    n = _count(x.shape, axis)
    centred = x - x.mean(axis, keepdims=True)
    return (centred * centred).sum(axis, keepdims) / (n - ddof)


# ---- shape ------------------------------------------------------------------------------------


class Reshape(Function):
    """y = x with a new shape;  the gradient is reshaped back"""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.inputs[0].shape)


class Transpose(Function):
    """y = x with its axes permuted;  the gradient is permuted back (inverse permutation)"""

    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        return np.transpose(x, self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        return gy.transpose(tuple(np.argsort(self.axes)))


class BroadcastTo(Function):
    """y = x repeated along broadcast axes;  dy/dx sums the gradient back over them"""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return np.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.inputs[0].shape)


class SumTo(Function):
    """y = x summed down to ``shape`` (undoes broadcasting);  the gradient is broadcast back"""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return sum_to_array(x, self.shape)

    def backward(self, gy):
        return gy.broadcast_to(self.inputs[0].shape)


def sum_to_array(x: np.ndarray, shape) -> np.ndarray:
    """Sum numpy array ``x`` over the leading axes and the axes where ``shape`` has 1."""
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"cannot sum shape {x.shape} down to {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    y = x.sum(axis=axes, keepdims=True) if axes else x
    if lead:
        y = y.reshape(y.shape[lead:])
    if y.shape != tuple(shape):
        raise ValueError(f"cannot sum shape {x.shape} down to {shape}")
    return y


def sum_to(x, shape):
    """Differentiable ``sum_to_array``: the adjoint of broadcasting."""
    if x.shape == tuple(shape):
        return x
    return SumTo(shape)(x)


def _is_basic_index(index):
    """Slices, integers, None and Ellipsis only: no index is repeated, so plain assignment
    scatters the gradient; arrays of indices may repeat and need np.add.at."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer))
               for p in parts)


def _plain_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(p.data if isinstance(p, Tensor) else p for p in index)
    return index


class GetItem(Function):
    """y = x[index] (slices, integer arrays, boolean masks);  the gradient is scattered back,
    and an element picked several times receives the sum of its gradients"""

    def __init__(self, index):
        self.index = _plain_index(index)

    def forward(self, x):
        return x[self.index]

    def backward(self, gy):
        return ScatterAdd(self.index, self.inputs[0].shape)(gy)


class ScatterAdd(Function):
    """y = zeros(shape) with y[index] += x;  dy/dx = y[index] (the adjoint of GetItem)"""

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, x):
        y = np.zeros(self.shape, dtype=x.dtype)
        if _is_basic_index(self.index):
            y[self.index] = x
        else:
            np.add.at(y, self.index, x)
        return y

    def backward(self, gy):
        return gy[self.index]


class Concatenate(Function):
    """y = the inputs joined along ``axis``;  each input receives its slice of the gradient"""

    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        return np.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        grads, start = [], 0
        axis = self.axis % gy.ndim
        for x in self.inputs:
            stop = start + x.shape[axis]
            grads.append(gy[(slice(None),) * axis + (slice(start, stop),)])
            start = stop
        return tuple(grads)


def concatenate(tensors, axis=0):
    return Concatenate(axis)(*tensors)


def stack(tensors, axis=0):
    """Join tensors of equal shape along a new axis."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    ndim = tensors[0].ndim + 1
    axis = axis % ndim
    expanded = [t.reshape(t.shape[:axis] + (1,) + t.shape[axis:]) for t in tensors]
    return Concatenate(axis)(*expanded)


class Pad(Function):
    """y = x surrounded by a constant (np.pad);  the gradient is the inner slice"""

    def __init__(self, pad_width, value=0.0):
        self.pad_width, self.value = pad_width, value

    def forward(self, x):
        self.widths = np.broadcast_to(np.asarray(self.pad_width), (x.ndim, 2))
        return np.pad(x, self.widths, mode="constant", constant_values=self.value)

    def backward(self, gy):
        inner = tuple(slice(int(lo), n - int(hi))
                      for (lo, hi), n in zip(self.widths, gy.shape))
        return gy[inner]


def pad(x, pad_width, value=0.0):
    return Pad(pad_width, value)(x)


# ---- linear algebra ---------------------------------------------------------------------------


class MatMul(Function):
    """Y = A @ B (2-D or batched);  dL/dA = dL/dY @ B^T,  dL/dB = A^T @ dL/dY"""

    def forward(self, a, b):
        if a.dtype is not b.dtype:
            a, b = float_wins(a, b)
        return a @ b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy @ _swap_last(b) if self.needs_input_grad[0] else None
        gb = _swap_last(a) @ gy if self.needs_input_grad[1] else None
        return ga, gb


def _swap_last(t):
    axes = list(range(t.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return t.transpose(tuple(axes))


def matmul(a, b):
    """a @ b with numpy's rules: a 1-D operand is treated as a row (left) or column (right)
    vector and that axis is removed from the result."""
    a = a if isinstance(a, Tensor) else Tensor(a, dtype=_float_like(b))
    b = b if isinstance(b, Tensor) else Tensor(b, dtype=_float_like(a))
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape} (use * for scalars)")
    if a.ndim == 1 and b.ndim == 1:
        return MatMul()(a.reshape(1, -1), b.reshape(-1, 1)).reshape(())
    if a.ndim == 1:
        y = MatMul()(a.reshape(1, -1), b)
        return y.reshape(y.shape[:-2] + y.shape[-1:])
    if b.ndim == 1:
        return MatMul()(a, b.reshape(-1, 1)).reshape(a.shape[:-1])
    return MatMul()(a, b)


def _float_like(t):
    return t.dtype if isinstance(t, Tensor) and t.dtype.kind == "f" else None


# ---- functional forms -------------------------------------------------------------------------


def exp(x): return Exp()(x)
def log(x): return Log()(x)
def sqrt(x): return Sqrt()(x)
def tanh(x): return Tanh()(x)
def abs(x): return Abs()(x)  # noqa: A001  (mirrors numpy's name)
def maximum(a, b): return Maximum()(a, b)
def minimum(a, b): return Minimum()(a, b)
def clip(x, low, high): return Clip(low, high)(x)
def where(cond, a, b): return Where(cond)(a, b)
def broadcast_to(x, shape): return BroadcastTo(tuple(shape))(x)
def reshape(x, shape): return Reshape(tuple(shape))(x)
def transpose(x, axes=None): return Transpose(axes)(x)
