"""Find components by name: ``get("activation", "relu")``, ``get("optimizer", "Adam")``.

Every lookup reads the one name table (:class:`tinygrad_edu.names.NameTable`) that the plugin
manager fills from the registration hooks (see :mod:`tinygrad_edu.plugins`), a new one whenever
the set of plugins changes. Names are compared case-insensitively, with ``-`` equal to ``_``, and a
component's aliases are found too. A name may have several implementations (declared
replacements, ``Component.replaces``): lookups give the active one,
``get_component(kind, name, implementation="standard")`` the replaced one. A failed lookup raises
:class:`UnknownComponentError` listing the available names (with their aliases) and the closest
name or alias::

    >>> registry.get("activation", "rleu")
    UnknownComponentError: Unknown activation 'rleu'. Did you mean 'relu'?
    Available activations: relu, sigmoid, silu (swish), softmax, tanh
"""
from __future__ import annotations

import difflib
import keyword
from typing import Any, Callable

from . import plugins
from .components import KINDS, Component
from .names import NameTable, Slot

__all__ = ["UnknownComponentError", "get", "get_component", "get_first", "lookup", "components",
           "names", "implementations", "all_components", "KINDS"]


class UnknownComponentError(LookupError):
    """No component of this kind has this name; the message lists the available names."""

    def __init__(self, message: str, kind: str | None, name: str, available: list[str],
                 suggestion: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.available = available
        self.suggestion = suggestion


def _table() -> NameTable:
    return plugins.name_table()


def _plural(kind: str) -> str:
    return kind + ("es" if kind.endswith("s") else "s")


def _check_kind(kind: str) -> str:
    if kind in KINDS:
        return kind
    if isinstance(kind, str) and kind.endswith("s") and kind[:-1] in KINDS:
        return kind[:-1]   # "layers" is understood as "layer"
    raise ValueError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")


def _quarantine_note() -> str:
    bad = plugins.quarantined()
    if not bad:
        return ""
    which = "; ".join(f"{r.name!r} ({r.stage}: {r.error})" for r in bad)
    return (f"\nNote: {len(bad)} plugin(s) failed to load and may have provided it: {which}. "
            f"Run `tinygrad-edu plugins` for details.")


def _listing(slots: list[Slot]) -> str:
    """``he_normal (he), xavier (glorot), zeros``: the names with their aliases."""
    entries = sorted(slots, key=lambda s: s.standard.name.lower())
    return ", ".join(s.standard.name + (f" ({', '.join(s.standard.aliases)})"
                                         if s.standard.aliases else "") for s in entries)


def _unknown(kinds: tuple[str, ...], name: str, what: str,
             plural: str = "") -> UnknownComponentError:
    table = _table()
    plural = plural or _plural(what)
    slots = [slot for kind in kinds for slot in table.slots(kind)]
    suggestion = table.suggest(kinds, name)
    message = f"Unknown {what} {name!r}."
    if suggestion:
        message += f" Did you mean {suggestion!r}?"
    if slots:
        message += f" Available {plural}: {_listing(slots)}."
    else:
        message += f" No {plural} are registered (is a plugin providing them installed?)."
    message += _quarantine_note()
    available = sorted({s.standard.name for s in slots}, key=str.lower)
    return UnknownComponentError(message, kinds[0] if len(kinds) == 1 else None, name,
                                 available, suggestion)


def _slot(kind: str, name: str) -> Slot:
    kind = _check_kind(kind)
    slot = _table().slot(kind, name)
    if slot is None:
        raise _unknown((kind,), name, kind)
    return slot


def get_component(kind: str, name: str, implementation: str | None = None) -> Component:
    """The :class:`Component` of this kind called ``name`` (or one of its aliases).

    ``implementation`` chooses among replacements (see ``Component.replaces``): None gives the
    active one (what every lookup returns), ``"standard"`` the one that registered the name
    first (the implementation a replacement replaces), a plugin name that plugin's."""
    slot = _slot(kind, name)
    if implementation is None:
        return slot.active or slot.standard
    if implementation == "standard":
        return slot.standard
    for comp in slot.implementations():
        if comp.plugin == implementation:
            return comp
    offered = ", ".join(repr(c.plugin) for c in slot.implementations())
    raise LookupError(f"no implementation of {slot.standard.kind} {slot.standard.name!r} by "
                      f"plugin {implementation!r}; implementations: {offered} (or 'standard')")


def implementations(kind: str, name: str) -> list[Component]:
    """Every implementation of a name, the active one first, then in the order they would
    take over; the standard one is among them (see ``Component.replaces``)."""
    return _slot(kind, name).implementations()


def get(kind: str, name: str) -> Any:
    """The registered object: ``get("layer", "conv2d")`` is the Conv2d class,
    ``get("activation", "ReLU")`` the relu function."""
    return get_component(kind, name).obj


def lookup(name: str, kind: str | None = None) -> Component:
    """Find a component by name across all kinds (when ``kind`` is None), as the CLI's
    ``tinygrad-edu check NAME`` does. A name used by several kinds is an error listing them."""
    if kind is not None:
        return get_component(kind, name)
    table = _table()
    found = [s.active or s.standard for k in KINDS for s in [table.slot(k, name)] if s]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise LookupError(f"{name!r} names several components: "
                          + ", ".join(f"{c.kind} {c.name!r}" for c in found)
                          + "; give the kind")
    raise _unknown(KINDS, name, "component")


def get_first(kinds: tuple[str, ...], name: str) -> Component:
    """The component called ``name`` in the first of ``kinds`` that has one."""
    kinds = tuple(_check_kind(k) for k in kinds)
    table = _table()
    for kind in kinds:
        slot = table.slot(kind, name)
        if slot is not None:
            return slot.active or slot.standard
    if len(kinds) == 1:
        return get_component(kinds[0], name)
    raise _unknown(kinds, name, " or ".join(kinds), " and ".join(_plural(k) for k in kinds))


def components(kind: str) -> list[Component]:
    """The components of one kind, in loading order, with ``kind`` and ``plugin`` filled in:
    for a replaced name, its active implementation."""
    return _table().active(_check_kind(kind))


def names(kind: str) -> list[str]:
    """The canonical names of one kind, sorted (aliases not included)."""
    return sorted((c.name for c in components(kind)), key=str.lower)


def all_components() -> list[Component]:
    """Every registered component, grouped by kind in the order of ``KINDS``."""
    return [comp for kind in KINDS for comp in components(kind)]


class NameChoices:
    """The names of one kind as argparse ``choices`` that load the plugins only when asked
    (so that ``--help`` and ``--version`` never wait for a plugin): iterating gives the
    canonical names; ``in`` accepts any spelling of a name or an alias."""

    def __init__(self, kind: str):
        self.kind = _check_kind(kind)

    def __iter__(self):
        return iter(names(self.kind))

    def __contains__(self, name) -> bool:
        return _table().slot(self.kind, name) is not None

    def __call__(self, text: str) -> str:
        """An argparse ``type``: the canonical name, or a one-line did-you-mean error."""
        import argparse
        try:
            return get_component(self.kind, text).name
        except UnknownComponentError as error:
            raise argparse.ArgumentTypeError(str(error).splitlines()[0]) from None


# ------------------------------------------------------------ helpers for nn / F / optim / init


def _attribute_names(slot: Slot) -> list[str]:
    """The Python attribute names under which a surface module offers a component: the
    class or function ``__name__`` (``Conv2d``; a replacement's too), the component name and its
    aliases, when identifiers."""
    std, active = slot.standard, slot.active or slot.standard
    out = []
    for label in (getattr(std.obj, "__name__", None), getattr(active.obj, "__name__", None),
                  std.name, *std.aliases):
        if isinstance(label, str) and label.isidentifier() and not keyword.iskeyword(label) \
                and not label.startswith("_") and label not in out:
            out.append(label)
    return out


def surface_names(kinds: tuple[str, ...], primary: bool = False) -> list[str]:
    """The attribute names of the components of ``kinds`` (for a module's ``__dir__``);
    with ``primary``, one per component (the class name of a class, else the component name)."""
    out: list[str] = []
    table = _table()
    for kind in kinds:
        for slot in table.slots(kind):
            labels = _attribute_names(slot)
            for name in labels[:1] if primary else labels:
                if name not in out:
                    out.append(name)
    return out


_surface_cache: dict[tuple[str, ...], tuple[int, dict[str, Any]]] = {}


def _surface_map(kinds: tuple[str, ...]) -> dict[str, Any]:
    """Exact attribute name -> object (the active implementation) for ``kinds`` (cached)."""
    generation = plugins.generation()
    cached = _surface_cache.get(kinds)
    if cached is None or cached[0] != generation:
        mapping: dict[str, Any] = {}
        table = _table()
        for kind in kinds:
            for slot in table.slots(kind):
                for label in _attribute_names(slot):
                    mapping.setdefault(label, (slot.active or slot.standard).obj)
        cached = _surface_cache[kinds] = (generation, mapping)
    return cached[1]


def _as_attribute(label: str, like: str) -> str:
    """Spell a suggested name the way the user wrote the attribute: a capitalised attribute
    (``nn.Lineer``) gets the class-style spelling (``Linear``, ``MaxPool2d``)."""
    if like[:1].isupper() and label.islower():
        return "".join(part[:1].upper() + part[1:] for part in label.split("_"))
    return label


def surface_getattr(module_name: str, kinds: tuple[str, ...], attr: str) -> Any:
    """``module.__getattr__`` for a registry-backed module: an exact attribute name first
    (``nn.Conv2d``), then a case-insensitive lookup (``nn.conv2d``, aliases too); else an
    AttributeError with the closest name or alias and what is available."""
    if attr.startswith("_"):   # __path__, __wrapped__, ...: never a component, never load
        raise AttributeError(f"module {module_name!r} has no attribute {attr!r}")
    exact = _surface_map(kinds)
    if attr in exact:
        return exact[attr]
    table = _table()
    for kind in kinds:
        slot = table.slot(kind, attr)
        if slot is not None:
            return (slot.active or slot.standard).obj
    available = sorted(surface_names(kinds, primary=True), key=str.lower)
    spellings: dict[str, str] = {}
    for label in surface_names(kinds):   # the class name before the lowercase registry name
        spellings.setdefault(label.casefold(), label)
    close = difflib.get_close_matches(attr.casefold(), list(spellings), n=1)
    message = f"module {module_name!r} has no attribute {attr!r}."
    if close:
        message += f" Did you mean {_as_attribute(spellings[close[0]], attr)!r}?"
    what = " and ".join(_plural(k) for k in kinds)
    message += (f" Available {what}: {', '.join(available)}." if available
                else f" No {what} are registered.")
    message += _quarantine_note()
    raise AttributeError(message)


def surface(module_globals: dict, kinds: tuple[str, ...], exports: list[str],
            lazy: dict[str, Callable[[], Any]] | None = None):
    """``(__getattr__, __dir__)`` for a registry-backed module (``nn``, ``functional``,
    ``optim``, ``init``)::

        __getattr__, __dir__ = registry.surface(globals(), ("layer",), ["Module", "get"])

    The components of ``kinds`` become the module's attributes (see :func:`surface_getattr`);
    ``__all__`` is ``exports`` (the module's own names) followed by them; ``lazy`` maps further
    names to functions that produce them on first use (an import the module cannot make at
    load time)."""
    module_name = module_globals["__name__"]
    lazy = dict(lazy or {})

    def __getattr__(attr):
        if attr in lazy:
            return lazy[attr]()
        if attr == "__all__":
            return [*exports, *surface_names(kinds)]
        return surface_getattr(module_name, kinds, attr)

    def __dir__():
        return sorted(set(module_globals) | set(lazy) | set(surface_names(kinds)))

    return __getattr__, __dir__
