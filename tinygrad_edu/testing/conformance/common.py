"""What every conformance check shares: the error, the recorder of drawn inputs, the report,
hypothesis settings, and the gradient checks with their reports.

These helpers are public so that other checks (``tinygrad_edu.testing.differential``, a plugin's
own checks) report failures the same way:

``Recorder(data)``                   wraps hypothesis' ``data``: ``draw`` and ``note`` (the
                                     lines of the report's "input" part)
``fail(comp, check, data, problem)`` raise :class:`ConformanceError` naming the component,
                                     its plugin, the check, what was drawn, and the problem
``run_property(comp, check, prop, settings)``   run ``prop(recorder)`` under hypothesis
``conformance_settings(parent, max_examples)``  the settings every conformance run uses
``describe_array(name, a)``, ``describe_kwargs(kw)``, ``exception_line(error)``, ``indent``
``input_strategy(check, shape)``, ``draw_case(data, comp, check)``   inputs from a ``Check``
``check_gradient(...)``, ``check_second_order_gradient(...)``   gradcheck with a report
"""
from __future__ import annotations

import contextlib
import re
import traceback
from typing import Callable

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings as Settings, strategies as st

from tinygrad_edu.components import KINDS, Check, Component
from tinygrad_edu.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygrad_edu.tensor import Tensor
from tinygrad_edu.testing.strategies import seeded_arrays, shapes


class ConformanceError(AssertionError):
    """A component failed a conformance check. The message names the component, its plugin,
    the check, the drawn input and what went wrong (for gradients: the gradcheck report).
    ``component`` and ``check`` hold the Component and the name of the failed check."""

    def __init__(self, message: str, component: Component | None = None, check: str = ""):
        super().__init__(message)
        self.component = component
        self.check = check


def kind_name(kind: str) -> str:
    """``"layer"`` or ``"layers"`` -> ``"layer"``."""
    for candidate in KINDS:
        if kind in (candidate, candidate + "s", candidate + "es"):
            return candidate
    raise ValueError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")


def conformance_settings(parent: Settings, max_examples: int | None) -> Settings:
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


def run_property(comp: Component, check_name: str, prop: Callable, chosen: Settings) -> None:
    """Run ``prop(data)`` under hypothesis; any failure becomes a ConformanceError naming
    the component and the check."""

    def test(data):
        recorder = Recorder(data)
        try:
            prop(recorder)
        except ConformanceError:
            raise
        except Exception as error:   # the component raised: report it as a failure too
            raise ConformanceError(
                header(comp, check_name) + "\n" + indent(recorder.conformance_inputs) +
                "\n  the component raised " + exception_line(error), comp, check_name) from error

    label = re.sub(r"\W+", "_", f"{comp.kind}_{comp.name}_{check_name}")
    test.__name__ = test.__qualname__ = f"conformance_{label}"
    # a separate example-database key per component and check
    test._hypothesis_internal_add_digest = f"{comp.kind}:{comp.name}:{check_name}".encode()
    runner = given(data=st.data())(test)
    runner = chosen(runner)
    with numpy_errors_quiet():
        try:
            runner()
        except ConformanceError:
            raise
        except Exception as error:   # hypothesis itself gave up (Unsatisfiable, Flaky, ...)
            raise ConformanceError(
                header(comp, check_name) + "\n  hypothesis could not run the check: "
                + exception_line(error), comp, check_name) from error


class Recorder:
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


def fail(comp: Component, check_name: str, data: Recorder, problem: str,
          cause: BaseException | None = None):
    error = ConformanceError(
        header(comp, check_name) + "\n" + indent(data.conformance_inputs) + "\n" +
        indent(problem), comp, check_name)
    if cause is not None:
        raise error from cause
    raise error


def header(comp: Component, check_name: str) -> str:
    plugin = f"plugin {comp.plugin!r}" if comp.plugin else "no plugin (not registered)"
    return (f"conformance check {check_name!r} failed for {comp.kind or 'component'} "
            f"{comp.name!r} (from {plugin}):")


def indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line for line in text.splitlines())


def exception_line(error: BaseException) -> str:
    line = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        line += f"\n  (at {last.filename}:{last.lineno}, in {last.name})"
    return line


def describe_array(name: str, array) -> str:
    array = np.asarray(array)
    text = np.array2string(array, precision=6, threshold=60, separator=", ")
    head = f"{name}: shape {array.shape}, dtype {array.dtype}"
    return f"{head}\n  {name} = " + text.replace("\n", "\n  " + " " * (len(name) + 3))


def describe_kwargs(kwargs: dict) -> str:
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
def numpy_errors_quiet():
    """Overflow warnings of a drawn example are not the failure we report."""
    with np.errstate(all="ignore"):
        yield


def input_strategy(check: Check, shape):
    low, high = check.domain
    return seeded_arrays(shape, low=low, high=high, avoid=tuple(check.avoid), margin=check.margin,
                        distinct=check.distinct)


# the strategy each Check.cases function makes, made once (hypothesis describes a new
# strategy's lambdas from their source, which costs more than drawing from it)
_CASES: dict = {}


def draw_case(data: Recorder, comp: Component, check: Check):
    """(kwargs, shape) from ``check.cases``, or ({}, a drawn shape) without cases."""
    if check.cases is not None:
        if check.cases not in _CASES:
            _CASES[check.cases] = check.cases(st)
        case = data.draw(_CASES[check.cases], label="case")
        try:
            kwargs, shape = case
            kwargs, shape = dict(kwargs), tuple(int(n) for n in shape)
        except (TypeError, ValueError):
            raise ConformanceError(
                header(comp, "declaration") + f"\n  Check.cases produced {case!r}; it must "
                f"produce (kwargs dict, input shape tuple) pairs", comp, "declaration") from None
        return kwargs, shape
    low, high = check.ndim
    return {}, data.draw(shapes(min_dims=low, max_dims=high, max_side=4), label="shape")


def check_gradient(comp, check_name, data, fn, inputs, names, atol, rtol):
    try:
        gradcheck(fn, *inputs, atol=atol, rtol=rtol, names=names)
    except GradcheckError as error:
        fail(comp, check_name, data, "gradcheck report (backward vs central differences):\n"
              + indent(str(error)), error)


def check_second_order_gradient(comp, check_name, data, fn, inputs, names, atol, rtol):
    try:
        gradgradcheck(fn, *inputs, atol=max(atol, 1e-4), rtol=rtol, names=names)
    except GradcheckError as error:
        fail(comp, check_name, data, "gradgradcheck report (the backward of the backward vs "
              "central differences of the backward):\n" + indent(str(error)) +
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
            fail(comp, check_name, data,
                  f"the first derivative changes with the input (by {change:.3g} for a small "
                  f"perturbation) but its graph does not depend on the input: the backward is "
                  f"computed outside the graph (with numpy, or on .data), so create_graph=True "
                  f"cannot differentiate it.\nWrite the backward with Tensor operations, or "
                  f"declare Check(second_order=False) (and differentiable_backward = False on "
                  f"the Function).", error)
    except RuntimeError as error:
        # e.g. a Function with differentiable_backward = False refusing create_graph
        fail(comp, check_name, data, f"the backward cannot be differentiated: "
              f"{exception_line(error)}\nDeclare Check(second_order=False) if that is "
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
