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

from dataclasses import dataclass, field
from typing import Any, Callable

KINDS = ("layer", "activation", "loss", "optimizer", "initializer",
         "callback")


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


@dataclass(frozen=True)
class OptimizerCheck:
    """How the conformance suite checks an optimizer.

    kwargs        hyper-parameters used by the checks (besides ``lr``)
    first_step    ``first_step(param, grad, lr=..., **kwargs) -> new_param``: the documented
                  formula of one step from a fresh state, written in plain numpy
    """

    kwargs: dict = field(default_factory=dict)
    first_step: Callable[..., Any] | None = None


@dataclass(frozen=True)
class InitializerCheck:
    """``std(fan_in, fan_out) -> float``: the standard deviation the initializer promises, or
    ``constant``: the value every element takes (zeros, ones)."""

    std: Callable[[int, int], float] | None = None
    constant: float | None = None


@dataclass
class Component:
    """One named thing a plugin adds: a layer class, an activation or loss function, an
    optimizer class or an initializer function.

    ``plugin`` is filled in by the plugin manager with the name of the plugin that registered it.

    ``replaces`` names a component of the same kind that this one is a drop-in implementation
    of (a compiled ``max_pool2d``, say): instead of clashing with it, it takes over its name
    while its plugin is enabled, and is checked against it.
    """

    name: str
    obj: Any
    check: Check | OptimizerCheck | InitializerCheck | None = None
    aliases: tuple[str, ...] = ()
    replaces: str | None = None
    kind: str = ""
    plugin: str = ""

    @property
    def doc(self) -> str:
        """The first line of the component's docstring: what it computes."""
        text = (getattr(self.obj, "__doc__", None) or "").strip()
        return text.splitlines()[0] if text else ""
