"""Find components by name: ``get("activation", "relu")``, ``get("optimizer", "Adam")``.

The registries are filled from the plugins' registration hooks (see :mod:`tinygrad_edu.plugins`)
and rebuilt whenever the set of plugins changes. Names are compared case-insensitively, with
``-`` equal to ``_``, and a component's aliases are found too. A failed lookup raises
:class:`UnknownComponentError` listing the available names and the closest match::

    >>> registry.get("activation", "rleu")
    UnknownComponentError: Unknown activation 'rleu'. Did you mean 'relu'?
    Available activations: relu, sigmoid, softmax, tanh
"""
from __future__ import annotations

import difflib
import keyword
from typing import Any, Callable

from . import plugins
from .components import KINDS, Component
from .plugins import normalize_name

__all__ = ["UnknownComponentError", "get", "get_component", "get_first", "lookup", "components", "names",
           "all_components", "KINDS"]


class UnknownComponentError(LookupError):
    """No component of this kind has this name; the message lists the available names."""

    def __init__(self, message: str, kind: str | None, name: str, available: list[str],
                 suggestion: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.available = available
        self.suggestion = suggestion


_cache: tuple[int, dict[str, list[Component]], dict[str, dict[str, Component]]] | None = None


def _index() -> tuple[dict[str, list[Component]], dict[str, dict[str, Component]]]:
    """``(by_kind, keys)``: components per kind, and normalized name/alias -> component."""
    global _cache
    if _cache is None or _cache[0] != plugins.generation():
        generation, comps = plugins.snapshot()
        by_kind: dict[str, list[Component]] = {kind: [] for kind in KINDS}
        keys: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
        for comp in comps:
            by_kind[comp.kind].append(comp)
            for label in (comp.name, *comp.aliases):
                key = normalize_name(label)
                other = keys[comp.kind].get(key)
                if other is not None and other is not comp:   # the plugin manager prevents this
                    raise plugins.PluginConflictError(
                        f"the {comp.kind} name {label!r} is registered by two plugins: "
                        f"{other.plugin!r} and {comp.plugin!r}",
                        comp.kind, label, (other.plugin, comp.plugin))
                keys[comp.kind][key] = comp
        _cache = (generation, by_kind, keys)
    return _cache[1], _cache[2]


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


def _unknown(kind: str | None, name: str, candidates: dict[str, Component],
             available: list[str], what: str, plural: str = "") -> UnknownComponentError:
    plural = plural or _plural(what)
    close = difflib.get_close_matches(normalize_name(str(name)), list(candidates), n=1)
    suggestion = candidates[close[0]].name if close else None
    message = f"Unknown {what} {name!r}."
    if suggestion:
        message += f" Did you mean {suggestion!r}?"
    if available:
        message += f" Available {plural}: {', '.join(available)}."
    else:
        message += f" No {plural} are registered (is a plugin providing them installed?)."
    message += _quarantine_note()
    return UnknownComponentError(message, kind, name, available, suggestion)


def get_component(kind: str, name: str) -> Component:
    """The :class:`Component` of this kind called ``name`` (or one of its aliases)."""
    kind = _check_kind(kind)
    _, keys = _index()
    comp = keys[kind].get(normalize_name(name)) if isinstance(name, str) else None
    if comp is None:
        raise _unknown(kind, name, keys[kind], names(kind), kind)
    return comp


def get(kind: str, name: str) -> Any:
    """The registered object: ``get("layer", "conv2d")`` is the Conv2d class,
    ``get("activation", "ReLU")`` the relu function."""
    return get_component(kind, name).obj


def lookup(name: str, kind: str | None = None) -> Component:
    """Find a component by name across all kinds (when ``kind`` is None), as the CLI's
    ``tinygrad-edu check NAME`` does. A name used by several kinds is an error listing them."""
    if kind is not None:
        return get_component(kind, name)
    _, keys = _index()
    key = normalize_name(name) if isinstance(name, str) else None
    found = [keys[k][key] for k in KINDS if key in keys[k]]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise LookupError(f"{name!r} names several components: "
                          + ", ".join(f"{c.kind} {c.name!r}" for c in found)
                          + "; give the kind")
    merged = {k: c for kind_keys in keys.values() for k, c in kind_keys.items()}
    raise _unknown(None, name, merged, sorted({c.name for c in merged.values()}, key=str.lower),
                   "component")


def get_first(kinds: tuple[str, ...], name: str) -> Component:
    """The component called ``name`` in the first of ``kinds`` that has one."""
    kinds = tuple(_check_kind(k) for k in kinds)
    _, keys = _index()
    key = normalize_name(name) if isinstance(name, str) else None
    for kind in kinds:
        if key in keys[kind]:
            return keys[kind][key]
    if len(kinds) == 1:
        return get_component(kinds[0], name)
    merged = {k: c for kind in kinds for k, c in keys[kind].items()}
    available = sorted({c.name for c in merged.values()}, key=str.lower)
    raise _unknown(None, name, merged, available, " or ".join(kinds),
                   " and ".join(_plural(k) for k in kinds))


def components(kind: str) -> list[Component]:
    """The components of one kind, in loading order, with ``kind`` and ``plugin`` filled in."""
    by_kind, _ = _index()
    return list(by_kind[_check_kind(kind)])


def names(kind: str) -> list[str]:
    """The canonical names of one kind, sorted (aliases not included)."""
    return sorted((c.name for c in components(kind)), key=str.lower)


def all_components() -> list[Component]:
    """Every registered component, grouped by kind in the order of ``KINDS``."""
    by_kind, _ = _index()
    return [comp for kind in KINDS for comp in by_kind[kind]]


# ------------------------------------------------------------ helpers for nn / F / optim / init


def _attribute_names(comp: Component) -> list[str]:
    """The Python attribute names under which a surface module offers a component: the
    object's ``__name__`` (``Conv2d``), the component name and its aliases, when identifiers."""
    out = []
    for label in (getattr(comp.obj, "__name__", None), comp.name, *comp.aliases):
        if isinstance(label, str) and label.isidentifier() and not keyword.iskeyword(label) \
                and not label.startswith("_") and label not in out:
            out.append(label)
    return out


def surface_names(kinds: tuple[str, ...], primary: bool = False) -> list[str]:
    """The attribute names of the components of ``kinds`` (for a module's ``__dir__``);
    with ``primary``, one per component (the class name of a class, else the component name)."""
    out: list[str] = []
    for kind in kinds:
        for comp in components(kind):
            labels = _attribute_names(comp)
            for name in labels[:1] if primary else labels:
                if name not in out:
                    out.append(name)
    return out


_surface_cache: dict[tuple[str, ...], tuple[int, dict[str, Any]]] = {}


def _surface_map(kinds: tuple[str, ...]) -> dict[str, Any]:
    """Exact attribute name -> object for the components of ``kinds`` (cached)."""
    generation = plugins.generation()
    cached = _surface_cache.get(kinds)
    if cached is None or cached[0] != generation:
        mapping: dict[str, Any] = {}
        for kind in kinds:
            for comp in components(kind):
                for label in _attribute_names(comp):
                    mapping.setdefault(label, comp.obj)
        cached = _surface_cache[kinds] = (generation, mapping)
    return cached[1]


def surface_getattr(module_name: str, kinds: tuple[str, ...], attr: str) -> Any:
    """``module.__getattr__`` for a registry-backed module: an exact attribute name first
    (``nn.Conv2d``), then a case-insensitive lookup (``nn.conv2d``); else an AttributeError
    listing what is available."""
    if attr.startswith("_"):   # __path__, __wrapped__, ...: never a component, never load
        raise AttributeError(f"module {module_name!r} has no attribute {attr!r}")
    exact = _surface_map(kinds)
    if attr in exact:
        return exact[attr]
    _, keys = _index()
    for kind in kinds:
        comp = keys[kind].get(normalize_name(attr))
        if comp is not None:
            return comp.obj
    available = sorted(surface_names(kinds, primary=True), key=str.lower)
    candidates = {n.casefold(): n for n in available}
    close = difflib.get_close_matches(attr.casefold(), list(candidates), n=1)
    message = f"module {module_name!r} has no attribute {attr!r}."
    if close:
        message += f" Did you mean {candidates[close[0]]!r}?"
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
