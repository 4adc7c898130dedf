"""Differential conformance (tinygrad_edu.testing.differential): a replacement is compared with
the standard component it replaces. Right and deliberately wrong replacements, in plain numpy
(the numba plugin has its own tests in test_numba_plugin.py)."""
import numpy as np
import pytest

from tinygrad_edu import registry
from tinygrad_edu.components import Check, Component
from tinygrad_edu.function import Function
from tinygrad_edu.tensor import as_tensor
from tinygrad_edu.testing.differential import check_replacement
from tinygrad_edu_plugins.layers import MaxPool2d, MaxPool2dFunction

EXAMPLES = 15


def standard(kind, name):
    """The standard implementation, even where a replacement (the numba plugin) is active."""
    return registry.get_component(kind, name, implementation="standard")


def replacement(kind, name, obj, check=None):
    return Component(name, obj, kind=kind, plugin="test_replacement", replaces=name, check=check)


# ---- replacements ---------------------------------------------------------------------------------


class ReLUByProduct(Function):
    """A correct ReLU written differently: y = x * (x > 0), dy/dx = (x > 0)."""

    def forward(self, x):
        self.positive = (x > 0).astype(x.dtype)
        return x * self.positive

    def backward(self, gy):
        return gy * self.positive


class ReLUWithSlopeOneAtZero(Function):
    """Wrong: dy/dx = 1 at x = 0 (the standard says 0)."""

    def forward(self, x):
        self.mask = x >= 0
        return np.maximum(x, 0)

    def backward(self, gy):
        return gy * self.mask


class ReLUNoFloat32(Function):
    """Wrong: computes in float64 whatever the input (the output dtype changes)."""

    def forward(self, x):
        self.mask = x > 0
        return np.maximum(x, 0).astype(np.float64)

    def backward(self, gy):
        return gy * self.mask


class LastMaxPool2dFunction(MaxPool2dFunction):
    """Wrong: a tie in a window sends the gradient to the *last* maximum."""

    def _mark_first_hits(self, xp, out, hits):
        windows = list(self.geometry.windows(*out.shape[2:]))
        undecided = np.ones(out.shape, dtype=bool)
        for i in reversed(range(len(windows))):
            np.equal(xp[windows[i]], out, out=hits[i])
            hits[i] &= undecided
            undecided &= ~hits[i]


class LastMaxPool2d(MaxPool2d):
    _function = LastMaxPool2dFunction


def relu_by(function_class):
    return lambda x: function_class()(as_tensor(x))


# ---- tests ----------------------------------------------------------------------------------------


def test_a_correct_replacement_agrees():
    report = check_replacement(replacement("activation", "relu", relu_by(ReLUByProduct)),
                               standard("activation", "relu"), max_examples=EXAMPLES)
    assert report.ok, report.describe()
    assert report.examples >= 2 * EXAMPLES   # both dtypes ran
    assert "agrees" in report.describe()


def test_relu_with_the_wrong_derivative_at_zero_is_caught_and_located():
    report = check_replacement(replacement("activation", "relu", relu_by(ReLUWithSlopeOneAtZero)),
                               standard("activation", "relu"), max_examples=EXAMPLES)
    assert not report.ok
    assert {m.dtype for m in report.mismatches} == {"float32", "float64"}
    for m in report.mismatches:
        assert m.what == "gradient of the input"
        assert "training" in m.case and "x = " in m.inputs
    text = report.describe()
    assert "DISAGREES" in text and "test_replacement" in text and "expected" in text


def test_a_changed_output_dtype_is_caught():
    report = check_replacement(replacement("activation", "relu", relu_by(ReLUNoFloat32)),
                               standard("activation", "relu"), max_examples=EXAMPLES,
                               dtypes=(np.float32,))
    assert [m.what for m in report.mismatches] == ["output"]
    assert "dtype float64, expected float32" in report.mismatches[0].detail


def test_max_pooling_ties_must_go_to_the_first_maximum():
    report = check_replacement(replacement("layer", "maxpool2d", LastMaxPool2d),
                               standard("layer", "maxpool2d"), max_examples=EXAMPLES)
    assert not report.ok
    assert all(m.what == "gradient of the input" for m in report.mismatches), report.describe()


def test_a_replacement_that_raises_is_reported():
    def broken(x):
        raise RuntimeError("kernel not compiled for this shape")

    report = check_replacement(replacement("activation", "relu", broken),
                               standard("activation", "relu"), max_examples=5,
                               dtypes=(np.float64,))
    assert [m.what for m in report.mismatches] == ["exception"]
    assert "RuntimeError" in report.mismatches[0].detail


def test_the_standard_agrees_with_itself_on_layers_with_parameters():
    conv = standard("layer", "conv2d")
    report = check_replacement(replacement("layer", "conv2d", conv.obj), conv, max_examples=10)
    assert report.ok, report.describe()


def test_only_activations_and_layers_of_one_kind_are_compared():
    with pytest.raises(ValueError, match="activations or layers"):
        check_replacement(replacement("optimizer", "sgd", object), standard("optimizer", "sgd"))
    with pytest.raises(ValueError, match="one kind"):
        check_replacement(replacement("activation", "maxpool2d", object),
                          standard("layer", "maxpool2d"))
    with pytest.raises(ValueError, match="declares no"):
        check_replacement(replacement("layer", "x", object), Component("x", object, kind="layer"))
