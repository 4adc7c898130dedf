"""The backward engine: gradient mode, topological order, and reverse-mode accumulation.

Reverse-mode automatic differentiation in three steps:

1. Every operation run while gradients are enabled records the :class:`Function` that made its
   output (``tensor._ctx``), so the program builds its own computation graph as it runs.
2. ``backward`` orders that graph topologically -- outputs before inputs -- with an explicit
   stack instead of recursion, so a chain of 100,000 operations is no problem.
3. Walking that order once, each node receives the *sum* of the gradients flowing into it from
   all its uses (chain rule: dL/dx = sum over uses of dL/dy * dy/dx) before its own
   ``Function.backward`` runs, so a node shared by several paths is visited exactly once.
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu import anomaly

# The engine sits at the bottom of the core: it imports grad mode and anomaly detection, nothing
# else of the package.
# It handles tensors only through what every Tensor has (``_ctx``, ``data``, ``grad``,
# ``requires_grad``, ``wrap``, ``sum_to``), so tensor.py can import it without a circle.
from tinygrad_edu.grad_mode import (enable_grad, is_grad_enabled, no_grad,  # noqa: F401
                                    set_grad_enabled)  # (re-exported: older imports keep working)


def topological_order(roots) -> list:
    """Every tensor that requires grad and leads to ``roots``, outputs first.

    An iterative depth-first search: a node is emitted after all of its inputs (post-order), and
    the reversed post-order is a topological order. No recursion, so depth is unlimited.
    On the way it checks that no saved input changed in place after its op saved it (a tensor's
    version is newer than the op's output: see ``Tensor.bump_version``), so backward refuses such
    a graph before any gradient is computed.
    """
    post_order, visited = [], set()
    stack = [(root, False) for root in roots]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            post_order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        ctx = tensor._ctx
        if ctx is not None:
            if ctx.inputs is None:
                raise RuntimeError(
                    f"Trying to backward through the graph a second time: the buffers saved by "
                    f"{type(ctx).__name__} were freed by the first backward(). Pass "
                    f"retain_graph=True to the first backward() if you need to call it twice.")
            for x in ctx.inputs:
                if x._version > tensor._version:
                    raise _changed_in_place(ctx, x)
                if x.requires_grad and id(x) not in visited:
                    stack.append((x, False))
    post_order.reverse()
    return post_order


def _changed_in_place(ctx, x):
    """The error for an input changed in place after ``ctx`` saved it (its version is newer than
    ``ctx``'s output: see Tensor.bump_version)."""
    name = type(ctx).__name__
    i = next(i for i, saved in enumerate(ctx.inputs) if saved is x)
    label = f" {x.name!r}" if x.name else ""
    return RuntimeError(
        f"backward: {name}'s input {i}{label} (shape {x.shape}) was changed in place (by an "
        f"optimizer's step() or another in-place update) after {name} saved it for backward, "
        f"so its gradient would be wrong. Call backward() before optimizer.step(), or run the "
        f"forward pass again after the change.")


def run_backward(roots, root_grads, *, retain_graph=False, create_graph=False, inputs=None):
    """Propagate ``root_grads`` from ``roots`` back through the graph.

    With ``inputs=None`` gradients of leaf tensors are accumulated into their ``.grad`` (as
    ``Tensor.backward`` does). Otherwise the gradients of ``inputs`` are returned, in order, and
    no ``.grad`` is touched (as ``grad`` does).
    """
    order = topological_order(roots)
    grads = {}  # id(tensor) -> the sum of the gradients that reached it so far
    check_anomalies = anomaly.is_anomaly_enabled()
    for root, g in zip(roots, root_grads):
        if check_anomalies:
            anomaly.check_root(root, g)
        previous = grads.get(id(root))
        grads[id(root)] = g if previous is None else _add(previous, g, create_graph)
    wanted = None if inputs is None else {id(x) for x in inputs}
    captured = {}

    with set_grad_enabled(create_graph):
        for tensor in order:
            g = grads.pop(id(tensor), None)
            if g is None:
                continue
            if wanted is not None and id(tensor) in wanted:
                captured[id(tensor)] = g
            ctx = tensor._ctx
            if ctx is None:  # a leaf: the end of this path
                if wanted is None:
                    tensor.grad = g if tensor.grad is None else _add(tensor.grad, g, create_graph)
                continue
            if create_graph and not ctx.differentiable_backward:
                raise RuntimeError(
                    f"{type(ctx).__name__} does not support higher-order gradients: its backward "
                    f"works on numpy arrays. Use create_graph=False, or build it from core ops.")
            if check_anomalies:
                anomaly.check_saved(ctx, tensor)
            gxs = ctx.backward(g)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            if len(gxs) != len(ctx.inputs):
                raise RuntimeError(
                    f"{type(ctx).__name__}.backward returned {len(gxs)} gradient(s) for "
                    f"{len(ctx.inputs)} input(s); return one per input (None for an input that "
                    f"needs none)")
            if check_anomalies:
                anomaly.check_gradients(ctx, gxs)
            for x, gx in zip(ctx.inputs, gxs):
                if gx is None or not x.requires_grad:
                    continue
                if gx.data.shape != x.data.shape:
                    gx = _reduce_to_shape(gx, x.shape, type(ctx).__name__)
                previous = grads.get(id(x))
                grads[id(x)] = gx if previous is None else _add(previous, gx, create_graph)
            if not retain_graph:
                ctx.release()
    if inputs is None:
        return None
    return tuple(captured.get(id(x)) for x in inputs)


def _add(a, b, create_graph):
    """a + b for gradients: recorded when building a differentiable graph, plain numpy otherwise."""
    if create_graph:
        return a + b
    return a.wrap(a.data + b.data)  # Tensor.wrap, reached through the tensor at hand


def _reduce_to_shape(g, shape, op_name):
    """Sum a broadcast gradient back to the shape of the input it belongs to."""
    try:
        return g.sum_to(shape)
    except ValueError:
        raise ValueError(
            f"{op_name}.backward returned a gradient of shape {g.shape} for an input of shape "
            f"{shape}; it must have the input's shape or broadcast to it") from None


def grad(outputs, inputs, grad_outputs=None, *, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of stored in .grad.

    ``grad_outputs`` weights each output (required for non-scalar outputs). With
    ``create_graph=True`` the returned gradients are themselves part of a graph, so they can be
    differentiated again (gradient of a gradient).
    """
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    root_grads = [initial_gradient(y, g) for y, g in zip(outputs, grad_outputs)]
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError(f"grad: an input of shape {x.shape} does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(outputs, root_grads, retain_graph=retain_graph,
                          create_graph=create_graph, inputs=inputs)
    if not allow_unused and any(g is None for g in result):
        i = next(i for i, g in enumerate(result) if g is None)
        raise RuntimeError(f"grad: input {i} (shape {inputs[i].shape}) was not used to compute "
                           f"the outputs; pass allow_unused=True to get None for it")
    return result


def initial_gradient(output, g):
    """The gradient backward starts from: ``g`` checked against ``output``, or 1 for a scalar.
    ``g`` may be a Tensor (kept as it is: with create_graph it may carry a graph of its own) or
    anything numpy turns into an array of the output's dtype."""
    if not output.requires_grad:
        raise RuntimeError(
            f"backward: this tensor (shape {output.shape}) does not require grad and has no "
            f"graph; create its inputs with requires_grad=True and run the ops outside no_grad()")
    if g is None:
        if output.data.size != 1:
            raise RuntimeError(
                f"backward: the output has shape {output.shape}, not a single number, so its "
                f"gradient is ambiguous. Pass grad= an array of shape {output.shape} (e.g. "
                f"y.backward(np.ones({output.shape}))) or reduce it first (y.sum().backward()).")
        return output.wrap(np.ones(output.shape, dtype=output.dtype))
    if not hasattr(g, "_ctx"):  # not a Tensor
        g = output.wrap(np.asarray(g, dtype=output.dtype))
    if g.shape != output.shape:
        raise ValueError(f"backward: grad has shape {g.shape} but the output has shape "
                         f"{output.shape}; they must match")
    return g
