"""The book's ``common/layers.py``: layers with ``forward(x)`` / ``backward(dout)``.

Each layer looks like the book's -- the same constructor, ``forward`` and ``backward`` on
numpy arrays, the gradients ``dW`` / ``db`` (``dgamma`` / ``dbeta``) after ``backward`` -- but
the work is done by the framework:

* ``forward(x)`` wraps ``x`` as a Tensor that requires a gradient and the layer's parameters as
  Parameters **sharing memory with the book's arrays** (so ``params['W1'] -= ...`` elsewhere,
  or ``numerical_gradient`` perturbing it in place, changes what the layer computes), runs
  the registered component (``affine``, ``conv2d``, ``maxpool2d``, ``relu``, ``sigmoid``,
  ``softmax_cross_entropy``) or core operations, and keeps the small graph it recorded;
* ``backward(dout)`` backpropagates ``dout`` through that graph with the framework's autodiff
  and reads off dx (returned) and the parameter gradients.

``backward`` may be called again for the same forward (the graph is kept until the next
forward). The intermediate caches of the book's hand-written backward passes (``col``,
``arg_max``, ``xc``, ``std``) do not exist here: autodiff keeps what it needs.
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu import registry
from tinygrad_edu.autograd import no_grad
from tinygrad_edu.tensor import Parameter, Tensor

__all__ = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization",
           "Convolution", "Pooling"]


def _float_array(x):
    """The input as a float numpy array (integer images become float64, as numpy would)."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


class _GraphLayer:
    """Shared machinery: forward records a graph from ``self._x`` to ``self._out``; backward
    sends ``dout`` back through it and stores ``d<name>`` for every parameter in ``_params``."""

    #: names of the parameter attributes (numpy arrays), e.g. ("W", "b")
    _param_names: tuple[str, ...] = ()

    def _input(self, x) -> Tensor:
        self._x = Tensor(_float_array(x), requires_grad=True)
        self._out = None
        return self._x

    def _parameter(self, name, shape=None, dtype=None) -> Parameter:
        """A Parameter sharing memory with the float array ``self.<name>``. A number or an
        integer array (the book's ``Convolution(W, b=0)``, which numpy broadcasts) becomes a
        float array of ``shape`` and ``dtype`` instead -- a copy, whose gradient still lands
        in ``d<name>``."""
        array = getattr(self, name)
        if isinstance(array, np.ndarray) and array.dtype.kind == "f":
            return Parameter(array)
        value = np.asarray(array)
        if shape is None or value.dtype.kind not in "biuf":
            raise TypeError(f"{type(self).__name__}: {name} must be a float numpy array"
                            f"{' or a number' if shape is not None else ''}, got "
                            f"{type(array).__name__} {getattr(array, 'dtype', '')}")
        try:
            return Parameter(np.array(np.broadcast_to(value, shape), dtype=dtype))
        except ValueError:
            raise ValueError(f"{type(self).__name__}: {name} of shape {value.shape} does not "
                             f"broadcast to {shape}") from None

    def _output(self, out: Tensor, params: dict) -> np.ndarray:
        self._out, self._params = out, params
        return out.data

    def _registered_layer(self, name, geometry, *args, **kwargs):
        """The registered layer ``name`` built with ``args``/``kwargs``, kept while
        ``geometry`` (the shapes and settings it was built for) stays the same, built anew
        when it changes (a layer whose ``stride`` or ``W`` was replaced)."""
        if self._module is None or self._module_geometry != geometry:
            self._module = registry.get("layer", name)(*args, **kwargs)
            self._module_geometry = geometry
        return self._module

    def backward(self, dout):
        """dL/dx for ``dout`` = dL/dy; also sets ``d<param>`` = dL/d<param>."""
        out = getattr(self, "_out", None)
        if out is None:
            raise RuntimeError(f"{type(self).__name__}.backward: call forward first")
        dout = np.asarray(dout)
        if dout.shape != out.shape:
            raise ValueError(f"{type(self).__name__}.backward: dout has shape {dout.shape}, but "
                             f"forward produced shape {out.shape}")
        self._x.grad = None
        for p in self._params.values():
            p.grad = None
        out.backward(dout, retain_graph=True)
        for name, p in self._params.items():
            setattr(self, "d" + name,
                    p.grad.data if p.grad is not None else np.zeros_like(p.data))
        return self._x.grad.data


class Relu(_GraphLayer):
    """y = max(0, x) (the registered ``relu``);  dx = dout where x > 0, else 0."""

    def __init__(self):
        self.mask = None

    def forward(self, x):
        x = self._input(x)
        self.mask = x.data <= 0
        return self._output(registry.get("activation", "relu")(x), {})


class Sigmoid(_GraphLayer):
    """y = 1 / (1 + exp(-x)) (the registered ``sigmoid``);  dx = dout * y (1 - y)."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = self._output(registry.get("activation", "sigmoid")(self._input(x)), {})
        return self.out


class _WeightedLayer(_GraphLayer):
    """A layer with weights ``W`` and bias ``b`` whose forward is a registered module's
    (Affine, Convolution); after backward ``dW`` and ``db``."""

    _param_names = ("W", "b")

    def _run(self, module, x: Tensor, W: Parameter, b: Parameter) -> np.ndarray:
        """``module(x)`` with the book's arrays (as Parameters) as its weights."""
        module.W, module.b = W, b
        return self._output(module(x), {"W": W, "b": b})

    # the repository's simple_convnet.py spells them in lower case in places
    dw = property(lambda self: self.dW)
    w = property(lambda self: self.W, lambda self, value: setattr(self, "W", value))


class Affine(_WeightedLayer):
    """y = x W + b with W (in, out), b (out,) (the registered ``affine`` layer); an input
    (N, d1, d2, ...) is flattened to (N, d1*d2*...) and dx comes back in the input's shape.
    dW = x^T dout,  db = sum_n dout_n,  dx = dout W^T."""

    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None
        self._module = None

    def forward(self, x):
        x = self._input(x)
        self.original_x_shape = x.shape
        self.x = x.data.reshape(x.shape[0], -1)
        W = self._parameter("W")
        b = self._parameter("b", shape=(W.shape[1],), dtype=W.dtype)
        module = self._registered_layer("affine", W.shape, W.shape[0], W.shape[1],
                                        weight_init="zeros", dtype=W.dtype)
        return self._run(module, x, W, b)


def _class_labels(t: np.ndarray, scores_shape) -> np.ndarray:
    """Labels of shape (N, 1) (the book's ch07 gradient check passes
    ``np.array([1]).reshape(1, 1)``) as the class numbers (N,) they are; one-hot rows (N, C)
    and labels (N,) pass unchanged.

    (The book's own code indexes ``y[np.arange(N), t]`` with them, which gives the right loss
    for N = 1 and an (N, N) broadcast for N > 1; here every N means one label per row.)"""
    if (t.ndim == 2 and t.shape[1] == 1 and t.dtype.kind in "iu" and len(scores_shape) == 2
            and scores_shape[1] != 1):
        return t.reshape(-1)
    return t


class SoftmaxWithLoss(_GraphLayer):
    """L = -(1/N) sum_n log softmax(x_n)[t_n] (the registered ``softmax_cross_entropy``,
    fused and stable), for labels t (N,) or (N, 1) or one-hot rows t (N, C);
    dx = (softmax(x) - t) / N * dout.

    Unlike the book's ``cross_entropy_error`` there is no + 1e-7 inside the log: the loss is
    the exact cross-entropy (the values differ by about 1e-7), and its gradient is exactly
    what ``backward`` returns.
    """

    def __init__(self):
        self.loss = None
        self.t = None

    def forward(self, x, t):
        x = self._input(x)
        self.t = t
        targets = _class_labels(np.asarray(t), x.shape)
        if targets.ndim == 2 and targets.dtype.kind != "f":
            targets = targets.astype(x.dtype)
        loss = registry.get("loss", "softmax_cross_entropy")(x, targets)
        self.loss = self._output(loss, {})[()]
        return self.loss

    @property
    def y(self):
        """softmax(x) of the last forward (the book keeps it as ``self.y``)."""
        if getattr(self, "_x", None) is None:
            return None
        with no_grad():
            return registry.get("activation", "softmax")(self._x, axis=-1).data

    def backward(self, dout=1):
        return super().backward(np.asarray(dout, dtype=self._out.dtype if self._out is not None
                                           else None).reshape(()))


class Dropout(_GraphLayer):
    """Dropout (http://arxiv.org/abs/1207.0580), the book's form: in training y = x * mask,
    mask = (u > dropout_ratio) with u ~ U[0, 1) drawn from numpy's global random state;
    at test time y = x * (1 - dropout_ratio). dx = dout * mask.

    (The framework's registered ``dropout`` scales by 1 / (1 - p) during training instead and
    leaves test-time inputs alone; the expected activations are the same.)
    """

    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        x = self._input(x)
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return self._output(x * self.mask.astype(x.dtype), {})
        return self._output(x * (1.0 - self.dropout_ratio), {})


class BatchNormalization(_GraphLayer):
    """Batch normalization (http://arxiv.org/abs/1502.03167), the book's form, per feature of
    (N, D) inputs (an (N, C, H, W) input is normalised as (N, C*H*W)):

        training:  mu = mean_n x,  var = mean_n (x - mu)**2,
                   running_mean <- momentum running_mean + (1 - momentum) mu   (likewise var)
        test:      mu, var = running_mean, running_var
        y = gamma (x - mu) / sqrt(var + 1e-6) + beta

    Built from the framework's differentiable core operations, so the backward (through mu
    and var too) is autodiff's. The registered ``batchnorm1d`` is not used because the book's
    differs in ways its results depend on: the running variance starts at 0 and averages the
    biased batch variance, momentum weights the old value, and a batch of one is allowed
    (the book's gradient check uses one).
    """

    _param_names = ("gamma", "beta")
    eps = 10e-7

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.input_shape = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x, train_flg=True):
        x = self._input(x)
        self.input_shape = x.shape
        flat = x.reshape(x.shape[0], -1) if x.ndim != 2 else x
        if self.running_mean is None:
            self.running_mean = np.zeros(flat.shape[1])
            self.running_var = np.zeros(flat.shape[1])
        gamma, beta = self._parameter("gamma"), self._parameter("beta")
        if train_flg:
            mu = flat.mean(axis=0)
            centred = flat - mu
            var = (centred * centred).mean(axis=0)
            xn = centred / (var + self.eps).sqrt()
            self.batch_size = flat.shape[0]
            m = self.momentum
            self.running_mean = m * self.running_mean + (1 - m) * mu.data
            self.running_var = m * self.running_var + (1 - m) * var.data
        else:
            xn = (flat - self.running_mean) / np.sqrt(self.running_var + self.eps)
        out = gamma * xn + beta
        return self._output(out.reshape(self.input_shape), {"gamma": gamma, "beta": beta})


class Convolution(_WeightedLayer):
    """Convolution with filters W (FN, C, FH, FW) and bias b (FN,) (the registered ``conv2d``,
    an im2col Function):
    y[n, f, i, j] = b[f] + sum_{c,dy,dx} W[f, c, dy, dx] xpad[n, c, i*stride + dy, j*stride + dx].
    """

    def __init__(self, W, b, stride=1, pad=0):
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self.dW = None
        self.db = None
        self._module = None

    def forward(self, x):
        x = self._input(x)
        self.x = x.data
        W = self._parameter("W")
        if W.ndim != 4:
            raise ValueError(f"Convolution: W must have shape (FN, C, FH, FW), got {W.shape}")
        b = self._parameter("b", shape=(W.shape[0],), dtype=W.dtype)
        FN, C, FH, FW = W.shape
        module = self._registered_layer("conv2d", (W.shape, self.stride, self.pad),
                                        C, FN, (FH, FW), stride=self.stride, padding=self.pad,
                                        weight_init="zeros", dtype=W.dtype)
        return self._run(module, x, W, b)


class Pooling(_GraphLayer):
    """Max pooling over pool_h x pool_w windows moved by ``stride`` (the registered
    ``maxpool2d``); dx sends each dout to the maximum of its window.

    Padding, if any, is with -inf (the book pads with 0, which differs only where a whole
    window of negative values touches the border).
    """

    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self._module = None

    def forward(self, x):
        x = self._input(x)
        self.x = x.data
        window = (self.pool_h, self.pool_w)
        module = self._registered_layer("maxpool2d", (window, self.stride, self.pad),
                                        window, stride=self.stride, padding=self.pad)
        return self._output(module(x), {})
