"""tinygrad_edu: a small, readable deep-learning framework on numpy.

    >>> from tinygrad_edu import Tensor
    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.], dtype=float64)

Components (layers, activations, losses, optimizers, initializers) come from plugins; reach
them as ``nn.Conv2d``, ``F.relu``, ``optim.Adam``, ``init.he`` or by name through ``registry``.
Importing this package loads no plugin: they are loaded on the first lookup.
"""
import tinygrad_edu._malloc  # noqa: F401  (first: see its docstring)
from tinygrad_edu import functional, functional as F, init, nn, optim, plugins, registry
from tinygrad_edu.anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from tinygrad_edu.autograd import grad
from tinygrad_edu.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tinygrad_edu.components import Check, Component, InitializerCheck, OptimizerCheck
from tinygrad_edu.explain import explain  # noqa: F401  (the function; the package stays importable)
from tinygrad_edu.function import Function
from tinygrad_edu.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.module import Module
from tinygrad_edu.ops import (abs, broadcast_to, clip, concatenate, exp, log, matmul, maximum,
                              mean, minimum, pad, reshape, sqrt, stack, sum_to, tanh, transpose,
                              var, where)
from tinygrad_edu.plugins import PluginConflictError, PluginError
from tinygrad_edu.random import manual_seed
from tinygrad_edu.registry import UnknownComponentError
from tinygrad_edu.tensor import Parameter, Tensor

__version__ = "0.1.0"
