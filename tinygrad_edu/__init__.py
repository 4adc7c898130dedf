"""tinygrad_edu: a small, readable deep-learning framework on numpy.

    >>> from tinygrad_edu import Tensor
    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.], dtype=float64)
"""
from tinygrad_edu.autograd import enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled
from tinygrad_edu.function import Function
from tinygrad_edu.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygrad_edu.ops import (abs, broadcast_to, clip, concatenate, exp, log, matmul, maximum,
                              mean, minimum, pad, reshape, sqrt, stack, sum_to, tanh, transpose,
                              var, where)
from tinygrad_edu.tensor import Parameter, Tensor

__version__ = "0.1.0"
