"""Differential conformance: a replacement must compute what the component it replaces computes.

A plugin may declare a component a drop-in replacement of a standard one
(``Component("maxpool2d", MyMaxPool2d, replaces="maxpool2d")``). The usual conformance checks
prove that it is *a* correct function (its gradient matches its own values); this module proves
that it is *the same* function as the standard::

    from tinygrad_edu.testing.differential import check_replacement

    report = check_replacement(replacement, standard)      # two Components
    if not report.ok:
        print(report.describe())                             # says where they disagree

On random inputs drawn by hypothesis, for float32 and float64, both are run on the same input
and the same upstream gradient, and the replacement must match the standard's output, the
gradient of the input and the gradient of every parameter. The inputs are drawn to hit the
awkward cases: values on a coarse grid (so that exact zeros for ReLU and ties inside a pooling
window are common), -0.0, the hyper-parameters of the standard's ``Check.cases`` (odd sizes,
padding, strides that do not tile the input), and two memory layouts of the same input
(C-ordered, and channels-last / reversed axes as a convolution or a transpose produces). Both
``no_grad`` (inference) and recording (training) paths are compared.

The standard's semantics are the contract, including the conventions they document: a tie in
a max pooling window sends the gradient to the *first* maximum in row-major order, and ReLU's
derivative at exactly 0 is 0. Values agree when they are equal within a tolerance of a few
units in the last place of the dtype (``RTOL``, ``ATOL``), NaN where the standard has NaN.

Covered kinds: activations and layers (the components that compute on arrays). A hypothesis
failure is shrunk to a small example before it is reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tinygrad_edu.autograd import no_grad
from tinygrad_edu.components import Check, Component
from tinygrad_edu.tensor import Tensor

# hypothesis is imported where it is used (check_replacement): the plugin manager runs
# quick_check_replacement when a replacement is first looked up, and that must stay cheap

__all__ = ["check_replacement", "quick_check_replacement", "DifferentialReport", "Mismatch",
           "RTOL", "ATOL", "DTYPES"]

DTYPES = (np.float32, np.float64)
#: Relative and absolute tolerance per dtype (a few units in the last place).
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
ATOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-13}
KINDS = ("activation", "layer")
#: Inputs up to this size are printed whole in a mismatch.
SHOW_AT_MOST = 200


@dataclass
class Mismatch:
    """Where a replacement disagreed with the standard: which result (``what``: "output",
    "gradient of the input", "gradient of W", "exception" ...), on which input, and the first
    element that differs."""

    what: str
    dtype: str
    case: str              # the hyper-parameters, the input shape, the layout, the mode
    detail: str            # the index and both values, or the exceptions
    inputs: str = ""       # the input (and upstream gradient) when small enough to print

    def describe(self) -> str:
        lines = [f"{self.what} differs ({self.dtype}, {self.case}): {self.detail}"]
        if self.inputs:
            lines.append(self.inputs)
        return "\n".join(lines)


@dataclass
class DifferentialReport:
    """The outcome of :func:`check_replacement`: ``ok``, and the mismatches that say where."""

    replacement: str
    standard: str
    kind: str
    examples: int = 0                      # examples run, over all dtypes
    mismatches: list[Mismatch] = field(default_factory=list)
    note: str = ""                         # why nothing was compared, if so

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        """One line: where the first disagreement is ('' when they agree)."""
        return self.mismatches[0].describe().splitlines()[0] if self.mismatches else ""

    def describe(self) -> str:
        head = (f"{self.kind} {self.replacement} against the standard {self.standard}: "
                f"{'agrees' if self.ok else 'DISAGREES'} ({self.examples} examples, "
                f"float32 and float64)") + (f"; {self.note}" if self.note else "")
        return "\n".join([head] + ["  " + m.describe().replace("\n", "\n  ")
                                   for m in self.mismatches])


class _Disagreement(AssertionError):
    def __init__(self, mismatch: Mismatch):
        super().__init__(mismatch.describe())
        self.mismatch = mismatch


def check_replacement(component: Component, standard: Component, max_examples: int | None = None,
                      dtypes=DTYPES, settings=None) -> DifferentialReport:
    """Compare ``component`` (a replacement) with ``standard`` on random inputs; return a
    :class:`DifferentialReport` (never raises for a disagreement: the report says where).

    Both are :class:`~tinygrad_edu.components.Component` records of the same kind (activation
    or layer). The cases come from the standard's ``check`` (its ``cases`` give layer kwargs
    and input shapes; its ``domain`` the range of values), or from the replacement's when the
    standard has none. ``max_examples`` per dtype (default: the loaded hypothesis profile's);
    ``settings``: hypothesis settings to start from.
    """
    from hypothesis import given
    from hypothesis import settings as Settings
    from hypothesis import strategies as st

    from tinygrad_edu.testing.conformance.common import conformance_settings, numpy_errors_quiet

    kind, check = _kind_and_check(component, standard, "check_replacement")
    if kind == "layer" and check.cases is None:
        raise ValueError(f"check_replacement: the layer {standard.name!r} declares no "
                         f"Check(cases=...), so there is nothing to build it with")
    report = DifferentialReport(_label(component), _label(standard), kind)
    chosen = conformance_settings(settings or Settings(), max_examples)
    for dtype in dtypes:
        dtype = np.dtype(dtype)

        def compare(data):
            report.examples += 1
            mismatch = _compare_once(data, component, standard, check, kind, dtype)
            if mismatch is not None:
                raise _Disagreement(mismatch)

        compare.__name__ = f"differential_{kind}_{standard.name}_{dtype.name}"
        runner = chosen(given(data=st.data())(compare))
        with numpy_errors_quiet():
            try:
                runner()
            except _Disagreement as failure:      # the shrunk, final example
                report.mismatches.append(failure.mismatch)
    return report


# ---- the quick, fixed check --------------------------------------------------------------------

#: Layer hyper-parameters and input shapes of the quick check, by the standard's name: odd
#: sizes, padding, overlapping windows, strides that do not tile the input.
POOLING_CASES = (
    ({"kernel_size": 2, "stride": 2, "padding": 0}, (2, 3, 4, 4)),
    ({"kernel_size": 2, "stride": 1, "padding": 0}, (1, 2, 3, 5)),
    ({"kernel_size": 3, "stride": 2, "padding": 1}, (1, 2, 6, 7)),
    ({"kernel_size": 3, "stride": 3, "padding": 0}, (2, 1, 7, 8)),
)
QUICK_LAYER_CASES = {"maxpool2d": POOLING_CASES, "avgpool2d": POOLING_CASES}
#: Input shapes of the quick check of an activation.
QUICK_ACTIVATION_SHAPES = ((15,), (3, 5), (1, 3, 5))


def quick_check_replacement(component: Component, standard: Component,
                            dtypes=DTYPES) -> DifferentialReport:
    """Compare ``component`` with ``standard`` on a few fixed, awkward inputs (no hypothesis,
    deterministic; milliseconds once a replacement's kernels are compiled): what the plugin
    manager runs before a replacement takes over a name.

    For float32 and float64, C-ordered and transposed (channels-last) memory, ``no_grad`` and
    training (output, gradient of the input and of every parameter): activations on the
    domain's grid of halves with exact zeros and -0.0; layers on the cases of
    ``QUICK_LAYER_CASES`` (pooling: windows full of ties, all-negative windows that meet the
    padding, odd sizes, strides that do not tile). A layer with no fixed cases is not compared
    (the report's ``note`` says so; ``check_replacement`` covers it). Never raises for a
    disagreement: the report says where."""
    kind, check = _kind_and_check(component, standard, "quick_check_replacement")
    report = DifferentialReport(_label(component), _label(standard), kind)
    if kind == "layer":
        cases = QUICK_LAYER_CASES.get(standard.name)
        if cases is None:
            report.note = f"no fixed cases for the layer {standard.name!r}, not compared"
            return report
    else:
        cases = [({}, shape) for shape in QUICK_ACTIVATION_SHAPES]
    with np.errstate(all="ignore"):
        for dtype in map(np.dtype, dtypes):
            for kwargs, shape in cases:
                x = _awkward_values(check, shape, dtype, kind)
                for layout in ("C", "channels-last" if len(shape) == 4 else "reversed"):
                    for training in (False, True):
                        report.examples += 1
                        mismatch = _compare(component, standard, check, kind, dtype, kwargs,
                                            x, layout, training, _fixed_upstream)
                        if mismatch is not None:
                            report.mismatches.append(mismatch)
                            return report
    return report


def _awkward_values(check: Check, shape, dtype, kind: str) -> np.ndarray:
    """A deterministic input: the domain's grid of halves with 0.0 and -0.0 (activations), or
    values with many ties, a window of equal values and a run of negative values at the start
    (where pooling windows meet the padding)."""
    n = int(np.prod(shape))
    if kind == "activation":
        low, high = check.domain
        grid = np.concatenate([[0.0, -0.0], np.arange(np.ceil(2 * low), np.floor(2 * high) + 1) / 2])
        return np.resize(grid, n).reshape(shape).astype(dtype)
    x = (((np.arange(n) * 7) % 5) - 2) / 2
    x[: min(n, 6)] = -1.5             # negative near the top-left corner: padding must lose
    x = x.reshape(shape)
    x[..., -2:, -2:] = 0.5            # a block of ties
    return x.astype(dtype)


def _fixed_upstream(y) -> np.ndarray:
    """A deterministic upstream gradient: integers in [-4, 4], zeros included."""
    return ((np.arange(y.size) % 9) - 4).reshape(y.shape).astype(y.dtype)


def _kind_and_check(component: Component, standard: Component, caller: str):
    """The kind both components share and the Check that describes their inputs."""
    kind = standard.kind or component.kind
    if kind not in KINDS or (component.kind and component.kind != kind):
        raise ValueError(f"{caller}: compares activations or layers of one kind, got "
                         f"{component.kind or '?'} {component.name!r} and {kind or '?'} "
                         f"{standard.name!r}")
    check = standard.check if isinstance(standard.check, Check) else component.check
    return kind, check if isinstance(check, Check) else Check()


def _label(comp: Component) -> str:
    return f"{comp.name!r}" + (f" of plugin {comp.plugin!r}" if comp.plugin else "")


# ---- one example --------------------------------------------------------------------------------


def _values(check: Check, dtype):
    """Elements on a coarse grid (ties and exact zeros), the domain's ends, -0.0, and any
    finite value of the domain."""
    from hypothesis import strategies as st

    low, high = check.domain
    grid = st.integers(int(np.ceil(2 * low)), int(np.floor(2 * high))).map(lambda k: k / 2)
    anywhere = st.floats(low, high, allow_nan=False, allow_infinity=False,
                         width=32 if dtype == np.float32 else 64)
    return st.one_of(grid, st.sampled_from([0.0, -0.0, low, high]), anywhere)


def _draw_case(data, check: Check, kind: str):
    from hypothesis import strategies as st

    from tinygrad_edu.testing.strategies import shapes

    if check.cases is not None:
        kwargs, shape = data.draw(check.cases(st), label="case")
        return dict(kwargs), tuple(int(n) for n in shape)
    low, high = check.ndim
    return {}, data.draw(shapes(min_dims=low, max_dims=high, max_side=5), label="shape")


def _in_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """The same values in another memory layout: "C", or "channels-last" (4-D: the layout of
    a convolution's output) / "reversed" (the transpose of a C-ordered array)."""
    if layout == "C" or x.ndim < 2:
        return np.ascontiguousarray(x)
    if x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x.T).T


def _compare_once(data, component, standard, check, kind, dtype) -> Mismatch | None:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    kwargs, shape = _draw_case(data, check, kind)
    x = data.draw(hnp.arrays(dtype, shape, elements=_values(check, dtype)), label="x")
    layout = data.draw(st.sampled_from(["C", "channels-last" if x.ndim == 4 else "reversed"]),
                       label="layout")
    training = data.draw(st.booleans(), label="training")
    return _compare(component, standard, check, kind, dtype, kwargs, x, layout, training,
                    lambda y: data.draw(hnp.arrays(y.dtype, y.shape,
                                                   elements=st.integers(-4, 4).map(float)),
                                        label="upstream gradient"))


def _compare(component, standard, check, kind, dtype, kwargs, x, layout, training,
             upstream) -> Mismatch | None:
    """Run both on ``x`` (in ``layout``) with the layer ``kwargs``, forward and, when
    ``training``, backward from ``upstream(y)``; the first difference, or None."""
    kwargs = dict(kwargs)
    if kind == "layer" and "dtype" in kwargs:
        kwargs["dtype"] = dtype
    shape = x.shape
    x = _in_layout(x, layout)
    case = (f"{kwargs or 'no kwargs'}, input shape {shape}, {layout} layout, "
            f"{'training (gradients recorded)' if training else 'no_grad'}")
    shown = f"x = {_show(x)}"

    def run(comp):
        build = (check.build or comp.obj) if kind == "layer" else None
        f = build(**kwargs) if kind == "layer" else (lambda t: comp.obj(t, **kwargs))
        return f

    try:
        f_std = run(standard)
        f_new = run(component)
        if kind == "layer":
            _copy_parameters(f_std, f_new)
    except Exception as error:   # noqa: BLE001 - building differs: report it
        return Mismatch("construction", dtype.name, case, f"raised {error!r}", shown)

    try:
        std = _forward_backward(f_std, x, training, upstream)
    except Exception as error:   # noqa: BLE001 - the standard rejects the input
        std = error
    try:
        gy = None if isinstance(std, Exception) else std[1]
        new = _forward_backward(f_new, x, training, lambda y: gy if gy is not None
                                else np.ones(y.shape, y.dtype))
    except Exception as error:   # noqa: BLE001 - the replacement raised
        new = error
    if isinstance(std, Exception) or isinstance(new, Exception):
        if type(std) is type(new):
            return None            # both reject the input the same way
        return Mismatch("exception", dtype.name, case,
                        f"the standard {_outcome(std)}, the replacement {_outcome(new)}", shown)
    for (what, expected), (_, got) in zip(std[0], new[0]):
        detail, where = _difference(expected, got, dtype)
        if detail:
            if where is not None and x.shape == np.shape(expected):
                detail += f" (where x = {x[where]!r})"
            gy = std[1]
            extra = f"\nupstream gradient = {_show(gy)}" if gy is not None else ""
            return Mismatch(what, dtype.name, case, detail, shown + extra)
    return None


def _forward_backward(f, x, training, upstream):
    """([(what, array)], gy): the output and, when training, every gradient, after a
    backward from the upstream gradient ``gy = upstream(y)`` (None under no_grad)."""
    xt = Tensor(x.copy(order="K"), requires_grad=training)
    if not training:
        with no_grad():
            return [("output", np.asarray(f(xt).data))], None
    y = f(xt)
    gy = upstream(y)
    y.backward(Tensor(gy))
    out = [("output", np.asarray(y.data)), ("gradient of the input", _grad(xt, x))]
    for name, p in (f.named_parameters() if hasattr(f, "named_parameters") else []):
        out.append((f"gradient of {name}", _grad(p, p.data)))
    return out, gy


def _outcome(result) -> str:
    return f"raised {result!r}" if isinstance(result, Exception) else "ran"


def _grad(t, like):
    return np.zeros_like(like) if t.grad is None else np.asarray(t.grad.data)


def _copy_parameters(source, target) -> None:
    """Give ``target`` the parameter values of ``source`` (same names), so that both compute
    with the same weights whatever their constructors drew."""
    if not hasattr(source, "named_parameters"):
        return
    theirs = dict(target.named_parameters())
    for name, p in source.named_parameters():
        if name not in theirs or theirs[name].data.shape != p.data.shape:
            raise ValueError(f"the replacement has no parameter {name!r} of shape {p.data.shape}")
        theirs[name].data[...] = p.data


def _show(a: np.ndarray) -> str:
    """The whole array when small, else its shape and range."""
    if a.size <= SHOW_AT_MOST:
        return np.array2string(a, threshold=SHOW_AT_MOST, separator=", ").replace("\n", " ")
    return f"array of shape {a.shape}, values in [{a.min()}, {a.max()}]"


def _difference(expected, got, dtype) -> str:
    """('', None) when ``got`` matches ``expected``; else how it differs and the index of the
    first differing element (None when the shapes or dtypes differ)."""
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.shape != got.shape:
        return f"shape {got.shape}, expected {expected.shape}", None
    if got.dtype != expected.dtype:
        return f"dtype {got.dtype}, expected {expected.dtype}", None
    close = np.isclose(got, expected, rtol=RTOL[dtype], atol=ATOL[dtype], equal_nan=True)
    if close.all():
        return "", None
    where = tuple(int(i) for i in np.argwhere(~close)[0])
    return (f"{int((~close).sum())} of {close.size} elements; first at index {where}: "
            f"{got[where]!r}, expected {expected[where]!r}"), where
