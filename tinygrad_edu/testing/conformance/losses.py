"""Conformance checks of losses: those of a function of the network output (see
:mod:`.activations`), with the output a 0-d Tensor."""
from __future__ import annotations

from tinygrad_edu.components import Component
from tinygrad_edu.testing.conformance import activations


def properties(comp: Component) -> list:
    """The (check name, property) pairs of a loss."""
    return activations.properties(comp)
