"""Module: the base class of every layer and model.

A Module is a function with state. Its trainable state is its :class:`~tinygrad_edu.Parameter`
attributes; its non-trainable state (BatchNorm's running statistics) is registered with
:meth:`Module.register_buffer`. Nothing else needs declaring::

    class TwoLayerNet(Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 50)   # a sub-module
            self.fc2 = nn.Linear(50, 10)
            self.scale = Parameter(np.ones(10))

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x))) * self.scale

How parameters and sub-modules are found: **by scanning the attributes** (``vars(self)``, in the
order they were first assigned) each time they are asked for. An attribute counts if it is

* a Parameter                               -> a parameter, named by the attribute ("scale");
* a Module                                  -> a sub-module, its parameters prefixed ("fc1.W");
* a list, tuple or dict (with str keys)     -> scanned the same way, the index or key becoming
  part of the name ("blocks.0.W", "layers.conv1.W"), so ``self.blocks = [Block(), Block()]``
  or the book's ``OrderedDict`` of layers need no ModuleList.

Everything else (plain tensors cached in forward, numpy arrays, numbers) is ignored. Because
the scan happens on demand, assigning, replacing or appending later is always seen. A Parameter
or Module reachable twice (weight tying) is reported once, under its first name.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator, NamedTuple

import numpy as np

from .tensor import Parameter, Tensor

__all__ = ["Module", "StateDictError", "LoadResult"]

#: Set by ``tinygrad_edu.explain.record_modules()`` while it records which Module call made each
#: operation (calls then run as ``_call_recorder(module, args, kwargs)``, which keeps the stack
#: of Module calls in progress); None otherwise, so an ordinary call pays one global lookup
#: (measured: +12 to +23 ns on a ~1.1 us call, median paired difference of 21 alternating runs).
_call_recorder = None


class StateDictError(ValueError):
    """``load_state_dict`` found missing or unexpected names or mismatched shapes."""


class LoadResult(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _walk(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted name, obj)`` for the Parameters and Modules inside an attribute value."""
    if isinstance(value, (Parameter, Module)):
        yield prefix, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{prefix}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield from _walk(item, f"{prefix}.{key}")


class Module:
    """Base class of layers and models: ``module(x)`` calls ``forward(x)``.

    ``training`` is True after construction and after :meth:`train`, False after :meth:`eval`;
    layers such as Dropout and BatchNorm read it.
    """

    training: bool = True

    def __init__(self) -> None:
        self.training = True
        self._buffer_names: list[str] = []

    # -------------------------------------------------------------------- calling

    def forward(self, *args, **kwargs):
        """The computation; subclasses override it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if _call_recorder is None:
            return self.forward(*args, **kwargs)
        return _call_recorder(self, args, kwargs)

    # -------------------------------------------------------------------- discovery

    def _own(self) -> Iterator[tuple[str, Any]]:
        for name, value in vars(self).items():
            yield from _walk(value, name)

    def named_children(self) -> list[tuple[str, Module]]:
        """The direct sub-modules with their names (``"fc1"``, ``"blocks.0"``)."""
        seen: set[int] = set()
        out = []
        for name, obj in self._own():
            if isinstance(obj, Module) and id(obj) not in seen and obj is not self:
                seen.add(id(obj))
                out.append((name, obj))
        return out

    def children(self) -> list[Module]:
        """The direct sub-modules."""
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix: str = "") -> list[tuple[str, Module]]:
        """This module (name ``""``) and every module below it, depth first."""
        out: list[tuple[str, Module]] = []
        seen: set[int] = set()

        def visit(module: Module, name: str) -> None:
            if id(module) in seen:
                return
            seen.add(id(module))
            out.append((name, module))
            for child_name, child in module.named_children():
                visit(child, f"{name}.{child_name}" if name else child_name)

        visit(self, prefix)
        return out

    def modules(self) -> list[Module]:
        """This module and every module below it."""
        return [m for _, m in self.named_modules()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """Every Parameter with its dotted name (``"conv1.W"``), depth first in the order the
        attributes were assigned, each Parameter once (under its first name)."""
        out: list[tuple[str, Parameter]] = []
        seen_params: set[int] = set()
        seen_modules: set[int] = set()

        def visit(module: Module, prefix: str) -> None:
            seen_modules.add(id(module))
            for name, obj in module._own():
                full = f"{prefix}.{name}" if prefix else name
                if isinstance(obj, Parameter):
                    if id(obj) not in seen_params:
                        seen_params.add(id(obj))
                        out.append((full, obj))
                elif id(obj) not in seen_modules:
                    visit(obj, full)

        visit(self, "")
        return out

    def parameters(self) -> list[Parameter]:
        """Every Parameter (a list, so it can be iterated more than once)."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        """The number of trainable scalars."""
        return int(sum(p.data.size for p in self.parameters()))

    # -------------------------------------------------------------------- buffers

    def register_buffer(self, name: str, array) -> None:
        """Keep ``array`` as non-trainable state (``self.<name>``) saved in ``state_dict()``.

        Rebinding the attribute later (``self.running_mean = new``) is fine: the state dict
        always reads the current value."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{type(self).__name__}.register_buffer: {name!r} is not a valid "
                             f"attribute name")
        current = vars(self).get(name)
        if isinstance(current, (Parameter, Module)):
            raise ValueError(f"{type(self).__name__}.register_buffer: {name!r} is already a "
                             f"{type(current).__name__}")
        if isinstance(array, Tensor):
            array = array.data
        names = self.__dict__.setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        setattr(self, name, np.asarray(array))

    def named_buffers(self) -> list[tuple[str, np.ndarray]]:
        """Every buffer with its dotted name (``"bn1.running_mean"``)."""
        out = []
        for module_name, module in self.named_modules():
            for name in module.__dict__.get("_buffer_names", []):
                value = getattr(module, name)
                out.append((f"{module_name}.{name}" if module_name else name, value))
        return out

    # -------------------------------------------------------------------- modes, grads

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and every sub-module; returns self."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Module:
        """``train(False)``: inference behaviour (Dropout off, BatchNorm running stats)."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``p.grad = None``)."""
        for p in self.parameters():
            p.grad = None

    # -------------------------------------------------------------------- state

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Name -> a copy of the array, for every parameter and buffer."""
        state: OrderedDict[str, np.ndarray] = OrderedDict()
        for name, p in self.named_parameters():
            state[name] = np.array(p.data, copy=True)
        for name, value in self.named_buffers():
            state[name] = np.array(np.asarray(value), copy=True)
        return state

    def load_state_dict(self, state, strict: bool = True) -> LoadResult:
        """Copy arrays from ``state`` (name -> array) into the parameters and buffers, in place
        (arrays shared with other code see the new values; each keeps its dtype).

        Everything is validated before anything changes: missing or unexpected names (when
        ``strict``), shape mismatches and values that are not real finite numbers (always)
        raise :class:`StateDictError` listing all of
        them, and the module is left untouched. Returns the skipped names."""
        targets: dict[str, tuple[Any, str]] = {}
        for name, p in self.named_parameters():
            targets[name] = (p, "parameter")
        for module_name, module in self.named_modules():
            for buf in module.__dict__.get("_buffer_names", []):
                targets[f"{module_name}.{buf}" if module_name else buf] = (module, buf)
        missing = [n for n in targets if n not in state]
        unexpected = [n for n in state if n not in targets]
        arrays: dict[str, np.ndarray] = {}
        mismatched, unloadable = [], []
        for name in targets:
            if name not in state:
                continue
            value = state[name]
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            owner, attr = targets[name]
            current = owner.data if attr == "parameter" else np.asarray(getattr(owner, attr))
            if value.shape != current.shape:
                mismatched.append(f"{name}: expected shape {current.shape}, got {value.shape}")
            elif (problem := _unloadable(value)):
                unloadable.append(f"{name}: {problem}")
            arrays[name] = value
        problems = []
        if strict and missing:
            problems.append(f"missing: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected: {', '.join(unexpected)}")
        if mismatched:
            problems.append("shape mismatch: " + "; ".join(mismatched))
        if unloadable:
            problems.append("bad values: " + "; ".join(unloadable))
        if problems:
            raise StateDictError(f"{type(self).__name__}.load_state_dict: "
                                 + " | ".join(problems) + " (nothing was loaded)")
        for name, value in arrays.items():
            owner, attr = targets[name]
            if attr == "parameter":
                owner.data[...] = value
                owner.bump_version()  # a graph built before the load must not backward through it
            else:
                current = getattr(owner, attr)
                if isinstance(current, np.ndarray) and current.flags.writeable:
                    current[...] = value
                else:
                    setattr(owner, attr, np.array(value, copy=True))
        return LoadResult(missing, unexpected)

    # -------------------------------------------------------------------- repr

    def extra_repr(self) -> str:
        """What a leaf module shows inside its parentheses; default: its parameters' shapes."""
        return ", ".join(f"{name}={tuple(obj.data.shape)}" for name, obj in self._own()
                         if isinstance(obj, Parameter))

    def __repr__(self) -> str:
        children = self.named_children()
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {text}")
        return "\n".join(lines) + "\n)"


def _unloadable(value: np.ndarray) -> str:
    """Why ``value`` cannot be loaded into a parameter or buffer ("" if it can): only real,
    finite numbers can (no strings, objects, complex numbers, NaN or inf)."""
    if value.dtype.kind not in "biuf":
        return f"{value.dtype} values, not real numbers"
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        bad = np.flatnonzero(~np.isfinite(value))
        return f"{bad.size} non-finite values (first {value.reshape(-1)[bad[0]]} at flat index {bad[0]})"
    return ""
