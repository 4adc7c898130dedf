"""The plugin manager: entry points, quarantine, conflicts, disabling, lifecycle hooks.

Fake plugins are real distributions: a ``*.dist-info`` folder with ``entry_points.txt`` and a
module, written into ``tmp_path``. ``importlib.metadata.entry_points`` is patched to see only
those, so these tests never depend on the standard plugins.
"""
import importlib
import re
import sys
import textwrap
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from tinygrad_edu import hookspecs, plugins, registry
from tinygrad_edu.components import Component
from tinygrad_edu.optimizer import Optimizer
from tinygrad_edu.plugins import PluginConflictError, PluginError, PluginWarning

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
from tinygrad_edu.components import Component
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.module import Module

def square(x):
    "square(x) = x * x"
    return x * x

class Doubler(Module):
    "Doubles its input."

@hookimpl
def register_activations():
    return [Component("square", square, aliases=("sq",))]

@hookimpl
def register_layers():
    return [Component("doubler", Doubler)]
"""


class FakeSite:
    """Builds fake distributions with ``tinygrad_edu`` entry points in a folder on sys.path."""

    def __init__(self, path: Path, monkeypatch):
        self.path = path
        self.monkeypatch = monkeypatch

    def add(self, dist, entry_points, modules, version="1.0"):
        info = self.path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
        (info / "entry_points.txt").write_text("[tinygrad_edu]\n" + lines)
        for module, source in modules.items():
            (self.path / f"{module}.py").write_text(textwrap.dedent(source))
            self.monkeypatch.delitem(sys.modules, module, raising=False)
        importlib.invalidate_caches()


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))

    def entry_points(group=None, **kwargs):
        eps = [ep for dist in metadata.distributions(path=[str(tmp_path)])
               for ep in dist.entry_points]
        return [ep for ep in eps if group is None or ep.group == group]

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    plugins.reset()
    yield FakeSite(tmp_path, monkeypatch)
    plugins.reset()


def record(name):
    return {r.name: r for r in plugins.plugin_records()}[name]


def load_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        return plugins.plugin_records()


# ------------------------------------------------------------------------------- loading


def test_entry_point_plugin_is_loaded_and_its_components_found(site):
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD}, version="1.2.3")
    square = registry.get("activation", "square")
    assert square(3) == 9
    assert registry.get("layer", "Doubler").__name__ == "Doubler"
    comp = registry.get_component("activation", "sq")
    assert (comp.kind, comp.plugin, comp.name) == ("activation", "good", "square")
    rec = record("good")
    assert rec.status == "loaded"
    assert rec.entry_point == "good = fake_good"
    assert (rec.distribution, rec.version) == ("fake-good", "1.2.3")
    assert rec.registers == {"activation": ["square"], "layer": ["doubler"]}
    assert plugins.quarantined() == []


def test_plugin_rows_for_the_cli(site):
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    site.add("fake-bad", {"bad": "fake_bad"}, {"fake_bad": "raise RuntimeError('boom')"})
    load_quietly()
    rows = {row["name"]: row for row in plugins.plugin_rows()}
    assert rows["good"]["status"] == "loaded"
    assert rows["good"]["registers"]["activation"] == ["square"]
    assert rows["good"]["registers"]["loss"] == []
    assert rows["good"]["error"] == ""
    assert rows["bad"]["status"] == "quarantined"
    assert rows["bad"]["distribution"] == "fake-bad"
    assert "RuntimeError: boom" in rows["bad"]["error"]


@pytest.mark.parametrize("source, entry, cause", [
    ("import scipy_that_is_not_installed\n", "fake_broken",
     "ModuleNotFoundError: No module named 'scipy_that_is_not_installed'"),
    ("def f(:\n    pass\n", "fake_broken", "SyntaxError"),
    ("x = 1 / 0\n", "fake_broken", "ZeroDivisionError: division by zero"),
    ("plugin = None\n", "fake_broken:missing_attribute", "AttributeError"),
])
def test_broken_import_is_quarantined_with_name_entry_point_and_cause(site, source, entry, cause):
    site.add("fake-broken", {"broken": entry}, {"fake_broken": source}, version="0.3")
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    with pytest.warns(PluginWarning) as caught:
        plugins.plugin_records()
    message = str(caught[0].message)
    assert "'broken'" in message and f"broken = {entry}" in message
    assert "fake-broken 0.3" in message and cause in message
    [bad] = plugins.quarantined()
    assert (bad.name, bad.stage, bad.entry_point) == ("broken", "import", f"broken = {entry}")
    assert cause in bad.error and bad.traceback
    # the rest of the framework keeps working
    assert registry.get("activation", "square")(2) == 4


def test_quarantine_warning_is_emitted_once(site):
    site.add("fake-broken", {"broken": "fake_broken"}, {"fake_broken": "raise ImportError('x')"})
    with pytest.warns(PluginWarning):
        registry.names("activation")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        registry.names("activation")
        plugins.disable_plugin("nothing")      # forces a reload: still no second warning
        registry.names("activation")
        assert plugins.quarantined()[0].name == "broken"


def test_error_location_points_into_the_plugin(site):
    site.add("fake-broken", {"broken": "fake_broken"},
             {"fake_broken": "a = 1\nb = {}['missing']\n"})
    load_quietly()
    [bad] = plugins.quarantined()
    assert re.search(r"fake_broken\.py:2\)$", bad.error), bad.error


def test_raising_registration_hook_quarantines_the_whole_plugin(site):
    calls = []
    site.add("fake-raising", {"raising": "fake_raising"}, {"fake_raising": """
        from tinygrad_edu.components import Component
        from tinygrad_edu.hookspecs import hookimpl
        from tinygrad_edu.module import Module

        @hookimpl
        def register_layers():
            return [Component("first_layer", Module)]

        @hookimpl
        def register_losses():
            return {}["no such key"]

        @hookimpl
        def before_fit(trainer):
            trainer.append("called")
    """})
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    with pytest.warns(PluginWarning, match="register_losses failed: KeyError"):
        bad = plugins.quarantined()
    assert [r.name for r in bad] == ["raising"]
    assert bad[0].stage == "register_losses"
    assert "first_layer" not in registry.names("layer")          # nothing half-registered
    plugins.call_hook("before_fit", trainer=calls)
    assert calls == []                                             # its hooks are off too
    assert registry.names("activation") == ["square"]


@pytest.mark.parametrize("body, expected", [
    ("return {'relu': 1}", "returned dict; expected a list of Component"),
    ("return [lambda x: x]", "is a function, not a Component"),
    ("return [Component('', abs)]", "empty or non-string name"),
    ("return [Component('a', None)]", "obj=None"),
    ("return [Component('a', abs, aliases='b')]", "aliases must be a tuple of str"),
    ("return [Component('a', abs, kind='loss')]", "says kind='loss'"),
    ("return [Component('a', 42)]", "an activation must be callable, got int"),
    ("from tinygrad_edu.components import OptimizerCheck\n"
     "    return [Component('a', abs, check=OptimizerCheck())]",
     "check must be a Check for an activation, got OptimizerCheck"),
])
def test_malformed_registration_is_quarantined(site, body, expected):
    site.add("fake-bad", {"bad": "fake_bad"}, {"fake_bad": f"""
from tinygrad_edu.components import Component
from tinygrad_edu.hookspecs import hookimpl

@hookimpl
def register_activations():
    {body}
"""})
    load_quietly()
    [bad] = plugins.quarantined()
    assert bad.stage == "register_activations"
    assert expected in bad.error


# ----------------------------------------------------------------------------- conflicts


@pytest.mark.parametrize("hook, obj, expected", [
    ("register_layers", "abs", "a layer must be a subclass of tinygrad_edu.Module"),
    ("register_optimizers", "type('Opt', (), {})",
     "an optimizer must be a subclass of tinygrad_edu.optimizer.Optimizer"),
])
def test_layers_and_optimizers_must_subclass_the_base_classes(site, hook, obj, expected):
    site.add("fake-bad", {"bad": "fake_bad"}, {"fake_bad": f"""
from tinygrad_edu.components import Component
from tinygrad_edu.hookspecs import hookimpl

@hookimpl
def {hook}():
    return [Component("thing", {obj})]
"""})
    load_quietly()
    [bad] = plugins.quarantined()
    assert bad.stage == hook and expected in bad.error


def test_duplicate_name_quarantines_the_later_plugin_naming_both(site):
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    site.add("zz-other", {"other": "fake_other"}, {"fake_other": """
        from tinygrad_edu.components import Component
        from tinygrad_edu.hookspecs import hookimpl

        @hookimpl
        def register_activations():
            return [Component("cube", lambda x: x ** 3), Component("Square", lambda x: -1)]
    """})
    with pytest.warns(PluginWarning, match="registered by two plugins"):
        rows = plugins.plugin_rows()         # the listing still works
    assert {r["name"]: r["status"] for r in rows} == {"good": "loaded", "other": "quarantined"}
    bad = record("other")
    assert isinstance(bad.exception, PluginConflictError)
    assert bad.exception.plugins == ("good", "other")
    assert (bad.exception.kind, bad.exception.name) == ("activation", "Square")
    message = bad.error
    assert "'Square'" in message and "'good'" in message and "'other'" in message
    assert "fake-good" in message and "zz-other" in message
    assert registry.get("activation", "square")(3) == 9     # the first one keeps the name
    assert "cube" not in registry.names("activation")        # all or nothing
    with pytest.raises(PluginError, match="1 plugin"):
        plugins.check_plugins()


def test_alias_conflicts_and_duplicates_within_one_plugin(site):
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    site.add("zz-alias", {"alias": "fake_alias"}, {"fake_alias": """
        from tinygrad_edu.components import Component
        from tinygrad_edu.hookspecs import hookimpl

        @hookimpl
        def register_activations():
            return [Component("squared", abs, aliases=("SQ",))]
    """})
    site.add("fake-twice", {"twice": "fake_twice"}, {"fake_twice": """
        from tinygrad_edu.components import Component
        from tinygrad_edu.hookspecs import hookimpl

        @hookimpl
        def register_losses():
            return [Component("l1", abs), Component("L1", abs)]
    """})
    load_quietly()
    assert {r.name for r in plugins.quarantined()} == {"alias", "twice"}
    assert "'SQ'" in record("alias").error
    assert "registers the loss name 'L1' twice" in record("twice").error


def test_same_name_in_different_kinds_is_no_conflict(site):
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    site.add("fake-loss", {"lossy": "fake_loss"}, {"fake_loss": """
        from tinygrad_edu.components import Component
        from tinygrad_edu.hookspecs import hookimpl

        @hookimpl
        def register_losses():
            return [Component("square", lambda y, t: ((y - t) ** 2).mean())]
    """})
    assert plugins.quarantined() == []
    assert registry.get("loss", "square") is not registry.get("activation", "square")


def test_standard_distribution_loads_first_and_keeps_its_names(site):
    # "aaa" sorts before "tinygrad-edu", but the framework's own plugins load first
    site.add("aaa-plugin", {"aaa": "fake_aaa"}, {"fake_aaa": GOOD.replace("x * x", "-1")})
    site.add("tinygrad-edu", {"std": "fake_std"}, {"fake_std": GOOD})
    load_quietly()
    assert [r.name for r in plugins.plugin_records()] == ["std", "aaa"]
    assert registry.get("activation", "square")(3) == 9
    assert record("aaa").status == "quarantined"


def test_duplicate_entry_point_names_are_reported(site):
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    site.add("fake-same", {"good": "fake_same"}, {"fake_same": "raise AssertionError"})
    load_quietly()
    [bad] = plugins.quarantined()
    assert "entry-point names must be unique" in bad.error
    assert bad.entry_point == "good = fake_same"


# ------------------------------------------------------------------- hook validation


def test_typo_hookimpl_is_reported_and_quarantined(site):
    site.add("fake-typo", {"typo": "fake_typo"}, {"fake_typo": """
        from tinygrad_edu.components import Component
        from tinygrad_edu.hookspecs import hookimpl

        @hookimpl
        def register_activation():
            return [Component("typo_act", abs)]
    """})
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    with pytest.warns(PluginWarning, match="register_activation"):
        [bad] = plugins.quarantined()
    assert bad.name == "typo" and bad.stage == "hook validation"
    assert "'register_activation' matches no hook specification" in bad.error
    assert "did you mean 'register_activations'" in bad.error
    assert registry.names("activation") == ["square"]     # not bricked


def test_function_named_like_a_hook_without_marker_is_reported(site):
    site.add("fake-nomark", {"nomark": "fake_nomark"}, {"fake_nomark": """
        def register_layers():
            return []
    """})
    load_quietly()
    [bad] = plugins.quarantined()
    assert "'register_layers' is not marked with @hookimpl" in bad.error


def test_optionalhook_for_an_unknown_hook_is_accepted(site):
    site.add("fake-opt", {"opt": "fake_opt"}, {"fake_opt": """
        from tinygrad_edu.hookspecs import hookimpl

        @hookimpl(optionalhook=True)
        def hook_of_a_future_version(trainer):
            pass
    """})
    assert record("opt").status == "loaded"


def test_hookimpl_with_an_argument_not_in_the_spec_is_quarantined(site):
    site.add("fake-args", {"args": "fake_args"}, {"fake_args": """
        from tinygrad_edu.hookspecs import hookimpl

        @hookimpl
        def after_epoch(trainer, epoch, logz):
            pass
    """})
    load_quietly()
    [bad] = plugins.quarantined()
    assert bad.stage == "registration" and "logz" in bad.error


def test_lookup_at_plugin_import_time_is_quarantined_with_advice(site):
    site.add("fake-eager", {"eager": "fake_eager"}, {"fake_eager": """
        from tinygrad_edu import registry
        relu = registry.get("activation", "relu")
    """})
    load_quietly()
    [bad] = plugins.quarantined()
    assert "while the plugins are still loading" in bad.error


# ----------------------------------------------------------------------------- disabling


def test_env_var_disables_plugins_by_name(site, monkeypatch):
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    site.add("fake-broken", {"broken": "fake_broken"}, {"fake_broken": "raise ImportError"})
    monkeypatch.setenv(plugins.DISABLE_ENV, "broken, good")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)   # a disabled plugin is not imported
        statuses = {r.name: r.status for r in plugins.reload()}
    assert statuses == {"good": "disabled", "broken": "disabled"}
    assert registry.names("activation") == []
    with pytest.raises(LookupError, match="No activations are registered"):
        registry.get("activation", "square")
    monkeypatch.setenv(plugins.DISABLE_ENV, "*")
    plugins.reload()
    assert all(r.status == "disabled" for r in plugins.plugin_records())


def test_disable_and_enable_plugin_api(site, monkeypatch):
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})
    assert "square" in registry.names("activation")
    plugins.disable_plugin("good")
    assert registry.names("activation") == []
    assert record("good").status == "disabled"
    plugins.enable_plugin("good")
    assert registry.names("activation") == ["square"]
    monkeypatch.setenv(plugins.DISABLE_ENV, "good")
    plugins.reload()
    assert registry.names("activation") == ["square"]   # enable_plugin overrides the env var
    plugins.reset()
    assert registry.names("activation") == []


# ------------------------------------------------------------------- run-time registration


class RuntimePlugin:
    """A plugin written as a class with static hook implementations (notebook style)."""

    @staticmethod
    @hookspecs.hookimpl
    def register_optimizers():
        return [Component("Plain", type("Plain", (Optimizer,), {}))]


def test_register_plugin_at_run_time_survives_reload(site):
    rec = plugins.register_plugin(RuntimePlugin, name="runtime")
    assert rec.status == "loaded" and rec.entry_point == "(registered at run time)"
    assert registry.get("optimizer", "plain").__name__ == "Plain"
    plugins.reload()
    assert registry.names("optimizer") == ["Plain"]
    with pytest.raises(ValueError, match="exists already"):
        plugins.register_plugin(RuntimePlugin, name="runtime")
    plugins.unregister_plugin("runtime")
    assert registry.names("optimizer") == []


def test_register_plugin_conflict_raises_and_leaves_nothing(site):
    site.add("fake-good", {"good": "fake_good"}, {"fake_good": GOOD})

    class Clash:
        @staticmethod
        @hookspecs.hookimpl
        def register_activations():
            return [Component("SQUARE", abs)]

    with pytest.raises(PluginConflictError, match="'good'.*'clash'"):
        plugins.register_plugin(Clash, name="clash")
    assert "clash" not in {r.name for r in plugins.plugin_records()}
    assert registry.get("activation", "square")(3) == 9

    class Typo:
        @staticmethod
        @hookspecs.hookimpl
        def register_los():
            return []

    with pytest.raises(PluginError, match="did you mean 'register_losses'"):
        plugins.register_plugin(Typo)


# -------------------------------------------------------------------- lifecycle hooks


class Recorder:
    def __init__(self):
        self.calls = []

    @hookspecs.hookimpl
    def after_batch(self, trainer, iteration, logs):
        self.calls.append((iteration, logs["loss"]))
        if logs["loss"] < 0.1:
            trainer.stop_training = True

    @hookspecs.hookimpl
    def after_backward(self, model, iteration):     # a subset of the arguments is fine
        self.calls.append(("backward", model, iteration))


class FakeTrainer:
    stop_training = False


def test_lifecycle_hooks_are_called_and_can_stop_training(site):
    recorder = Recorder()
    plugins.register_plugin(recorder, name="recorder")
    trainer = FakeTrainer()
    plugins.call_hook("after_backward", trainer=trainer, model="M", iteration=0)
    plugins.call_hook("after_batch", trainer=trainer, iteration=0, logs={"loss": 1.0})
    assert not trainer.stop_training
    plugins.hook().after_batch(trainer=trainer, iteration=1, logs={"loss": 0.01})
    assert trainer.stop_training
    assert recorder.calls == [("backward", "M", 0), (0, 1.0), (1, 0.01)]


def test_call_hook_checks_names_and_arguments(site):
    with pytest.raises(AttributeError, match="Did you mean 'after_epoch'"):
        plugins.call_hook("after_epoc", trainer=None, epoch=0, logs={})
    with pytest.raises(TypeError, match=r"missing \['logs'\], unexpected \['log'\]"):
        plugins.call_hook("after_epoch", trainer=None, epoch=0, log={})


def test_exception_in_a_lifecycle_hook_names_the_plugin(site):
    class Faulty:
        @staticmethod
        @hookspecs.hookimpl
        def before_epoch(epoch):
            raise ValueError(f"bad epoch {epoch}")

    plugins.register_plugin(Faulty, name="faulty")
    with pytest.raises(ValueError, match="bad epoch 3") as info:
        plugins.call_hook("before_epoch", trainer=None, epoch=3)
    notes = getattr(info.value, "__notes__", [])
    if sys.version_info >= (3, 11):
        assert any("'faulty'" in note for note in notes)


# ------------------------------------------------------------------------ documentation


def spec_names():
    return [name for name, obj in vars(hookspecs).items()
            if callable(obj) and hasattr(obj, "tinygrad_edu_spec")]


def test_every_hookspec_has_a_docstring_saying_when_arguments_returns():
    names = spec_names()
    assert set(hookspecs.REGISTRATION_HOOKS.values()) <= set(names)   # one per kind
    assert {"before_fit", "after_batch", "after_backward"} <= set(names)
    for name in names:
        spec = getattr(hookspecs, name)
        doc = spec.__doc__ or ""
        assert "Called" in doc and "Returns" in doc, f"hookspec {name} is under-documented"
        for arg in spec.__code__.co_varnames[:spec.__code__.co_argcount]:
            assert f"``{arg}``" in doc, f"hookspec {name}: argument {arg} not documented"


def test_every_hookspec_has_a_section_in_docs_plugins_md():
    text = (ROOT / "docs" / "plugins.md").read_text()
    headings = re.findall(r"^#{2,4} .*$", text, flags=re.M)
    for name in spec_names():
        assert any(f"`{name}" in h for h in headings), f"docs/plugins.md: no heading for {name}"


# ------------------------------------------------------------------------ the standard set

STANDARD = {"layers": "layer", "activations": "activation", "losses": "loss",
            "optimizers": "optimizer", "initializers": "initializer", "models": "model"}


def test_the_standard_plugins_load_cleanly_through_their_entry_points(monkeypatch):
    import importlib.util
    missing = [n for n in STANDARD if importlib.util.find_spec(f"tinygrad_edu_plugins.{n}") is None]
    if missing:   # only while they are being written; an import *error* is not skipped
        pytest.skip(f"standard plugins not written yet: {missing}")
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    plugins.reset()
    try:
        records = {r.name: r for r in plugins.reload()}
        for name, kind in STANDARD.items():
            rec = records[name]
            assert rec.status == "loaded", rec.describe()
            assert rec.distribution == "tinygrad-edu"
            assert rec.registers.get(kind), f"plugin {name!r} registers no {kind}"
    finally:
        plugins.reset()


# ------------------------------------------------------------------- replacements


STANDARD_RELU = """
from tinygrad_edu.components import Component
from tinygrad_edu.hookspecs import hookimpl

def relu(x):
    "relu(x) = max(x, 0)"
    return max(x, 0)

@hookimpl
def register_activations():
    return [Component("relu", relu, aliases=("rectifier",))]
"""


def replacement(name="relu", value="'fast'", **declared):
    extra = "".join(f", {k}={v}" for k, v in declared.items())
    return f"""
from tinygrad_edu.components import Component
from tinygrad_edu.hookspecs import hookimpl

def fast_relu(x):
    "relu, but faster"
    return {value}

@hookimpl
def register_activations():
    return [Component({name!r}, fast_relu, replaces="rectifier"{extra})]
"""


def test_declared_replacement_takes_over_and_disabling_falls_back(site, capsys, monkeypatch):
    # toy replacements (they return strings): the name resolution, not the verification
    monkeypatch.setenv(plugins.VERIFY_ENV, "0")
    site.add("tinygrad-edu", {"std": "fake_std"}, {"fake_std": STANDARD_RELU})
    site.add("fast-relu", {"fast": "fake_fast"}, {"fake_fast": replacement()})
    load_quietly()
    assert plugins.quarantined() == []                       # declared: no clash
    assert registry.get("activation", "ReLU")(-1) == "fast"  # every spelling, aliases too
    assert registry.get("activation", "rectifier")(-1) == "fast"
    import tinygrad_edu.functional as F
    assert F.relu(-1) == "fast"
    standard = registry.get_component("activation", "relu", implementation="standard")
    assert (standard.plugin, standard.obj(-1)) == ("std", 0)
    assert [c.plugin for c in registry.implementations("activation", "relu")] == ["fast", "std"]
    active = registry.get_component("activation", "relu")
    assert (active.name, active.plugin, active.replaces) == ("relu", "fast", "rectifier")
    assert record("fast").replaces == {"activation": ["relu"]}
    assert registry.names("activation") == ["relu"]          # one name, not two
    from tinygrad_edu.cli import main
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "replaces activations: relu" in out
    assert "activation relu: fast (active) > std (standard)" in out
    plugins.disable_plugin("fast")
    assert registry.get("activation", "relu")(-1) == 0
    assert registry.implementations("activation", "relu")[0].plugin == "std"


def test_undeclared_clash_still_quarantines_and_suggests_replaces(site):
    site.add("tinygrad-edu", {"std": "fake_std"}, {"fake_std": STANDARD_RELU})
    site.add("fast-relu", {"fast": "fake_fast"},
             {"fake_fast": replacement().replace(', replaces="rectifier"', "")})
    load_quietly()
    [bad] = plugins.quarantined()
    assert bad.stage == "conflict" and "replaces='relu'" in bad.error
    assert registry.get("activation", "relu")(-1) == 0


def test_replacements_resolve_by_priority_and_condition_visibly(site, capsys, monkeypatch):
    # toy replacements (they return strings): the name resolution, not the verification
    monkeypatch.setenv(plugins.VERIFY_ENV, "0")
    site.add("tinygrad-edu", {"std": "fake_std"}, {"fake_std": STANDARD_RELU})
    site.add("a-cpu", {"cpu": "fake_cpu"}, {"fake_cpu": replacement(value="'cpu'")})
    site.add("b-gpu", {"gpu": "fake_gpu"}, {"fake_gpu": replacement(
        value="'gpu'", priority=10, condition="lambda: False")})
    site.add("c-broken-probe", {"probe": "fake_probe"}, {"fake_probe": replacement(
        value="'probe'", priority=5, condition="lambda: 1 / 0")})
    site.add("d-also-cpu", {"cpu2": "fake_cpu2"}, {"fake_cpu2": replacement(value="'cpu2'")})
    load_quietly()
    assert plugins.quarantined() == []
    assert registry.get("activation", "relu")(1) == "cpu"    # tie at priority 0: loaded first
    order = [c.plugin for c in registry.implementations("activation", "relu")]
    assert order == ["cpu", "gpu", "probe", "cpu2", "std"]
    from tinygrad_edu.cli import main
    main(["plugins"])
    out = capsys.readouterr().out
    assert "gpu (its condition is false)" in out
    assert "probe (its condition raised ZeroDivisionError: division by zero)" in out
    site.add("e-gpu-here", {"gpu_here": "fake_gpu_here"}, {"fake_gpu_here": replacement(
        value="'gpu here'", priority=10, condition="lambda: True")})
    plugins.reload()
    assert registry.get("activation", "relu")(1) == "gpu here"
    assert registry.get_component("activation", "relu", implementation="cpu").obj(1) == "cpu"
    with pytest.raises(LookupError, match="no implementation .* by plugin 'nosuch'"):
        registry.get_component("activation", "relu", implementation="nosuch")


def test_replacement_of_an_unknown_name_is_quarantined(site):
    site.add("fast-relu", {"fast": "fake_fast"}, {"fake_fast": replacement()})
    load_quietly()
    [bad] = plugins.quarantined()
    assert bad.stage == "replacement" and "replaces='rectifier'" in bad.error


def test_replacement_with_its_own_name_is_registered_under_it_too(site, monkeypatch):
    # toy replacements (they return strings): the name resolution, not the verification
    monkeypatch.setenv(plugins.VERIFY_ENV, "0")
    site.add("tinygrad-edu", {"std": "fake_std"}, {"fake_std": STANDARD_RELU})
    site.add("fast-relu", {"fast": "fake_fast"}, {"fake_fast": replacement(name="fast_relu")})
    load_quietly()
    assert registry.get("activation", "relu")(1) == "fast"
    assert registry.get_component("activation", "fast_relu").replaces is None
    assert registry.names("activation") == ["fast_relu", "relu"]


# ------------------------------------------------------------------------- models


def test_a_third_party_model_is_a_choice_of_train_model_with_did_you_mean(site, capsys):
    site.add("tiny-model", {"tiny": "fake_tiny"}, {"fake_tiny": """
        from tinygrad_edu.components import Component
        from tinygrad_edu.hookspecs import hookimpl

        from tinygrad_edu.module import Module
        from tinygrad_edu.tensor import Parameter
        import numpy as np

        class Tiny(Module):
            def __init__(self, size, num_classes):
                super().__init__()
                self.W = Parameter(np.zeros((size, num_classes)))

            def forward(self, x):
                return x.reshape(x.shape[0], -1) @ self.W

        def tiny_net(input_shape, num_classes, **kwargs):
            "one linear map"
            return Tiny(int(np.prod(input_shape)), num_classes)

        @hookimpl
        def register_models():
            return [Component("tiny_net", tiny_net)]
    """})
    site.add("bad-model", {"badmodel": "fake_badmodel"}, {"fake_badmodel": """
        from tinygrad_edu.components import Component
        from tinygrad_edu.hookspecs import hookimpl

        @hookimpl
        def register_models():
            return [Component("broken_net", 42)]
    """})
    load_quietly()
    assert record("badmodel").stage == "register_models"
    assert "a model must be callable" in record("badmodel").error
    from tinygrad_edu.cli import build_parser, main
    args = build_parser().parse_args(["graph", "--model", "Tiny-Net"])   # (train: no optimizer here)
    assert args.model == "tiny_net"
    from tinygrad_edu.models import get_model
    from tinygrad_edu import Tensor
    assert get_model("tiny_net")(Tensor(np.zeros((2, 1, 28, 28)))).shape == (2, 10)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--model", "tiny_nett"])
    err = capsys.readouterr().err
    assert "Unknown model 'tiny_nett'. Did you mean 'tiny_net'?" in err
    main(["plugins"])
    out = capsys.readouterr().out
    assert "models: tiny_net" in out and "badmodel" in out


def test_the_code_of_a_component_is_found_from_the_object_itself(monkeypatch):
    """A newcomer looking for nn.Conv2d's code: the surfaces return the real class or function,
    whose repr and help() name the module that defines it (the plugin's, not nn's)."""
    import inspect
    import pydoc
    import tinygrad_edu.functional as F
    from tinygrad_edu import init, nn, optim
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    plugins.reset()
    try:
        conv = nn.Conv2d
        assert conv.__module__.startswith("tinygrad_edu_plugins.")
        assert f"<class '{conv.__module__}.Conv2d'>" == repr(conv)
        assert f"class Conv2d in module {conv.__module__}" in pydoc.render_doc(conv)
        assert f"in module {conv.__module__} object" in pydoc.render_doc(conv(1, 2, 3))
        assert inspect.getsourcefile(conv) == sys.modules[conv.__module__].__file__
        assert registry.get_component("layer", "conv2d").defined_in == conv.__module__
        surfaces = {"layer": nn, "activation": F, "loss": F, "optimizer": optim,
                    "initializer": init}
        for kind, surface in surfaces.items():
            for comp in registry.components(kind):
                obj = getattr(surface, comp.name)
                if kind != "loss" or obj is comp.obj:          # F prefers activations
                    assert obj is comp.obj, (kind, comp.name)
                    assert obj.__module__ not in (surface.__name__, "tinygrad_edu.registry")
                    assert f"in module {obj.__module__}" in pydoc.render_doc(obj)
    finally:
        plugins.reset()


def test_did_you_mean_knows_the_aliases(monkeypatch, capsys):
    import tinygrad_edu.functional as F
    from tinygrad_edu import init, nn
    from tinygrad_edu.cli import main
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    plugins.reset()
    try:
        with pytest.raises(AttributeError, match="Did you mean 'Linear'"):   # alias of Affine
            nn.Lineer
        with pytest.raises(AttributeError, match="Did you mean 'MaxPool2d'"):
            nn.MaxPool2
        with pytest.raises(AttributeError, match="Did you mean 'swish'"):     # alias of silu
            F.swishh
        with pytest.raises(AttributeError, match="Did you mean 'glorot'"):
            init.glorrot
        with pytest.raises(registry.UnknownComponentError, match="Did you mean 'he'"):
            registry.get("initializer", "hee")
        assert main(["train", "--weight-init", "foo"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Unknown initializer 'foo'" in err
        assert "he_normal (he)" in err and "xavier (glorot)" in err
    finally:
        plugins.reset()


# ---------------------------------------------------- verification of replacements (issue 14)

STANDARD_ARRAY_PLUGINS = {"activations": "tinygrad_edu_plugins.activations",
                          "layers": "tinygrad_edu_plugins.layers"}
NUMPY_REPLACEMENTS = """
import numpy as np
from tinygrad_edu.components import Component
from tinygrad_edu.function import Function
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.tensor import as_tensor
from tinygrad_edu_plugins.layers import MaxPool2d

class Relu(Function):
    "y = max(x, 0), dy/dx = {slope} at 0"
    def forward(self, x):
        self.mask = (x >= 0) if {slope} else (x > 0)
        return np.maximum(x, 0).astype({dtype} or x.dtype)
    def backward(self, gy):
        return gy * self.mask

def relu(x):
    return Relu()(as_tensor(x))

class LastMaxPool2d(MaxPool2d):
    "max pooling whose gradient goes to the last maximum of a window"
    def forward(self, x):
        return super().forward(as_tensor(x)[..., ::-1, ::-1])[..., ::-1, ::-1]

@hookimpl
def register_activations():
    return [Component("relu", relu, replaces="relu")]

@hookimpl
def register_layers():
    return [Component("maxpool2d", {pool}, replaces="maxpool2d")]
"""


def test_a_wrong_replacement_is_quarantined_with_where_it_disagrees(site, capsys):
    site.add("tinygrad-edu", STANDARD_ARRAY_PLUGINS, {})
    site.add("wrong-kernels", {"wrong": "fake_wrong"}, {"fake_wrong": NUMPY_REPLACEMENTS.format(
        slope=1, dtype="None", pool="LastMaxPool2d")})
    load_quietly()
    with pytest.warns(PluginWarning, match=r"(?s)relu.*'wrong' is quarantined.*gradient of the "
                      r"input differs \(float32.*index"):
        relu = registry.get_component("activation", "relu")
    assert relu.plugin == "activations"                     # the standard answers again
    with pytest.warns(PluginWarning, match=r"maxpool2d.*quarantined.*differs \(float32"):
        assert registry.get_component("layer", "maxpool2d").plugin == "layers"
    from tinygrad_edu.cli import main
    main(["plugins"])
    out = capsys.readouterr().out
    assert "activation relu: activations (standard, active) > wrong (quarantined: " in out


def test_a_float64_output_for_float32_is_a_disagreement(site):
    site.add("tinygrad-edu", STANDARD_ARRAY_PLUGINS, {})
    site.add("wrong-kernels", {"wrong": "fake_wrong"}, {"fake_wrong": NUMPY_REPLACEMENTS.format(
        slope=0, dtype="np.float64", pool="MaxPool2d")})
    load_quietly()
    with pytest.warns(PluginWarning, match=r"output differs \(float32.*dtype float64"):
        assert registry.get_component("activation", "relu").plugin == "activations"


def test_a_correct_replacement_is_verified_once_and_active(site, recwarn):
    site.add("tinygrad-edu", STANDARD_ARRAY_PLUGINS, {})
    site.add("numpy-kernels", {"good": "fake_good"}, {"fake_good": NUMPY_REPLACEMENTS.format(
        slope=0, dtype="None", pool="MaxPool2d")})
    load_quietly()
    assert registry.get_component("activation", "relu").plugin == "good"
    assert registry.get_component("layer", "maxpool2d").plugin == "good"
    assert not [w for w in recwarn if issubclass(w.category, PluginWarning)]
    assert len(plugins._verified) == 2


def test_check_runs_the_differential_check_of_a_replacement(site, monkeypatch):
    monkeypatch.setenv(plugins.VERIFY_ENV, "0")      # let the wrong replacement answer the name
    site.add("tinygrad-edu", STANDARD_ARRAY_PLUGINS, {})
    site.add("wrong-kernels", {"wrong": "fake_wrong"}, {"fake_wrong": NUMPY_REPLACEMENTS.format(
        slope=1, dtype="None", pool="MaxPool2d")})
    load_quietly()
    from tinygrad_edu.testing import run_checks
    [relu, pool] = run_checks(["relu", "maxpool2d"], max_examples=30)
    assert (relu.plugin, relu.status) == ("wrong", "failed")
    assert "plugin 'wrong'" in relu.message and "DISAGREES" in relu.message
    assert re.search(r"gradient of the input differs \(float(32|64).*index", relu.message)
    assert (pool.plugin, pool.status) == ("wrong", "passed")
