"""What the explain page shows, gathered from the graph and from the engine's own backward pass.

:func:`describe` turns a loss into one JSON-ready dict: the nodes (operation, shape, value,
gradient, derivative rule, Module), the edges, the groups, the layout and the backward steps in
the engine's order. Values are summarised by :func:`summarize`: small arrays in full, large ones
as statistics and a small histogram, so the page stays small for any model.
"""
from __future__ import annotations

import inspect
import math

import numpy as np

from tinygrad_edu.explain.layout import build_layout
from tinygrad_edu.explain.record import record_backward
from tinygrad_edu.graphviz import graph_nodes
from tinygrad_edu.tensor import Parameter, Tensor

__all__ = ["describe", "summarize", "FULL_LIMIT"]

#: Arrays with at most this many elements are shown in full.
FULL_LIMIT = 64
_BINS = 20

_LEAF_RULES = {
    "parameter": "A leaf that is learned: backward accumulates dL/dW into W.grad, which the "
                 "optimizer then reads.",
    "input": "A leaf that requires grad: backward accumulates dL/dx into x.grad.",
    "constant": "A constant of the graph: it needs no gradient, so none flows into it.",
}


def _finite_or_text(value):
    """A JSON-safe number: inf and nan become the strings JavaScript prints for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _json_list(value):
    if isinstance(value, list):
        return [_json_list(v) for v in value]
    return _finite_or_text(value)


def summarize(array) -> dict:
    """``{"shape", "dtype"}`` plus ``"values"`` (nested lists) for a small array, or ``"stats"``
    (min, max, mean, std over the finite elements; counts of nan and inf) and ``"hist"`` (counts
    in 20 equal bins from min to max) for a large one."""
    a = np.asarray(array.data if isinstance(array, Tensor) else array)
    out = {"shape": list(a.shape), "dtype": str(a.dtype)}
    if a.dtype.kind == "b":
        a = a.astype(np.int8)
    if a.size <= FULL_LIMIT:
        out["values"] = _json_list(a.tolist())
        return out
    stats = {"nan": 0, "inf": 0}
    finite = a.ravel()
    if a.dtype.kind == "f":
        is_finite = np.isfinite(finite)
        if not is_finite.all():
            stats.update(nan=int(np.isnan(finite).sum()), inf=int(np.isinf(finite).sum()))
            finite = finite[is_finite]
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        stats.update(min=low, max=high, mean=float(finite.mean(dtype=np.float64)),
                     std=float(finite.std(dtype=np.float64)),
                     zeros=int(np.count_nonzero(finite == 0)))
        out["hist"] = _histogram(finite, low, high)
    out["stats"] = stats
    return out


def _histogram(values: np.ndarray, low: float, high: float) -> list[int]:
    """Counts in equal bins from low to high (the last bin includes high), as np.histogram
    counts them, but by one bincount: np.histogram takes ~20 ms for a million elements."""
    if high == low:
        counts = np.zeros(_BINS, dtype=np.int64)
        counts[_BINS // 2] = values.size
        return counts.tolist()
    if values.dtype.kind != "f":
        values = values.astype(np.float64)
    scale = _BINS / (high - low)
    bins = ((values - values.dtype.type(low)) * values.dtype.type(scale)).astype(np.intp)
    np.minimum(bins, _BINS - 1, out=bins)        # values - low >= 0, so only the top
    return np.bincount(bins, minlength=_BINS).tolist()


def _kind(t: Tensor) -> str:
    if t._ctx is not None:
        return "op"
    if isinstance(t, Parameter):
        return "parameter"
    return "input" if t.requires_grad else "constant"


def _rule(t: Tensor) -> str:
    if t._ctx is None:
        return _LEAF_RULES[_kind(t)]
    return inspect.getdoc(type(t._ctx)) or (f"{type(t._ctx).__name__} states no rule in its "
                                             f"docstring; its backward method computes it.")


def describe(loss: Tensor, modules=None, title: str | None = None) -> dict:
    """Run the real backward of ``loss`` and gather everything the page shows.

    ``modules``: a :class:`~tinygrad_edu.explain.record_modules` that was active while ``loss``
    was computed; its Module calls become the groups. Leaves' ``.grad`` end up as after
    ``loss.backward()``.
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"explain: expected a Tensor, got {type(loss).__name__}")
    tensors, _ = graph_nodes(loss)
    index = {id(t): i for i, t in enumerate(tensors)}
    edges = []                                   # (input node, output node, input slot)
    for i, t in enumerate(tensors):
        if t._ctx is not None and t._ctx.inputs is not None:
            edges.extend((index[id(x)], i, slot) for slot, x in enumerate(t._ctx.inputs))
    calls = [modules.call_of(t._ctx) if modules is not None and t._ctx is not None else None
             for t in tensors]
    group_of, group_calls = _groups(tensors, edges, calls, modules.calls if modules else [])
    had_grad = [t.grad is not None for t in tensors]
    summaries: dict[int, dict] = {}          # one summary per array, however often it is shown

    def summary(x):
        array = x.data if isinstance(x, Tensor) else x
        if id(array) not in summaries:
            summaries[id(array)] = (summarize(array), array)   # keep it alive: ids stay unique
        return summaries[id(array)][0]

    nodes = [{"op": type(t._ctx).__name__ if t._ctx is not None else type(t).__name__,
              "name": t.name, "kind": _kind(t), "requires_grad": bool(t.requires_grad),
              "rule": _rule(t), "value": summary(t.data),
              "module": calls[i].label if calls[i] is not None else None,
              "group": group_of[i]}
             for i, t in enumerate(tensors)]

    steps = record_backward(loss)                # the engine's own backward, recorded

    for i, step in enumerate(steps):
        node = nodes[index[id(step.tensor)]]
        node["step"] = i
        node["grad"] = summary(step.upstream)
    for i, t in enumerate(tensors):
        if t._ctx is None and t.grad is not None:
            nodes[i]["grad"] = summary(t.grad)
            nodes[i]["accumulated"] = had_grad[i]
    inputs_of = {}
    for src, dst, slot in edges:
        inputs_of.setdefault(dst, {})[slot] = src
    step_data = []
    for step in steps:
        at = index[id(step.tensor)]
        step_data.append({
            "node": at,
            "upstream": summary(step.upstream),
            "sends": [{"to": inputs_of[at][slot], "slot": slot,
                       "grad": None if g is None else summary(g)}
                      for slot, g in enumerate(step.sent)],
            "local": None if step.local is None else
                     [None if d is None else summary(d) for d in step.local]})
    groups = [{"label": call.label, "size": group_of.count(g)}
              for g, call in enumerate(group_calls)]
    layout = build_layout(len(nodes), [(s, d) for s, d, _ in edges],
                          [node["group"] for node in nodes])
    return {"title": title or "computation graph", "nodes": nodes,
            "edges": [list(e) for e in edges], "groups": groups, "steps": step_data,
            "layout": layout.to_json()}


def _groups(tensors, edges, calls, call_order) -> tuple[list, list]:
    """Each node's group: the number of the innermost Module call that made it (a call that
    called no other Module: a layer), or None. A leaf joins the group of the operations that use
    it when they all belong to one group and it was not an argument of that call (weights join
    their layer; the input images stay outside). Returns the groups, numbered in the order the
    calls were made, and the call of each."""
    layers = {id(call) for call in calls if call is not None and not call.has_children}
    group_calls = [call for call in call_order if id(call) in layers]
    numbers = {id(call): g for g, call in enumerate(group_calls)}
    group_of: list = [None if call is None else numbers.get(id(call)) for call in calls]
    consumers: dict[int, set] = {}
    for src, dst, _ in edges:
        consumers.setdefault(src, set()).add(group_of[dst])
    for i, t in enumerate(tensors):
        users = consumers.get(i, set())
        if t._ctx is None and len(users) == 1 and None not in users:
            (g,) = users
            if id(t) not in group_calls[g].argument_ids:
                group_of[i] = g
    return group_of, group_calls
