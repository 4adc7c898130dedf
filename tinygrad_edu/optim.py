"""``tinygrad_edu.optim``: the optimizers by class name, filled from the plugin registry.

    >>> from tinygrad_edu import optim
    >>> optimizer = optim.Adam(model.parameters(), lr=1e-3)

``optim.SGD``, ``optim.Adam``, a third-party ``optim.Lion`` ... (a registry name such as
``optim.adam`` works as well); ``optim.Optimizer`` is the base class. An unknown name raises
AttributeError listing the available optimizers.
"""
from tinygrad_edu import registry as _registry

def get(name):
    """The optimizer class registered as ``name`` (case-insensitive, aliases too)."""
    return _registry.get("optimizer", name)


def _optimizer_base():
    from tinygrad_edu.optimizer import Optimizer
    return Optimizer


__getattr__, __dir__ = _registry.surface(globals(), ("optimizer",), ["Optimizer", "get"],
                                         lazy={"Optimizer": _optimizer_base})
