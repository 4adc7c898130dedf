"""The standard layers, registered through the ``register_layers`` hook.

Every layer is a :class:`~tinygrad_edu.module.Module`: its learnable arrays are
:class:`~tinygrad_edu.tensor.Parameter` attributes (``W``, ``b``, ``gamma``, ``beta``, named as
in the book), found automatically. Layers with weights take

* ``weight_init``: an initializer name (``"he"``, ``"xavier"``, ``"normal"``, ... looked up in
  the registry), a float (the std of a normal distribution: the book's ``weight_init_std``), or
  a function ``init(shape, fan_in, fan_out, rng, dtype) -> np.ndarray``;
* ``rng`` (a ``numpy.random.Generator``) or ``seed`` (an int), for weights of their own;
  without either they draw from the framework's generator (``tg.manual_seed`` seeds it);
* ``dtype`` (default float32): the dtype of the parameters. A float32 input stays float32
  through forward and backward.

Conv2d and the pooling layers are dedicated Functions with hand-written backward passes built
on :mod:`tinygrad_edu.im2col`; Affine, Flatten, Dropout and BatchNorm are compositions of core
operations.

One room per concept; each room declares the components it defines in its ``COMPONENTS`` list,
next to their code, and this module's one hook returns them all (in this order):

======================  ==========================================================
``dense``               Affine (= Linear)
``conv``                Conv2d, Conv2dFunction, the Im2col / Col2im Functions
``pooling``             MaxPool2d, AvgPool2d and their Functions
``reshaping``           Flatten
``regularization``      Dropout
``normalization``       BatchNorm1d, BatchNorm2d
``containers``          Sequential
``_common``             argument checks and initial weights the rooms share
======================  ==========================================================

Each component's ``Check(cases=...)`` says how the conformance suite builds and feeds it: a case
is (constructor kwargs, input shape). The kwargs ask for float64 parameters and a fixed seed, so
that gradcheck (in float64) can perturb the parameters in place and every example is
reproducible.
"""
from __future__ import annotations

from tinygrad_edu.hookspecs import hookimpl

from . import containers, conv, dense, normalization, pooling, regularization, reshaping
from .containers import Sequential
from .conv import Col2im, Conv2d, Conv2dFunction, Im2col
from .dense import Affine, Linear
from .normalization import BatchNorm1d, BatchNorm2d
from .pooling import AvgPool2d, AvgPool2dFunction, MaxPool2d, MaxPool2dFunction
from .regularization import Dropout
from .reshaping import Flatten

__all__ = ["Affine", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Dropout",
           "BatchNorm1d", "BatchNorm2d", "Sequential", "Conv2dFunction", "Im2col", "Col2im",
           "MaxPool2dFunction", "AvgPool2dFunction"]

ROOMS = (dense, conv, pooling, reshaping, regularization, normalization, containers)


@hookimpl
def register_layers():
    return [component for room in ROOMS for component in room.COMPONENTS]
