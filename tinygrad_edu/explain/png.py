"""The explain layout as a PNG picture (matplotlib, Agg): for a report, where a page cannot go.

The same layout as the page (``layout.place``), with every group open and drawn as a frame;
each node shows its operation and shape, and for a one-element tensor its value and, in red,
its gradient -- the book's chapter-5 figures.
"""
from __future__ import annotations

import os
from pathlib import Path

from matplotlib.patches import FancyBboxPatch

from tinygrad_edu.explain.layout import GraphLayout, place
from tinygrad_edu.plots import new_figure, save_figure

__all__ = ["save_png"]

_NODE_W, _NODE_H = 0.8, 0.66        # of a cell
_FILL = {"parameter": "#dcebfb", "constant": "#f1f1ee", "input": "#f1f1ee", "op": "#ffffff"}


def _number(summary) -> str | None:
    values = summary.get("values") if summary else None
    if values is None or isinstance(values, list):
        return None
    return values if isinstance(values, str) else f"{values:.5g}"


def _shape(summary) -> str:
    shape = summary["shape"]
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def save_png(data: dict, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Draw ``data`` (from :func:`tinygrad_edu.explain.data.describe`) to ``path``; returns it."""
    units = data["layout"]["units"]
    layout = GraphLayout([((kind, i), layer, pos) for kind, i, layer, pos in units],
                         [("group", n["group"]) if n["group"] is not None else ("node", k)
                          for k, n in enumerate(data["nodes"])], data["layout"]["inner"])
    units, nodes = place(layout, set(range(len(data["groups"]))))
    width = max((x + w for x, _, w, _ in units.values()), default=1)
    height = max((y + h for _, y, _, h in units.values()), default=1)
    fig = new_figure(1.0 + 1.9 * width, 0.6 + 1.0 * height)
    ax = fig.add_subplot()
    ax.set_xlim(-0.15, width + 0.05)
    ax.set_ylim(height + 0.05, -0.3)
    ax.axis("off")
    ax.set_title(data["title"])
    for (kind, g), (x, y, w, h) in units.items():
        if kind == "group":
            ax.add_patch(FancyBboxPatch((x + 0.03, y + 0.02), w - 0.16, h - 0.04,
                                        boxstyle="round,pad=0.02", fill=True, alpha=0.35,
                                        facecolor="#eef3ea", edgecolor="#6c8a5b", linestyle="--"))
            ax.text(x + 0.06, y + 0.09, data["groups"][g]["label"], fontsize=8, color="#43613a",
                    weight="bold", va="center")
    centre = {n: (x + 0.1 + _NODE_W / 2, y + 0.5 * (1 - _NODE_H) + 0.08 + _NODE_H / 2)
              for n, (x, y, _, _) in nodes.items()}
    for src, dst, _ in data["edges"]:
        (x1, y1), (x2, y2) = centre[src], centre[dst]
        ax.annotate("", xy=(x2 - _NODE_W / 2, y2), xytext=(x1 + _NODE_W / 2, y1),
                    arrowprops=dict(arrowstyle="-|>", color="#9aa3af", lw=1,
                                    connectionstyle="arc3,rad=0", shrinkA=0, shrinkB=0))
    for n, node in enumerate(data["nodes"]):
        cx, cy = centre[n]
        ax.add_patch(FancyBboxPatch((cx - _NODE_W / 2, cy - _NODE_H / 2), _NODE_W, _NODE_H,
                                    boxstyle="round,pad=0.01", facecolor=_FILL[node["kind"]],
                                    edgecolor="#7d8796", lw=2.2 if n == 0 else 1.0))
        title = node["name"] or node["op"]
        subtitle = (node["op"] + " " if node["name"] else "") + _shape(node["value"])
        lines = [(title, "#1d2330", "bold"), (subtitle, "#5b6473", "normal")]
        value, grad = _number(node["value"]), _number(node.get("grad"))
        if value is not None:
            lines.append((f"= {value}", "#1d2330", "normal"))
        if grad is not None:
            lines.append((f"∂L = {grad}", "#c0392b", "bold"))
        top = cy - _NODE_H / 2 + 0.1
        for k, (text, color, weight) in enumerate(lines):
            ax.text(cx - _NODE_W / 2 + 0.05, top + k * 0.14, text, fontsize=7.5, color=color,
                    weight=weight, va="center")
    return save_figure(fig, path, dpi=dpi)
