"""What a plugin's code may not do to the framework: end the process, fake a Ctrl-C, leave
patches behind when it fails.

The plugin manager runs every piece of plugin code (the import, the registration hooks, the
lifecycle hooks) inside :func:`guarded`:

* ``sys.exit()``, ``raise SystemExit`` or any other ``BaseException`` that is not an ordinary
  ``Exception`` is caught and becomes a :class:`PluginAbort`, so the plugin is quarantined with
  a clear message instead of ending the program with status 0.
* ``KeyboardInterrupt`` while plugins load (import, registration hooks) is told apart by asking
  whether a SIGINT really arrived: during the load a SIGINT handler counts the signals and then
  does exactly what the handler it wraps did. A ``KeyboardInterrupt`` without a signal was
  raised by the plugin (a :class:`PluginAbort`); with one, the user pressed Ctrl-C and it
  propagates. In a lifecycle hook (during training, where the Trainer owns SIGINT) it cannot be
  told apart, so it is taken for a Ctrl-C: it propagates, noted with the plugin's name, and the
  Trainer stops as on Ctrl-C (checkpoint, exit status 130), never silently.
* :class:`CoreSnapshot` records the attributes of the framework's modules and classes
  (``tinygrad_edu.*``) before the plugin runs; when the plugin fails, :meth:`restore` puts back
  what it changed (``Tensor.__mul__``, an ops function, ...) and names it.

What no Python code can prevent: ``os._exit()``, ``os.kill(os.getpid(), SIGKILL)``, a crash in
C code, an endless loop, or changes to objects outside ``tinygrad_edu`` (numpy, the builtins).
Such a plugin must be uninstalled or disabled (``TINYGRAD_EDU_DISABLE_PLUGINS``).
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
import types


class PluginAbort(Exception):
    """Plugin code tried to end the process (``sys.exit``) or raised ``KeyboardInterrupt``
    (or another ``BaseException``) without a Ctrl-C from the user."""


_signals_seen = 0
_watching = False   # a counting SIGINT handler is in place (while plugins load)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "raised KeyboardInterrupt itself (no Ctrl-C was pressed)"
    return f"raised {type(exc).__name__}, which would end the program"


@contextlib.contextmanager
def watching_sigint():
    """While the block runs (plugins loading), count SIGINTs: the handler in place is wrapped
    by one that counts and then does exactly what it did (Python's default raises
    KeyboardInterrupt; an ignored SIGINT stays ignored). Main thread only; restored after."""
    global _watching
    if _watching or threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGINT)
    except (ValueError, OSError):   # no signal support here
        yield
        return

    def count(signum, frame):
        global _signals_seen
        _signals_seen += 1
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, count)
    _watching = True
    try:
        yield
    finally:
        _watching = False
        if signal.getsignal(signal.SIGINT) is count:
            signal.signal(signal.SIGINT, previous)


def as_abort(exc: BaseException, seen_before: int) -> PluginAbort | None:
    """The :class:`PluginAbort` for a ``BaseException`` that plugin code raised, or None for
    a real Ctrl-C: a KeyboardInterrupt during which a SIGINT arrived, or one that cannot be
    judged (no counting handler in place: lifecycle hooks, other threads)."""
    if isinstance(exc, KeyboardInterrupt) and (not _watching or _signals_seen != seen_before):
        return None
    abort = PluginAbort(_describe(exc))
    abort.__cause__ = exc
    return abort


def signals_seen() -> int:
    """How many SIGINTs the counting handler has seen (compare before and after)."""
    return _signals_seen


@contextlib.contextmanager
def guarded():
    """Run plugin code; turn its attempts to end the process into :class:`PluginAbort`
    (raised from the original exception). A real Ctrl-C propagates unchanged."""
    seen_before = _signals_seen
    try:
        yield
    except Exception:
        raise
    except BaseException as exc:   # SystemExit, KeyboardInterrupt, GeneratorExit, ...
        abort = as_abort(exc, seen_before)
        if abort is None:
            raise
        raise abort from exc


_CORE_PACKAGES = ("tinygrad_edu", "tinygrad_edu_plugins")
_OWN_STATE = ("tinygrad_edu.plugins", "tinygrad_edu.plugin_guard")   # changes while loading


def _core_modules() -> list[types.ModuleType]:
    return [module for name, module in list(sys.modules.items())
            if isinstance(module, types.ModuleType) and name not in _OWN_STATE
            and name.split(".")[0] in _CORE_PACKAGES]


def _is_code(value) -> bool:
    """Functions, classes, methods, properties: what a patch replaces (module-level data such
    as caches and counters may change legitimately while a plugin loads, and is left alone)."""
    return callable(value) or hasattr(value, "__get__")


_MISSING = object()


class CoreSnapshot:
    """The code attributes (functions, classes, methods) of every loaded ``tinygrad_edu`` and
    ``tinygrad_edu_plugins`` module and of the classes they define, taken before a plugin runs,
    so that what the plugin changes can be undone."""

    def __init__(self):
        self._namespaces: list[tuple[object, str, dict]] = []
        for module in _core_modules():
            self._namespaces.append((module, module.__name__, dict(vars(module))))
            for value in list(vars(module).values()):
                if isinstance(value, type) and value.__module__ == module.__name__:
                    self._namespaces.append((value, f"{module.__name__}.{value.__qualname__}",
                                             dict(vars(value))))

    def restore(self) -> list[str]:
        """Put back every attribute changed, added or deleted since the snapshot; returns
        their dotted names (empty when the plugin changed nothing). Submodules imported in
        the meantime stay."""
        undone = []
        for owner, label, before in self._namespaces:
            now = vars(owner)
            for name in [n for n in now if n not in before]:
                if _is_code(now[name]) and not isinstance(now[name], types.ModuleType):
                    delattr(owner, name)
                    undone.append(f"{label}.{name}")
            for name, value in before.items():
                current = now.get(name, _MISSING)
                if current is not value and (_is_code(value) or _is_code(current)) \
                        and not isinstance(value, types.ModuleType):
                    setattr(owner, name, value)
                    undone.append(f"{label}.{name}")
        return undone
