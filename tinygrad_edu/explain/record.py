"""Recording a graph for the explain page: who made each operation, and what backward did.

Two recorders, both switched on only while they are needed:

* :class:`record_modules` remembers, for each :class:`~tinygrad_edu.Function` made during a
  forward pass, the Module call that made it (``conv1``, ``affine2`` ...), so a large model can
  be shown as a few layers instead of every operation. It installs itself as the hook of
  ``Module.__call__`` (``tinygrad_edu.module._call_recorder``) and keeps the stack of Module
  calls in progress; without it a Module call costs one global lookup more.
* :func:`record_backward` runs the engine's real backward pass once, with each node's
  ``backward`` wrapped so that it also writes down the gradient it received and the gradients
  it sent to its inputs, in the order the engine ran them. Nothing is recomputed: what the page
  shows is what the engine computed.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from tinygrad_edu import module as module_hook
from tinygrad_edu.autograd import _reduce_to_shape, topological_order
from tinygrad_edu.tensor import Tensor

__all__ = ["ModuleCall", "record_modules", "record_backward", "BackwardStep"]


@dataclass(eq=False)
class ModuleCall:
    """One call of a Module: its dotted name from the outermost module called ("conv1"), the
    class name, which call of that module it was (1, 2 ...) and whether it called other Modules."""

    name: str
    type_name: str
    number: int
    parent: ModuleCall | None = None
    has_children: bool = False
    argument_ids: frozenset = frozenset()
    module: object = field(default=None, repr=False)

    @property
    def label(self) -> str:
        base = f"{self.name} · {self.type_name}" if self.name else self.type_name
        return base if self.number == 1 else f"{base} (call {self.number})"


def _tensors_in(value):
    """The Tensors in an argument or a result (itself, or inside a list / tuple / dict)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors_in(v)]
    return []


class record_modules:
    """``with record_modules() as calls: loss = loss_fn(model(x), t)`` remembers which Module
    call made each operation; ``calls.call_of(function)`` answers (None: made outside any).

    When a Module call returns, every operation between its inputs and its outputs that no inner
    call has claimed yet is claimed by it, so each operation belongs to the innermost call that
    made it. Recorders do not nest (the inner one would see nothing the outer one does not).
    """

    def __init__(self):
        self.stack: list[ModuleCall] = []
        self.calls: list[ModuleCall] = []
        self._owner: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._counts: dict[int, int] = {}
        self._names: dict[int, dict[int, str]] = {}

    def __enter__(self):
        if module_hook._call_recorder is not None:
            raise RuntimeError("record_modules: another recording is already running")
        module_hook._call_recorder = self
        return self

    def __exit__(self, *exc):
        module_hook._call_recorder = None
        for call in self.calls:       # the graph keeps what it needs; do not keep the modules
            call.module = None

    def call_of(self, function) -> ModuleCall | None:
        """The innermost Module call that made ``function`` (a node's ``_ctx``)."""
        return self._owner.get(function)

    def _name(self, parent: ModuleCall | None, module) -> str:
        if parent is None:
            return ""
        names = self._names.get(id(parent.module))
        if names is None:
            names = {id(child): name for name, child in parent.module.named_children()}
            self._names[id(parent.module)] = names
        own = names.get(id(module), type(module).__name__.lower())
        return f"{parent.name}.{own}" if parent.name else own

    def __call__(self, module, args, kwargs):
        parent = self.stack[-1] if self.stack else None
        number = self._counts[id(module)] = self._counts.get(id(module), 0) + 1
        arguments = _tensors_in(args) + _tensors_in(kwargs)
        call = ModuleCall(self._name(parent, module), type(module).__name__, number, parent,
                          argument_ids=frozenset(id(t) for t in arguments), module=module)
        if parent is not None:
            parent.has_children = True
        self.calls.append(call)
        self.stack.append(call)
        try:
            out = module.forward(*args, **kwargs)
        finally:
            self.stack.pop()
        self._claim(out, call)
        return out

    def _claim(self, out, call):
        """Every operation between the call's inputs and outputs not claimed yet is the call's."""
        stop = call.argument_ids
        seen: set[int] = set()
        stack = _tensors_in(out)
        while stack:
            t = stack.pop()
            ctx = t._ctx
            if ctx is None or id(t) in stop or id(t) in seen or not ctx.inputs:
                continue
            seen.add(id(t))
            if ctx not in self._owner:
                self._owner[ctx] = call
            stack.extend(ctx.inputs)


@dataclass
class BackwardStep:
    """One ``Function.backward`` call as the engine ran it: the tensor whose operation it was,
    the gradient it received (summed over every use), the gradients it sent to its inputs (summed
    back to each input's shape, as the engine does; None where an input needs none) and, for a
    scalar output with small inputs, the local derivatives d(output)/d(input)."""

    tensor: Tensor
    upstream: Tensor
    sent: list
    local: list | None = None


_LOCAL_LIMIT = 16    # local derivatives are shown for scalar outputs with inputs this small


def record_backward(loss: Tensor, retain_graph: bool = False) -> list[BackwardStep]:
    """Run ``loss.backward()`` -- the engine's own -- and return the steps it took, in its order.

    Leaves get their ``.grad`` exactly as from ``loss.backward()``. Each node's ``backward`` is
    wrapped (an instance attribute, gone when the graph is released) to note what it received and
    returned; for a scalar node with small inputs it is also called once more with a gradient of
    1, which gives the local derivatives the book's chapter 5 writes on its figures.
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"explain: expected a Tensor, got {type(loss).__name__}")
    if not loss.requires_grad:
        raise RuntimeError(f"explain: this tensor (shape {loss.shape}) has no graph: create its "
                           f"inputs with requires_grad=True and run the ops outside no_grad()")
    steps: list[BackwardStep] = []
    wrapped = []
    for tensor in topological_order([loss]):     # raises if the graph was freed already
        ctx = tensor._ctx
        if ctx is not None:
            ctx.backward = _recording(ctx, tensor, steps)
            wrapped.append(ctx)
    try:
        loss.backward(retain_graph=retain_graph)
    finally:
        for ctx in wrapped:                      # with retain_graph the graph lives on
            ctx.__dict__.pop("backward", None)
    return steps


def _recording(ctx, tensor, steps):
    real_backward = type(ctx).backward.__get__(ctx)

    def backward(g):
        gxs = real_backward(g)
        as_tuple = gxs if isinstance(gxs, tuple) else (gxs,)
        sent = []
        for x, gx in zip(ctx.inputs, as_tuple):
            if gx is None or not x.requires_grad:
                sent.append(None)
            elif gx.data.shape != x.data.shape:
                sent.append(_reduce_to_shape(gx, x.shape, type(ctx).__name__))
            else:
                sent.append(gx)
        steps.append(BackwardStep(tensor, g, sent, _local_derivatives(real_backward, ctx, g)))
        return gxs
    return backward


def _local_derivatives(real_backward, ctx, g):
    """d(output)/d(input) for a one-element output: its backward applied to a gradient of 1."""
    if g.data.size != 1 or any(x.data.size > _LOCAL_LIMIT for x in ctx.inputs):
        return None
    try:
        ones = real_backward(Tensor.wrap(np.ones_like(g.data)))
    except Exception:          # a backward that cannot run twice: show the rule only
        return None
    ones = ones if isinstance(ones, tuple) else (ones,)
    return [None if d is None else d.data for d in ones]
