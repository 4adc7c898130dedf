"""The layered layout of a computation graph, inputs on the left and the loss on the right.

The classic recipe for drawing a directed acyclic graph (Sugiyama's), in its two simplest steps:

1. **Layers by longest path.** A node's layer is one more than the largest layer among its
   inputs, so every edge points to the right; a source (a leaf: input, parameter, constant) is
   then moved right, to just before the first node that uses it, so weights sit next to the
   operation that reads them.
2. **Order by barycentre.** Inside each layer, nodes are sorted by the mean position of their
   neighbours in the layers already placed, sweeping left to right and back a few times; this
   removes most edge crossings.

Large models are shown as groups (one per Module call, see ``record.record_modules``). Each group
is laid out on its own (its members, with the edges between them), and the graph of groups and
ungrouped nodes ("units") is laid out with the same two steps. :func:`place` then gives every
unit and node its coordinates for a choice of expanded groups: a layer is as wide as its widest
expanded group, and an expanded group as tall as its tallest layer. ``page.js`` places with the
same arithmetic when a group is opened or closed in the browser (the browser test checks that
both agree); the PNG uses :func:`place` directly.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["layer_and_order", "GraphLayout", "build_layout", "place"]

_SWEEPS = 4


def layer_and_order(count: int, edges) -> list[tuple[int, int]]:
    """``(layer, position in layer)`` of nodes ``0..count-1`` of a DAG with ``edges`` (src, dst).

    Node numbers break ties: nodes given earlier are placed first (above)."""
    preds: list[list[int]] = [[] for _ in range(count)]
    succs: list[list[int]] = [[] for _ in range(count)]
    for src, dst in set(edges):
        if src != dst:
            preds[dst].append(src)
            succs[src].append(dst)
    layer = [0] * count
    for v in _topological(count, preds, succs):
        layer[v] = 1 + max((layer[p] for p in preds[v]), default=-1)
    for v in range(count):
        if not preds[v] and succs[v]:
            layer[v] = min(layer[s] for s in succs[v]) - 1
    layers: dict[int, list[int]] = {}
    for v in range(count):
        layers.setdefault(layer[v], []).append(v)
    rows = [sorted(layers[k]) for k in sorted(layers)]
    position = {v: i for row in rows for i, v in enumerate(row)}
    for sweep in range(_SWEEPS):
        forward = sweep % 2 == 0
        for row in (rows if forward else reversed(rows)):
            neighbours = preds if forward else succs

            def barycentre(v, neighbours=neighbours):
                near = neighbours[v]
                return sum(position[u] for u in near) / len(near) if near else position[v]

            row.sort(key=lambda v: (barycentre(v), position[v]))
            for i, v in enumerate(row):
                position[v] = i
    base = min(layers) if layers else 0
    return [(layer[v] - base, position[v]) for v in range(count)]


def _topological(count, preds, succs) -> list[int]:
    """Kahn's algorithm: every node after all of its inputs."""
    missing = [len(p) for p in preds]
    ready = [v for v in range(count) if missing[v] == 0]
    order = []
    while ready:
        v = ready.pop()
        order.append(v)
        for s in succs[v]:
            missing[s] -= 1
            if missing[s] == 0:
                ready.append(s)
    if len(order) != count:
        raise ValueError("layout: the graph has a cycle")
    return order


@dataclass
class GraphLayout:
    """Where everything goes, before placement.

    unit_of_node  the unit of each node: ("group", g) or ("node", i)
    units         every unit with its (layer, position) in the graph of units
    inner         per group: {node: (layer, row)} inside the group, its width and height
    """

    units: list[tuple[tuple[str, int], int, int]]
    unit_of_node: list[tuple[str, int]]
    inner: list[dict]

    def to_json(self) -> dict:
        return {"units": [[kind, i, layer, pos] for (kind, i), layer, pos in self.units],
                "inner": self.inner}


def build_layout(count: int, edges, group_of: list[int | None]) -> GraphLayout:
    """Lay out ``count`` nodes with ``edges``; ``group_of[i]`` is node i's group (or None)."""
    groups = sorted({g for g in group_of if g is not None})
    inner = []
    for g in groups:
        members = [i for i in range(count) if group_of[i] == g]
        local = {node: k for k, node in enumerate(members)}
        inner_edges = [(local[s], local[d]) for s, d in edges if s in local and d in local]
        places = layer_and_order(len(members), inner_edges)
        width = 1 + max(layer for layer, _ in places)
        height = 1 + max(pos for _, pos in places)
        inner.append({"nodes": {str(node): list(places[local[node]]) for node in members},
                      "width": width, "height": height})
    unit_of_node = [("group", groups.index(g)) if g is not None else ("node", i)
                    for i, g in enumerate(group_of)]
    unit_keys = list(dict.fromkeys(unit_of_node))
    unit_index = {key: k for k, key in enumerate(unit_keys)}
    unit_edges = [(unit_index[unit_of_node[s]], unit_index[unit_of_node[d]]) for s, d in edges]
    places = layer_and_order(len(unit_keys), unit_edges)
    units = [(key, layer, pos) for key, (layer, pos) in zip(unit_keys, places)]
    return GraphLayout(units, unit_of_node, inner)


def place(layout: GraphLayout, expanded: set[int]) -> tuple[dict, dict]:
    """Grid coordinates for a set of expanded groups: ``(units, nodes)``, each mapping a unit key
    or a node to ``(x, y, width, height)`` in cells (a node is one cell). A collapsed group is
    one cell; the nodes inside it get its cell too.

    Mirrored by ``place`` in page.js; keep the two the same."""
    def size(key):
        kind, i = key
        if kind == "group" and i in expanded:
            return layout.inner[i]["width"], layout.inner[i]["height"]
        return 1, 1

    by_layer: dict[int, list] = {}
    for key, layer, pos in layout.units:
        by_layer.setdefault(layer, []).append((pos, key))
    x = 0.0
    column = {}
    heights = {}
    for layer in sorted(by_layer):
        row = sorted(by_layer[layer])
        column[layer] = x
        x += max(size(key)[0] for _, key in row)
        heights[layer] = sum(size(key)[1] for _, key in row)
    tallest = max(heights.values(), default=0)
    units = {}
    for layer in sorted(by_layer):
        y = (tallest - heights[layer]) / 2
        width = max(size(key)[0] for _, key in by_layer[layer])
        for _, key in sorted(by_layer[layer]):
            w, h = size(key)
            units[key] = (column[layer] + (width - w) / 2, y, w, h)
            y += h
    nodes = {}
    for node, key in enumerate(layout.unit_of_node):
        ux, uy, w, h = units[key]
        kind, i = key
        if kind == "group" and i in expanded:
            layer, row = layout.inner[i]["nodes"][str(node)]
            nodes[node] = (ux + layer, uy + row, 1, 1)
        else:
            nodes[node] = (ux, uy, 1, 1)
    return units, nodes
