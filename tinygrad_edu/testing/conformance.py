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

Hypothesis settings: :func:`check_component` uses the settings profile that is loaded (under
pytest, the project's "ci" or "dev" profile), with ``deadline=None`` and one reported failure;
``max_examples`` overrides the profile's budget. :func:`run_checks` (used by
``tinygrad-edu check``) is deterministic (``derandomize=True``), writes no example database and
uses a modest budget.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import io
import math
import re
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings as Settings, strategies as st

from tinygrad_edu import registry
from tinygrad_edu.components import KINDS, Check, Component, InitializerCheck, OptimizerCheck
from tinygrad_edu.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygrad_edu.tensor import Parameter, Tensor
from tinygrad_edu.testing.strategies import float_arrays, shapes

__all__ = ["ConformanceError", "CheckResult", "check_component", "run_checks", "resolve",
           "CLI_MAX_EXAMPLES"]

#: examples per check for run_checks() (the CLI) when max_examples is not given
CLI_MAX_EXAMPLES = 20

# the learning rate of the optimizer checks that do not draw one (unless OptimizerCheck.kwargs
# has "lr"), and the number of steps on the quadratic
_CHECK_LR = 0.01
_QUADRATIC_STEPS = 100


class ConformanceError(AssertionError):
    """A component failed a conformance check. The message names the component, its plugin,
    the check, the drawn input and what went wrong (for gradients: the gradcheck report).
    ``component`` and ``check`` hold the Component and the name of the failed check."""

    def __init__(self, message: str, component: Component | None = None, check: str = ""):
        super().__init__(message)
        self.component = component
        self.check = check


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
            kind = _kind(kind.strip())
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
        raise ConformanceError(_header(comp, "declaration") + "\n  " + reason, comp,
                               "declaration")
    chosen = _settings(settings if settings is not None else Settings(), max_examples)
    for check_name, prop in _properties(comp):
        _run_property(comp, check_name, prop, chosen)


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
        wanted = [_kind(k) for k in kinds] if kinds else list(KINDS)
        comps = [c for c in registry.all_components() if c.kind in wanted]
        broken = plugins.quarantined()
    chosen = _settings(Settings(derandomize=True, database=None, verbosity=Verbosity.quiet,
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


# ---------------------------------------------------------------------------- the machinery


def _kind(kind: str) -> str:
    """``"layer"`` or ``"layers"`` -> ``"layer"``."""
    for candidate in KINDS:
        if kind in (candidate, candidate + "s", candidate + "es"):
            return candidate
    raise ValueError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")


def _settings(parent: Settings, max_examples: int | None) -> Settings:
    """``parent`` with what every conformance run needs: no deadline (gradchecks are slow),
    one reported failure (the ConformanceError), no complaints about slow data generation,
    no explain phase."""
    suppressed = set(parent.suppress_health_check) | {
        HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much}
    # the explain phase re-runs a failing example many times to guess which parts matter;
    # the report already shows the drawn input, and it would multiply the time of a failure
    phases = tuple(p for p in parent.phases if p is not Phase.explain)
    changes = dict(deadline=None, report_multiple_bugs=False, phases=phases,
                   suppress_health_check=sorted(suppressed, key=lambda h: h.value))
    if max_examples is not None:
        if max_examples < 1:
            raise ValueError(f"max_examples must be at least 1, got {max_examples}")
        changes["max_examples"] = int(max_examples)
    return Settings(parent, **changes)


def _run_property(comp: Component, check_name: str, prop: Callable, chosen: Settings) -> None:
    """Run ``prop(data)`` under hypothesis; any failure becomes a ConformanceError naming
    the component and the check."""

    def test(data):
        recorder = _Recorder(data)
        try:
            prop(recorder)
        except ConformanceError:
            raise
        except Exception as error:   # the component raised: report it as a failure too
            raise ConformanceError(
                _header(comp, check_name) + "\n" + _indent(recorder.conformance_inputs) +
                "\n  the component raised " + _exception_line(error), comp, check_name) from error

    label = re.sub(r"\W+", "_", f"{comp.kind}_{comp.name}_{check_name}")
    test.__name__ = test.__qualname__ = f"conformance_{label}"
    # a separate example-database key per component and check
    test._hypothesis_internal_add_digest = f"{comp.kind}:{comp.name}:{check_name}".encode()
    runner = given(data=st.data())(test)
    runner = chosen(runner)
    with _numpy_errors_quiet():
        try:
            runner()
        except ConformanceError:
            raise
        except Exception as error:   # hypothesis itself gave up (Unsatisfiable, Flaky, ...)
            raise ConformanceError(
                _header(comp, check_name) + "\n  hypothesis could not run the check: "
                + _exception_line(error), comp, check_name) from error


class _Recorder:
    """Wraps hypothesis' ``data`` object, remembering a description of what was drawn."""

    def __init__(self, data):
        self._data = data
        self.lines: list[str] = []

    def draw(self, strategy, label=None):
        return self._data.draw(strategy, label=label)

    def note(self, line: str) -> None:
        self.lines.append(line)

    @property
    def conformance_inputs(self) -> str:
        return "\n".join(self.lines) if self.lines else "(nothing drawn yet)"


def _fail(comp: Component, check_name: str, data: _Recorder, problem: str,
          cause: BaseException | None = None):
    error = ConformanceError(
        _header(comp, check_name) + "\n" + _indent(data.conformance_inputs) + "\n" +
        _indent(problem), comp, check_name)
    if cause is not None:
        raise error from cause
    raise error


def _header(comp: Component, check_name: str) -> str:
    plugin = f"plugin {comp.plugin!r}" if comp.plugin else "no plugin (not registered)"
    return (f"conformance check {check_name!r} failed for {comp.kind or 'component'} "
            f"{comp.name!r} (from {plugin}):")


def _indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line for line in text.splitlines())


def _exception_line(error: BaseException) -> str:
    line = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        line += f"\n  (at {last.filename}:{last.lineno}, in {last.name})"
    return line


def _describe_array(name: str, array) -> str:
    array = np.asarray(array)
    text = np.array2string(array, precision=6, threshold=60, separator=", ")
    head = f"{name}: shape {array.shape}, dtype {array.dtype}"
    return f"{head}\n  {name} = " + text.replace("\n", "\n  " + " " * (len(name) + 3))


def _describe_kwargs(kwargs: dict) -> str:
    if not kwargs:
        return "{}"
    parts = []
    for key, value in kwargs.items():
        if isinstance(value, (np.ndarray, Tensor)):
            value = np.asarray(value)
            text = np.array2string(value, precision=6, threshold=24, separator=", ")
            parts.append(f"{key}=<array shape {value.shape} {value.dtype}: "
                         f"{' '.join(text.split())}>")
        else:
            parts.append(f"{key}={value!r}")
    return "{" + ", ".join(parts) + "}"


@contextlib.contextmanager
def _numpy_errors_quiet():
    """Overflow warnings of a drawn example are not the failure we report."""
    with np.errstate(all="ignore"):
        yield


def _not_checkable(comp: Component) -> str:
    """Why the component cannot be checked as declared ('' if it can)."""
    expected = {"layer": Check, "activation": Check, "loss": Check,
                "optimizer": OptimizerCheck, "initializer": InitializerCheck}.get(comp.kind)
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
    if comp.kind in ("activation", "loss"):
        check = comp.check or Check()
        props = [("gradient", _function_gradient(comp, check))]
        if check.second_order:
            props.append(("second-order gradient", _function_gradient(comp, check, order=2)))
        return props
    if comp.kind == "layer":
        props = [("gradient", _layer_gradient(comp, comp.check))]
        if comp.check.second_order:
            props.append(("second-order gradient", _layer_gradient(comp, comp.check, order=2)))
        return props
    if comp.kind == "optimizer":
        check = comp.check or OptimizerCheck()
        props = [("zero gradient", _optimizer_zero_gradient(comp, check)),
                 ("first step", _optimizer_first_step(comp, check)),
                 ("learning rate", _optimizer_lr_change(comp, check)),
                 ("decreases a quadratic", _optimizer_quadratic(comp, check)),
                 ("state_dict round trip", _optimizer_state_dict(comp, check)),
                 ("float32", _optimizer_float32(comp, check))]
        return props
    if comp.kind == "initializer":
        check = comp.check or InitializerCheck()
        props = [("shape, dtype and seed", _initializer_basics(comp, check))]
        if check.std is not None or check.constant is not None:
            props.append(("distribution", _initializer_distribution(comp, check)))
        return props
    raise AssertionError(f"unknown kind {comp.kind!r}")


# ------------------------------------------------------------------- activations and losses


def _input_strategy(check: Check, shape):
    low, high = check.domain
    return float_arrays(shape, low=low, high=high, avoid=tuple(check.avoid), margin=check.margin,
                        distinct=check.distinct)


def _draw_case(data: _Recorder, comp: Component, check: Check):
    """(kwargs, shape) from ``check.cases``, or ({}, a drawn shape) without cases."""
    if check.cases is not None:
        case = data.draw(check.cases(st), label="case")
        try:
            kwargs, shape = case
            kwargs, shape = dict(kwargs), tuple(int(n) for n in shape)
        except (TypeError, ValueError):
            raise ConformanceError(
                _header(comp, "declaration") + f"\n  Check.cases produced {case!r}; it must "
                f"produce (kwargs dict, input shape tuple) pairs", comp, "declaration") from None
        return kwargs, shape
    low, high = check.ndim
    return {}, data.draw(shapes(min_dims=low, max_dims=high, max_side=4), label="shape")


def _function_gradient(comp: Component, check: Check, order: int = 1):
    """gradcheck (or gradgradcheck) of an activation ``f(x, **kwargs)`` or a loss
    ``loss(y, **kwargs)`` (a loss's kwargs hold its targets ``t``)."""
    is_loss = comp.kind == "loss"
    check_name = "gradient" if order == 1 else "second-order gradient"

    def prop(data: _Recorder):
        kwargs, shape = _draw_case(data, comp, check)
        x = data.draw(_input_strategy(check, shape), label="x")
        if is_loss and check.cases is None:
            kwargs = {"t": data.draw(_input_strategy(check, shape), label="t")}
        data.note(f"call: {comp.name}(x, **{_describe_kwargs(kwargs)})")
        data.note(_describe_array("x", x))

        def fn(x):
            return comp.obj(x, **kwargs)

        if order == 1:
            _check_output(comp, data, fn, x, is_loss)
            _gradcheck(comp, check_name, data, fn, [x], ["x"], check.atol, check.rtol)
        else:
            _gradgradcheck(comp, check_name, data, fn, [x], ["x"], check.atol, check.rtol)
    return prop


def _check_output(comp, data, fn, x, is_loss):
    """Output type and shape, and float32 in -> float32 out."""
    for dtype in (np.float64, np.float32):
        y = fn(Tensor(x.astype(dtype)))
        if not isinstance(y, Tensor):
            _fail(comp, "output", data, f"returned a {type(y).__name__}, not a Tensor")
        expected = () if is_loss else x.shape
        if y.shape != expected:
            what = "a loss must return a 0-d Tensor (the mean over the batch)" if is_loss \
                else "an activation returns a Tensor of its input's shape"
            _fail(comp, "output", data, f"returned shape {y.shape} for a {dtype.__name__} "
                                        f"input of shape {x.shape}; {what}")
        if y.dtype != dtype:
            _fail(comp, "dtype", data,
                  f"a {np.dtype(dtype).name} input gave a {y.dtype} output; the float dtype "
                  f"must be preserved (constants take the tensor's dtype: x * 2.0 stays "
                  f"float32)")


def _gradcheck(comp, check_name, data, fn, inputs, names, atol, rtol):
    try:
        gradcheck(fn, *inputs, atol=atol, rtol=rtol, names=names)
    except GradcheckError as error:
        _fail(comp, check_name, data, "gradcheck report (backward vs central differences):\n"
              + _indent(str(error)), error)


def _gradgradcheck(comp, check_name, data, fn, inputs, names, atol, rtol):
    try:
        gradgradcheck(fn, *inputs, atol=max(atol, 1e-4), rtol=rtol, names=names)
    except GradcheckError as error:
        _fail(comp, check_name, data, "gradgradcheck report (the backward of the backward vs "
              "central differences of the backward):\n" + _indent(str(error)) +
              "\n(declare Check(second_order=False) if the backward is not meant to be "
              "differentiable, e.g. written with numpy)", error)
    except ValueError as error:
        if "linear" not in str(error):
            raise
        # The graph of the first derivative does not reach the inputs. Either the function is
        # linear here (BatchNorm in eval mode without affine parameters: nothing to check), or
        # the backward computed its result outside the graph (numpy) although the component
        # declares second_order=True: then the first derivative still changes with the input.
        change = _first_derivative_change(fn, inputs)
        if change > 1e-7:
            _fail(comp, check_name, data,
                  f"the first derivative changes with the input (by {change:.3g} for a small "
                  f"perturbation) but its graph does not depend on the input: the backward is "
                  f"computed outside the graph (with numpy, or on .data), so create_graph=True "
                  f"cannot differentiate it.\nWrite the backward with Tensor operations, or "
                  f"declare Check(second_order=False) (and differentiable_backward = False on "
                  f"the Function).", error)
    except RuntimeError as error:
        # e.g. a Function with differentiable_backward = False refusing create_graph
        _fail(comp, check_name, data, f"the backward cannot be differentiated: "
              f"{_exception_line(error)}\nDeclare Check(second_order=False) if that is "
              f"intended.", error)


def _first_derivative_change(fn, inputs, step=1e-4, seed=0) -> float:
    """How much the first derivative (for a fixed random output weighting) moves when every
    float input is nudged by up to ``step``: max |g(x + d) - g(x)| / step."""
    from tinygrad_edu.autograd import grad

    xs = [x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64),
                                                 requires_grad=True) for x in inputs]
    checked = [x for x in xs if x.requires_grad]
    rng = np.random.default_rng(seed)
    outputs = fn(*xs)
    outputs = tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)
    weights = [Tensor(rng.standard_normal(y.shape)) for y in outputs]

    def derivative():
        ys = fn(*xs)
        ys = tuple(ys) if isinstance(ys, (tuple, list)) else (ys,)
        gs = grad(list(ys), checked, grad_outputs=weights, allow_unused=True)
        return [np.zeros(x.shape) if g is None else np.array(g.data, dtype=np.float64)
                for x, g in zip(checked, gs)]

    before = derivative()
    originals = [x.data.copy() for x in checked]
    try:
        for x in checked:
            x.data[...] += step * rng.uniform(-1.0, 1.0, x.shape)
        after = derivative()
    finally:
        for x, original in zip(checked, originals):
            x.data[...] = original
    return max((float(np.max(np.abs(a - b))) / step if a.size else 0.0
                for a, b in zip(after, before)), default=0.0)


# ----------------------------------------------------------------------------------- layers


def _float_parameters(layer, dtype) -> list[tuple[str, Parameter]]:
    """Convert the layer's parameters to ``dtype`` in place; return them with their names."""
    named = layer.named_parameters() if hasattr(layer, "named_parameters") else []
    for _, p in named:
        p.data = p.data.astype(dtype)
        p.grad = None
    return named


class _FrozenLayer:
    """Calls a layer so that every call computes the same function of (x, parameters): each call
    runs a fresh copy of the pristine layer (its generator state, its caches) that shares the
    Parameters, starting from the same global numpy random state."""

    _SEED = 20240601

    def __init__(self, layer, params):
        self.params = params
        pristine = self._copy(layer)
        self.copies = pristine is not None
        self.layer = pristine if self.copies else layer

    def _copy(self, layer):
        try:
            return copy.deepcopy(layer, {id(p): p for p in self.params})
        except Exception:   # something in the layer cannot be copied: call it as it is
            return None

    def __call__(self, x, *params):
        layer = self._copy(self.layer) if self.copies else None
        if layer is None:
            layer = self.layer
        np.random.seed(self._SEED)
        return layer(x)


def _layer_gradient(comp: Component, check: Check, order: int = 1):
    check_name = "gradient" if order == 1 else "second-order gradient"

    def prop(data: _Recorder):
        kwargs, shape = _draw_case(data, comp, check)
        x = data.draw(_input_strategy(check, shape), label="x")
        data.note(f"layer: {getattr(comp.obj, '__name__', comp.name)}"
                  f"(**{_describe_kwargs(kwargs)})")
        data.note(_describe_array("x", x))
        saved_random = np.random.get_state()
        try:
            if order == 1:
                _check_layer_dtype(comp, data, kwargs, x)
            layer = (check.build or comp.obj)(**kwargs)
            named = _float_parameters(layer, np.float64)
            params = [p for _, p in named]
            names = ["input x"] + [f"parameter {n!r}" for n, _ in named]
            data.note("parameters: " + (", ".join(f"{n} {p.shape}" for n, p in named) or "none"))
            frozen_train = _FrozenLayer(layer.train() if hasattr(layer, "train") else layer,
                                        params)
            modes = [("train", frozen_train)]
            if hasattr(layer, "eval"):
                frozen_eval = _FrozenLayer(layer.eval(), params)
                y_train = frozen_train(Tensor(x))
                y_eval = frozen_eval(Tensor(x))
                if y_train.shape != y_eval.shape or not np.array_equal(y_train.data, y_eval.data):
                    modes.append(("eval", frozen_eval))
            for mode, fn in modes:
                data.note(f"mode: {mode}")
                inputs = [Tensor(x, requires_grad=True), *params]
                if order == 1:
                    _gradcheck(comp, check_name, data, fn, inputs, names, check.atol, check.rtol)
                else:
                    _gradgradcheck(comp, check_name, data, fn, inputs, names, check.atol,
                                   check.rtol)
                data.lines.pop()
        finally:
            np.random.set_state(saved_random)
    return prop


def _check_layer_dtype(comp, data, kwargs, x):
    """With float32 parameters, a float32 input gives a float32 output."""
    layer = (comp.check.build or comp.obj)(**kwargs)
    _float_parameters(layer, np.float32)
    y = layer(Tensor(x.astype(np.float32)))
    if not isinstance(y, Tensor):
        _fail(comp, "output", data, f"the layer returned a {type(y).__name__}, not a Tensor")
    if y.dtype != np.float32:
        _fail(comp, "dtype", data,
              f"with float32 parameters a float32 input gave a {y.dtype} output; the float "
              f"dtype must be preserved (keep buffers and constants in the input's dtype)")


# ------------------------------------------------------------------------------- optimizers
#
# These generalise the property checks first written for the standard optimizers in
# tests/test_optimizers.py: they use only the Optimizer contract and the OptimizerCheck.


def _accepts(cls, name: str) -> bool:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _hyper(comp: Component, check: OptimizerCheck, no_decay: bool = False) -> tuple[float, dict]:
    """(lr, other constructor kwargs): the declared ones, with weight_decay=0 if asked."""
    kwargs = dict(check.kwargs)
    lr = kwargs.pop("lr", _CHECK_LR)
    if no_decay and _accepts(comp.obj, "weight_decay"):
        kwargs["weight_decay"] = 0.0
    return lr, kwargs


def _param_arrays(data: _Recorder, count_max: int = 3, low=-3.0, high=3.0):
    shape_list = data.draw(st.lists(shapes(min_dims=0, max_dims=3, max_side=4),
                                    min_size=1, max_size=count_max), label="parameter shapes")
    return [data.draw(float_arrays(s, low=low, high=high), label=f"p{i}")
            for i, s in enumerate(shape_list)]


def _gradient_sequence(data: _Recorder, arrays, min_steps: int, max_steps: int):
    """Gradients for several steps, drawn from a seed (|g| kept away from 0)."""
    steps = data.draw(st.integers(min_steps, max_steps), label="steps")
    seed = data.draw(st.integers(0, 2**32 - 1), label="gradient seed")
    rng = np.random.default_rng(seed)
    sequence = [[rng.uniform(0.1, 3.0, np.shape(a)) * rng.choice([-1.0, 1.0], np.shape(a))
                 for a in arrays] for _ in range(steps)]
    data.note(f"parameter shapes {[np.shape(a) for a in arrays]}; {steps} steps with gradients "
              f"drawn from default_rng({seed}) (|g| in [0.1, 3])")
    return sequence


def _no_subnormals(array):
    return np.where(np.abs(array) < np.finfo(np.float64).tiny, 0.0, array)


def _optimizer_text(comp, lr, kwargs) -> str:
    extra = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    return f"{getattr(comp.obj, '__name__', comp.name)}(params, lr={lr!r}{extra})"


def _make_optimizer(comp, arrays, lr, kwargs, data, dtype=None):
    """Fresh Parameters holding copies of ``arrays`` and an optimizer over them."""
    params = [Parameter(np.array(a, dtype=dtype, copy=True)) for a in arrays]
    try:
        return params, comp.obj(params, lr=lr, **kwargs)
    except Exception as error:
        _fail(comp, "construction", data,
              f"{_optimizer_text(comp, lr, kwargs)} raised {_exception_line(error)}", error)


def _step(optimizer, params, grads) -> None:
    for param, g in zip(params, grads):
        param.grad = None if g is None else Tensor(np.array(g, copy=True))
    optimizer.step()


def _optimizer_zero_gradient(comp: Component, check: OptimizerCheck):
    """A zero gradient (weight_decay=0) leaves the parameters exactly where they are, and a
    parameter whose grad is None is not touched."""
    def prop(data: _Recorder):
        lr, kwargs = _hyper(comp, check, no_decay=True)
        arrays = _param_arrays(data)
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}")
        params, opt = _make_optimizer(comp, arrays + [np.ones(3)], lr, kwargs, data)
        for _ in range(3):
            _step(opt, params, [np.zeros_like(a) for a in arrays] + [None])
        for i, (p, a) in enumerate(zip(params, arrays)):
            if not np.array_equal(p.data, a):
                _fail(comp, "zero gradient", data,
                      f"with a zero gradient (weight_decay=0) three steps moved parameter {i} "
                      f"(shape {np.shape(a)}) by up to {np.max(np.abs(p.data - a)):.3g}; a zero "
                      f"gradient must leave the parameters where they are")
        if not np.array_equal(params[-1].data, np.ones(3)):
            _fail(comp, "zero gradient", data,
                  "a parameter whose grad is None was changed by step(); parameters without a "
                  "gradient must be skipped")
    return prop


def _optimizer_first_step(comp: Component, check: OptimizerCheck):
    """One step from a fresh state equals ``first_step`` (with the declared weight decay and
    without it). The optimizer is built with another lr and ``opt.lr`` set afterwards, since a
    learning-rate schedule only sets the attribute. The update is in place and leaves the
    gradients alone."""
    def prop(data: _Recorder):
        _, kwargs = _hyper(comp, check)
        if "weight_decay" in kwargs and data.draw(st.booleans(), label="weight_decay=0"):
            kwargs["weight_decay"] = 0.0
        lr = data.draw(st.floats(1e-4, 1.0), label="lr")
        arrays = _param_arrays(data)
        # no subnormal gradients: (1 - beta) * g would underflow to 0 in one formula and not
        # in the other, a difference of rounding rather than of the update rule
        grads = [_no_subnormals(data.draw(float_arrays(np.shape(a)), label=f"g{i}"))
                 for i, a in enumerate(arrays)]
        built_lr = 2.5 * lr + 0.125
        data.note(f"optimizer: {_optimizer_text(comp, built_lr, kwargs)}, then opt.lr = {lr!r}")
        for i, (a, g) in enumerate(zip(arrays, grads)):
            data.note(_describe_array(f"p{i}", a))
            data.note(_describe_array(f"g{i}", g))
        params, opt = _make_optimizer(comp, arrays, built_lr, kwargs, data)
        opt.lr = lr
        storage = [p.data for p in params]
        _step(opt, params, grads)
        for i, (p, a, g) in enumerate(zip(params, arrays, grads)):
            if p.data is not storage[i]:
                _fail(comp, "in-place update", data,
                      f"step() replaced parameter {i}'s array instead of updating it in place; "
                      f"write p.data -= ... (or p.data[...] = ...) so that arrays shared with "
                      f"the model (the book API's params dict) see the update")
            if not np.array_equal(p.grad.data, g):
                _fail(comp, "gradient untouched", data,
                      f"step() changed parameter {i}'s gradient in place; compute on a copy "
                      f"(the same gradient array may be shared)")
            if check.first_step is None:
                continue
            expected = np.asarray(check.first_step(np.array(a, copy=True),
                                                   np.array(g, copy=True), lr=lr, **kwargs))
            if expected.shape != np.shape(a):
                _fail(comp, "first step", data, f"OptimizerCheck.first_step returned shape "
                                                f"{expected.shape} for a parameter of shape "
                                                f"{np.shape(a)}")
            if not np.allclose(p.data, expected, rtol=1e-6, atol=1e-9):
                worst = tuple(int(j) for j in np.unravel_index(
                    np.argmax(np.abs(p.data - expected)), np.shape(a)))
                _fail(comp, "first step", data,
                      f"one step from a fresh state does not match the declared formula "
                      f"OptimizerCheck.first_step for parameter {i}: at index {worst} step() "
                      f"gave {p.data[worst]:.10g}, first_step gives {expected[worst]:.10g}.\n"
                      f"(Is lr read from self.lr at every step? Is the state initialised as "
                      f"documented?)")
    return prop


def _optimizer_lr_change(comp: Component, check: OptimizerCheck):
    """Two identical runs, then one sets ``opt.lr`` to another value: its next step differs."""
    def prop(data: _Recorder):
        lr, kwargs = _hyper(comp, check)
        arrays = _param_arrays(data)
        sequence = _gradient_sequence(data, arrays, 1, 4)
        new_lr = data.draw(st.floats(0.05, 1.0).filter(lambda v: abs(v - lr) > 1e-3),
                           label="new lr")
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}; before the last step "
                  f"one of two identical runs sets opt.lr = {new_lr!r}")
        params_a, a = _make_optimizer(comp, arrays, lr, kwargs, data)
        params_b, b = _make_optimizer(comp, arrays, lr, kwargs, data)
        for grads in sequence[:-1]:
            _step(a, params_a, grads)
            _step(b, params_b, grads)
        b.lr = new_lr
        _step(a, params_a, sequence[-1])
        _step(b, params_b, sequence[-1])
        if all(np.array_equal(p.data, q.data) for p, q in zip(params_a, params_b)):
            _fail(comp, "learning rate", data,
                  f"setting opt.lr from {lr} to {new_lr} changed nothing in the next step; "
                  f"read self.lr in update_one (learning-rate schedules only set the attribute)")
    return prop


def _optimizer_quadratic(comp: Component, check: OptimizerCheck):
    """f(p) = 1/2 sum a (p - c)**2 with a > 0 (convex) is lower after 100 steps."""
    def prop(data: _Recorder):
        lr, kwargs = _hyper(comp, check, no_decay=True)
        shape = data.draw(shapes(min_dims=1, max_dims=2, max_side=4), label="shape")
        a = data.draw(float_arrays(shape, low=0.5, high=2.0), label="curvature a")
        c = data.draw(float_arrays(shape, low=-1.0, high=1.0), label="minimum c")
        offset = data.draw(float_arrays(shape, low=-3.0, high=3.0, avoid=(0.0,), margin=0.5),
                           label="start p - c")
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}")
        data.note(f"f(p) = 1/2 sum a (p - c)**2, gradient a (p - c)")
        for name, value in (("a", a), ("c", c), ("p (start)", c + offset)):
            data.note(_describe_array(name, value))
        (p,), opt = _make_optimizer(comp, [c + offset], lr, kwargs, data)

        def f(v):
            return 0.5 * float(np.sum(a * (v - c) ** 2))

        start = f(p.data)
        values = []
        for _ in range(_QUADRATIC_STEPS):
            _step(opt, [p], [a * (p.data - c)])
            values.append(f(p.data))
        if not (np.isfinite(values[-1]) and values[-1] < start):
            shown = ", ".join(f"{v:.4g}" for v in values[:5])
            _fail(comp, "decreases a quadratic", data,
                  f"after {_QUADRATIC_STEPS} steps f = {values[-1]:.6g}, not below the start "
                  f"f = {start:.6g} (f after the first steps: {shown}, ...); the optimizer "
                  f"does not descend")
    return prop


def _optimizer_state_dict(comp: Component, check: OptimizerCheck):
    """k steps, save, load into a fresh optimizer (built with another lr: loading restores
    it) over copies of the parameters, continue: equal to an uninterrupted run, also through
    ``numpy.savez``; loading a state saved for other shapes raises ValueError."""
    def prop(data: _Recorder):
        lr, kwargs = _hyper(comp, check)
        arrays = _param_arrays(data)
        sequence = _gradient_sequence(data, arrays, 2, 7)
        stop = data.draw(st.integers(1, len(sequence) - 1), label="save after step")
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}; save after step {stop}, "
                  f"load into a fresh optimizer (built with lr={3 * lr + 0.5}), continue")
        params_a, uninterrupted = _make_optimizer(comp, arrays, lr, kwargs, data)
        params_b, saved = _make_optimizer(comp, arrays, lr, kwargs, data)
        for grads in sequence:
            _step(uninterrupted, params_a, grads)
        for grads in sequence[:stop]:
            _step(saved, params_b, grads)
        state = saved.state_dict()
        try:
            buffer = io.BytesIO()
            np.savez(buffer, **state)
            buffer.seek(0)
            with np.load(buffer, allow_pickle=False) as loaded:
                from_disk = {key: loaded[key] for key in loaded.files}
        except Exception as error:
            _fail(comp, "state_dict round trip", data,
                  f"state_dict() cannot be written with numpy.savez and read back with "
                  f"numpy.load(allow_pickle=False): {_exception_line(error)}\nKeep it flat: "
                  f"str -> number | str | ndarray", error)
        restored = []
        for source in (state, from_disk):
            params_c, opt = _make_optimizer(comp, [p.data for p in params_b], 3 * lr + 0.5,
                                            kwargs, data)
            opt.load_state_dict(source)
            restored.append((params_c, opt))
        for grads in sequence[stop:]:
            for params, opt in restored:
                _step(opt, params, grads)
        for where, (params, _) in zip(("state_dict()", "state_dict() through numpy.savez"),
                                      restored):
            for i, (p, q) in enumerate(zip(params, params_a)):
                if not np.array_equal(p.data, q.data):
                    _fail(comp, "state_dict round trip", data,
                          f"after loading {where} into a fresh optimizer and continuing, "
                          f"parameter {i} differs from an uninterrupted run by up to "
                          f"{np.max(np.abs(p.data - q.data)):.3g}; state_dict() must capture "
                          f"everything step() depends on (keep per-parameter state in the "
                          f"`state` dict update_one receives, and hyper-parameters, lr "
                          f"included, in hyper_names)")
        bigger = [np.zeros(np.shape(a) + (2,)) for a in arrays]
        _, other = _make_optimizer(comp, bigger, lr, kwargs, data)
        try:
            other.load_state_dict(state)
        except ValueError:
            pass
        else:
            _fail(comp, "state_dict round trip", data,
                  "load_state_dict() accepted a state saved for parameters of other shapes; "
                  "it must raise ValueError")
    return prop


def _optimizer_float32(comp: Component, check: OptimizerCheck):
    """float32 parameters stay float32 (float64 gradients too), in the same array, with
    float32 state arrays."""
    def prop(data: _Recorder):
        lr, kwargs = _hyper(comp, check)
        arrays = _param_arrays(data)
        sequence = _gradient_sequence(data, arrays, 1, 3)
        grad_dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="gradient dtype")
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}; float32 parameters, "
                  f"{np.dtype(grad_dtype).name} gradients")
        params, opt = _make_optimizer(comp, arrays, lr, kwargs, data, dtype=np.float32)
        storage = [p.data for p in params]
        for grads in sequence:
            _step(opt, params, [g.astype(grad_dtype) for g in grads])
        for i, (p, original) in enumerate(zip(params, storage)):
            if p.data is not original:
                _fail(comp, "in-place update", data,
                      f"parameter {i} got a new array instead of an in-place update")
            if p.data.dtype != np.float32 or not np.all(np.isfinite(p.data)):
                _fail(comp, "dtype", data, f"a float32 parameter became {p.data.dtype} (or "
                                           f"non-finite); keep the parameter's dtype")
        for i, state in enumerate(getattr(opt, "state", None) or []):
            for key, value in (state.items() if isinstance(state, dict) else ()):
                if isinstance(value, np.ndarray) and value.dtype.kind == "f" \
                        and value.dtype != np.float32:
                    _fail(comp, "dtype", data, f"state {key!r} of parameter {i} is "
                                               f"{value.dtype}, not float32 like its parameter")
    return prop


# ----------------------------------------------------------------------------- initializers


def _init_shapes(large: bool):
    """Dense (in, out) and conv (FN, C, FH, FW) shapes; large ones for the statistics."""
    if large:
        dense = st.tuples(st.integers(128, 384), st.integers(128, 384))
        conv = st.tuples(st.integers(32, 64), st.integers(16, 48), st.sampled_from([3, 5]),
                         st.sampled_from([3, 5]))
    else:
        dense = st.tuples(st.integers(1, 8), st.integers(1, 8))
        conv = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
                         st.integers(1, 3))
    return st.one_of(dense, conv)


def _call_init(comp, data, shape, rng, dtype, check_name):
    from tinygrad_edu.init_utils import fans

    fan_in, fan_out = fans(shape)
    try:
        return comp.obj(shape, fan_in=fan_in, fan_out=fan_out, rng=rng, dtype=dtype)
    except Exception as error:
        _fail(comp, check_name, data,
              f"{comp.name}({shape}, fan_in={fan_in}, fan_out={fan_out}, rng=<Generator>, "
              f"dtype={np.dtype(dtype).name}) raised {_exception_line(error)}", error)


def _initializer_basics(comp: Component, check: InitializerCheck):
    def prop(data: _Recorder):
        shape = data.draw(_init_shapes(large=False), label="shape")
        dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
        seed = data.draw(st.integers(0, 2**32 - 2), label="seed")
        data.note(f"call: {comp.name}({shape}, fan_in, fan_out, rng=default_rng({seed}), "
                  f"dtype={np.dtype(dtype).name})")
        name = "shape, dtype and seed"
        w = _call_init(comp, data, shape, np.random.default_rng(seed), dtype, name)
        if not isinstance(w, np.ndarray):
            _fail(comp, name, data, f"returned a {type(w).__name__}, not a numpy array")
        if w.shape != shape or w.dtype != dtype:
            _fail(comp, name, data, f"returned shape {w.shape} dtype {w.dtype}; expected shape "
                                    f"{shape} dtype {np.dtype(dtype).name}")
        if not np.all(np.isfinite(w)):
            _fail(comp, name, data, "returned non-finite values")
        again = _call_init(comp, data, shape, np.random.default_rng(seed), dtype, name)
        if not np.array_equal(w, again):
            _fail(comp, name, data, "the same seed gave different values; draw every random "
                                    "number from the rng argument (not np.random)")
        if check.constant is None and (check.std is None or _promised_std(check, shape) > 0) \
                and w.size >= 4:
            other = _call_init(comp, data, shape, np.random.default_rng(seed + 1), dtype, name)
            if np.array_equal(w, other):
                _fail(comp, name, data, "another seed gave the same values; use the rng argument")
    return prop


def _promised_std(check: InitializerCheck, shape) -> float:
    from tinygrad_edu.init_utils import fans

    return float(check.std(*fans(shape)))


def _initializer_distribution(comp: Component, check: InitializerCheck):
    def prop(data: _Recorder):
        from tinygrad_edu.init_utils import fans

        shape = data.draw(_init_shapes(large=True), label="shape")
        seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
        fan_in, fan_out = fans(shape)
        data.note(f"call: {comp.name}({shape}, fan_in={fan_in}, fan_out={fan_out}, "
                  f"rng=default_rng({seed}), dtype=float64)")
        w = _call_init(comp, data, shape, np.random.default_rng(seed), np.float64, "distribution")
        if check.constant is not None:
            if not np.all(w == check.constant):
                _fail(comp, "distribution", data,
                      f"promised the constant {check.constant}, got values from {w.min():.6g} "
                      f"to {w.max():.6g}")
            return
        promised = _promised_std(check, shape)
        got = float(np.std(w))
        # the sample std of n values has a relative standard error of about 1/sqrt(2n) for a
        # Gaussian (less for a uniform); allow 5 of them, and never less than 2%
        tolerance = max(0.02, 5.0 / math.sqrt(2.0 * w.size))
        if not abs(got - promised) <= tolerance * promised:
            _fail(comp, "distribution", data,
                  f"sample std {got:.6g} over {w.size} values, promised std(fan_in={fan_in}, "
                  f"fan_out={fan_out}) = {promised:.6g} (relative difference "
                  f"{abs(got - promised) / promised if promised else float('inf'):.3g} > "
                  f"tolerance {tolerance:.3g})")
    return prop
