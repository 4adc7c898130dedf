"""See backprop happen: one self-contained HTML page of a graph, its values and its gradients.

    import tinygrad_edu as tg
    loss = (apple * apple_num + orange * orange_num) * tax     # the book's chapter 5
    tg.explain(loss, "apples.html")                            # runs loss.backward() and writes

The page (no network, nothing outside the file) lays the graph out from the inputs (left) to
the output (right). Each node shows its operation and shape; clicking one shows its forward
value (small tensors in full, large ones as statistics and a histogram), its gradient and the
derivative rule of its operation (its Function's docstring). "step ▶" replays backward one node
at a time, in the order the engine ran it, with the upstream gradient, the local derivative and
the gradients sent to the inputs. Every number comes from the engine's own backward pass
(:func:`record.record_backward`), never from the page.

A model reads better layer by layer: compute the loss inside :class:`record_modules`, and each
Module call becomes a group (``conv1 · Conv2d``) that opens on a click::

    from tinygrad_edu.explain import record_modules
    with record_modules() as calls:
        loss = F.softmax_cross_entropy(model(x), t)
    tg.explain(loss, "step.html", modules=calls)

A path ending in ``.png`` gets the same layout as a picture (matplotlib) instead of a page.
"""
from __future__ import annotations

import os
from pathlib import Path

from tinygrad_edu.explain.data import describe
from tinygrad_edu.explain.record import record_modules

__all__ = ["explain", "record_modules", "describe"]


def explain(loss, path: str | os.PathLike, *, modules: record_modules | None = None,
            title: str | None = None) -> Path:
    """Run ``loss.backward()`` (leaves get their ``.grad`` as usual; the graph is freed) and write
    the page explaining it to ``path`` -- HTML, or a PNG picture when ``path`` ends in ``.png``.
    Call it instead of ``loss.backward()``, not after it. Returns the path written."""
    data = describe(loss, modules=modules, title=title)
    if str(path).lower().endswith(".png"):
        from tinygrad_edu.explain.png import save_png   # matplotlib only when asked for
        return save_png(data, path)
    from tinygrad_edu.explain.html import save_html
    return save_html(data, path)
