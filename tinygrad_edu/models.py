"""Ready-made models, built from the registered layers (``nn.Affine``, ``nn.Conv2d`` ...).

    from tinygrad_edu.models import MultiLayerNet, SimpleConvNet, get_model

    net = MultiLayerNet(784, [100, 100, 100], 10, activation="relu", weight_init="he",
                        weight_decay=0.1, dropout=0.2, batch_norm=True, seed=0)
    cnn = SimpleConvNet(seed=0)                        # the book's chapter-7 network
    model = get_model("simple_convnet", seed=0)        # by name, as the CLI does

The names come from the plugin registry (kind ``"model"``, hook ``register_models``): the
standard plugin ``tinygrad_edu_plugins.models`` registers these two, and a third party's model
appears in ``tinygrad-edu train --model`` the same way.

Both are :class:`~tinygrad_edu.module.Module` s: ``parameters()``, ``state_dict()``,
``train()``/``eval()`` work as for any layer, and ``model(x)`` returns the scores (logits) of
each class; the softmax lives in the loss (``softmax_cross_entropy``), as in the book.
For any other stack of layers use ``nn.Sequential``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from tinygrad_edu import functional as F
from tinygrad_edu import nn, registry
from tinygrad_edu.grad_mode import is_grad_enabled
from tinygrad_edu.module import Module
from tinygrad_edu.random import generator
from tinygrad_edu.tensor import Tensor

__all__ = ["MultiLayerNet", "SimpleConvNet", "get_model", "model_names"]


def _l2(weights, weight_decay: float) -> Tensor | None:
    """0.5 · λ · Σ_W Σ W²  (the book's weight decay term), or None when λ = 0."""
    if not weight_decay:
        return None
    total = None
    for W in weights:
        term = (W * W).sum()
        total = term if total is None else total + term
    return total * (0.5 * weight_decay) if total is not None else None


class MultiLayerNet(Module):
    """A fully connected network (the book's ``MultiLayerNet`` / ``MultiLayerNetExtend``):

        for every hidden layer:  x ← Dropout(activation(BatchNorm(x W_i + b_i)))
        scores = x W_out + b_out

    input_size     features per sample (784 for flattened MNIST)
    hidden_sizes   the width of each hidden layer, e.g. [100, 100, 100, 100, 100]
    output_size    number of classes
    activation     a registered activation name ("relu", "sigmoid", "tanh", ...) or a function
    weight_init    an initializer name ("he", "xavier", ...), a std (0.01) or a function
    weight_decay   λ of the L2 penalty 0.5·λ·ΣW² (all Affine weights, not biases), returned by
                   :meth:`regularization` and added to the loss by the Trainer, as in the book
    dropout        the drop probability after each hidden activation (0: no Dropout layers)
    batch_norm     a BatchNorm1d after each hidden Affine
    dtype          dtype of every parameter (float32 by default; float32 in, float32 out)
    seed           seeds the initial weights and the dropout masks (one generator for the model)

    Layers: ``hidden`` (list of Affine), ``batch_norms``, ``dropouts`` (lists, possibly empty),
    ``output`` (Affine); parameter names ``hidden.0.W`` ... ``output.b``.
    """

    def __init__(self, input_size: int, hidden_sizes: Sequence[int], output_size: int,
                 activation: str | Callable = "relu", weight_init="he", weight_decay: float = 0.0,
                 dropout: float = 0.0, batch_norm: bool = False, dtype=np.float32,
                 seed: int | None = None):
        super().__init__()
        if isinstance(hidden_sizes, (int, np.integer)):
            hidden_sizes = [int(hidden_sizes)]
        hidden_sizes = [int(h) for h in hidden_sizes]
        if weight_decay < 0:
            raise ValueError(f"MultiLayerNet: weight_decay must be >= 0, got {weight_decay}")
        self.input_size, self.hidden_sizes, self.output_size = int(input_size), hidden_sizes, int(output_size)
        self.activation_name = activation if isinstance(activation, str) else getattr(activation, "__name__", "custom")
        self.activation = F.get(activation, kind="activation") if isinstance(activation, str) else activation
        self.weight_decay = float(weight_decay)
        rng = generator(seed=seed, owner=type(self).__name__)
        sizes = [self.input_size, *hidden_sizes]
        self.hidden = [nn.Affine(sizes[i], sizes[i + 1], weight_init=weight_init, rng=rng, dtype=dtype)
                       for i in range(len(hidden_sizes))]
        self.batch_norms = [nn.BatchNorm1d(h, dtype=dtype) for h in hidden_sizes] if batch_norm else []
        self.dropouts = [nn.Dropout(dropout, rng=rng) for _ in hidden_sizes] if dropout > 0 else []
        self.output = nn.Affine(sizes[-1], self.output_size, weight_init=weight_init, rng=rng, dtype=dtype)

    def forward(self, x, activations: list | None = None):
        """The class scores of rows x (N, input_size); images (N, C, H, W) are flattened by the
        first Affine. Pass a list as ``activations`` to collect each hidden layer's output
        (after the activation function, before dropout), e.g. for histograms."""
        for i, affine in enumerate(self.hidden):
            x = affine(x)
            if self.batch_norms:
                x = self.batch_norms[i](x)
            x = self.activation(x)
            if activations is not None:
                activations.append(x)
            if self.dropouts:
                x = self.dropouts[i](x)
        return self.output(x)

    def regularization(self) -> Tensor | None:
        """The weight-decay term 0.5·λ·ΣW² over every Affine weight (None when λ = 0)."""
        return _l2([layer.W for layer in (*self.hidden, self.output)], self.weight_decay)

    def extra_repr(self) -> str:
        return (f"{self.input_size} -> {self.hidden_sizes} -> {self.output_size}, "
                f"activation={self.activation_name}, weight_decay={self.weight_decay}")


class SimpleConvNet(Module):
    """The book's chapter-7 network:

        conv (filter_num filters filter_size²) → ReLU → 2x2 max pool (stride 2)
        → affine (hidden_size) → ReLU → affine (output_size) → scores

    input_dim    (channels, height, width) of an input image, (1, 28, 28) for MNIST
    conv_param   {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
    weight_init  a std (the book's 0.01), an initializer name ("he") or a function
    weight_decay λ of the L2 penalty 0.5·λ·ΣW² over the conv and affine weights (0: none)
    dtype, seed  as for :class:`MultiLayerNet`

    Layers ``conv1``, ``pool1``, ``affine1``, ``affine2`` (parameters ``conv1.W``, ``conv1.b``,
    ...).

    The ReLU is applied after the pooling: max pooling only selects, and ReLU never changes the
    order of two values, so pool(relu(x)) = relu(pool(x)), the same numbers, and the gradient
    goes to the same element (each window's first maximum, and nowhere when that maximum is
    <= 0). It is the book's network, with the ReLU (forward and backward) on a quarter of the
    values. The output size of the convolution, (H + 2·pad − filter_size) / stride + 1, must be
    an integer and even (for the 2x2 pooling).
    """

    def __init__(self, input_dim=(1, 28, 28), conv_param: dict | None = None, hidden_size: int = 100,
                 output_size: int = 10, weight_init=0.01, weight_decay: float = 0.0, dtype=np.float32,
                 seed: int | None = None):
        super().__init__()
        param = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
        unknown = set(conv_param or {}) - set(param)
        if unknown:
            raise ValueError(f"SimpleConvNet: unknown conv_param keys {sorted(unknown)}; "
                             f"known: {sorted(param)}")
        param.update(conv_param or {})
        channels, height, width = (int(v) for v in input_dim)
        fn, fs, pad, stride = (int(param[k]) for k in ("filter_num", "filter_size", "pad", "stride"))
        conv_h, conv_w = ((height + 2 * pad - fs) / stride + 1, (width + 2 * pad - fs) / stride + 1)
        if conv_h != int(conv_h) or conv_w != int(conv_w) or conv_h < 2 or conv_w < 2 \
                or int(conv_h) % 2 or int(conv_w) % 2:
            raise ValueError(f"SimpleConvNet: input {tuple(input_dim)} with filter_size={fs}, pad={pad}, "
                             f"stride={stride} gives a {conv_h} x {conv_w} feature map; it must be a "
                             f"whole, even size for the 2x2 pooling")
        self.input_dim = (channels, height, width)
        self.conv_param = param
        self.weight_decay = float(weight_decay)
        pooled = fn * (int(conv_h) // 2) * (int(conv_w) // 2)
        rng = generator(seed=seed, owner=type(self).__name__)
        self.conv1 = nn.Conv2d(channels, fn, fs, stride=stride, padding=pad, weight_init=weight_init,
                               rng=rng, dtype=dtype)
        self.pool1 = nn.MaxPool2d(2, stride=2)
        self.affine1 = nn.Affine(pooled, int(hidden_size), weight_init=weight_init, rng=rng, dtype=dtype)
        self.affine2 = nn.Affine(int(hidden_size), int(output_size), weight_init=weight_init, rng=rng,
                                 dtype=dtype)

    #: Under ``no_grad`` a larger batch goes through the network this many images at a time:
    #: each layer's output then is still in the CPU's cache when the next layer reads it (the
    #: convolution's output for 1,000 MNIST images is 69 MB, for 200 about 14 MB). Each image
    #: gets the same scores up to the last bit of a matrix product's rounding (which may depend
    #: on its number of rows); 10,000 test images in batches of 1,000 went from 400-525 ms to
    #: 360-406 ms (benchmarks/FINDINGS.md, "Fourth round").
    INFERENCE_CHUNK = 200

    def forward(self, x):
        """Scores (N, output_size) of images x (N, C, H, W); (N, C·H·W) rows are reshaped."""
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x.ndim == 2:
            x = x.reshape(x.shape[0], *self.input_dim)
        chunk = self.INFERENCE_CHUNK
        if x.shape[0] > chunk and not is_grad_enabled():
            return Tensor(np.concatenate([self._scores(Tensor(x.data[i:i + chunk])).data
                                          for i in range(0, x.shape[0], chunk)]))
        return self._scores(x)

    def _scores(self, x):
        """conv -> pool -> ReLU -> affine -> ReLU -> affine on a batch of images (N, C, H, W)."""
        x = F.relu(self.pool1(self.conv1(x)))   # = pool(relu(conv)), see the docstring
        x = F.relu(self.affine1(x))          # Affine flattens (N, FN, 12, 12) itself
        return self.affine2(x)

    def regularization(self) -> Tensor | None:
        """0.5·λ·ΣW² over the conv and affine weights (None when λ = 0)."""
        return _l2([self.conv1.W, self.affine1.W, self.affine2.W], self.weight_decay)


# ------------------------------------------------------------------------ models by name


def model_names() -> list[str]:
    """The names of the registered models (``register_models`` hooks; the standard ones are
    ``mlp`` and ``simple_convnet``)."""
    return registry.names("model")


def get_model(name: str, input_shape=(1, 28, 28), num_classes: int = 10, **kwargs) -> Module:
    """Build the model registered as ``name`` for inputs of ``input_shape`` (one sample,
    channels first); an unknown name raises ``UnknownComponentError`` with a did-you-mean."""
    return registry.get("model", name)(tuple(input_shape), int(num_classes), **kwargs)
