"""Tensor: a numpy array that remembers how it was computed.

``Tensor`` holds its value in ``.data`` (a numpy array), its gradient in ``.grad`` (a Tensor, or
None) and, when it was produced by an operation on tensors that require gradients, the Function
that made it (``._ctx``). That back-pointer is the whole computation graph.

Where this module sits: it uses the backward engine (autograd.py, which imports nothing above
itself), and its operators (``x + y``, ``x.sum()``) are ops from ops.py. Those ops are Functions
that return Tensors, so ops.py (and function.py, the template ops follow) import this module in
turn. That one loop, Tensor's operators -> ops -> Tensor, is the price of writing ``x + y``: it is
closed by the import at the bottom of this file, after Tensor exists.
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu import autograd


#: The clock of in-place changes: bumped by every ``Tensor.bump_version()``. A tensor's
#: ``_version`` is the clock at its creation or at its last in-place change.
_clock = 0


class Tensor:
    """A numpy array (``.data``) with a gradient (``.grad``) and, for an op's output, the op
    that made it (``._ctx``).

    ``Tensor(array)`` shares the caller's numpy array when it already has the right dtype (as
    ``torch.from_numpy`` does): no copy is made, and changes to one show in the other. That is
    what lets an optimizer update parameters in place and the book API keep its ``params`` dict
    in step with the model. In-place changes the framework makes (an optimizer's step,
    ``bump_version()``) are tracked: backward refuses a graph whose saved tensors changed after
    they were saved. Changes made directly through numpy (``t.data[...] = ...``, ``t.data = other``
    or the caller's array) are not tracked, as PyTorch does not track ``.data``; ``detect_anomaly()`` finds them.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "name", "_version", "__weakref__")
    #: numpy defers ``ndarray + Tensor`` to ``Tensor.__radd__`` instead of looping elementwise.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        if isinstance(data, Tensor):
            data = data.data
        data = np.asarray(data, dtype=dtype)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(
                f"Only floating-point tensors can require gradients, but this data is "
                f"{data.dtype}. Convert it first, e.g. Tensor(data, dtype=np.float32, "
                f"requires_grad=True).")
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._ctx = None
        self.name = name
        self._version = _clock

    @classmethod
    def wrap(cls, array) -> "Tensor":
        """A plain Tensor around the result of a numpy computation, without the checks of
        ``__init__``. Ops create one of these per call, so it is kept minimal."""
        t = object.__new__(Tensor)
        t.data = array if type(array) is np.ndarray else np.asarray(array)
        t.grad = None
        t.requires_grad = False
        t._ctx = None
        t.name = None
        t._version = _clock
        return t

    # ---- array-like properties -------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    def __len__(self):
        return len(self.data)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def numpy(self) -> np.ndarray:
        """The value as a numpy array (shares memory with the tensor)."""
        return self.data

    def item(self):
        return self.data.item()

    # a one-element tensor reads like a number: float(loss), f"{loss:.4f}", if flag: ...
    def __float__(self): return float(self.data)
    def __int__(self): return int(self.data)
    def __bool__(self): return bool(self.data)

    def __format__(self, spec):
        return format(self.data.item(), spec) if spec and self.data.size == 1 else str(self)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{type(self._ctx).__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ---- graph ------------------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def detach(self) -> "Tensor":
        """The same values, cut from the graph (shares memory)."""
        return Tensor(self.data)

    def requires_grad_(self, flag=True) -> "Tensor":
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"Only floating-point tensors can require gradients, not "
                            f"{self.data.dtype}")
        self.requires_grad = flag
        return self

    def bump_version(self) -> "Tensor":
        """Record that ``.data`` was changed in place (optimizers call this after each update).
        A graph that saved this tensor before the change refuses to backward through it: its
        gradient would be computed from the new values."""
        global _clock
        _clock += 1
        self._version = _clock
        return self

    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) * grad into the ``.grad`` of every leaf that requires it.

        Gradients add up across calls until you reset them (``x.grad = None`` or
        ``module.zero_grad()``). The graph is freed afterwards unless ``retain_graph=True``;
        ``create_graph=True`` records the backward pass itself, for higher-order gradients.
        """
        g = autograd.initial_gradient(self, grad)
        autograd.run_backward([self], [g], retain_graph=retain_graph or create_graph,
                              create_graph=create_graph)

    # ---- arithmetic -------------------------------------------------------------------------
    def __add__(self, other): return ops.Add()(self, other)
    def __radd__(self, other): return ops.Add()(other, self)
    def __sub__(self, other): return ops.Sub()(self, other)
    def __rsub__(self, other): return ops.Sub()(other, self)
    def __mul__(self, other): return ops.Mul()(self, other)
    def __rmul__(self, other): return ops.Mul()(other, self)
    def __truediv__(self, other): return ops.Div()(self, other)
    def __rtruediv__(self, other): return ops.Div()(other, self)
    def __neg__(self): return ops.Neg()(self)
    def __pos__(self): return self
    def __pow__(self, exponent): return ops.power(self, exponent)
    def __rpow__(self, base): return ops.power(base, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __abs__(self): return ops.Abs()(self)

    # ---- comparisons: plain values, never part of the graph ---------------------------------
    def __lt__(self, other): return Tensor(self.data < _value(other))
    def __le__(self, other): return Tensor(self.data <= _value(other))
    def __gt__(self, other): return Tensor(self.data > _value(other))
    def __ge__(self, other): return Tensor(self.data >= _value(other))
    def __eq__(self, other): return Tensor(self.data == _value(other))
    def __ne__(self, other): return Tensor(self.data != _value(other))
    __hash__ = object.__hash__

    # ---- elementwise functions --------------------------------------------------------------
    def exp(self): return ops.Exp()(self)
    def log(self): return ops.Log()(self)
    def sqrt(self): return ops.Sqrt()(self)
    def tanh(self): return ops.Tanh()(self)
    def abs(self): return ops.Abs()(self)
    def clip(self, low, high): return ops.Clip(low, high)(self)
    def astype(self, dtype): return ops.AsType(dtype)(self)

    # ---- reductions -------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False): return ops.Sum(axis, keepdims)(self)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.Max(axis, keepdims)(self)
    def min(self, axis=None, keepdims=False): return ops.Min(axis, keepdims)(self)
    def var(self, axis=None, keepdims=False, ddof=0): return ops.var(self, axis, keepdims, ddof)

    def argmax(self, axis=None): return Tensor(self.data.argmax(axis=axis))
    def argmin(self, axis=None): return Tensor(self.data.argmin(axis=axis))

    # ---- shape ------------------------------------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.Reshape(shape)(self)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.Transpose(axes or None)(self)

    @property
    def T(self): return ops.Transpose(None)(self)

    def flatten(self, start_dim=0):
        """Merge dimensions ``start_dim..`` into one (``flatten(1)`` keeps the batch axis)."""
        return ops.Reshape(self.shape[:start_dim] + (-1,))(self)

    def broadcast_to(self, shape): return ops.BroadcastTo(tuple(shape))(self)
    def sum_to(self, shape): return ops.sum_to(self, shape)
    def __getitem__(self, index): return ops.GetItem(index)(self)


class Parameter(Tensor):
    """A Tensor that is learned: requires grad by default, and Modules find it automatically."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None, name=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)

    def __repr__(self):
        return "Parameter" + super().__repr__()[len("tensor"):]


def as_tensor(x, dtype=None) -> Tensor:
    """``x`` itself if it already is a Tensor, otherwise a new constant ``Tensor(x, dtype=dtype)``."""
    return x if isinstance(x, Tensor) else Tensor(x, dtype=dtype)


def _value(x):
    return x.data if isinstance(x, Tensor) else x


# The one import circle of the core, and why it is here: the operators above are implemented by
# the ops, and the ops (Functions) produce Tensors, so ops.py needs Tensor defined first.
from tinygrad_edu import ops  # noqa: E402
