"""The standard models, registered by name (``tinygrad-edu train --model NAME``).

The models themselves live in :mod:`tinygrad_edu.models` (the book API and the examples build
them directly); this plugin only gives them names, exactly as a third party would register its
own model::

    @hookimpl
    def register_models():
        return [Component("my_net", build_my_net)]

A builder is ``build(input_shape, num_classes, **kwargs) -> Module`` with ``input_shape`` one
sample's shape, channels first.
"""
import math

from tinygrad_edu.components import Component
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.models import MultiLayerNet, SimpleConvNet


def simple_convnet(input_shape, num_classes, **kwargs):
    """conv 30x5x5 -> ReLU -> max pool 2x2 -> affine 100 -> ReLU -> affine (the book's chapter 7)"""
    if len(input_shape) != 3:
        raise ValueError(f"simple_convnet needs image inputs (C, H, W), got shape {tuple(input_shape)}")
    return SimpleConvNet(input_dim=input_shape, output_size=num_classes, **kwargs)


def mlp(input_shape, num_classes, hidden_sizes=(100, 100), **kwargs):
    """MultiLayerNet: 2 hidden layers of 100 ReLU units, He init (images are flattened)"""
    return MultiLayerNet(math.prod(input_shape), list(hidden_sizes), num_classes, **kwargs)


@hookimpl
def register_models():
    return [
        Component("simple_convnet", simple_convnet),
        Component("mlp", mlp, aliases=("multi_layer_net",)),
    ]
