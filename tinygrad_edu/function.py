"""Function: the template every differentiable operation follows.

A Function turns numpy arrays into a numpy array (``forward``) and turns the gradient of its
output into gradients of its inputs (``backward``). ``__call__`` is the one place that connects
it to the graph: unwrap the input tensors, run ``forward``, wrap the result, and -- only when
gradients are enabled and some input requires them -- record how the output was made::

    class Square(Function):
        '''y = x**2,  dy/dx = 2x'''
        def forward(self, x):
            return x * x
        def backward(self, gy):
            x, = self.inputs
            return gy * 2 * x

    y = Square()(x)

``backward`` receives and returns Tensors and runs under ``no_grad`` unless the caller asked
for ``create_graph=True``; because it is written with Tensor operations, the same code then
records a graph of its own, which is what makes gradients of gradients possible.

One instance is one node of the graph: while its graph is alive a second call would overwrite
the inputs its first output needs for backward, so it raises.
"""
from __future__ import annotations

import weakref

import numpy as np

from tinygrad_edu import anomaly
from tinygrad_edu.anomaly import is_anomaly_enabled
from tinygrad_edu.grad_mode import is_grad_enabled
from tinygrad_edu.tensor import Tensor


class Function:
    #: False for a Function whose backward computes with numpy directly (a fast path that cannot
    #: be differentiated again); asking for create_graph through it raises a clear error.
    differentiable_backward = True
    #: The input Tensors, kept for backward; None before the call and once backward released them.
    inputs = None

    def __call__(self, *inputs):
        if self.inputs is not None:
            raise RuntimeError(
                f"{type(self).__name__}: this Function instance was already called and is a node "
                f"of the graph of that call; a second call would change the gradient of the "
                f"first. Create a new instance for every call: {type(self).__name__}(...)(x).")
        xs = inputs
        for x in inputs:  # plain loops: this runs for every op, and generators cost more
            if not isinstance(x, Tensor):
                xs = as_tensors(inputs)
                break
        try:  # one and two inputs spelled out: a list comprehension would cost 3x as much
            if len(xs) == 2:
                y = self.forward(xs[0].data, xs[1].data)
            elif len(xs) == 1:
                y = self.forward(xs[0].data)
            else:
                y = self.forward(*[x.data for x in xs])
        except (ValueError, IndexError) as error:
            shapes = " and ".join(str(x.shape) for x in xs)
            raise type(error)(f"{type(self).__name__}: cannot apply to input shapes {shapes}: "
                              f"{error}") from None
        out = Tensor.wrap(y)
        if is_grad_enabled():
            for x in xs:
                if x.requires_grad:
                    self.inputs = xs
                    self._output = weakref.ref(out)
                    out.requires_grad = True
                    out._ctx = self
                    if is_anomaly_enabled():
                        anomaly.remember(self, xs, out)
                    break
        return out

    @property
    def needs_input_grad(self) -> tuple:
        """Which inputs need a gradient: backward may skip the work for the others."""
        return tuple([x.requires_grad for x in self.inputs])

    @property
    def output(self):
        """The Tensor this call produced (alive while its graph is being backpropagated)."""
        return self._output()

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, gy):
        raise NotImplementedError

    def release(self):
        """Free what this node saved for backward (called after backward unless retain_graph)."""
        self.__dict__.clear()

    def __repr__(self):
        return f"<{type(self).__name__}>"


def as_tensors(values):
    """Wrap constants as Tensors. A python or numpy constant takes the float dtype of the tensors
    it meets, so ``x * 2.0`` and ``x + np.float64(1)`` keep a float32 ``x`` float32."""
    dtype = None
    for v in values:
        if isinstance(v, Tensor) and v.data.dtype.kind == "f":
            dtype = v.data.dtype
            break
    return tuple([v if isinstance(v, Tensor) else Tensor.wrap(_constant(v, dtype))
                  for v in values])


def _constant(value, float_dtype):
    if float_dtype is not None and isinstance(value, (int, float)):
        return np.array(value, dtype=float_dtype)
    array = np.asarray(value)
    # numbers take the float dtype; boolean masks stay boolean (numpy multiplies a bool mask
    # into a float32 array as float32, without first making a converted copy of the mask)
    if float_dtype is not None and array.dtype.kind in "fiu" and array.dtype != float_dtype:
        array = array.astype(float_dtype)
    return array

