"""``tinygrad_edu.init``: the weight initializers by name, filled from the plugin registry.

    >>> from tinygrad_edu import init
    >>> W = init.he_normal((784, 100), fan_in=784, fan_out=100, rng=rng, dtype=np.float32)

Every initializer follows ``init(shape, fan_in, fan_out, rng, dtype, **kwargs) -> np.ndarray``
(see docs/DESIGN.md). ``init.get("he_normal")`` looks a name up. An unknown name raises
AttributeError listing the available initializers.
"""
from tinygrad_edu import registry as _registry

def get(name):
    """The initializer registered as ``name`` (case-insensitive, aliases too)."""
    return _registry.get("initializer", name)


__getattr__, __dir__ = _registry.surface(globals(), ("initializer",), ["get"])
