"""``tinygrad_edu.nn``: the layers, by class name, filled from the plugin registry.

    >>> from tinygrad_edu import nn
    >>> model = nn.Sequential(nn.Linear(784, 100), nn.Linear(100, 10))

Every registered layer is an attribute (``nn.Conv2d``, ``nn.Linear``, a third-party
``nn.MyLayer`` too); a lowercase or registry name works as well (``nn.conv2d``). ``nn.Module`` is
the base class and ``nn.functional`` the activations and losses (``tinygrad_edu.functional``).
An unknown name raises AttributeError listing the available layers.
"""
from tinygrad_edu import functional
from tinygrad_edu import registry as _registry
from tinygrad_edu.module import Module

_KINDS = ("layer",)


def get(name):
    """The layer class registered as ``name`` (case-insensitive, aliases too)."""
    return _registry.get("layer", name)


def __getattr__(name):
    if name == "__all__":
        return ["Module", "functional", "get", *_registry.surface_names(_KINDS)]
    return _registry.surface_getattr(__name__, _KINDS, name)


def __dir__():
    return sorted(set(globals()) | set(_registry.surface_names(_KINDS)))
