"""The plugin manager: loads the ``tinygrad_edu`` entry points, strictly and safely.

Every component (layer, activation, loss, optimizer, initializer) reaches the framework through
a plugin, the standard ones included. Loading happens once, lazily, on the first lookup:

1. every entry point of the group ``tinygrad_edu`` is imported (the standard plugins of the
   ``tinygrad-edu`` distribution first, then the others sorted by distribution and name), then
   the plugins given at run time with :func:`register_plugin`;
2. each plugin is registered with a :class:`pluggy.PluginManager`; a hook implementation that
   matches no specification (``register_activation`` for ``register_activations``), or a
   function named like a hook but not marked ``@hookimpl``, is an error;
3. its registration hooks are called and their results checked (a list of ``Component``);
4. its component names (and aliases, compared case-insensitively) must not be taken already.

A plugin that fails any step is **quarantined**: it is unregistered as a whole (none of its
components or lifecycle hooks are used), a :class:`PluginWarning` naming it, its entry point and
the cause is emitted once, and the record is listed by :func:`quarantined` and by
``tinygrad-edu plugins``. The other plugins keep working.

Name conflicts: the plugin loaded *first* keeps the name, the later one is quarantined with a
:class:`PluginConflictError` naming both plugins and the name. Because the standard plugins load
first, a third-party plugin can never silently replace ``relu``; it can do so *declaredly*
(``Component(..., replaces="relu")``, see :class:`~tinygrad_edu.components.Component`). The
names live in one :class:`~tinygrad_edu.names.NameTable` per load, which the registry reads.

Replacements are verified: the first time a replaced name is looked up in a process,
:func:`_verify_replacement` compares the replacement with the standard implementation on fixed
awkward inputs (``tinygrad_edu.testing.differential.quick_check_replacement``); one that
disagrees or raises is quarantined (the standard answers the name, a :class:`PluginWarning` says
where). ``TINYGRAD_EDU_VERIFY_REPLACEMENTS=0`` skips this.

Disabling: ``TINYGRAD_EDU_DISABLE_PLUGINS=name1,name2`` (entry-point names; ``*`` disables every
entry point), or :func:`disable_plugin` / :func:`enable_plugin` at run time. A disabled name is
*blocked* in the pluggy manager (``is_blocked``), so nothing can register it behind our back.

What pluggy does is left to pluggy: hook validation (``register``, ``get_hookcallers``), blocking,
the hook relay. Its ``load_setuptools_entrypoints`` is not used: it stops at the first plugin that
fails to import and cannot load the standard plugins first.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
import threading
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .components import Component, validate_components
from .names import MissingReplacementTarget, NameClash, NameTable
from . import plugin_guard
from .plugin_guard import CoreSnapshot, PluginAbort, guarded
from .plugin_records import RUNTIME as _RUNTIME
from .plugin_records import (DISABLE_ENV, PluginConflictError,  # noqa: F401 (public here)
                             PluginError, PluginRecord, PluginWarning, conflict_error)

ENTRY_POINT_GROUP = "tinygrad_edu"
_OWN_DISTRIBUTION = "tinygrad-edu"
_REGISTRATION_HOOKS = hookspecs.REGISTRATION_HOOKS
_SPEC_NAMES = hookspecs.SPEC_NAMES


@dataclass
class _State:
    manager: pluggy.PluginManager
    records: dict[str, PluginRecord] = field(default_factory=dict)
    names: NameTable = field(default_factory=lambda: NameTable(verify=_verify_replacement))


_lock = threading.RLock()
_state: _State | None = None
_loading = False
_generation = 0
_runtime: dict[str, Any] = {}        # plugins given to register_plugin(), in order
_api_disabled: set[str] = set()
_api_enabled: set[str] = set()       # enable_plugin() overrides the environment variable
_warned: set[tuple[str, str, str]] = set()
_faulted: dict[str, tuple[str, BaseException]] = {}   # plugins that tried to end the process
_verified: dict[tuple, str | None] = {}   # (replacement, standard) -> problem, once per process
VERIFY_ENV = "TINYGRAD_EDU_VERIFY_REPLACEMENTS"


# ------------------------------------------------------------------------------ public API


def get_plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager with every loaded plugin registered (loads them on first use)."""
    return _get_state().manager


def hook():
    """The hook relay: ``hook().after_epoch(trainer=t, epoch=e, logs=logs)`` calls every
    loaded plugin's implementation (arguments by keyword). See also :func:`call_hook`."""
    return get_plugin_manager().hook


def call_hook(name: str, **kwargs) -> list:
    """Call the lifecycle hook ``name`` with exactly its specified arguments.

    Checks the hook name and the argument names first (a clear TypeError instead of a silent
    mistake); if a plugin's implementation raises, the exception propagates unchanged with a
    note naming the plugin. A plugin that calls ``sys.exit()`` (or raises another
    ``BaseException`` that is not KeyboardInterrupt) is quarantined and a :class:`PluginError`
    naming it is raised instead; a KeyboardInterrupt is taken for a Ctrl-C and propagates with
    a note (see :mod:`tinygrad_edu.plugin_guard`)."""
    if name not in _SPEC_NAMES:
        close = difflib.get_close_matches(name, _SPEC_NAMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise AttributeError(f"No hook named {name!r}.{hint} Hooks: {', '.join(_SPEC_NAMES)}")
    caller = getattr(hook(), name)
    expected = set(caller.spec.argnames)
    if set(kwargs) != expected:
        missing = sorted(expected - set(kwargs))
        unexpected = sorted(set(kwargs) - expected)
        raise TypeError(f"hook {name!r} takes arguments {sorted(expected)}; "
                        f"missing {missing}, unexpected {unexpected}")
    seen_before = plugin_guard.signals_seen()
    try:
        return caller(**kwargs)
    except Exception as exc:
        culprit = _plugin_in_traceback(caller, exc)
        if culprit is not None and hasattr(exc, "add_note"):
            exc.add_note(f"(raised in hook {name!r} of tinygrad_edu plugin {culprit!r})")
        raise
    except BaseException as exc:   # sys.exit(), a KeyboardInterrupt: see plugin_guard
        abort = plugin_guard.as_abort(exc, seen_before)
        if abort is None:   # taken for a Ctrl-C
            culprit = _plugin_in_traceback(caller, exc)
            if culprit is not None and hasattr(exc, "add_note"):
                exc.add_note(f"(in hook {name!r} of tinygrad_edu plugin {culprit!r})")
            raise
        raise _abort_in_hook(name, caller, abort) from exc


def _abort_in_hook(name: str, caller, abort: PluginAbort) -> PluginError:
    """A plugin tried to end the process in a lifecycle hook: quarantine it for the rest of
    the process (its components and hooks are no longer used) and return the error to raise."""
    culprit = _plugin_in_traceback(caller, abort.__cause__ or abort)
    who = f"tinygrad_edu plugin {culprit!r}" if culprit else "a tinygrad_edu plugin"
    error = PluginError(f"{who} {abort} in hook {name!r}; it is quarantined and the "
                        f"program goes on without it")
    if culprit is not None:
        with _lock:
            _faulted[culprit] = (name, error)
            _invalidate()
    return error


def register_plugin(plugin: Any, name: str | None = None) -> PluginRecord:
    """Add a plugin object (a module, class or instance with ``@hookimpl`` functions) at run
    time, e.g. in a notebook or a test. It is checked exactly like an entry-point plugin, but a
    failure raises (:class:`PluginError`, :class:`PluginConflictError`) instead of quarantining,
    and leaves nothing behind. The plugin survives :func:`reload`; :func:`reset` forgets it."""
    name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    with _lock:
        state = _get_state()
        if name in _runtime or name in state.records:
            other = state.records.get(name)
            raise ValueError(f"a plugin named {name!r} exists already"
                             + (f" ({other.source})" if other else "")
                             + "; pass another name=")
        _runtime[name] = plugin
        record = PluginRecord(name, _RUNTIME)
        state.records[name] = record
        if _is_disabled(name):
            state.manager.set_blocked(name)
            record.status = "disabled"
            return record
        with plugin_guard.watching_sigint():
            _load_one(state, record, lambda: plugin)
        if record.status == "quarantined":
            del _runtime[name]
            del state.records[name]
            exc = record.exception
            if isinstance(exc, PluginError):
                raise exc
            raise PluginError(record.describe(), record) from exc
        state.names.resolve()
        _bump()
        return record


def unregister_plugin(name: str) -> None:
    """Remove a plugin added with :func:`register_plugin` (entry-point plugins are turned off
    with :func:`disable_plugin`)."""
    with _lock:
        if name not in _runtime:
            raise ValueError(f"no plugin named {name!r} was registered at run time "
                             f"(use disable_plugin() for entry-point plugins)")
        del _runtime[name]
        _invalidate()


def disable_plugin(name: str) -> None:
    """Turn a plugin off by name (its entry-point name); takes effect on the next lookup."""
    with _lock:
        _api_disabled.add(name)
        _api_enabled.discard(name)
        _invalidate()


def enable_plugin(name: str) -> None:
    """Undo :func:`disable_plugin`; also overrides ``TINYGRAD_EDU_DISABLE_PLUGINS``."""
    with _lock:
        _api_disabled.discard(name)
        _api_enabled.add(name)
        _invalidate()


def reload() -> list[PluginRecord]:
    """Load every plugin again now (re-reading the environment variable and the entry points),
    keeping run-time plugins and disable/enable choices. Returns the records."""
    with _lock:
        _invalidate()
        return plugin_records()


def reset() -> None:
    """Forget everything: run-time plugins, disable/enable choices, emitted warnings. The
    plugins load again, lazily, on the next lookup. Meant for tests."""
    with _lock:
        _runtime.clear()
        _api_disabled.clear()
        _api_enabled.clear()
        _warned.clear()
        _faulted.clear()
        _verified.clear()
        _invalidate()


def plugin_records() -> list[PluginRecord]:
    """A record for every plugin seen, in loading order: loaded, quarantined and disabled."""
    return list(_get_state().records.values())


def plugin_rows() -> list[dict]:
    """One plain dict per plugin for ``tinygrad-edu plugins``: name, status, distribution,
    version, entry_point, registers (kind -> names) and error (empty unless quarantined)."""
    return [record.as_row() for record in plugin_records()]


def quarantined() -> list[PluginRecord]:
    """The plugins that failed to load, each with the cause."""
    return [r for r in plugin_records() if r.status == "quarantined"]


def check_plugins() -> None:
    """Raise :class:`PluginError` listing every quarantined plugin (for CI and ``--strict``)."""
    bad = quarantined()
    if bad:
        lines = "\n".join(f"  - {r.describe()}" for r in bad)
        raise PluginError(f"{len(bad)} plugin(s) failed to load:\n{lines}", bad[0])


def name_table() -> NameTable:
    """The name table of the loaded plugins (loads them on first use); the registry reads
    every lookup from it."""
    return _get_state().names


def generation() -> int:
    """A number that changes whenever the set of loaded components changes (loads the plugins
    on first use), so that a cache knows when to rebuild."""
    with _lock:
        _get_state()
        return _generation


# ---------------------------------------------------------------------------------- loading


def _bump() -> None:
    global _generation
    _generation += 1


def _invalidate() -> None:
    global _state
    _state = None
    _bump()


def _get_state() -> _State:
    global _state, _loading
    with _lock:
        if _state is not None:
            return _state
        if _loading:
            raise PluginError(
                "a component was looked up while the plugins are still loading (at a plugin's "
                "import time); look components up inside functions, or import them from "
                "their module directly")
        _loading = True
        try:
            with plugin_guard.watching_sigint():
                state = _load()
        finally:
            _loading = False
        _state = state
        _bump()
        for record in state.records.values():
            if record.status == "quarantined":
                _warn_once(record)
        return state


def _warn_once(record: PluginRecord) -> None:
    key = (record.name, record.stage, record.error)
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(f"tinygrad_edu: {record.describe()} "
                  f"(the other plugins work; `tinygrad-edu plugins` lists them)",
                  PluginWarning, stacklevel=_outside_stacklevel())


def _outside_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside tinygrad_edu."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package_dir):
        frame, level = frame.f_back, level + 1
    return level


def _disabled_names() -> set[str]:
    names = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    return (names | _api_disabled) - _api_enabled


def _is_disabled(name: str, from_entry_point: bool = False) -> bool:
    disabled = _disabled_names()
    if name in _api_enabled:
        return False
    return name in disabled or (from_entry_point and "*" in disabled)


def _dist_key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _entry_points() -> list:
    """The group's entry points, the standard ones (this distribution's) first."""
    eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))

    def order(ep):
        dist = getattr(ep, "dist", None)
        dist_name = _dist_key(dist.name) if dist is not None and dist.name else ""
        return (dist_name != _OWN_DISTRIBUTION, dist_name, ep.name)

    return sorted(eps, key=order)


def _load() -> _State:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    state = _State(manager)
    for ep in _entry_points():
        dist = getattr(ep, "dist", None)
        record = PluginRecord(
            name=ep.name, entry_point=f"{ep.name} = {ep.value}",
            distribution=(dist.name or "") if dist is not None else "",
            version=(dist.version or "") if dist is not None else "")
        if ep.name in state.records:
            _quarantine(record, "registration", PluginError(
                f"the plugin name {ep.name!r} is taken by {state.records[ep.name].source}; "
                f"entry-point names must be unique (name yours after your distribution)"))
            state.records[f"{ep.name} ({record.distribution or ep.value})"] = record
            continue
        state.records[ep.name] = record
        if _is_disabled(ep.name, from_entry_point=True):
            manager.set_blocked(ep.name)
        if manager.is_blocked(ep.name):
            record.status = "disabled"
            continue
        _load_one(state, record, ep.load)
    for name, plugin in _runtime.items():
        record = PluginRecord(name, _RUNTIME)
        if name in state.records:
            _quarantine(record, "registration", PluginError(
                f"the plugin name {name!r} is taken by {state.records[name].source}"))
            state.records[f"{name} (run time)"] = record
            continue
        state.records[name] = record
        if _is_disabled(name):
            manager.set_blocked(name)
        if manager.is_blocked(name):
            record.status = "disabled"
            continue
        _load_one(state, record, lambda plugin=plugin: plugin)
    state.names.resolve()
    _warn_unknown_disabled(state)
    return state


def _load_one(state: _State, record: PluginRecord, load) -> None:
    """Import (``load()``) and add one plugin, guarded: if it fails in any way (an exception,
    ``sys.exit()``, a KeyboardInterrupt it raised itself) it is quarantined and whatever it
    changed in the framework's modules and classes is put back. A real Ctrl-C propagates (the
    changes are put back as well)."""
    if record.name in _faulted:
        _quarantine(record, *_faulted[record.name])
        return
    snapshot = CoreSnapshot()
    try:
        try:
            with guarded():
                plugin = load()
        except Exception as exc:   # anything a broken plugin throws at import time
            _quarantine(record, "import", exc)
        else:
            _add_plugin(state, record, plugin)
    except BaseException as interrupt:   # the user's Ctrl-C
        snapshot.restore()
        if hasattr(interrupt, "add_note"):
            interrupt.add_note(f"(while loading tinygrad_edu plugin {record.name!r})")
        raise
    if record.status == "quarantined":
        undone = snapshot.restore()
        if undone:
            record.error += (f"; what it changed was undone: {', '.join(undone[:5])}"
                             + (f" and {len(undone) - 5} more" if len(undone) > 5 else ""))


def _warn_unknown_disabled(state: _State) -> None:
    """``TINYGRAD_EDU_DISABLE_PLUGINS`` names a plugin that does not exist: say so once."""
    named = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    unknown = sorted(named - set(state.records) - {"*"})
    key = ("", DISABLE_ENV, ",".join(unknown))
    if not unknown or key in _warned:
        return
    _warned.add(key)
    known = ", ".join(sorted(state.records)) or "none installed"
    warnings.warn(f"tinygrad_edu: {DISABLE_ENV} names {', '.join(map(repr, unknown))}, which "
                  f"is no plugin (ignored); the plugins are: {known}",
                  PluginWarning, stacklevel=_outside_stacklevel())


def _quarantine(record: PluginRecord, stage: str, exc: BaseException) -> None:
    record.quarantine(stage, exc)


def _add_plugin(state: _State, record: PluginRecord, plugin: Any) -> None:
    """Register ``plugin`` and its components, or quarantine it leaving ``state`` unchanged."""
    record.plugin = plugin
    if plugin is None:
        _quarantine(record, "registration", PluginError("the entry point refers to None"))
        return
    manager = state.manager
    try:
        manager.register(plugin, name=record.name)
    except Exception as exc:   # pluggy.PluginValidationError: arguments not in the spec, ...
        _quarantine(record, "registration", exc)
        return
    problems = hookspecs.implementation_problems(manager, plugin)
    if problems:
        manager.unregister(plugin)
        _quarantine(record, "hook validation", PluginError("; ".join(problems)))
        return
    collected: list[Component] = []
    for kind, hook_name in _REGISTRATION_HOOKS.items():
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                with guarded():
                    result = impl.function()
                items = validate_components(result, kind, hook_name)
            except Exception as exc:
                manager.unregister(plugin)
                _quarantine(record, hook_name, exc)
                return
            collected.extend(dataclasses.replace(c, plugin=record.name) for c in items)
    try:
        state.names.claim(collected)
    except NameClash as clash:
        manager.unregister(plugin)
        _quarantine(record, "conflict",
                    conflict_error(record, state.records.get(clash.owner.plugin), clash))
        return
    except MissingReplacementTarget as exc:
        manager.unregister(plugin)
        _quarantine(record, "replacement", PluginError(str(exc)))
        return
    record.registers, record.replaces = {}, {}
    for comp in collected:
        where = record.replaces if comp.replaces else record.registers
        where.setdefault(comp.kind, []).append(comp.name)
    record.status = "loaded"


def _verify_replacement(replacement: Component, standard: Component) -> str | None:
    """None if ``replacement`` computes what ``standard`` computes on the quick check's fixed
    inputs, else the problem (and a PluginWarning); once per process and pair."""
    if os.environ.get(VERIFY_ENV, "1").strip().lower() in ("0", "no", "false", "off"):
        return None
    key = (replacement.plugin, replacement.kind, standard.name, replacement.obj, standard.obj)
    with _lock:
        if key not in _verified:
            from .testing.differential import quick_check_replacement
            try:
                report = quick_check_replacement(replacement, standard)
                problem = report.summary() and f"disagrees with the standard: {report.summary()}"
            except Exception as exc:   # noqa: BLE001 - a replacement that raises is not used
                problem = f"its verification raised {type(exc).__name__}: {exc}"
            _verified[key] = problem or None
            if problem:
                warnings.warn(f"tinygrad_edu: the {standard.kind} {standard.name!r} of plugin "
                              f"{replacement.plugin!r} is quarantined, the standard one answers: "
                              f"{problem}", PluginWarning, stacklevel=_outside_stacklevel())
        return _verified[key]


def _plugin_in_traceback(caller, exc: BaseException) -> str | None:
    """The name of the plugin whose hook implementation appears in ``exc``'s traceback."""
    codes = {getattr(impl.function, "__code__", None): impl.plugin_name
             for impl in caller.get_hookimpls()}
    culprit = None
    tb = exc.__traceback__
    while tb is not None:
        culprit = codes.get(tb.tb_frame.f_code, culprit)
        tb = tb.tb_next
    return culprit
