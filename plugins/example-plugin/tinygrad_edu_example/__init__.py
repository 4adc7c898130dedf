"""tinygrad_edu_example: an example third-party plugin for tinygrad_edu.

It adds the softplus and mish activations, the LayerNorm layer and the Lion optimizer. The
distribution's ``pyproject.toml`` points the entry point ``tinygrad_edu_example`` (group
``tinygrad_edu``) at this module; tinygrad_edu then calls the ``@hookimpl`` functions below
and finds the components by name: ``F.mish``, ``nn.LayerNorm``, ``optim.Lion``.

Each Component carries the declaration the conformance suite (``tinygrad-edu check``) tests it
by. Strategies are written as functions of ``hypothesis.strategies`` (``st``), so this plugin
does not import hypothesis.
"""
from tinygrad_edu import Check, Component, OptimizerCheck, hookimpl

from .activations import mish, softplus
from .layers import LayerNorm
from .optimizers import Lion, lion_step

__all__ = ["softplus", "mish", "LayerNorm", "Lion"]


def _shapes(st):
    return st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def _softplus_cases(st):
    """(call kwargs, input shape): beta between 0.5 and 3."""
    return st.tuples(st.fixed_dictionaries({"beta": st.floats(0.5, 3.0)}), _shapes(st))


def _layernorm_cases(st):
    """(constructor kwargs, input shape): F features in the last axis, 1 or 2 leading axes."""
    @st.composite
    def case(draw):
        features = draw(st.integers(1, 5))
        leading = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
        kwargs = {"normalized_shape": features,
                  "elementwise_affine": draw(st.booleans()), "dtype": "float64"}
        return kwargs, leading + (features,)
    return case()


@hookimpl
def register_activations():
    return [
        Component("softplus", softplus, check=Check(domain=(-4.0, 4.0), cases=_softplus_cases)),
        Component("mish", mish, check=Check(domain=(-4.0, 4.0))),
    ]


@hookimpl
def register_layers():
    # distinct: values spread out, so the variance never sits near 0 where 1/sqrt(var + eps)
    # bends sharply and central differences lose their accuracy
    return [Component("layernorm", LayerNorm, aliases=("layer_norm",),
                      check=Check(cases=_layernorm_cases, distinct=True))]


@hookimpl
def register_optimizers():
    return [Component("lion", Lion, check=OptimizerCheck(
        kwargs={"beta1": 0.8, "beta2": 0.95, "weight_decay": 0.1}, step=lion_step))]
