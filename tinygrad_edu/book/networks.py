"""The book's networks: ``TwoLayerNet`` (ch05), ``MultiLayerNet``, ``MultiLayerNetExtend``
(common/), ``SimpleConvNet`` (ch07) and ``DeepConvNet`` (ch08).

Each has the book's constructor and attributes:

* ``params``: a dict of float64 numpy arrays (``'W1'``, ``'b1'``, ...). The layers hold the very
  same arrays, so changing them in place (an optimizer, ``numerical_gradient``) changes the
  model;
* ``layers`` (an OrderedDict, or a list for DeepConvNet) of :mod:`tinygrad_edu.book.layers`
  and ``last_layer`` (``SoftmaxWithLoss``);
* ``predict(x)``, ``loss(x, t)``, ``accuracy(x, t)``;
* ``gradient(x, t)``: backpropagation -- the forward pass, then ``backward`` of every layer in
  reverse order, each one run by the framework's autodiff -- returning a dict like ``params``;
* ``numerical_gradient(x, t)``: the same by central differences (for gradient checks);
* ``save_params(file_name)`` / ``load_params(file_name)``: a pickled dict of arrays, the
  book's own format (files written by the book's code load too, through a loader that runs
  no code from the file: :mod:`tinygrad_edu.safe_pickle`); a name ending in ``.npz`` uses
  numpy's format instead.

Weights are drawn from numpy's global random state exactly as the book draws them, so after
``np.random.seed(0)`` a network starts from the book's numbers.

Why these are not wrappers of :mod:`tinygrad_edu.models`: the book's interface is a chain of
layer objects, each with its own ``forward``/``backward`` that scripts call one by one, and a
``params`` dict of float64 arrays drawn from numpy's global state. The layers here *are* the
framework's registered components (see :mod:`tinygrad_edu.book.layers`); what is the book's
own is only how they are chained, and the two places where the book's layers compute
something else than the framework's modules -- its Dropout (no 1/(1-p) scaling) and its
BatchNormalization (running variance from 0, momentum on the old value) -- which the book's
printed numbers depend on. A wrapper around ``models.MultiLayerNet`` would need a second,
layer-by-layer path for exactly that interface.
"""
from __future__ import annotations

import os
import pickle
from collections import OrderedDict

import numpy as np

from tinygrad_edu import safe_pickle
from tinygrad_edu.atomic import atomic_write, save_npz_atomic
from tinygrad_edu.book.gradient import numerical_gradient as _numerical_gradient
from tinygrad_edu.book.layers import (Affine, BatchNormalization, Convolution, Dropout, Pooling,
                                      Relu, Sigmoid, SoftmaxWithLoss)

__all__ = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet",
           "DeepConvNet"]


class LayerDict(OrderedDict):
    """The book's ``OrderedDict`` of layers; ``layers[0]`` also works (some versions of the
    book's code keep the layers in a list)."""

    def __getitem__(self, key):
        if isinstance(key, int) and not super().__contains__(key):
            return list(self.values())[key]
        return super().__getitem__(key)


def _labels(t):
    """Class numbers from labels (N,) or one-hot rows (N, C)."""
    t = np.asarray(t)
    return t if t.ndim == 1 else np.argmax(t, axis=1)


def _init_scale(weight_init_std, fan_in):
    """The std of the initial weights: 'relu'/'he' -> sqrt(2/fan_in) (He), 'sigmoid'/'xavier'
    -> sqrt(1/fan_in) (the book's Xavier), a number -> itself."""
    name = str(weight_init_std).lower()
    if name in ("relu", "he"):
        return np.sqrt(2.0 / fan_in)
    if name in ("sigmoid", "xavier"):
        return np.sqrt(1.0 / fan_in)
    try:
        return float(weight_init_std)
    except (TypeError, ValueError):
        raise ValueError(f"weight_init_std must be a number, 'relu'/'he' or 'sigmoid'/'xavier', "
                         f"got {weight_init_std!r}") from None


class _BookNetwork:
    """What every book network shares: the forward pass through its layers, the loss,
    accuracy, backprop and numerical gradients, saving.

    A network sets ``params``, ``layers`` and ``last_layer`` and says in ``_param_layers``
    which layer holds each entry of ``params``. One with Dropout or BatchNorm overrides
    ``predict``/``loss`` to take the book's ``train_flg``, and ``_training_loss`` where the
    loss that ``gradient`` and ``numerical_gradient`` differentiate is not ``loss(x, t)``.
    """

    params: dict
    last_layer: SoftmaxWithLoss

    def _layer_list(self):
        layers = self.layers
        return list(layers.values()) if isinstance(layers, dict) else list(layers)

    def _param_layers(self):
        """``(key, layer, attribute)`` for every entry of ``params``: where each array lives."""
        raise NotImplementedError

    def _weights_and_biases(self, layer_keys):
        """``('W<i>', layer, 'W')``, ``('b<i>', layer, 'b')`` for the i-th of ``layer_keys``
        (names, or indices of a list of layers), i counting from 1."""
        for i, key in enumerate(layer_keys, start=1):
            layer = self.layers[key]
            yield f'W{i}', layer, 'W'
            yield f'b{i}', layer, 'b'

    def _forward(self, x, train_flg):
        """x through every layer in order (without ``last_layer``); Dropout and
        BatchNormalization, which behave differently in training, get ``train_flg``."""
        for layer in self._layer_list():
            if isinstance(layer, (Dropout, BatchNormalization)):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def predict(self, x):
        """The scores for x (the layers in their test-time behaviour)."""
        return self._forward(x, train_flg=False)

    def loss(self, x, t):
        """Cross-entropy of softmax(predict(x)) against t (labels or one-hot rows)."""
        return self.last_layer.forward(self.predict(x), t)

    def _training_loss(self, x, t):
        """The loss that ``gradient`` and ``numerical_gradient`` differentiate."""
        return self.loss(x, t)

    def accuracy(self, x, t):
        """The fraction of rows whose largest score is at the right class."""
        y = np.argmax(self.predict(x), axis=1)
        return np.sum(y == _labels(t)) / float(x.shape[0])

    def _batched_accuracy(self, x, t, batch_size):
        """Accuracy over x in batches of ``batch_size`` (every sample counts, also a last
        batch smaller than ``batch_size``)."""
        labels = _labels(t)
        correct = 0
        for start in range(0, x.shape[0], batch_size):
            y = self.predict(x[start:start + batch_size])
            correct += np.sum(np.argmax(y, axis=1) == labels[start:start + batch_size])
        return correct / x.shape[0]

    def numerical_gradient(self, x, t):
        """``{key: dL/dparams[key]}`` by central differences (for gradient checks)."""
        def loss_W(W):
            return self._training_loss(x, t)
        return {key: _numerical_gradient(loss_W, self.params[key]) for key, _, _ in
                self._param_layers()}

    def gradient(self, x, t):
        """``{key: dL/dparams[key]}`` by backpropagation: the forward pass, then every
        layer's backward, last to first."""
        self._training_loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self._layer_list()):
            dout = layer.backward(dout)
        return {key: getattr(layer, "d" + attr) for key, layer, attr in self._param_layers()}

    # ---- saving ---------------------------------------------------------------------------
    def save_params(self, file_name="params.pkl"):
        """Write ``params`` as a pickled dict of arrays (the book's format), atomically; a
        name ending in ``.npz`` is written with numpy's ``savez`` instead."""
        params = {key: np.asarray(value) for key, value in self.params.items()}
        if str(file_name).endswith(".npz"):
            save_npz_atomic(file_name, **params)
            return
        with atomic_write(file_name, "wb") as f:
            pickle.dump(params, f)

    def load_params(self, file_name="params.pkl"):
        """Read parameters saved by ``save_params`` -- or by the book's own code, such as its
        published ``params.pkl`` -- and copy them into ``params`` in place (the layers and any
        optimizer keep seeing them).

        A ``.pkl`` is read by :mod:`tinygrad_edu.safe_pickle`, which runs nothing from the
        file (a crafted pickle is refused, naming the global it asked for); a name ending in
        ``.npz`` is read by numpy without pickles. Everything is checked before anything is
        assigned: the file must hold exactly the keys of ``params``, each a real number array
        (int or float, not strings, bool, complex or objects) of the same shape with only
        finite values; otherwise a ValueError lists every problem and nothing is changed.
        """
        name = os.fspath(file_name)
        if name.endswith(".npz"):
            with np.load(file_name, allow_pickle=False) as data:
                loaded = {key: data[key] for key in data.files}
        else:
            loaded = safe_pickle.load(file_name)
        if not isinstance(loaded, dict):
            raise ValueError(f"load_params: {name!r} holds a {type(loaded).__name__}, not a "
                             f"dict of parameter arrays")
        problems = []
        missing = [k for k in self.params if k not in loaded]
        unexpected = [k for k in loaded if k not in self.params]
        if missing:
            problems.append(f"missing: {', '.join(map(str, missing))}")
        if unexpected:
            problems.append(f"unexpected: {', '.join(map(str, unexpected))}")
        values = {}
        for key in self.params:
            if key not in loaded:
                continue
            value = loaded[key]
            if not isinstance(value, (np.ndarray, np.number, int, float)) or isinstance(
                    value, bool) or np.asarray(value).dtype.kind not in "iuf":
                kind = getattr(value, "dtype", type(value).__name__)
                problems.append(f"{key}: holds {kind} values, not real numbers")
                continue
            value = np.asarray(value)
            have, got = np.shape(self.params[key]), value.shape
            if have != got:
                problems.append(f"{key}: the network has shape {have}, the file {got}")
            elif not np.all(np.isfinite(value)):
                bad = int(value.size - np.count_nonzero(np.isfinite(value)))
                problems.append(f"{key}: {bad} of its values are NaN or infinite")
            else:
                values[key] = value.astype(self.params[key].dtype)
        if problems:
            raise ValueError(f"load_params: {name!r} does not fit this "
                             f"{type(self).__name__} (nothing was loaded); "
                             + "; ".join(problems))
        for key, layer, attr in self._param_layers():
            self.params[key][...] = values[key]
            setattr(layer, attr, self.params[key])   # the layer holds the params array again


class TwoLayerNet(_BookNetwork):
    """Affine - Relu - Affine - SoftmaxWithLoss (chapter 5), weights N(0, weight_init_std**2)."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        self.params = {}
        self.params['W1'] = weight_init_std * np.random.randn(input_size, hidden_size)
        self.params['b1'] = np.zeros(hidden_size)
        self.params['W2'] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params['b2'] = np.zeros(output_size)

        self.layers = LayerDict()
        self.layers['Affine1'] = Affine(self.params['W1'], self.params['b1'])
        self.layers['Relu1'] = Relu()
        self.layers['Affine2'] = Affine(self.params['W2'], self.params['b2'])
        self.lastLayer = SoftmaxWithLoss()

    last_layer = property(lambda self: self.lastLayer)

    def _param_layers(self):
        return self._weights_and_biases(('Affine1', 'Affine2'))


def _activation_layer(activation):
    layers = {'sigmoid': Sigmoid, 'relu': Relu}
    try:
        return layers[activation]
    except KeyError:
        raise ValueError(f"activation must be 'relu' or 'sigmoid', got {activation!r}") from None


class MultiLayerNet(_BookNetwork):
    """Fully connected: (Affine - activation) x len(hidden_size_list) - Affine - SoftmaxWithLoss.

    activation       'relu' or 'sigmoid'
    weight_init_std  a std, 'relu'/'he' (sqrt(2/n)) or 'sigmoid'/'xavier' (sqrt(1/n)), n being
                     the number of inputs of the layer
    weight_decay_lambda
                     L2 weight decay: loss + 1/2 lambda sum W**2, gradient dW + lambda W
    """

    def __init__(self, input_size, hidden_size_list, output_size,
                 activation='relu', weight_init_std='relu', weight_decay_lambda=0):
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size_list = hidden_size_list
        self.hidden_layer_num = len(hidden_size_list)
        self.weight_decay_lambda = weight_decay_lambda
        self.params = {}
        self._init_weight(weight_init_std)

        activation_layer = _activation_layer(activation)
        self.layers = LayerDict()
        for idx in range(1, self.hidden_layer_num + 1):
            self.layers['Affine' + str(idx)] = Affine(self.params['W' + str(idx)],
                                                      self.params['b' + str(idx)])
            self._add_hidden_layers(idx, activation_layer)
        idx = self.hidden_layer_num + 1
        self.layers['Affine' + str(idx)] = Affine(self.params['W' + str(idx)],
                                                  self.params['b' + str(idx)])
        self.last_layer = SoftmaxWithLoss()

    def _add_hidden_layers(self, idx, activation_layer):
        """The layers after the idx-th hidden Affine: here just the activation."""
        self.layers['Activation_function' + str(idx)] = activation_layer()

    def _init_weight(self, weight_init_std):
        sizes = [self.input_size] + list(self.hidden_size_list) + [self.output_size]
        for idx in range(1, len(sizes)):
            scale = _init_scale(weight_init_std, sizes[idx - 1])
            self.params['W' + str(idx)] = scale * np.random.randn(sizes[idx - 1], sizes[idx])
            self.params['b' + str(idx)] = np.zeros(sizes[idx])

    def _param_layers(self):
        for idx in range(1, self.hidden_layer_num + 2):
            layer = self.layers['Affine' + str(idx)]
            yield 'W' + str(idx), layer, 'W'
            yield 'b' + str(idx), layer, 'b'
            if 'BatchNorm' + str(idx) in self.layers:
                layer = self.layers['BatchNorm' + str(idx)]
                yield 'gamma' + str(idx), layer, 'gamma'
                yield 'beta' + str(idx), layer, 'beta'

    def _weight_decay(self):
        """1/2 lambda sum_l sum W_l**2."""
        return sum(0.5 * self.weight_decay_lambda * np.sum(self.params['W' + str(idx)] ** 2)
                   for idx in range(1, self.hidden_layer_num + 2))

    def loss(self, x, t):
        """Cross-entropy of softmax(predict(x)) plus the weight decay term."""
        y = self.predict(x)
        return self.last_layer.forward(y, t) + self._weight_decay()

    def gradient(self, x, t):
        """Backpropagation (see ``_BookNetwork.gradient``) plus the weight decay's lambda W."""
        grads = super().gradient(x, t)
        for idx in range(1, self.hidden_layer_num + 2):
            grads['W' + str(idx)] = (grads['W' + str(idx)]
                                     + self.weight_decay_lambda * self.params['W' + str(idx)])
        return grads


class MultiLayerNetExtend(MultiLayerNet):
    """MultiLayerNet with weight decay, Dropout and Batch Normalization:
    (Affine - [BatchNorm] - activation - [Dropout]) x hidden layers - Affine - SoftmaxWithLoss.

    use_dropout / dropout_ration (sic, the book's name) / use_batchnorm switch them on;
    ``predict``/``loss`` take ``train_flg`` (Dropout and BatchNorm behave differently in
    training); ``gradient`` and ``numerical_gradient`` use the training behaviour.
    """

    def __init__(self, input_size, hidden_size_list, output_size,
                 activation='relu', weight_init_std='relu', weight_decay_lambda=0,
                 use_dropout=False, dropout_ration=0.5, use_batchnorm=False):
        self.use_dropout = use_dropout
        self._dropout_ration = dropout_ration
        self.use_batchnorm = use_batchnorm
        super().__init__(input_size, hidden_size_list, output_size, activation=activation,
                         weight_init_std=weight_init_std,
                         weight_decay_lambda=weight_decay_lambda)

    def _add_hidden_layers(self, idx, activation_layer):
        """[BatchNorm] - activation - [Dropout] after the idx-th hidden Affine."""
        if self.use_batchnorm:
            size = self.hidden_size_list[idx - 1]
            self.params['gamma' + str(idx)] = np.ones(size)
            self.params['beta' + str(idx)] = np.zeros(size)
            self.layers['BatchNorm' + str(idx)] = BatchNormalization(
                self.params['gamma' + str(idx)], self.params['beta' + str(idx)])
        self.layers['Activation_function' + str(idx)] = activation_layer()
        if self.use_dropout:
            self.layers['Dropout' + str(idx)] = Dropout(self._dropout_ration)

    def predict(self, x, train_flg=False):
        return self._forward(x, train_flg)

    def loss(self, x, t, train_flg=False):
        y = self.predict(x, train_flg)
        return self.last_layer.forward(y, t) + self._weight_decay()

    def _training_loss(self, x, t):
        return self.loss(x, t, train_flg=True)

    # the book names the arguments X, T here
    def accuracy(self, X, T):
        return super().accuracy(X, T)

    def numerical_gradient(self, X, T):
        return super().numerical_gradient(X, T)


class SimpleConvNet(_BookNetwork):
    """conv - relu - pool - affine - relu - affine - softmax (chapter 7).

    conv_param: {'filter_num', 'filter_size', 'pad', 'stride'}; the pooling is 2x2, stride 2.
    Layers: 'Conv1', 'Relu1', 'Pool1', 'Affine1', 'Relu2', 'Affine2'.
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},  # noqa: B006
                 hidden_size=100, output_size=10, weight_init_std=0.01):
        filter_num = conv_param['filter_num']
        filter_size = conv_param['filter_size']
        filter_pad = conv_param['pad']
        filter_stride = conv_param['stride']
        input_size = input_dim[1]
        conv_output_size = (input_size - filter_size + 2 * filter_pad) / filter_stride + 1
        pool_output_size = int(filter_num * (conv_output_size / 2) * (conv_output_size / 2))

        self.params = {}
        self.params['W1'] = weight_init_std * np.random.randn(filter_num, input_dim[0],
                                                              filter_size, filter_size)
        self.params['b1'] = np.zeros(filter_num)
        self.params['W2'] = weight_init_std * np.random.randn(pool_output_size, hidden_size)
        self.params['b2'] = np.zeros(hidden_size)
        self.params['W3'] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params['b3'] = np.zeros(output_size)

        self.layers = LayerDict()
        self.layers['Conv1'] = Convolution(self.params['W1'], self.params['b1'],
                                           conv_param['stride'], conv_param['pad'])
        self.layers['Relu1'] = Relu()
        self.layers['Pool1'] = Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers['Affine1'] = Affine(self.params['W2'], self.params['b2'])
        self.layers['Relu2'] = Relu()
        self.layers['Affine2'] = Affine(self.params['W3'], self.params['b3'])
        self.last_layer = SoftmaxWithLoss()

    def _param_layers(self):
        return self._weights_and_biases(('Conv1', 'Affine1', 'Affine2'))

    def accuracy(self, x, t, batch_size=100):
        """Accuracy computed ``batch_size`` samples at a time (every sample counts, also a
        last batch smaller than ``batch_size``)."""
        return self._batched_accuracy(x, t, batch_size)


class DeepConvNet(_BookNetwork):
    """The chapter 8 network (over 99% on MNIST):

        conv - relu - conv - relu - pool -
        conv - relu - conv - relu - pool -
        conv - relu - conv - relu - pool -
        affine - relu - dropout - affine - dropout - softmax

    with He initial weights. ``layers`` is a list, as in the book.
    """

    _param_layer_indices = (0, 2, 5, 7, 10, 12, 15, 18)

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1={'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},  # noqa: B006
                 conv_param_2={'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},  # noqa: B006
                 conv_param_3={'filter_num': 32, 'filter_size': 3, 'pad': 1, 'stride': 1},  # noqa: B006
                 conv_param_4={'filter_num': 32, 'filter_size': 3, 'pad': 2, 'stride': 1},  # noqa: B006
                 conv_param_5={'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},  # noqa: B006
                 conv_param_6={'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},  # noqa: B006
                 hidden_size=50, output_size=10):
        conv_params = [conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5,
                       conv_param_6]
        # inputs per neuron of each layer (for 28x28 inputs: the last pool gives 64 x 4 x 4)
        pre_node_nums = np.array([1 * 3 * 3, 16 * 3 * 3, 16 * 3 * 3, 32 * 3 * 3, 32 * 3 * 3,
                                  64 * 3 * 3, 64 * 4 * 4, hidden_size])
        weight_init_scales = np.sqrt(2.0 / pre_node_nums)   # He

        self.params = {}
        pre_channel_num = input_dim[0]
        for idx, conv_param in enumerate(conv_params):
            self.params['W' + str(idx + 1)] = weight_init_scales[idx] * np.random.randn(
                conv_param['filter_num'], pre_channel_num, conv_param['filter_size'],
                conv_param['filter_size'])
            self.params['b' + str(idx + 1)] = np.zeros(conv_param['filter_num'])
            pre_channel_num = conv_param['filter_num']
        self.params['W7'] = weight_init_scales[6] * np.random.randn(64 * 4 * 4, hidden_size)
        self.params['b7'] = np.zeros(hidden_size)
        self.params['W8'] = weight_init_scales[7] * np.random.randn(hidden_size, output_size)
        self.params['b8'] = np.zeros(output_size)

        self.layers = []
        for idx, conv_param in enumerate(conv_params):
            self.layers.append(Convolution(self.params['W' + str(idx + 1)],
                                           self.params['b' + str(idx + 1)],
                                           conv_param['stride'], conv_param['pad']))
            self.layers.append(Relu())
            if idx % 2 == 1:
                self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers.append(Affine(self.params['W7'], self.params['b7']))
        self.layers.append(Relu())
        self.layers.append(Dropout(0.5))
        self.layers.append(Affine(self.params['W8'], self.params['b8']))
        self.layers.append(Dropout(0.5))
        self.last_layer = SoftmaxWithLoss()

    def _param_layers(self):
        return self._weights_and_biases(self._param_layer_indices)

    def predict(self, x, train_flg=False):
        return self._forward(x, train_flg)

    def loss(self, x, t):
        """The training loss (Dropout active, as in the book)."""
        return self.last_layer.forward(self.predict(x, train_flg=True), t)

    def accuracy(self, x, t, batch_size=100):
        """Accuracy with Dropout off, ``batch_size`` samples at a time."""
        return self._batched_accuracy(x, t, batch_size)
