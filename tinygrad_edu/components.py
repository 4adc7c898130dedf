"""What a plugin registers: a named component and the declaration the conformance suite reads.

A plugin's hook returns a list of :class:`Component` records::

    @hookimpl
    def register_activations():
        return [Component("relu", relu, check=Check(avoid=(0.0,)))]

The ``check`` declaration sits next to the registration on purpose: whoever writes a component
knows best where it is defined (its domain), where it has kinks, what shapes and
hyper-parameters it accepts and whether its backward is itself differentiable.
``tinygrad_edu.testing`` turns that declaration into hypothesis tests.

Strategies are given as functions of the ``hypothesis.strategies`` module (``lambda st: ...``)
so that a plugin never has to import hypothesis, which is only a test dependency.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

KINDS = ("layer", "activation", "loss", "optimizer", "initializer", "model")


def normalize_name(name: str) -> str:
    """The key under which component names are compared everywhere (registry, plugin manager,
    CLI): case-insensitive, ``-`` the same as ``_``, surrounding blanks ignored."""
    return name.strip().casefold().replace("-", "_")


class ComponentError(ValueError):
    """A plugin returned a malformed :class:`Component` (the plugin is quarantined)."""


@dataclass(frozen=True)
class Check:
    """How the conformance suite exercises a differentiable component (layer, activation, loss).

    domain        inputs are drawn uniformly-ish from this closed interval
    avoid         points where the function is not differentiable (relu: 0.0); drawn values keep
                  at least ``margin`` away from them so central differences stay meaningful
    margin        that distance
    ndim          (min, max) number of dimensions of a drawn input (activations, losses)
    second_order  whether backward is itself differentiable (gradgradcheck is run when True)
    cases         for layers and parametrised components: ``lambda st: strategy`` producing
                  ``(kwargs, input_shape)`` pairs; the suite builds ``obj(**kwargs)`` and feeds it
                  an input of ``input_shape``. For activations the kwargs go to the call.
    build         for layers whose constructor cannot take the drawn kwargs directly
                  (``Sequential(*layers)``): ``build(**kwargs)`` makes the layer instead of
                  ``obj(**kwargs)``
    distinct      values must not tie (max pooling, max): the suite draws distinct values
    atol, rtol    tolerances for gradcheck (float64)
    reference     optional ``reference(x, **kwargs) -> ndarray``: the output in plain numpy
                  (float64), which the output must match
    reduction     a loss's reduction over the batch (axis 0): ``"mean"`` (the default: a batch
                  given twice gives the same loss) or ``"sum"`` (twice the loss)
    large         optional magnitude: inputs scaled up to it still give finite outputs and
                  gradients (softmax-like functions that subtract the maximum)
    """

    domain: tuple[float, float] = (-3.0, 3.0)
    avoid: tuple[float, ...] = ()
    margin: float = 1e-2
    ndim: tuple[int, int] = (1, 3)
    second_order: bool = True
    cases: Callable[[Any], Any] | None = None
    build: Callable[..., Any] | None = None
    distinct: bool = False
    atol: float = 1e-5
    rtol: float = 1e-3
    reference: Callable[..., Any] | None = None
    reduction: str = "mean"
    large: float | None = None


@dataclass(frozen=True)
class OptimizerCheck:
    """How the conformance suite checks an optimizer.

    kwargs        hyper-parameters used by the checks (besides ``lr``)
    first_step    ``first_step(param, grad, lr=..., **kwargs) -> new_param``: the documented
                  formula of one step from a fresh state, written in plain numpy
    step          ``step(param, grad, state, lr=..., **kwargs) -> (new_param, new_state)``:
                  the documented formula of any step, in plain numpy (``state`` is the dict
                  the previous call returned, ``{}`` at first; ``grad`` is the bare gradient:
                  the formula applies ``weight_decay`` itself); checked over a trajectory
    """

    kwargs: dict = field(default_factory=dict)
    first_step: Callable[..., Any] | None = None
    step: Callable[..., Any] | None = None


@dataclass(frozen=True)
class InitializerCheck:
    """``std(fan_in, fan_out) -> float``: the standard deviation the initializer promises, or
    ``constant``: the value every element takes (zeros, ones); ``mean``: the mean the
    distribution has (None: not checked)."""

    std: Callable[[int, int], float] | None = None
    constant: float | None = None
    mean: float | None = 0.0


@dataclass
class Component:
    """One named thing a plugin adds: a layer class, an activation or loss function, an
    optimizer class, an initializer function or a model builder.

    ``plugin`` is filled in by the plugin manager with the name of the plugin that registered it.

    **Replacements.** ``replaces`` names a component of the same kind (its name or an alias)
    that this one is a drop-in implementation of (a compiled ``max_pool2d``, say)::

        Component(name="max_pool2d", obj=FastMaxPool2d, replaces="max_pool2d")

    Instead of clashing with it (an undeclared clash quarantines the later plugin), the
    replacement takes over the name and its aliases while its plugin is enabled; disabling the
    plugin falls back to the standard implementation. A replacement without a ``check`` is
    checked with the replaced component's declaration. When several replacements of one name
    are loaded, the one with the highest ``priority`` whose ``condition()`` holds is active
    (ties: the plugin loaded first); ``condition`` is a function of no arguments, evaluated once
    per load (a GPU plugin answers "is a GPU present?"), and one that raises counts as False.
    The standard implementation stays reachable:
    ``registry.get_component(kind, name, implementation="standard")`` (the differential
    conformance check compares against it) and ``registry.implementations(kind, name)`` lists
    them all, active first; ``tinygrad-edu plugins`` shows which one is active.
    If ``name`` differs from the replaced name it is also registered as a name of its own,
    which always means this implementation.
    """

    name: str
    obj: Any
    check: Check | OptimizerCheck | InitializerCheck | None = None
    aliases: tuple[str, ...] = ()
    replaces: str | None = None
    priority: int = 0
    condition: Callable[[], bool] | None = None
    kind: str = ""
    plugin: str = ""

    @property
    def doc(self) -> str:
        """The first line of the component's docstring: what it computes."""
        text = (getattr(self.obj, "__doc__", None) or "").strip()
        return text.splitlines()[0] if text else ""

    @property
    def defined_in(self) -> str:
        """The module that defines the object (``tinygrad_edu_plugins.conv``): where to read
        its code."""
        return getattr(self.obj, "__module__", None) or "?"


# ------------------------------------------------------------------------------ validation


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def object_problem(comp: Component, kind: str) -> str:
    """What is wrong with a component's object or check declaration for its kind, or ''.

    layer       a subclass of ``tinygrad_edu.Module``
    optimizer   a subclass of ``tinygrad_edu.optimizer.Optimizer``
    model       ``build(input_shape, num_classes, **kwargs) -> Module`` (any callable)
    otherwise   a callable; ``check`` must be the declaration type of the kind
    """
    obj = comp.obj
    if kind == "layer":
        from .module import Module
        if not (isinstance(obj, type) and issubclass(obj, Module)):
            return f"a layer must be a subclass of tinygrad_edu.Module, got {obj!r}"
    elif kind == "optimizer":
        from .optimizer import Optimizer
        if not (isinstance(obj, type) and issubclass(obj, Optimizer)):
            return f"an optimizer must be a subclass of tinygrad_edu.optimizer.Optimizer, " \
                   f"got {obj!r}"
    elif not callable(obj):
        return f"{_a(kind)} must be callable, got {type(obj).__name__}"
    expected = {"optimizer": OptimizerCheck, "initializer": InitializerCheck}.get(kind, Check)
    if comp.check is not None and not isinstance(comp.check, expected):
        return (f"check must be a {expected.__name__} for {_a(kind)}, "
                f"got {type(comp.check).__name__}")
    if comp.replaces is not None and (not isinstance(comp.replaces, str)
                                      or not comp.replaces.strip()):
        return f"replaces must be the name of a {kind}, got {comp.replaces!r}"
    if not isinstance(comp.priority, int) or isinstance(comp.priority, bool):
        return f"priority must be an int, got {comp.priority!r}"
    if comp.condition is not None and not callable(comp.condition):
        return f"condition must be a function of no arguments, got {comp.condition!r}"
    return ""


def validate_components(result: Any, kind: str, hook_name: str) -> list[Component]:
    """Check what a registration hook returned (a list of Component, or None); returns copies
    with ``kind`` filled in, or raises :class:`ComponentError` saying which item is wrong."""
    if result is None:
        return []
    if not isinstance(result, (list, tuple)):
        raise ComponentError(f"{hook_name}() returned {type(result).__name__}; "
                             f"expected a list of Component")
    out = []
    for i, comp in enumerate(result):
        where = f"{hook_name}()[{i}]"
        if not isinstance(comp, Component):
            raise ComponentError(f"{where} is a {type(comp).__name__}, not a Component "
                                 f"(from tinygrad_edu import Component)")
        if not isinstance(comp.name, str) or not comp.name.strip():
            raise ComponentError(f"{where} has an empty or non-string name {comp.name!r}")
        if comp.obj is None:
            raise ComponentError(f"{where} ({comp.name!r}) has obj=None")
        if isinstance(comp.aliases, str) or not all(isinstance(a, str) for a in comp.aliases):
            raise ComponentError(f"{where} ({comp.name!r}): aliases must be a tuple of str, "
                                 f"got {comp.aliases!r}")
        problem = object_problem(comp, kind)
        if problem:
            raise ComponentError(f"{where} ({comp.name!r}): {problem}")
        if comp.kind and comp.kind != kind:
            raise ComponentError(f"{where} ({comp.name!r}) says kind={comp.kind!r} but was "
                                 f"returned by {hook_name}(), which registers {kind}s")
        out.append(dataclasses.replace(comp, kind=kind, aliases=tuple(comp.aliases)))
    return out
