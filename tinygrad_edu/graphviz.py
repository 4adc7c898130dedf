"""See the computation graph: export the graph behind a tensor as Graphviz DOT text.

Every tensor made by an operation remembers the :class:`~tinygrad_edu.Function` that made it
(``tensor._ctx``), and that Function remembers its inputs (``_ctx.inputs``). Following those two
pointers backwards from a result visits the whole graph that ``backward()`` will walk::

    from tinygrad_edu import Tensor, Parameter
    from tinygrad_edu.graphviz import to_dot, save_dot

    x = Tensor(np.ones((2, 3), np.float32), name="x")
    W = Parameter(np.ones((3, 4), np.float32), name="W")
    y = (x @ W).sum()
    print(to_dot(y))             # text; no graphviz installation is needed to make it
    save_dot(y, "graph.dot")     # then, if graphviz is installed: dot -Tpng graph.dot -o graph.png

One node per tensor, labelled with the operation that produced it (``MatMul``, ``Add``...; a
tensor made by no operation is a leaf: ``Parameter`` or ``Tensor``), its shape and dtype, and
its name if it has one. An edge ``a -> b`` means "a is an input of the operation that made b".
Parameters are drawn filled, the tensor you started from with a double border.

Call it *before* ``backward()``: backward frees the graph it walked (unless
``retain_graph=True``), and a freed node is drawn as a leaf marked "(graph freed)".
The walk is iterative, so graphs of any depth are fine.
"""
from __future__ import annotations

import os
from pathlib import Path

from tinygrad_edu.atomic import atomic_write
from tinygrad_edu.tensor import Parameter, Tensor

__all__ = ["to_dot", "save_dot", "graph_nodes"]


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as ``\\n``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def graph_nodes(tensor: Tensor) -> tuple[list[Tensor], list[tuple[int, int]]]:
    """The tensors of the graph behind ``tensor`` and the edges between them.

    Returns ``(nodes, edges)``: ``nodes[0]`` is ``tensor`` itself, the others in the order a
    depth-first walk meets them; ``edges`` are ``(input index, output index)`` pairs into
    ``nodes``. A tensor used twice by one operation (``x * x``) gives two edges.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(tensor).__name__}")
    index: dict[int, int] = {id(tensor): 0}
    nodes: list[Tensor] = [tensor]
    edges: list[tuple[int, int]] = []
    stack = [tensor]
    while stack:
        out = stack.pop()
        ctx = out._ctx
        inputs = getattr(ctx, "inputs", None) if ctx is not None else None
        if not inputs:
            continue
        for inp in inputs:
            key = id(inp)
            if key not in index:
                index[key] = len(nodes)
                nodes.append(inp)
                stack.append(inp)
            edges.append((index[key], index[id(out)]))
    return nodes, edges


def _label(t: Tensor) -> str:
    ctx = t._ctx
    if ctx is not None:
        op = type(ctx).__name__
        if not getattr(ctx, "inputs", None):  # () once backward released the graph
            op += " (graph freed)"
    else:
        op = "Parameter" if isinstance(t, Parameter) else "Tensor"
    lines = [f"{t.name}: {op}" if t.name else op,
             f"{tuple(t.shape)} {t.dtype}"]
    return "\n".join(lines)


def to_dot(tensor: Tensor, title: str | None = None, rankdir: str = "TB") -> str:
    """Graphviz DOT text of the computation graph behind ``tensor``.

    Each node is a tensor labelled "op\\nshape dtype" (op = the Function that produced it,
    or Parameter / Tensor for a leaf; "name: op" when the tensor has a name). Edges run from
    inputs to outputs. ``rankdir``: "TB" (top to bottom, inputs on top) or "LR".
    """
    if rankdir not in ("TB", "BT", "LR", "RL"):
        raise ValueError(f"to_dot: rankdir must be TB, BT, LR or RL, got {rankdir!r}")
    nodes, edges = graph_nodes(tensor)
    lines = ["digraph computation_graph {",
             f"  rankdir={rankdir};",
             '  node [shape=box, style="rounded", fontname="Helvetica"];']
    if title:
        lines.append(f"  label={_quote(title)};")
        lines.append("  labelloc=t;")
    for i, t in enumerate(nodes):
        attrs = [f"label={_quote(_label(t))}"]
        if isinstance(t, Parameter):
            attrs.append('style="rounded,filled"')
            attrs.append('fillcolor="lightblue"')
        elif t._ctx is None:
            attrs.append("shape=ellipse")
        if i == 0:
            attrs.append("peripheries=2")
        lines.append(f"  t{i} [{', '.join(attrs)}];")
    for src, dst in edges:
        lines.append(f"  t{src} -> t{dst};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def save_dot(tensor: Tensor, path: str | os.PathLike, **kwargs) -> Path:
    """Write :func:`to_dot` text to ``path`` (atomically); returns the path.
    Render it with ``dot -Tpng path -o graph.png`` if graphviz is installed."""
    path = Path(path)
    text = to_dot(tensor, **kwargs)
    with atomic_write(path, "w") as f:
        f.write(text)
    return path
