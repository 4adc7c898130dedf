"""The Optimizer base class: walk over the parameters and update each one in place.

Every optimizer follows the same template (the one DeZero uses)::

    optimizer = Adam(model.parameters(), lr=0.001)
    for x, t in data:
        optimizer.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        optimizer.step()

``step()`` does three things:

1. calls every hook with the list of parameters that have a gradient (gradient clipping,
   weight decay written as a hook, logging, ...),
2. for each of those parameters computes the gradient array ``g`` it will use,
   ``g = grad + weight_decay * p`` (L2 regularisation, when ``weight_decay > 0``),
3. calls ``update_one(param, g, state)``, which an optimizer overrides. ``state`` is a
   dict that belongs to this parameter alone (the velocity of Momentum, the moments of
   Adam); it starts empty and survives from step to step.

Updates are made in place (``param.data -= ...``), so every array that shares memory
with a parameter (the book API's ``params`` dict, a model's ``state_dict``) sees them,
and the parameter keeps its dtype: a float32 parameter stays float32.

Hyper-parameters are plain attributes that are read at every step: ``optimizer.lr = 0.01``
takes effect on the next ``step()`` (that is all a learning-rate schedule needs).

``state_dict()`` / ``load_state_dict()`` save and restore everything needed to continue
a run exactly where it stopped: the hyper-parameters, the step count and every
per-parameter state. The dict is flat (``str -> number | str | ndarray``) so it can be
written with ``numpy.savez`` and read back with ``numpy.load``.

Parameter groups (different hyper-parameters for different parameters in one optimizer)
are not supported: create one optimizer per group instead.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping

import numpy as np

__all__ = ["Optimizer", "WeightDecay", "ClipGrad"]

Hook = Callable[[list], Any]


class Optimizer:
    """Base class: ``step()`` updates every parameter that has a gradient via ``update_one``.

    params        an iterable of Parameters (e.g. ``model.parameters()``)
    lr            learning rate, a plain attribute read at every step
    weight_decay  L2 regularisation: the gradient used is ``g + weight_decay * p``.
                  A subclass that sets ``decoupled_weight_decay = True`` (AdamW) receives
                  the bare gradient and applies ``weight_decay`` itself.
    **hyper       further hyper-parameters (``momentum=0.9``); each becomes an attribute

    A subclass implements ``update_one(param, grad, state)``: change ``param.data`` in
    place using the gradient array ``grad`` and the per-parameter dict ``state``.
    """

    decoupled_weight_decay = False

    def __init__(self, params: Iterable, lr: float = 0.01, weight_decay: float = 0.0, **hyper: Any):
        name = type(self).__name__
        self.params = _parameter_list(params, name)
        self.lr = _non_negative(lr, "lr", name)
        self.weight_decay = _non_negative(weight_decay, "weight_decay", name)
        for key, value in hyper.items():
            if key in ("params", "state", "hooks", "iterations", "hyper_names"):
                raise TypeError(f"{name}: {key!r} cannot be a hyper-parameter name")
            setattr(self, key, value)
        self.hyper_names: tuple[str, ...] = ("lr", "weight_decay", *hyper)
        self.state: list[dict] = [{} for _ in self.params]  # state[i] belongs to params[i]
        self.hooks: list[Hook] = []
        self.iterations = 0  # number of step() calls

    # ------------------------------------------------------------------ the update loop
    def step(self) -> None:
        """Run the hooks, then ``update_one`` for every parameter whose ``grad`` is not None."""
        with_grad = [p for p in self.params if p.grad is not None]
        for hook in self.hooks:
            hook(with_grad)
        l2 = self.weight_decay if not self.decoupled_weight_decay else 0.0
        for index, param in enumerate(self.params):
            if param.grad is None:
                continue
            grad = _grad_array(param, index, type(self).__name__)
            if l2:
                grad = grad + l2 * param.data  # a new array: the stored gradient is left as it is
            self.update_one(param, grad, self.state[index])
            param.bump_version()  # a graph that saved param before this step refuses backward
        self.iterations += 1

    def update_one(self, param, grad: np.ndarray, state: dict) -> None:
        """Update ``param.data`` in place from the gradient array ``grad``. Override this."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_one(param, grad, state)")

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``p.grad = None``) before the next backward."""
        for param in self.params:
            param.grad = None

    def add_hook(self, hook: Hook) -> Hook:
        """Call ``hook(params_with_grad)`` at the start of every ``step()``. Returns the hook."""
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}.add_hook: expected a callable, got {hook!r}")
        self.hooks.append(hook)
        return hook

    # ------------------------------------------------------------------ save / restore
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this optimizer stopped, as a flat dict.

        Keys: ``"optimizer"`` (class name), ``"iterations"``, ``"hyper.<name>"``,
        ``"shape.<i>"`` (shape of parameter i, used to detect a mismatch),
        ``"state.<i>.<key>"`` (array state, copied) and ``"scalar.<i>.<key>"`` (number
        state such as Adam's step count).
        """
        out: dict[str, Any] = {"optimizer": type(self).__name__, "iterations": self.iterations}
        for key in self.hyper_names:
            out[f"hyper.{key}"] = getattr(self, key)
        for index, (param, state) in enumerate(zip(self.params, self.state)):
            out[f"shape.{index}"] = np.array(param.data.shape, dtype=np.int64)
            for key, value in state.items():
                if isinstance(value, np.ndarray):
                    out[f"state.{index}.{key}"] = value.copy()
                else:
                    out[f"scalar.{index}.{key}"] = value
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what ``state_dict()`` saved (also accepts the result of ``numpy.load``).

        Raises ValueError, naming the problem, if the dict comes from another optimizer class
        or from parameters of other number or shapes.
        """
        name = type(self).__name__
        saved = {key: _plain(value) for key, value in state_dict.items()}
        saved_name = saved.get("optimizer")
        if saved_name != name:
            raise ValueError(f"{name}.load_state_dict: the state was saved by optimizer {saved_name!r}, not {name!r}")
        shapes = {int(k.split(".")[1]): tuple(int(n) for n in np.asarray(v).reshape(-1))
                  for k, v in saved.items() if k.startswith("shape.")}
        if len(shapes) != len(self.params):
            raise ValueError(f"{name}.load_state_dict: the state is for {len(shapes)} parameters, "
                             f"this optimizer has {len(self.params)}")
        for index, param in enumerate(self.params):
            if shapes.get(index) != param.data.shape:
                raise ValueError(f"{name}.load_state_dict: parameter {index} has shape {param.data.shape}, "
                                 f"the saved state is for shape {shapes.get(index)}")
        hyper = {k[len("hyper."):]: v for k, v in saved.items() if k.startswith("hyper.")}
        unknown = sorted(set(hyper) - set(self.hyper_names))
        if unknown:
            raise ValueError(f"{name}.load_state_dict: unknown hyper-parameters {unknown}; "
                             f"{name} has {list(self.hyper_names)}")
        new_state: list[dict] = [{} for _ in self.params]
        for key, value in saved.items():
            kind, _, rest = key.partition(".")
            if kind not in ("state", "scalar"):
                continue
            index_text, _, item = rest.partition(".")
            if not index_text.isdigit() or int(index_text) >= len(self.params) or not item:
                raise ValueError(f"{name}.load_state_dict: malformed key {key!r} "
                                 f"(expected '{kind}.<parameter index>.<name>')")
            param = self.params[int(index_text)]
            if kind == "state":
                array = np.array(value, copy=True)
                if array.shape != param.data.shape:
                    raise ValueError(f"{name}.load_state_dict: state {key!r} has shape {array.shape}, "
                                     f"parameter {index_text} has shape {param.data.shape}")
                if np.issubdtype(array.dtype, np.floating):
                    array = array.astype(param.data.dtype, copy=False)
                new_state[int(index_text)][item] = array
            else:
                new_state[int(index_text)][item] = value
        for key, value in hyper.items():
            setattr(self, key, value)
        self.iterations = int(saved.get("iterations", 0))
        self.state = new_state

    def __repr__(self) -> str:
        hyper = ", ".join(f"{key}={getattr(self, key)!r}" for key in self.hyper_names)
        return f"{type(self).__name__}({hyper}; {len(self.params)} parameters)"


# ---------------------------------------------------------------------- hooks
class WeightDecay:
    """Hook: L2 regularisation ``g ← g + rate · p`` (DeZero's ``WeightDecay``).

    Equivalent to ``weight_decay=rate``; shown as a hook because that is how DeZero does it.
    """

    def __init__(self, rate: float):
        self.rate = _non_negative(rate, "rate", "WeightDecay")

    def __call__(self, params: list) -> None:
        for param in params:
            _replace_grad(param, param.grad.data + self.rate * param.data)


class ClipGrad:
    """Hook: rescale all gradients together so that their global L2 norm is at most ``max_norm``.

    ``total = sqrt(sum over parameters of sum(g²))``; if ``total > max_norm`` every gradient
    becomes ``g · max_norm / (total + 1e-6)``.
    """

    def __init__(self, max_norm: float):
        self.max_norm = _non_negative(max_norm, "max_norm", "ClipGrad")

    def __call__(self, params: list) -> None:
        total = math.sqrt(sum(float(np.sum(np.square(p.grad.data))) for p in params))
        if total > self.max_norm:
            rate = self.max_norm / (total + 1e-6)
            for param in params:
                _replace_grad(param, param.grad.data * rate)


# ---------------------------------------------------------------------- helpers
def _replace_grad(param, array: np.ndarray) -> None:
    """Give ``param`` a new gradient tensor. Never change ``param.grad.data`` in place:
    the backward pass may have handed the same gradient tensor to several parameters."""
    from tinygrad_edu.tensor import Tensor

    param.grad = Tensor(array)


def _parameter_list(params: Iterable, name: str) -> list:
    if isinstance(params, Mapping):
        raise TypeError(f"{name}: expected an iterable of Parameters, got a dict; "
                        f"pass model.parameters() or a list of Parameters")
    params = list(params)
    if not params:
        raise ValueError(f"{name}: got an empty list of parameters")
    seen: set[int] = set()
    for index, param in enumerate(params):
        if isinstance(param, Mapping):
            raise TypeError(f"{name}: parameter groups (dicts) are not supported; "
                            f"create one optimizer per group")
        data = getattr(param, "data", None)
        if not isinstance(data, np.ndarray) or not hasattr(param, "grad"):
            raise TypeError(f"{name}: parameter {index} is a {type(param).__name__}, expected a Parameter "
                            f"(something with a numpy .data array and a .grad)")
        if not np.issubdtype(data.dtype, np.floating):
            raise TypeError(f"{name}: parameter {index} has dtype {data.dtype}; only float parameters can be trained")
        if id(param) in seen:
            raise ValueError(f"{name}: parameter {index} appears twice in the list; it would be updated twice")
        seen.add(id(param))
    return params


def _grad_array(param, index: int, name: str) -> np.ndarray:
    grad = param.grad
    array = grad.data if hasattr(grad, "data") and not isinstance(grad, np.ndarray) else np.asarray(grad)
    if array.shape != param.data.shape:
        raise ValueError(f"{name}.step: parameter {index} has shape {param.data.shape} "
                         f"but its gradient has shape {array.shape}")
    return array


def _non_negative(value: Any, what: str, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: {what} must be a number, got {value!r}") from None
    if not (number >= 0.0 and math.isfinite(number)):
        raise ValueError(f"{name}: {what} must be a finite number >= 0, got {value!r}")
    return number


def _plain(value: Any) -> Any:
    """A 0-d array (what numpy.load gives back for a saved number or string) becomes a Python scalar."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and not isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value
