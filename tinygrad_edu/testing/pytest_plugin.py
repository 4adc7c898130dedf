"""pytest plugin (entry point ``pytest11``): the conformance suite for plugin authors.

Installing tinygrad-edu makes pytest load this module in every project, so it imports nothing
heavy at import time (not hypothesis, not the plugins): everything is looked up when a test
actually asks for it. It offers three ways to check components:

1. **One line in a test module**, a parametrized test (one test per component)::

       from tinygrad_edu.testing import conformance_tests

       test_my_components = conformance_tests("mish", "Lion")            # by name
       test_my_plugin = conformance_tests(plugin="tinygrad_edu_example")  # all of a plugin

2. **A fixture**, for a check inside your own test::

       def test_mish(tinygrad_edu_check):
           tinygrad_edu_check("mish")                 # raises ConformanceError on failure

   and ``tinygrad_edu_plugin`` to register a plugin object at run time for one test (it is
   unregistered afterwards)::

       def test_my_module_plugin(tinygrad_edu_plugin, tinygrad_edu_check):
           tinygrad_edu_plugin(my_plugin_module)
           tinygrad_edu_check("my_activation")

3. **A command-line option**, no test code at all::

       pytest --tinygrad-edu-check mish --tinygrad-edu-check lion
       pytest --tinygrad-edu-check plugin:tinygrad_edu_example -k conformance
       pytest --tinygrad-edu-check all

   adds one test per name (``plugin:NAME`` expands to every component of that plugin, ``all``
   to every registered component) to whatever else is collected; ``-k conformance`` runs just
   those.

``--tinygrad-edu-max-examples N`` sets the hypothesis examples per check for all three
(otherwise the loaded hypothesis profile decides). A failure is reported as the
ConformanceError's message: the component, its plugin, the check, the drawn input and the
gradcheck report.
"""
from __future__ import annotations

import pytest

__all__ = ["conformance_tests"]

_TEST_ARG = "tinygrad_edu_component"


# ------------------------------------------------------------------------------ the factory


def conformance_tests(*names: str, plugin: str | None = None, max_examples: int | None = None):
    """A parametrized pytest test function checking the named components (and/or every
    component of ``plugin``); assign it to a ``test_...`` name in a test module.

    Names are resolved when the tests run (an unknown name fails its test with the registry's
    suggestion); ``plugin`` is expanded when the module is collected. ``"kind:name"`` picks the
    kind when several kinds share a name.
    """
    if not names and plugin is None:
        raise ValueError("conformance_tests: give component names, plugin=..., or both")
    ids = list(names)
    if plugin is not None:
        ids.extend(_plugin_members(plugin))

    @pytest.mark.parametrize(_TEST_ARG, ids)
    def test_conformance(tinygrad_edu_component, request):
        _check(tinygrad_edu_component, max_examples, request.config)

    test_conformance.__doc__ = (f"The tinygrad_edu conformance suite for "
                                f"{', '.join(ids) or 'nothing'}.")
    return test_conformance


def _plugin_members(plugin: str) -> list[str]:
    """``"kind:name"`` for every component of a loaded plugin; ``["plugin:NAME"]`` (a test
    that fails with the reason) when the plugin is unknown, quarantined or disabled."""
    from tinygrad_edu import registry

    members = [f"{c.kind}:{c.name}" for c in registry.all_components() if c.plugin == plugin]
    return members or [f"plugin:{plugin}"]


def _plugin_problem(plugin: str) -> str:
    from tinygrad_edu import plugins

    records = {r.name: r for r in plugins.plugin_records()}
    record = records.get(plugin)
    if record is None:
        return (f"no tinygrad_edu plugin named {plugin!r} is installed; plugins: "
                f"{', '.join(records) or 'none'}")
    if record.status == "loaded":
        return f"{record.describe()}: there is nothing to check"
    return record.describe()


def _max_examples(config) -> int | None:
    """``--tinygrad-edu-max-examples`` (None when not given, or when this plugin is off)."""
    try:
        return config.getoption("tinygrad_edu_max_examples", None)
    except ValueError:
        return None


def _check(name: str, max_examples: int | None, config) -> None:
    """Run the conformance checks of ``name``; a failure becomes a clean pytest failure."""
    from tinygrad_edu.testing.conformance import ConformanceError, check_component

    if name.startswith("plugin:"):
        pytest.fail(_plugin_problem(name[len("plugin:"):]), pytrace=False)
    if max_examples is None:
        max_examples = _max_examples(config)
    problem = None
    try:
        check_component(name, max_examples=max_examples)
    except ConformanceError as error:
        problem = str(error)
    except LookupError as error:   # unknown or ambiguous name
        problem = str(error.args[0] if error.args else error)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


# ------------------------------------------------------------------------------ the fixtures


@pytest.fixture
def tinygrad_edu_check(request):
    """``check(name_or_component, max_examples=None)``: run the conformance checks of one
    component, raising :class:`~tinygrad_edu.testing.ConformanceError` on failure."""
    from tinygrad_edu.testing.conformance import check_component

    def check(component, max_examples=None):
        if max_examples is None:
            max_examples = _max_examples(request.config)
        check_component(component, max_examples=max_examples)

    return check


@pytest.fixture
def tinygrad_edu_plugin():
    """``register(plugin_object, name=None) -> PluginRecord``: add a plugin (a module or object
    with ``@hookimpl`` functions) for this test only; it is unregistered afterwards."""
    from tinygrad_edu import plugins

    added = []

    def register(plugin, name=None):
        record = plugins.register_plugin(plugin, name=name)
        added.append(record.name)
        return record

    yield register
    for name in reversed(added):
        try:
            plugins.unregister_plugin(name)
        except ValueError:   # the test called plugins.reset(), which forgot it already
            pass


# ------------------------------------------------------------------------- command line


def pytest_addoption(parser):
    group = parser.getgroup("tinygrad_edu", "tinygrad_edu conformance suite")
    group.addoption(
        "--tinygrad-edu-check", action="append", default=[], metavar="NAME",
        help="run the tinygrad_edu conformance checks of component NAME (repeatable; "
             "'plugin:NAME' for every component of a plugin, 'all' for every component)")
    group.addoption(
        "--tinygrad-edu-max-examples", type=int, default=None, metavar="N",
        help="hypothesis examples per conformance check (default: the hypothesis profile's)")


def pytest_configure(config):
    value = config.getoption("tinygrad_edu_max_examples", None)
    if value is not None and value < 1:
        raise pytest.UsageError("--tinygrad-edu-max-examples must be at least 1")


class ConformanceItem(pytest.Item):
    """One component's conformance checks, added by ``--tinygrad-edu-check``."""

    def __init__(self, *, component: str, **kwargs):
        super().__init__(**kwargs)
        self.component = component

    def runtest(self):
        _check(self.component, None, self.config)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, pytest.fail.Exception):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return "tinygrad-edu", None, f"conformance check of {self.component}"


@pytest.hookimpl(tryfirst=True)   # before -k / -m deselect, so they apply to these items too
def pytest_collection_modifyitems(session, config, items):
    requested = config.getoption("tinygrad_edu_check", None)
    if not requested:
        return
    names: list[str] = []
    for name in requested:
        if name == "all":
            from tinygrad_edu import registry
            names.extend(f"{c.kind}:{c.name}" for c in registry.all_components())
        elif name.startswith("plugin:"):
            names.extend(_plugin_members(name[len("plugin:"):]))
        else:
            names.append(name)
    for name in dict.fromkeys(names):   # each once, in order
        items.append(ConformanceItem.from_parent(session, name=f"conformance[{name}]",
                                                 component=name))
