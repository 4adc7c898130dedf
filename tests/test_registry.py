"""Lookups by name and the registry-backed surfaces nn / F / optim / init.

Only plugins registered at run time are seen here (the entry points are patched away), so the
tests do not depend on the standard plugins.
"""
from importlib import metadata

import numpy as np
import pytest

import tinygrad_edu.functional as F
from tinygrad_edu import init, nn, optim, plugins, registry
from tinygrad_edu.components import Component
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.module import Module
from tinygrad_edu.optimizer import Optimizer
from tinygrad_edu.registry import UnknownComponentError


def fake_relu(x):
    """relu(x) = max(x, 0)"""
    return np.maximum(x, 0)


def fake_sigmoid(x):
    """sigmoid(x) = 1 / (1 + exp(-x))"""
    return 1 / (1 + np.exp(-x))


def fake_mse(y, t):
    """mean squared error"""
    return ((y - t) ** 2).mean()


class Linear(Module):   # the real ones live in the standard layer plugin
    """y = x @ W + b"""


class Conv2d(Module):
    """2-d convolution"""


class Adam(Optimizer):
    """Adam"""


def fake_he_normal(shape, fan_in, fan_out, rng, dtype):
    """N(0, 2 / fan_in)"""
    return rng.normal(0, np.sqrt(2 / fan_in), shape).astype(dtype)


class FakeStandard:
    @staticmethod
    @hookimpl
    def register_activations():
        return [Component("relu", fake_relu, aliases=("rectifier",)),
                Component("sigmoid", fake_sigmoid)]

    @staticmethod
    @hookimpl
    def register_losses():
        return [Component("mean_squared_error", fake_mse, aliases=("mse",))]

    @staticmethod
    @hookimpl
    def register_layers():
        return [Component("linear", Linear), Component("conv2d", Conv2d)]

    @staticmethod
    @hookimpl
    def register_optimizers():
        return [Component("adam", Adam)]

    @staticmethod
    @hookimpl
    def register_initializers():
        return [Component("he_normal", fake_he_normal)]


@pytest.fixture(autouse=True)
def only_fake_plugins(monkeypatch):
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    monkeypatch.setattr(metadata, "entry_points", lambda group=None, **kw: [])
    plugins.reset()
    plugins.register_plugin(FakeStandard, name="fake_standard")
    yield
    plugins.reset()


def test_get_is_case_insensitive_and_knows_aliases():
    assert registry.get("activation", "relu") is fake_relu
    assert registry.get("activation", "ReLU") is fake_relu
    assert registry.get("activation", " rectifier ") is fake_relu
    assert registry.get("loss", "MSE") is fake_mse
    assert registry.get("loss", "mean-squared-error") is fake_mse
    assert registry.get("layer", "Conv2d") is Conv2d
    assert registry.get("layers", "linear") is Linear     # plural kind understood


def test_failed_lookup_lists_available_names_and_a_close_match():
    with pytest.raises(UnknownComponentError) as info:
        registry.get("activation", "rleu")
    error = info.value
    assert isinstance(error, LookupError)
    assert "Unknown activation 'rleu'" in str(error)
    assert "Did you mean 'relu'?" in str(error)
    assert "Available activations: relu (rectifier), sigmoid." in str(error)   # aliases shown
    assert (error.kind, error.name, error.suggestion) == ("activation", "rleu", "relu")
    assert error.available == ["relu", "sigmoid"]
    with pytest.raises(UnknownComponentError, match="Available losses: mean_squared_error"):
        registry.get("loss", "hinge")


def test_failed_lookup_mentions_quarantined_plugins(monkeypatch):
    broken = metadata.EntryPoint(name="gpu_acts", value="gpu_acts_not_installed",
                                 group="tinygrad_edu")
    monkeypatch.setattr(metadata, "entry_points", lambda group=None, **kw: [broken])
    with pytest.warns(plugins.PluginWarning):
        plugins.reload()
    with pytest.raises(UnknownComponentError,
                       match="'gpu_acts' .*No module named 'gpu_acts_not_installed'"):
        registry.get("activation", "swish")
    assert registry.get("activation", "relu") is fake_relu    # the run-time plugin still works


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="kinds are layer, activation, loss, optimizer"):
        registry.get("metric", "accuracy")


def test_components_have_kind_and_plugin_filled_in():
    comps = registry.components("activation")
    assert [c.name for c in comps] == ["relu", "sigmoid"]
    assert all(c.kind == "activation" and c.plugin == "fake_standard" for c in comps)
    assert comps[0].doc == "relu(x) = max(x, 0)"
    assert registry.names("layer") == ["conv2d", "linear"]
    kinds = [c.kind for c in registry.all_components()]
    assert kinds == ["layer", "layer", "activation", "activation", "loss", "optimizer",
                     "initializer"]


def test_lookup_across_kinds():
    assert registry.lookup("adam").obj is Adam
    assert registry.lookup("mse").kind == "loss"

    class Both:
        @staticmethod
        @hookimpl
        def register_losses():
            return [Component("relu", fake_relu)]

    plugins.register_plugin(Both)
    with pytest.raises(LookupError, match="activation 'relu', loss 'relu'"):
        registry.lookup("relu")
    assert registry.lookup("relu", kind="loss").kind == "loss"
    with pytest.raises(UnknownComponentError, match="Did you mean 'adam'"):
        registry.lookup("adma")


def test_registry_follows_plugin_changes():
    assert "tanh" not in registry.names("activation")

    class Extra:
        @staticmethod
        @hookimpl
        def register_activations():
            return [Component("tanh", np.tanh)]

    plugins.register_plugin(Extra, name="extra")
    assert registry.get("activation", "tanh") is np.tanh
    plugins.disable_plugin("extra")
    assert "tanh" not in registry.names("activation")


# ------------------------------------------------------------------------------ surfaces


def test_surfaces_find_registered_components():
    assert nn.Linear is Linear and nn.linear is Linear and nn.LINEAR is Linear
    assert nn.Conv2d is Conv2d
    assert nn.Module is Module
    assert nn.functional is F
    assert F.relu is fake_relu and F.rectifier is fake_relu
    assert F.mse is fake_mse and F.mean_squared_error is fake_mse
    assert F.get("ReLU") is fake_relu and F.get("mse", kind="loss") is fake_mse
    assert optim.Adam is Adam and optim.get("adam") is Adam
    assert optim.Optimizer is Optimizer
    assert init.he_normal is fake_he_normal and init.get("HE_NORMAL") is fake_he_normal


def test_surfaces_show_a_component_registered_at_run_time():
    def swish(x):
        """swish(x) = x * sigmoid(x)"""
        return x * fake_sigmoid(x)

    class MyLayer(Module):
        pass

    class ThirdParty:
        @staticmethod
        @hookimpl
        def register_activations():
            return [Component("swish", swish)]

        @staticmethod
        @hookimpl
        def register_layers():
            return [Component("my_layer", MyLayer)]

    with pytest.raises(AttributeError):
        F.swish
    plugins.register_plugin(ThirdParty)
    assert F.swish is swish
    assert nn.MyLayer is MyLayer and nn.my_layer is MyLayer
    assert "swish" in dir(F) and "MyLayer" in dir(nn)
    assert "swish" in F.__all__
    namespace = {}
    exec("from tinygrad_edu.functional import *", namespace)
    assert namespace["swish"] is swish


def test_unknown_attribute_lists_available_names():
    with pytest.raises(AttributeError) as info:
        nn.Conv3d
    message = str(info.value)
    assert message.startswith("module 'tinygrad_edu.nn' has no attribute 'Conv3d'.")
    assert "Did you mean 'Conv2d'?" in message
    assert "Available layers: Conv2d, Linear." in message
    with pytest.raises(AttributeError, match="Available activations and losses: .*mse"):
        F.tanhh
    with pytest.raises(AttributeError, match="Did you mean 'Adam'"):
        optim.Adma
    with pytest.raises(UnknownComponentError, match="Unknown activation or loss 'foo'"):
        F.get("foo")


def test_dunder_attributes_do_not_load_plugins(monkeypatch):
    plugins.reset()

    def fail():
        raise AssertionError("plugins were loaded")

    monkeypatch.setattr(plugins, "_load", fail)
    for module in (nn, F, optim, init):
        assert not hasattr(module, "__wrapped__")
        assert not hasattr(module, "_private")
