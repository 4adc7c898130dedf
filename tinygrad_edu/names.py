"""The name table: which component answers to which name, for every kind.

There is one table per load of the plugins (:mod:`tinygrad_edu.plugins` fills it, plugin by
plugin, all or nothing); :mod:`tinygrad_edu.registry` answers every lookup from it. A *slot* is one
component name of one kind with its aliases; all of them, compared by
:func:`~tinygrad_edu.components.normalize_name`, lead to the same slot. A slot holds the
component that registered the name first (the *standard* implementation) and the declared
replacements (``Component(replaces=...)``); its *active* implementation is the one lookups
return::

    active = the replacement with the highest priority whose condition() holds
             (ties: the one loaded first), else the standard one

A replacement is *verified* before it answers a name: the first time a slot's active
implementation is read, ``verify(replacement, standard)`` (given by the plugin manager) runs; if
it returns a problem, the replacement is quarantined (``notes`` says why) and the next usable
implementation, in the end the standard one, answers instead.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Callable

from .components import KINDS, Component, normalize_name


class NameClash(Exception):
    """A component name (or alias) is taken already; ``owner`` is the component holding it."""

    def __init__(self, kind: str, label: str, owner: Component, newcomer: Component):
        super().__init__(f"the {kind} name {label!r} is taken by plugin {owner.plugin!r}")
        self.kind, self.label, self.owner, self.newcomer = kind, label, owner, newcomer


class MissingReplacementTarget(Exception):
    """A component declares ``replaces=`` a name that no plugin loaded before it registers."""


@dataclass
class Slot:
    """One name of one kind: the standard implementation, the replacements, the active one.

    ``notes`` says why a replacement is not active (its condition is false or raised, or it
    failed its verification). ``verify(replacement, standard)`` returns None or the problem."""

    standard: Component
    replacements: list[Component] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    verify: Callable[[Component, Component], str | None] | None = None
    _usable: list[Component] = field(default_factory=list, repr=False)
    _active: Component | None = field(default=None, repr=False)

    @property
    def active(self) -> Component:
        """The implementation lookups return, verified on first read."""
        if self._active is None:
            self._active = self.standard
            for comp in self._usable:
                problem = self.verify(comp, self.standard) if self.verify else None
                if problem is None:
                    self._active = comp
                    break
                self.notes[comp.plugin] = f"quarantined: {problem}"
        return self._active

    def implementations(self) -> list[Component]:
        """Every implementation, the active one first, then in resolution order."""
        ranked = sorted(self.replacements, key=lambda c: -c.priority) + [self.standard]
        active = self.active or self.standard
        return [active] + [c for c in ranked if c is not active]

    def resolve(self) -> None:
        """Find the usable implementations (see the module docstring); the active one is
        chosen among them, verified, when :attr:`active` is first read."""
        self.notes, self._usable, self._active = {}, [], None
        for comp in sorted(self.replacements, key=lambda c: -c.priority):   # stable: load order
            try:
                usable = comp.condition is None or bool(comp.condition())
                if not usable:
                    self.notes[comp.plugin] = "its condition is false"
            except Exception as exc:   # a condition that fails means "not usable here"
                usable = False
                self.notes[comp.plugin] = f"its condition raised {type(exc).__name__}: {exc}"
            if usable:
                self._usable.append(comp)


class NameTable:
    """kind -> normalized name or alias -> :class:`Slot`; slots in loading order per kind."""

    def __init__(self, verify: Callable[[Component, Component], str | None] | None = None):
        self.verify = verify
        self._keys: dict[str, dict[str, Slot]] = {kind: {} for kind in KINDS}
        self._slots: dict[str, list[Slot]] = {kind: [] for kind in KINDS}

    # ------------------------------------------------------------------ filling

    def claim(self, components: list[Component]) -> None:
        """Add one plugin's components (``kind`` and ``plugin`` filled in), all or nothing.

        Raises :class:`NameClash` if a name or alias is taken (by another plugin, or twice by
        this one) and :class:`MissingReplacementTarget` if a ``replaces=`` names no component.
        A declared replacement does not clash with the name it replaces."""
        new_keys: dict[tuple[str, str], Slot] = {}
        new_slots: list[Slot] = []
        replacements: list[tuple[Slot, Component]] = []
        for comp in components:
            if comp.replaces is not None:
                target = self._keys[comp.kind].get(normalize_name(comp.replaces))
                if target is None:
                    raise MissingReplacementTarget(
                        f"{comp.kind} {comp.name!r} declares replaces={comp.replaces!r}, but no "
                        f"plugin loaded before it registers a {comp.kind} of that name")
                std = target.standard
                replacement = dataclasses.replace(
                    comp, name=std.name, aliases=std.aliases, check=comp.check or std.check)
                replacements.append((target, replacement))
                own_names = {normalize_name(n) for n in (std.name, *std.aliases)}
                labels = [n for n in (comp.name, *comp.aliases) if normalize_name(n) not in own_names]
                if not labels:
                    continue
                comp = dataclasses.replace(comp, name=labels[0], aliases=tuple(labels[1:]),
                                           replaces=None)
            slot = Slot(comp, verify=self.verify)
            for label in (comp.name, *comp.aliases):
                key = normalize_name(label)
                owner = self._keys[comp.kind].get(key) or new_keys.get((comp.kind, key))
                if owner is not None:
                    raise NameClash(comp.kind, label, owner.standard, comp)
                new_keys[(comp.kind, key)] = slot
            new_slots.append(slot)
        for (kind, key), slot in new_keys.items():
            self._keys[kind][key] = slot
        for slot in new_slots:
            self._slots[slot.standard.kind].append(slot)
        for slot, replacement in replacements:
            slot.replacements.append(replacement)

    def resolve(self) -> None:
        """Choose every slot's active implementation (after all plugins are claimed)."""
        for slots in self._slots.values():
            for slot in slots:
                slot.resolve()

    # ------------------------------------------------------------------ reading

    def slot(self, kind: str, name) -> Slot | None:
        """The slot of ``name`` (any spelling of the name or an alias), or None."""
        return self._keys[kind].get(normalize_name(name)) if isinstance(name, str) else None

    def slots(self, kind: str) -> list[Slot]:
        """The slots of one kind in loading order."""
        return list(self._slots[kind])

    def active(self, kind: str) -> list[Component]:
        """The active implementation of every name of one kind, in loading order."""
        return [slot.active or slot.standard for slot in self._slots[kind]]

    def replaced(self) -> list[Slot]:
        """The slots that have replacements (for ``tinygrad-edu plugins``)."""
        return [s for kind in KINDS for s in self._slots[kind] if s.replacements]

    def labels(self, kind: str) -> dict[str, Slot]:
        """normalized name or alias -> slot, for did-you-mean."""
        return dict(self._keys[kind])

    def suggest(self, kinds: tuple[str, ...], name) -> str | None:
        """The closest name or alias (as registered) to ``name`` among ``kinds``, or None: a
        typo of an alias suggests the alias (``lineer`` -> ``linear``)."""
        spelled = {normalize_name(label): label
                   for kind in kinds for slot in self._slots[kind]
                   for label in (slot.standard.name, *slot.standard.aliases)}
        close = difflib.get_close_matches(normalize_name(str(name)), list(spelled), n=1)
        return spelled[close[0]] if close else None
