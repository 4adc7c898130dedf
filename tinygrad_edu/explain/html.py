"""The explain page as one self-contained HTML file: the data as embedded JSON, the script and
the style inline, the graph drawn as SVG by the script. It loads nothing from anywhere."""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

from tinygrad_edu.atomic import atomic_write

__all__ = ["page_html", "save_html"]

_HERE = Path(__file__).resolve().parent

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<header>
  <h1 id="title">{title}</h1>
  <div class="controls">
    <button id="reset" title="back to the forward pass">reset</button>
    <button id="back" title="previous backward step (←)">◀ back</button>
    <button id="next" title="next backward step (→)">step ▶</button>
    <button id="end" title="run backward to the end">▶▶ end</button>
    <button id="expand">expand all</button>
    <button id="collapse">collapse all</button>
    <span id="status"></span>
  </div>
  <div class="legend">inputs on the left, the output on the right; blue: parameters; a red
    border: the node whose backward runs; red numbers: gradients ∂L/∂node.</div>
</header>
<main>
  <div id="graph"><svg id="canvas"></svg></div>
  <aside><div id="step-panel"></div><div id="node-panel"></div></aside>
</main>
<script type="application/json" id="graph-data">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""


def page_html(data: dict) -> str:
    """The page for ``data`` (from :func:`tinygrad_edu.explain.data.describe`)."""
    payload = json.dumps(data, allow_nan=False, separators=(",", ":"))
    payload = payload.replace("</", "<\\/")        # never close the script element early
    return _TEMPLATE.format(title=html.escape(data["title"]), data=payload,
                            css=(_HERE / "page.css").read_text(encoding="utf-8"),
                            js=(_HERE / "page.js").read_text(encoding="utf-8"))


def save_html(data: dict, path: str | os.PathLike) -> Path:
    """Write the page to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(page_html(data))
    return path
