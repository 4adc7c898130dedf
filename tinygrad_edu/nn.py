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

def get(name):
    """The layer class registered as ``name`` (case-insensitive, aliases too)."""
    return _registry.get("layer", name)


__getattr__, __dir__ = _registry.surface(globals(), ("layer",), ["Module", "functional", "get"])
