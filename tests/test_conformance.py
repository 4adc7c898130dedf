"""The conformance suite: every registered component passes it, and broken components fail it
with a report that names the component, its plugin, the drawn input and what went wrong.

The parametrization reads the registry at collection time, so a newly registered component
(an installed third-party plugin's too) is checked without touching this file.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinygrad_edu import Tensor, plugins, registry
from tinygrad_edu.components import KINDS, Check, Component, InitializerCheck, OptimizerCheck
from tinygrad_edu.plugins import PluginRecord
from tinygrad_edu.testing import (CheckResult, ConformanceError, check_component,
                                  float_arrays, run_checks)

pytest_plugins = ["pytester"]

HERE = Path(__file__).resolve().parent

# Layers are the expensive components (every parameter element is perturbed twice per
# gradcheck): cap their budget so a larger hypothesis profile does not blow up CI time.
LAYER_MAX_EXAMPLES = 25


def _all_components():
    return [pytest.param(c, id=f"{c.kind}:{c.name}") for kind in KINDS
            for c in registry.components(kind)]


@pytest.mark.parametrize("comp", _all_components())
def test_every_registered_component_conforms(comp):
    if comp.kind == "layer" and (comp.check is None or comp.check.cases is None):
        pytest.skip(f"layer {comp.name!r} declares no Check(cases=...), so the suite cannot "
                    f"build and feed it")
    max_examples = None
    if comp.kind == "layer":
        max_examples = min(settings().max_examples, LAYER_MAX_EXAMPLES)
    check_component(comp, max_examples=max_examples)


def test_the_standard_plugins_provide_every_kind():
    """The parametrization above is not empty: each standard plugin has components in it."""
    plugin_of = {"layer": "layers", "activation": "activations", "loss": "losses",
                 "optimizer": "optimizers", "initializer": "initializers", "model": "models"}
    for kind in plugin_of:   # the kinds with checks (the standard plugins offer no callback)
        assert [c for c in registry.components(kind) if c.plugin == plugin_of[kind]], kind


# ---- train-mode randomness is frozen, not switched off --------------------------------------


def _dropout_with_p(cls):
    cases = lambda st: st.tuples(  # noqa: E731
        st.fixed_dictionaries({"p": st.floats(0.2, 0.8), "seed": st.integers(0, 99)}),
        st.lists(st.integers(2, 4), min_size=1, max_size=3).map(tuple))
    return Component("dropout_p", cls, check=Check(cases=cases, second_order=False), kind="layer")


def test_train_mode_dropout_is_checked_with_a_frozen_mask():
    """Dropout with p > 0 in training draws a new mask per call; the suite replays one mask
    per example, so the training backward (the mask) is what gets checked."""
    check_component(_dropout_with_p(registry.get("layer", "dropout")), max_examples=10)


def test_a_dropout_whose_backward_ignores_the_mask_fails(broken):
    with pytest.raises(ConformanceError) as info:
        check_component(_dropout_with_p(broken.BrokenDropout), max_examples=10)
    assert "mode: train" in str(info.value)


def test_the_global_numpy_random_state_is_restored():
    np.random.seed(123)
    expected = np.random.get_state()[1].copy()
    check_component(registry.get_component("layer", "dropout"), max_examples=3)
    assert np.array_equal(np.random.get_state()[1], expected)


# ---- broken components fail, with a useful report --------------------------------------------


@pytest.fixture
def broken(tinygrad_edu_plugin):
    """tests/broken_plugin, registered at run time (and unregistered after the test)."""
    spec = importlib.util.spec_from_file_location("broken_plugin",
                                                  HERE / "broken_plugin" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tinygrad_edu_plugin(module, name="broken")
    return module


BROKEN = [
    # name, the check that must fail, what the report must say
    ("broken_softplus", "gradient",
     ["x: shape", "gradcheck failed for x", "analytic  (backward)", "numerical"]),
    ("broken_numpy_tanh", "second-order gradient",
     ["x: shape", "graph does not depend on the input", "second_order=False"]),
    ("broken_double", "dtype", ["x: shape", "float32 input gave a float64 output"]),
    ("broken_mse", "gradient", ["x: shape", "t=<array", "gradcheck failed for x"]),
    ("broken_affine", "gradient",
     ["x: shape", "parameters: W", "gradcheck failed for parameter 'b'"]),
    ("broken_dropout", "gradient", ["x: shape", "mode: train", "gradcheck failed for input x"]),
    ("broken_sgd", "first step", ["p0: shape", "g0: shape", "opt.lr =", "first_step"]),
    ("broken_momentum", "state_dict round trip",
     ["parameter shapes", "save after step", "differs from an uninterrupted run"]),
    ("broken_out_of_place_sgd", "in-place update", ["p0: shape", "in place"]),
    ("broken_he", "distribution", ["broken_he((", "sample std", "promised std"]),
]


@pytest.mark.parametrize("name, check, phrases", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_components_fail_with_a_report(broken, name, check, phrases):
    comp = registry.lookup(name)
    with pytest.raises(ConformanceError) as info:
        check_component(comp)
    error = info.value
    message = str(error)
    assert isinstance(error, AssertionError)
    assert error.component.name == name and error.check == check, message
    assert message.startswith(f"conformance check {check!r} failed for {comp.kind} {name!r} "
                              f"(from plugin 'broken')"), message
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} missing from:\n{message}"


def test_a_component_that_raises_is_reported(tinygrad_edu_plugin):
    def explodes(x):
        """Raises for every input."""
        raise RuntimeError("kaboom")

    class Plugin:
        from tinygrad_edu.hookspecs import hookimpl

        @hookimpl
        def register_activations(self):
            return [Component("broken_explodes", explodes)]

    tinygrad_edu_plugin(Plugin(), name="exploding")
    with pytest.raises(ConformanceError, match=r"(?s)'broken_explodes'.*x: shape.*"
                                               r"raised RuntimeError: kaboom"):
        check_component("broken_explodes", max_examples=2)


def test_declaration_problems_are_reported():
    class Layer:
        pass

    no_cases = Component("caseless", Layer, kind="layer", plugin="mine")
    with pytest.raises(ConformanceError, match="Check\\(cases=...\\)"):
        check_component(no_cases)
    wrong = Component("opt", object, check=Check(), kind="optimizer", plugin="mine")
    with pytest.raises(ConformanceError, match="declares a OptimizerCheck"):
        check_component(wrong)
    bad_cases = Component("act", lambda x: x, check=Check(cases=lambda st: st.just((1, 2))),
                          kind="activation", plugin="mine")
    with pytest.raises(ConformanceError, match="kwargs dict, input shape tuple"):
        check_component(bad_cases, max_examples=1)


def test_unregistered_components_can_be_checked_directly():
    def cube(x):
        """y = x**3, dy/dx = 3 x**2"""
        return x * x * x

    check_component(Component("cube", cube, kind="activation"), max_examples=5)
    sgd = registry.get("optimizer", "sgd")
    check_component(Component("my_sgd", sgd, kind="optimizer",
                              check=OptimizerCheck(first_step=lambda p, g, lr: p - lr * g)),
                    max_examples=5)
    check_component(Component("twos", lambda shape, fan_in, fan_out, rng, dtype:
                              np.full(shape, 2.0, dtype=dtype), kind="initializer",
                              check=InitializerCheck(constant=2.0)), max_examples=5)


# ---- run_checks: what `tinygrad-edu check` calls -------------------------------------------------


def test_run_checks_reports_each_named_component(broken):
    seen = []
    results = run_checks(["relu", "broken_sgd", "optimizer:adam"], max_examples=5,
                         on_result=seen.append)
    assert seen == results
    assert all(isinstance(r, CheckResult) for r in results)
    assert [(r.name, r.kind, r.plugin, r.status) for r in results] == [
        ("relu", "activation", "activations", "passed"),
        ("broken_sgd", "optimizer", "broken", "failed"),
        ("adam", "optimizer", "optimizers", "passed")]
    assert results[0].passed and results[0].message == ""
    assert results[1].failed and "first step" in results[1].message
    assert results[1].as_row()["status"] == "failed"


def test_run_checks_is_deterministic(broken):
    first = run_checks(["broken_softplus"], max_examples=5)[0].message
    assert run_checks(["broken_softplus"], max_examples=5)[0].message == first


def test_run_checks_unknown_name_raises_before_running():
    with pytest.raises(LookupError, match="Did you mean 'relu'"):
        run_checks(["relu", "rleu"])


def test_run_checks_lists_plugins_that_failed_to_load(monkeypatch):
    bad = PluginRecord("badplugin", "badplugin = badplugin", status="quarantined",
                       stage="import", error="ImportError: no module named numpyy")
    monkeypatch.setattr(plugins, "quarantined", lambda: [bad])
    results = run_checks(kinds=["initializer"], max_examples=2)
    assert (results[0].name, results[0].kind, results[0].status) == ("badplugin", "plugin",
                                                                     "failed")
    assert "numpyy" in results[0].message
    assert {r.kind for r in results[1:]} == {"initializer"}
    assert all(r.passed for r in results[1:])


def test_run_checks_skips_layers_without_cases(tinygrad_edu_plugin):
    class Plugin:
        from tinygrad_edu.hookspecs import hookimpl
        from tinygrad_edu.module import Module

        class Caseless(Module):
            """A layer with no Check declared."""

        @hookimpl
        def register_layers(self):
            return [Component("caseless_layer", self.Caseless)]

    tinygrad_edu_plugin(Plugin(), name="caseless")
    results = {r.name: r for r in run_checks(kinds=["layer"], max_examples=1)}
    assert results["caseless_layer"].status == "skipped"
    assert "cases" in results["caseless_layer"].message


# ---- structural properties of the standard layers -----------------------------------------------


@given(data=st.data())
def test_max_pooling_sends_each_gradient_to_its_window_maximum(data):
    """dL/dx is the sum, over the windows whose maximum x is, of those windows' dL/dy; zero
    elsewhere (overlapping windows and -inf padding included), over the geometries that
    maxpool2d's Check declares."""
    kwargs, shape = data.draw(registry.get_component("layer", "maxpool2d").check.cases(st))
    k, stride, pad = kwargs["kernel_size"], kwargs["stride"], kwargs["padding"]
    x = data.draw(float_arrays(shape, distinct=True))
    layer = registry.get("layer", "maxpool2d")(**kwargs)
    xt = Tensor(x, requires_grad=True)
    y = layer(xt)
    g = data.draw(float_arrays(y.shape, low=0.5, high=2.0))
    y.backward(Tensor(g))
    padded = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=-np.inf)
    expected = np.zeros_like(padded)
    N, C, OH, OW = y.shape
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    window = padded[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    assert y.data[n, c, i, j] == window[a, b]
                    expected[n, c, i * stride + a, j * stride + b] += g[n, c, i, j]
    expected = expected[:, :, pad:pad + shape[2], pad:pad + shape[3]]
    np.testing.assert_allclose(xt.grad.data, expected, rtol=1e-12, atol=0)


# ---- the pytest plugin ----------------------------------------------------------------------------


def test_the_pytest_plugin_imports_without_hypothesis():
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "import tinygrad_edu.testing.pytest_plugin, tinygrad_edu.testing as t\n"
            "assert callable(t.conformance_tests)\n"
            "assert not any(m.startswith('tinygrad_edu_plugins') for m in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_conformance_tests_factory(pytester):
    pytester.makepyfile(test_mine="""
        from tinygrad_edu.testing import conformance_tests

        test_good = conformance_tests("relu", "loss:mse", "he_normal", max_examples=3)
        test_typo = conformance_tests("rleu")
        test_whole_plugin = conformance_tests(plugin="losses", max_examples=2)
        test_missing_plugin = conformance_tests(plugin="no_such_plugin")
    """)
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=2)
    result.stdout.fnmatch_lines(["*test_typo*rleu*", "*Did you mean 'relu'*",
                                 "*no tinygrad_edu plugin named 'no_such_plugin'*"])


def test_fixtures_and_command_line_option(pytester):
    broken = (HERE / "broken_plugin" / "__init__.py").read_text()
    pytester.makepyfile(my_broken_plugin=broken)
    pytester.makepyfile(test_fixtures="""
        import pytest
        import my_broken_plugin
        from tinygrad_edu.testing import ConformanceError

        def test_check_fixture(tinygrad_edu_check):
            tinygrad_edu_check("sigmoid")

        def test_plugin_fixture(tinygrad_edu_plugin, tinygrad_edu_check):
            tinygrad_edu_plugin(my_broken_plugin, name="mine")
            with pytest.raises(ConformanceError, match="plugin 'mine'"):
                tinygrad_edu_check("broken_softplus")

        def test_plugin_fixture_cleans_up():
            from tinygrad_edu import registry
            assert "broken_softplus" not in registry.names("activation")
    """)
    result = pytester.runpytest_inprocess(
        "-v", "-p", "no:cacheprovider", "--tinygrad-edu-check", "tanh",
        "--tinygrad-edu-check", "plugin:initializers", "--tinygrad-edu-check", "nosuch",
        "--tinygrad-edu-max-examples", "2")
    n_init = len(registry.components("initializer"))
    result.assert_outcomes(passed=3 + 1 + n_init, failed=1)
    result.stdout.fnmatch_lines(["*conformance[[]tanh[]] PASSED*",
                                 "*conformance[[]initializer:he_normal[]] PASSED*",
                                 "*conformance[[]nosuch[]] FAILED*"])
    only = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-k", "conformance",
                                        "--tinygrad-edu-check", "relu")
    only.assert_outcomes(passed=1, deselected=3)


# ---- one plugin or distribution, in worker processes -----------------------------------------


def test_run_checks_of_one_plugin_or_distribution():
    by_plugin = run_checks(plugin="tinygrad_edu_example", max_examples=3)
    by_distribution = run_checks(plugin="Tinygrad_Edu-Example.Plugin", max_examples=3, jobs=2)
    assert [r.name for r in by_plugin] == ["layernorm", "softplus", "mish", "lion"]
    assert [(r.name, r.status) for r in by_plugin] == \
        [(r.name, r.status) for r in by_distribution]
    assert {r.plugin for r in run_checks(["relu", "sgd"], plugin="tinygrad-edu",
                                         max_examples=2)} == {"activations", "optimizers"}


def test_run_checks_of_an_unknown_plugin_suggests_one():
    with pytest.raises(LookupError, match="did you mean 'tinygrad_edu_example'"):
        run_checks(plugin="tinygrad_edu_exampel")


def test_a_quarantined_plugin_fails_the_check_of_its_distribution(monkeypatch):
    record = PluginRecord(name="tinygrad_edu_example", entry_point="x = y",
                          distribution="tinygrad-edu-example-plugin", status="quarantined",
                          stage="import", error="ImportError: boom")
    monkeypatch.setattr(plugins, "quarantined", lambda: [record])
    results = run_checks(plugin="tinygrad-edu-example-plugin", kinds=["initializer"])
    assert [(r.kind, r.status) for r in results] == [("plugin", "failed")]
    assert "boom" in results[0].message


def test_a_loss_declares_its_reduction():
    def summed(y, t):
        d = y - Tensor(np.asarray(t, dtype=y.dtype))
        return (d * d).sum()

    sums = Component("summed", summed, check=Check(reduction="sum"), kind="loss")
    check_component(sums, max_examples=5)
    with pytest.raises(ConformanceError) as info:
        check_component(Component("summed", summed, kind="loss"), max_examples=5)
    assert info.value.check == "reduction" and "batch given twice" in str(info.value)
