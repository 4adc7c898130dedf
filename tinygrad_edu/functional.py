"""``tinygrad_edu.functional`` (imported as ``F``): activations and losses by name.

    >>> import tinygrad_edu.functional as F
    >>> h = F.relu(x @ W + b)
    >>> loss = F.softmax_cross_entropy(h, t)

Filled from the plugin registry, so a third-party activation appears as ``F.<name>`` too.
``F.get("relu")`` looks a name up (case-insensitive, aliases too). When an activation and a loss
share a name, the attribute is the activation; use ``F.get(name, kind="loss")``.
An unknown name raises AttributeError listing the available ones.
"""
from tinygrad_edu import registry as _registry

_KINDS = ("activation", "loss")


def get(name, kind=None):
    """The activation or loss function registered as ``name``, case-insensitive, aliases too
    (``kind``: "activation" or "loss" to choose; by default activations are searched first)."""
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"F.get: kind must be one of {_KINDS}, got {kind!r}")
    return _registry.get_first((kind,) if kind else _KINDS, name).obj


__getattr__, __dir__ = _registry.surface(globals(), _KINDS, ["get"])
