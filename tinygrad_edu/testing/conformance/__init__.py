"""The conformance suite: turn a component's declaration into hypothesis tests.

Every component a plugin registers carries a declaration of how to test it (see
:mod:`tinygrad_edu.components`). :func:`check_component` reads it and runs the checks for the
component's kind; a failure raises :class:`ConformanceError` (an AssertionError) whose message
names the component, its plugin, the check, the drawn input and the gradcheck report::

    from tinygrad_edu import registry
    from tinygrad_edu.testing import check_component

    check_component(registry.get_component("activation", "mish"))
    check_component("mish")                      # the same, looked up by name

What is checked, by kind:

activation, loss
    ``Check.cases`` (or, without cases, a shape with ``Check.ndim`` dimensions) gives the call's
    keyword arguments and the input shape; the input is drawn from ``domain``, keeping ``margin``
    away from the ``avoid`` points (and from each other when ``distinct``). Then:
    gradcheck in float64; gradgradcheck when ``second_order``; the output is a Tensor of the
    input's shape (an activation) or 0-d (a loss); a float32 input gives a float32 output.
    A loss without ``cases`` is called as ``loss(y, t)`` with a target ``t`` drawn like ``y``.
layer
    ``Check.cases`` gives ``(kwargs, input_shape)``; the layer ``obj(**kwargs)`` has its
    parameters converted to float64 in place, and gradcheck runs w.r.t. the input *and every
    parameter*, in train mode, and in eval mode as well when eval mode computes something else
    (Dropout, BatchNorm); gradgradcheck when ``second_order``. With float32 parameters, a float32
    input gives a float32 output.

    *Randomness* (Dropout in train mode) is frozen rather than switched off: each of the many
    evaluations a gradcheck makes starts from a copy of the same pristine layer (its own random
    generator included, its Parameters shared) and from the same global ``numpy.random`` state,
    so every evaluation draws the same mask. The backward is therefore checked exactly as
    training uses it (with a mask), not only in eval mode where Dropout is the identity.
    The global ``numpy.random`` state is restored afterwards.
optimizer (``OptimizerCheck``)
    a zero gradient leaves the parameters unchanged (weight_decay=0), and a parameter whose
    ``grad`` is None is not touched; a convex quadratic decreases over 50 steps; one step from a
    fresh state equals ``first_step`` on drawn parameters, gradients and learning rate, updates
    ``p.data`` in place (the same array, as the book API needs), keeps float32 parameters
    float32 and leaves the gradients alone; ``state_dict()`` survives a round trip through
    ``numpy.savez`` into a fresh optimizer, which then continues exactly like an uninterrupted
    one.
initializer (``InitializerCheck``)
    the result is an ndarray of the requested shape and dtype (float32 and float64, dense
    ``(in, out)`` and conv ``(FN, C, FH, FW)`` shapes), finite; the same seed gives the same
    values and another seed other values; the sample standard deviation is the promised
    ``std(fan_in, fan_out)`` within sampling tolerance, or every element equals ``constant``.
model
    built for (1, 28, 28) inputs and 10 classes: float32 scores of shape (N, 10), a finite
    gradient for every parameter, the same seed builds the same parameters
    (see :mod:`tinygrad_edu.testing.conformance.models`).

Hypothesis settings: :func:`check_component` uses the settings profile that is loaded (under
pytest, the project's "ci" or "dev" profile), with ``deadline=None`` and one reported failure;
``max_examples`` overrides the profile's budget. :func:`run_checks` (used by
``tinygrad-edu check``) is deterministic (``derandomize=True``), writes no example database and
uses a modest budget.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from hypothesis import Verbosity, settings as Settings

from tinygrad_edu import registry
from tinygrad_edu.components import KINDS, Check, Component, InitializerCheck, OptimizerCheck
from tinygrad_edu.testing.conformance import (activations, initializers, layers, losses, models,
                                              optimizers)
from tinygrad_edu.testing.conformance.common import (ConformanceError, conformance_settings,
                                                     header, kind_name, run_property)

__all__ = ["ConformanceError", "CheckResult", "check_component", "run_checks", "resolve",
           "CLI_MAX_EXAMPLES"]

#: examples per check for run_checks() (the CLI) when max_examples is not given
CLI_MAX_EXAMPLES = 20

_CHECKS_OF_KIND = {"layer": layers, "activation": activations, "loss": losses,
                   "optimizer": optimizers, "initializer": initializers, "model": models}


@dataclass
class CheckResult:
    """The outcome of checking one component: a row of ``tinygrad-edu check``.

    status   "passed", "failed" or "skipped" (a layer without ``Check.cases``, which cannot be
             exercised); ``kind`` is "plugin" for a plugin that failed to load (``name`` is the
             plugin's name then)
    message  empty when passed; the ConformanceError's report when failed; why when skipped
    """

    name: str
    kind: str
    plugin: str
    status: str
    message: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def as_row(self) -> dict:
        """A plain dict (for JSON output)."""
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------- public API


def resolve(name: str | Component) -> Component:
    """The registered Component called ``name``, of any kind; ``"kind:name"`` chooses the kind
    when several kinds use the name (``"loss:mse"``). Unknown names raise the registry's
    error (which suggests the closest name)."""
    if isinstance(name, Component):
        return name
    if not isinstance(name, str):
        raise TypeError(f"expected a component name or a Component, got {name!r}")
    kind, sep, rest = name.partition(":")
    if sep:
        try:
            kind = kind_name(kind.strip())
        except ValueError:
            pass   # not a kind: perhaps a ':' in the name itself
        else:
            return registry.get_component(kind, rest.strip())
    return registry.lookup(name)


def check_component(component: Component | str, max_examples: int | None = None,
                    settings: Settings | None = None) -> None:
    """Run the conformance checks of one component; raise :class:`ConformanceError` on failure.

    ``component``     a registered :class:`Component` (``registry.get_component(kind, name)``,
                      or a name, looked up with :func:`resolve`)
    ``max_examples``  hypothesis examples per check (default: the loaded settings profile's)
    ``settings``      hypothesis settings to start from instead of the loaded profile
    """
    comp = resolve(component)
    reason = _not_checkable(comp)
    if reason:
        raise ConformanceError(header(comp, "declaration") + "\n  " + reason, comp,
                               "declaration")
    chosen = conformance_settings(settings if settings is not None else Settings(), max_examples)
    for check_name, prop in _properties(comp):
        run_property(comp, check_name, prop, chosen)


def run_checks(names: Iterable[str] | None = None, max_examples: int | None = None, *,
               kinds: Iterable[str] | None = None,
               on_result: Callable[[CheckResult], Any] | None = None) -> list[CheckResult]:
    """Check every registered component (or the named ones) and return one result each.

    ``names``         component names (``"relu"``, ``"Conv2d"``, ``"loss:mse"``); None: all
                      components of ``kinds`` (default: every kind), plus one failed
                      result (kind "plugin") per plugin that failed to load. Unnamed layers
                      without ``Check.cases`` are "skipped"; a named one fails.
    ``max_examples``  hypothesis examples per check (default ``CLI_MAX_EXAMPLES``)
    ``on_result``     called with each :class:`CheckResult` as soon as it is known (progress)

    Deterministic: hypothesis runs derandomized, quietly, without an example database, so two
    runs give the same results. Unknown names raise the registry's ``LookupError`` (with a
    suggestion) before anything runs. Returns ``list[CheckResult]`` in registry order (or the
    order of ``names``); a component fails if any of its checks fails.
    """
    from tinygrad_edu import plugins

    if names:
        comps = [resolve(n) for n in names]
        broken = []
    else:
        wanted = [kind_name(k) for k in kinds] if kinds else list(KINDS)
        comps = [c for c in registry.all_components() if c.kind in wanted]
        broken = plugins.quarantined()
    chosen = conformance_settings(Settings(derandomize=True, database=None, verbosity=Verbosity.quiet,
                                print_blob=False),
                       max_examples if max_examples is not None else CLI_MAX_EXAMPLES)
    results = []

    def record(result):
        results.append(result)
        if on_result is not None:
            on_result(result)

    for rec in broken:
        record(CheckResult(rec.name, "plugin", rec.name, "failed", rec.describe()))
    for comp in comps:
        start = time.perf_counter()
        reason = _not_checkable(comp)
        if reason and comp.kind == "layer" and not names:
            record(CheckResult(comp.name, comp.kind, comp.plugin, "skipped", reason))
            continue
        try:
            check_component(comp, settings=chosen)
        except ConformanceError as error:
            status, message = "failed", str(error)
        else:
            status, message = "passed", ""
        record(CheckResult(comp.name, comp.kind, comp.plugin, status, message,
                           round(time.perf_counter() - start, 3)))
    return results


def _not_checkable(comp: Component) -> str:
    """Why the component cannot be checked as declared ('' if it can)."""
    expected = {"layer": Check, "activation": Check, "loss": Check,
                "optimizer": OptimizerCheck, "initializer": InitializerCheck,
                "model": Check}.get(comp.kind)
    if expected is None:
        return f"unknown kind {comp.kind!r}; kinds are {', '.join(KINDS)}"
    if comp.check is not None and not isinstance(comp.check, expected):
        return (f"its declaration is a {type(comp.check).__name__}; a {comp.kind} declares a "
                f"{expected.__name__} (from tinygrad_edu.components import {expected.__name__})")
    if comp.kind == "layer" and (comp.check is None or comp.check.cases is None):
        return ("a layer declares Check(cases=...) giving (constructor kwargs, input shape) "
                "pairs; without it the suite cannot build and feed the layer")
    if comp.kind == "initializer" and comp.check is not None \
            and comp.check.std is None and comp.check.constant is None:
        return "InitializerCheck needs std=lambda fan_in, fan_out: ... or constant=..."
    return ""


def _properties(comp: Component) -> list[tuple[str, Callable]]:
    """The (check name, property) pairs for the component's kind."""
    return _CHECKS_OF_KIND[comp.kind].properties(comp)
