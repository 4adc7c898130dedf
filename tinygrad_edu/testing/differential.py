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
from hypothesis import given
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_edu.autograd import no_grad
from tinygrad_edu.components import Check, Component
from tinygrad_edu.tensor import Tensor
from tinygrad_edu.testing.conformance.common import conformance_settings, numpy_errors_quiet
from tinygrad_edu.testing.strategies import shapes

__all__ = ["check_replacement", "DifferentialReport", "Mismatch", "RTOL", "ATOL", "DTYPES"]

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

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def describe(self) -> str:
        head = (f"{self.kind} {self.replacement} against the standard {self.standard}: "
                f"{'agrees' if self.ok else 'DISAGREES'} ({self.examples} examples, "
                f"float32 and float64)")
        return "\n".join([head] + ["  " + m.describe().replace("\n", "\n  ")
                                   for m in self.mismatches])


class _Disagreement(AssertionError):
    def __init__(self, mismatch: Mismatch):
        super().__init__(mismatch.describe())
        self.mismatch = mismatch


def check_replacement(component: Component, standard: Component, max_examples: int | None = None,
                      dtypes=DTYPES, settings: Settings | None = None) -> DifferentialReport:
    """Compare ``component`` (a replacement) with ``standard`` on random inputs; return a
    :class:`DifferentialReport` (never raises for a disagreement: the report says where).

    Both are :class:`~tinygrad_edu.components.Component` records of the same kind (activation
    or layer). The cases come from the standard's ``check`` (its ``cases`` give layer kwargs
    and input shapes; its ``domain`` the range of values), or from the replacement's when the
    standard has none. ``max_examples`` per dtype (default: the loaded hypothesis profile's).
    """
    kind = standard.kind or component.kind
    if kind not in KINDS or (component.kind and component.kind != kind):
        raise ValueError(f"check_replacement: compares activations or layers of one kind, got "
                         f"{component.kind or '?'} {component.name!r} and {kind or '?'} "
                         f"{standard.name!r}")
    check = standard.check if isinstance(standard.check, Check) else component.check
    if not isinstance(check, Check):
        check = Check()
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


def _label(comp: Component) -> str:
    return f"{comp.name!r}" + (f" of plugin {comp.plugin!r}" if comp.plugin else "")


# ---- one example --------------------------------------------------------------------------------


def _values(check: Check, dtype):
    """Elements on a coarse grid (ties and exact zeros), the domain's ends, -0.0, and any
    finite value of the domain."""
    low, high = check.domain
    grid = st.integers(int(np.ceil(2 * low)), int(np.floor(2 * high))).map(lambda k: k / 2)
    anywhere = st.floats(low, high, allow_nan=False, allow_infinity=False,
                         width=32 if dtype == np.float32 else 64)
    return st.one_of(grid, st.sampled_from([0.0, -0.0, low, high]), anywhere)


def _draw_case(data, check: Check, kind: str):
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
    kwargs, shape = _draw_case(data, check, kind)
    if kind == "layer" and "dtype" in kwargs:
        kwargs["dtype"] = dtype
    x = data.draw(hnp.arrays(dtype, shape, elements=_values(check, dtype)), label="x")
    layout = data.draw(st.sampled_from(["C", "channels-last" if x.ndim == 4 else "reversed"]),
                       label="layout")
    training = data.draw(st.booleans(), label="training")
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
        std = _forward_backward(f_std, x, training, lambda y: data.draw(
            hnp.arrays(y.dtype, y.shape, elements=st.integers(-4, 4).map(float)),
            label="upstream gradient"))
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
