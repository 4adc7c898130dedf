"""The book-compatible API: scripts written for "Deep Learning from Scratch" (Saito Koki) and
its repository's ``common/`` and ``dataset/mnist.py`` run after changing only their imports::

    # from dataset.mnist import load_mnist
    # from common.multi_layer_net_extend import MultiLayerNetExtend
    # from common.trainer import Trainer
    from tinygrad_edu.book import load_mnist, MultiLayerNetExtend, Trainer
    # or simply: from tinygrad_edu.book import *

Same names, signatures, defaults, printed lines and dtypes (parameters are float64 numpy
arrays in a ``params`` dict, MNIST images float32), but the computing is this framework's:
layers run the registered components and backpropagate with its autodiff, optimizers are the
registered ones, im2col is the framework's. The modules mirror the book's:

==========================  ==========================================================
``book.functions``          common/functions.py: sigmoid, relu, softmax, cross_entropy_error...
``book.util``               common/util.py: smooth_curve, shuffle_dataset, im2col, col2im...
``book.gradient``           common/gradient.py: numerical_gradient; ch04's gradient_descent
``book.optimizer``          common/optimizer.py: SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam
``book.layers``             common/layers.py: Affine, Relu, Sigmoid, SoftmaxWithLoss, Dropout,
                            BatchNormalization, Convolution, Pooling
``book.networks``           TwoLayerNet (ch05), MultiLayerNet, MultiLayerNetExtend,
                            SimpleConvNet (ch07), DeepConvNet (ch08)
``book.trainer``            common/trainer.py: Trainer
``book.mnist``              dataset/mnist.py: load_mnist
==========================  ==========================================================

Known differences from the book, all deliberate: the softmax cross-entropy is exact (no
``+ 1e-7`` inside the log: losses differ by about 1e-7 and now match their gradients);
``accuracy`` of the conv nets counts every sample (the book's skips a last partial batch);
MultiLayerNet's ``accuracy`` accepts one-hot labels and its ``gradient`` includes the weight
decay term; labels of shape (N, 1) mean one class number per row for every N (the book's
indexing gives that for N = 1 only); ``load_mnist`` says which data it used on stderr;
``load_params`` reads pickles with :mod:`tinygrad_edu.safe_pickle` (no code from the file runs)
and checks every array (names, shapes, real finite numbers) before it changes any.

Every script of the book's repository (chapters 1-8) runs with only its imports redirected;
docs/book-scripts.md has the table and tests/book_scripts/book_repo_harness.py the harness.
"""
from collections import OrderedDict

import numpy as np

from tinygrad_edu.book.functions import (cross_entropy_error, identity_function,
                                         mean_squared_error, relu, relu_grad, sigmoid,
                                         sigmoid_grad, softmax, softmax_loss, step_function,
                                         sum_squared_error)
from tinygrad_edu.book.gradient import (gradient_descent, numerical_diff, numerical_gradient,
                                        numerical_gradient_1d, numerical_gradient_2d)
from tinygrad_edu.book.layers import (Affine, BatchNormalization, Convolution, Dropout, Pooling,
                                      Relu, Sigmoid, SoftmaxWithLoss)
from tinygrad_edu.book.mnist import init_mnist, load_mnist
from tinygrad_edu.book.networks import (DeepConvNet, MultiLayerNet, MultiLayerNetExtend,
                                        SimpleConvNet, TwoLayerNet)
from tinygrad_edu.book.optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from tinygrad_edu.book.trainer import Trainer
from tinygrad_edu.book.util import (col2im, conv_output_size, im2col, shuffle_dataset,
                                    smooth_curve)

__all__ = [
    # what the book's modules bring along with a star import
    "np", "OrderedDict",
    # common/functions.py
    "identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu", "relu_grad",
    "softmax", "sum_squared_error", "mean_squared_error", "cross_entropy_error", "softmax_loss",
    # common/util.py
    "smooth_curve", "shuffle_dataset", "conv_output_size", "im2col", "col2im",
    # common/gradient.py, ch04
    "numerical_diff", "numerical_gradient", "numerical_gradient_1d", "numerical_gradient_2d",
    "gradient_descent",
    # common/optimizer.py
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam",
    # common/layers.py
    "Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization",
    "Convolution", "Pooling",
    # networks
    "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet",
    # common/trainer.py
    "Trainer",
    # dataset/mnist.py
    "load_mnist", "init_mnist",
]
