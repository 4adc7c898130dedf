"""What became of each plugin (:class:`PluginRecord`, a row of ``tinygrad-edu plugins``) and
the errors and warnings the plugin manager raises about plugins."""
from __future__ import annotations

import importlib
import os
import traceback
from dataclasses import dataclass, field
from typing import Any

from .components import KINDS, ComponentError
from .plugin_guard import PluginAbort

DISABLE_ENV = "TINYGRAD_EDU_DISABLE_PLUGINS"
_FRAMEWORK_FILES = ("<frozen", os.path.dirname(importlib.__file__),
                    os.path.dirname(os.path.abspath(__file__)) + os.sep)

RUNTIME = "(registered at run time)"


class PluginError(Exception):
    """A plugin could not be loaded; ``record`` (a :class:`PluginRecord`) says which and why."""

    def __init__(self, message: str, record: PluginRecord | None = None):
        super().__init__(message)
        self.record = record


class PluginConflictError(PluginError):
    """Two plugins register the same component name (or alias) for the same kind."""

    def __init__(self, message: str, kind: str, name: str, plugins: tuple[str, str],
                 record: PluginRecord | None = None):
        super().__init__(message, record)
        self.kind = kind
        self.name = name
        self.plugins = plugins


class PluginWarning(UserWarning):
    """Emitted once for every quarantined plugin."""


@dataclass
class PluginRecord:
    """What became of one plugin: a row of ``tinygrad-edu plugins``.

    status        "loaded", "quarantined" or "disabled"
    entry_point   ``"name = module:attr"``, or ``"(registered at run time)"``
    registers     kind -> component names, for a loaded plugin
    replaces      kind -> the names it declares replacements for (see ``Component.replaces``)
    stage, error  for a quarantined plugin: the step that failed ("import", "register_layers",
                  "conflict", ...) and the cause in one line; ``traceback`` has the details
    """

    name: str
    entry_point: str
    distribution: str = ""
    version: str = ""
    status: str = "loaded"
    registers: dict[str, list[str]] = field(default_factory=dict)
    replaces: dict[str, list[str]] = field(default_factory=dict)
    stage: str = ""
    error: str = ""
    traceback: str = field(default="", repr=False)
    exception: BaseException | None = field(default=None, repr=False)
    plugin: Any = field(default=None, repr=False)

    @property
    def source(self) -> str:
        """Where the plugin comes from: entry point and distribution."""
        if self.entry_point == RUNTIME:
            return "registered at run time"
        where = f"entry point {self.entry_point!r}"
        if self.distribution:
            where += f" of {self.distribution} {self.version}".rstrip()
        return where

    def describe(self) -> str:
        """One readable sentence: the plugin, where it comes from, and what happened."""
        text = f"plugin {self.name!r} ({self.source})"
        if self.status == "quarantined":
            return f"{text} was quarantined; {self.stage} failed: {self.error}"
        if self.status == "disabled":
            return f"{text} is disabled"
        counts = ", ".join(f"{len(v)} {k}(s)" for k, v in self.registers.items() if v)
        return f"{text} registers {counts or 'nothing'}"

    def quarantine(self, stage: str, exc: BaseException) -> None:
        """Mark the plugin quarantined: ``stage`` failed with ``exc``, described in one line
        ending with the place in the plugin's code where it happened."""
        self.status, self.stage, self.exception, self.registers = "quarantined", stage, exc, {}
        if isinstance(exc, (PluginError, ComponentError)):
            self.error = str(exc)
            if isinstance(exc, PluginError):
                exc.record = self
            return
        origin = exc.__cause__ if isinstance(exc, PluginAbort) and exc.__cause__ else exc
        self.error = (f"the plugin {exc}; it was stopped and quarantined"
                      if isinstance(exc, PluginAbort) else f"{type(exc).__name__}: {exc}")
        frames = [f for f in traceback.extract_tb(origin.__traceback__)
                  if not f.filename.startswith(_FRAMEWORK_FILES)]
        if frames and not isinstance(exc, SyntaxError):
            self.error += f" (at {frames[-1].filename}:{frames[-1].lineno})"
        self.traceback = "".join(traceback.format_exception(type(origin), origin,
                                                            origin.__traceback__))

    def as_row(self) -> dict:
        """A plain dict for listings (the CLI's ``plugins`` command)."""
        return {
            "name": self.name,
            "status": self.status,
            "distribution": self.distribution,
            "version": self.version,
            "entry_point": self.entry_point,
            "registers": {kind: list(self.registers.get(kind, [])) for kind in KINDS},
            "replaces": {kind: list(v) for kind, v in self.replaces.items() if v},
            "error": f"{self.stage}: {self.error}" if self.status == "quarantined" else "",
        }


def conflict_error(record: PluginRecord, other: PluginRecord | None, clash) -> PluginConflictError:
    """The error for a name taken already (``clash``, a :class:`~tinygrad_edu.names.NameClash`):
    by the plugin of ``other``, which keeps it, or twice by ``record``'s own plugin."""
    kind, label, owner = clash.kind, clash.label, clash.owner.plugin
    if owner == record.name:
        message = (f"plugin {record.name!r} registers the {kind} name {label!r} twice "
                   f"(for {clash.owner.name!r} and {clash.newcomer.name!r})")
    else:
        message = (f"the {kind} name {label!r} is registered by two plugins: "
                   f"{owner!r} ({other.source if other else ''}) and {record.name!r} "
                   f"({record.source}); {owner!r} loaded first and keeps it, {record.name!r} is "
                   f"not loaded. Rename the component, declare it a drop-in implementation "
                   f"(Component(..., replaces={clash.owner.name!r})), or disable one: "
                   f"{DISABLE_ENV}={record.name}")
    return PluginConflictError(message, kind, label, (owner, record.name))
