"""The book's ``common/optimizer.py``: ``optimizer.update(params, grads)`` on dicts.

Each class has the book's constructor (``SGD(lr=0.01)``, ``Momentum(lr=0.01, momentum=0.9)``,
...) and ``update(params, grads)`` with ``params`` and ``grads`` dicts of the same keys. The
update itself is done by the framework's registered optimizer of the same name
(``registry.get("optimizer", "momentum")`` ...): on the first call every entry of ``params``
is wrapped in a Parameter that shares its memory, so

* numpy arrays are updated **in place** (a network's ``params`` dict and its layers see the
  change; float32 arrays stay float32);
* plain numbers (``params = {'x': -7.0, 'y': 2.0}`` as in the book's optimizer comparison)
  work too: the new value is written back into the dict (as a numpy float64, as in the book).

The optimizer's state (``v`` of Momentum, ``h`` of AdaGrad, ``m``/``v`` of Adam) is kept per
key and is visible as the book's attributes (``optimizer.v['W1']``) after the first update.
Hyper-parameters are plain attributes read at every update (``optimizer.lr *= 0.5`` works).

The formulas (p a parameter, g its gradient) are the book's:

    SGD       p <- p - lr g
    Momentum  v <- momentum v - lr g;  p <- p + v
    Nesterov  v <- momentum v - lr g;  p <- p + momentum**2 v - (1 + momentum) lr g
    AdaGrad   h <- h + g*g;  p <- p - lr g / (sqrt(h) + 1e-7)
    RMSprop   h <- decay_rate h + (1 - decay_rate) g*g;  p <- p - lr g / (sqrt(h) + 1e-7)
    Adam      m <- m + (1 - beta1)(g - m);  v <- v + (1 - beta2)(g*g - v);
              lr_t = lr sqrt(1 - beta2**t) / (1 - beta1**t);  p <- p - lr_t m / (sqrt(v) + 1e-7)

The registered Adam writes the same update in the paper's form with eps = 1e-8; the book's
eps = 1e-7 sits outside the bias correction, which equals the paper's form with
eps_t = 1e-7 / sqrt(1 - beta2**t). ``Adam`` here sets that eps_t before every step, so the
numbers are the book's.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinygrad_edu import registry
from tinygrad_edu.tensor import Parameter, Tensor

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


class _Slot:
    """One entry of the user's params dict, wrapped as a Parameter for the framework."""

    def __init__(self, key, value, who):
        self.key = key
        self.is_array = isinstance(value, np.ndarray)
        if self.is_array:
            if value.dtype.kind != "f":
                raise TypeError(f"{who}.update: params[{key!r}] has dtype {value.dtype}; an "
                                f"array updated in place must be float (use .astype(np.float64))")
            self.param = Parameter(value)
            self.param.data = value           # share memory: updates land in the user's array
        else:
            self.param = Parameter(np.array(_number(value, key, who), dtype=np.float64))

    def load(self, value, who):
        """Point the Parameter at the dict's current value before a step."""
        if self.is_array:
            if not isinstance(value, np.ndarray) or value.shape != self.param.data.shape:
                raise ValueError(f"{who}.update: params[{self.key!r}] was an array of shape "
                                 f"{self.param.data.shape} and is now "
                                 f"{getattr(value, 'shape', type(value).__name__)}; create a new "
                                 f"optimizer for a differently shaped model")
            self.param.data = value           # the dict may hold a new array (load_params)
        else:
            self.param.data[...] = _number(value, self.key, who)

    def store(self, params):
        """Write a number back into the dict (arrays were updated in place)."""
        if not self.is_array:
            params[self.key] = self.param.data[()]


def _number(value, key, who):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{who}.update: params[{key!r}] must be a numpy array or a number, "
                        f"got {type(value).__name__}") from None


class _BookOptimizer:
    """``update(params, grads)`` on dicts, done by the registered optimizer ``_registered``."""

    _registered = ""
    _state_names: tuple[str, ...] = ()
    #: an optimizer without state (the book's SGD) may update one model, then another
    _stateless = False

    def __init__(self, **hyper: Any):
        self._hyper_names = tuple(hyper)
        for name, value in hyper.items():
            setattr(self, name, value)
        self._inner = None
        self._slots: list[_Slot] = []

    def update(self, params, grads):
        """Update every entry of ``params`` in place from ``grads[key]`` (same keys)."""
        who = type(self).__name__
        if self._inner is None or (self._stateless and not self._fits(params)):
            self._bind(params, who)
        elif set(params) != {slot.key for slot in self._slots}:
            raise KeyError(f"{who}.update: params has keys {sorted(map(str, params))}, but this "
                           f"optimizer was first used with {[str(s.key) for s in self._slots]}; "
                           f"create a new optimizer for a different model")
        for slot in self._slots:
            slot.load(params[slot.key], who)
            if slot.key not in grads:
                raise KeyError(f"{who}.update: grads has no entry {slot.key!r} "
                               f"(params has {list(params)}, grads has {list(grads)})")
            g = np.asarray(grads[slot.key])
            if g.shape != slot.param.data.shape:
                raise ValueError(f"{who}.update: grads[{slot.key!r}] has shape {g.shape}, but "
                                 f"params[{slot.key!r}] has shape {slot.param.data.shape}")
            if g.dtype.kind != "f":
                g = g.astype(np.float64)
            slot.param.grad = Tensor(g)
        self._before_step()
        for name in self._hyper_names:        # hyper-parameters may have been changed
            setattr(self._inner, name, getattr(self, name))
        self._inner.step()
        for slot in self._slots:
            slot.store(params)
            slot.param.grad = None

    def _fits(self, params):
        """Whether ``params`` has the keys, kinds and shapes this optimizer was bound to."""
        if set(params) != {slot.key for slot in self._slots}:
            return False
        for slot in self._slots:
            value = params[slot.key]
            if slot.is_array != isinstance(value, np.ndarray) or (
                    slot.is_array and value.shape != slot.param.data.shape):
                return False
        return True

    def _bind(self, params, who):
        if not hasattr(params, "items"):
            raise TypeError(f"{who}.update: params must be a dict of arrays or numbers, got "
                            f"{type(params).__name__}")
        if not params:
            raise ValueError(f"{who}.update: params is empty")
        self._slots = [_Slot(key, value, who) for key, value in params.items()]
        cls = registry.get("optimizer", self._registered)
        hyper = {name: getattr(self, name) for name in self._hyper_names}
        self._inner = cls([slot.param for slot in self._slots], **hyper)

    def _before_step(self):
        pass

    def _state(self, name):
        """The book's state dict ``{key: array}`` (None before the first update)."""
        if self._inner is None:
            return None
        out = {}
        for slot, state in zip(self._slots, self._inner.state):
            if name in state:
                out[slot.key] = state[name] if slot.is_array else state[name][()]
        return out

    def __repr__(self):
        hyper = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._hyper_names)
        return f"{type(self).__name__}({hyper})"


class SGD(_BookOptimizer):
    """Stochastic gradient descent: p <- p - lr g. It keeps no state, so, as in the book, one
    SGD may update several networks in turn (ch06/batch_norm_test.py does)."""

    _registered = "sgd"
    _stateless = True

    def __init__(self, lr=0.01):
        super().__init__(lr=lr)


class Momentum(_BookOptimizer):
    """Momentum SGD: v <- momentum v - lr g;  p <- p + v."""

    _registered = "momentum"

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr=lr, momentum=momentum)

    v = property(lambda self: self._state("v"))


class Nesterov(_BookOptimizer):
    """Nesterov's accelerated gradient (http://arxiv.org/abs/1212.0901), the book's form:
    v <- momentum v - lr g;  p <- p + momentum**2 v - (1 + momentum) lr g."""

    _registered = "nesterov"

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr=lr, momentum=momentum)

    v = property(lambda self: self._state("v"))


class AdaGrad(_BookOptimizer):
    """AdaGrad: h <- h + g*g;  p <- p - lr g / (sqrt(h) + 1e-7)."""

    _registered = "adagrad"

    def __init__(self, lr=0.01):
        super().__init__(lr=lr)

    def _bind(self, params, who):
        super()._bind(params, who)
        self._inner.eps = 1e-7

    h = property(lambda self: self._state("h"))


class RMSprop(_BookOptimizer):
    """RMSprop: h <- decay_rate h + (1 - decay_rate) g*g;  p <- p - lr g / (sqrt(h) + 1e-7)."""

    _registered = "rmsprop"

    def __init__(self, lr=0.01, decay_rate=0.99):
        super().__init__(lr=lr, decay_rate=decay_rate)

    def _bind(self, params, who):
        super()._bind(params, who)
        self._inner.eps = 1e-7

    h = property(lambda self: self._state("h"))


class Adam(_BookOptimizer):
    """Adam (http://arxiv.org/abs/1412.6980v8), the book's form, at update t = 1, 2, ...:
    m <- m + (1 - beta1)(g - m);  v <- v + (1 - beta2)(g*g - v);
    p <- p - lr_t m / (sqrt(v) + 1e-7),  lr_t = lr sqrt(1 - beta2**t) / (1 - beta1**t)."""

    _registered = "adam"

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        super().__init__(lr=lr, beta1=beta1, beta2=beta2)
        self.iter = 0

    def _before_step(self):
        # the registered Adam computes p - lr/(1 - beta1**t) m / (sqrt(v/(1 - beta2**t)) + eps);
        # with eps = 1e-7 / sqrt(1 - beta2**t) that is exactly the book's update above
        self.iter += 1
        self._inner.eps = 1e-7 / math.sqrt(1.0 - self.beta2 ** self.iter)

    m = property(lambda self: self._state("m"))
    v = property(lambda self: self._state("v"))
