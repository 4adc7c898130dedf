"""Draws docs/figures/architecture.png, the picture at the top of docs/DESIGN.md.

    python docs/architecture.py

The picture is generated from the tables below, so that it changes with the code: when a
module moves, edit its row here and run the script again (tests/test_architecture_picture.py
checks that every module named here exists and every package module is named).

Read it from the bottom up: each band uses only the bands below it. The dashed line is the
plugin boundary: everything above it reaches the components only by name, through pluggy and
the entry-point group ``tinygrad_edu``. The numbered arrows are one training step.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

#: (band title, colour, [(box label, modules it stands for)]), bottom band first.
BANDS = [
    ("engine", "#dbe9f6", [
        ("Tensor  <->  ops", ["tinygrad_edu.tensor", "tinygrad_edu.ops"]),
        ("Function", ["tinygrad_edu.function"]),
        ("backward engine", ["tinygrad_edu.autograd", "tinygrad_edu.anomaly"]),
        ("grad mode", ["tinygrad_edu.grad_mode"]),
        ("gradcheck", ["tinygrad_edu.gradcheck"]),
    ]),
    ("building blocks", "#e3f1df", [
        ("Module", ["tinygrad_edu.module"]),
        ("Optimizer", ["tinygrad_edu.optimizer", "tinygrad_edu.schedules"]),
        ("im2col", ["tinygrad_edu.im2col"]),
        ("random", ["tinygrad_edu.random", "tinygrad_edu.init_utils"]),
        ("files", ["tinygrad_edu.atomic", "tinygrad_edu.serialization",
                   "tinygrad_edu.safe_pickle"]),
    ]),
    ("plugin system", "#fbeed5", [
        ("hookspecs", ["tinygrad_edu.hookspecs"]),
        ("Component", ["tinygrad_edu.components"]),
        ("plugin manager", ["tinygrad_edu.plugins", "tinygrad_edu.plugin_guard",
                            "tinygrad_edu.plugin_records"]),
        ("registry", ["tinygrad_edu.registry", "tinygrad_edu.names"]),
        ("nn / F / optim / init", ["tinygrad_edu.nn", "tinygrad_edu.functional",
                                   "tinygrad_edu.optim", "tinygrad_edu.init"]),
    ]),
    ("plugins (entry points)", "#f6dede", [
        ("standard set", ["tinygrad_edu_plugins"]),
        ("example plugin", ["tinygrad_edu_example"]),
        ("numba kernels", ["tinygrad_edu_numba"]),
        ("your plugin", []),
    ]),
    ("applications", "#ece3f3", [
        ("data", ["tinygrad_edu.data"]),
        ("Trainer", ["tinygrad_edu.train", "tinygrad_edu.callbacks", "tinygrad_edu.evaluation",
                     "tinygrad_edu.interrupts", "tinygrad_edu.divergence"]),
        ("models", ["tinygrad_edu.models"]),
        ("book API", ["tinygrad_edu.book"]),
        ("testing", ["tinygrad_edu.testing"]),
        ("explain / plots", ["tinygrad_edu.explain", "tinygrad_edu.graphviz",
                             "tinygrad_edu.plots"]),
        ("CLI", ["tinygrad_edu.cli", "tinygrad_edu.train_command", "tinygrad_edu.arguments"]),
    ]),
]

#: one training step, as (from box, to box, label)
TRAINING_STEP = [
    ("data", "Trainer", "1 batch"),
    ("Trainer", "Module", "2 model(x): layers from plugins, looked up by name"),
    ("Module", "Tensor  <->  ops", "3 forward: each op records its Function"),
    ("Function", "backward engine", "4 loss.backward(): gradients into Parameter.grad"),
    ("Trainer", "Optimizer", "5 optimizer.step(), callbacks, checkpoint"),
]

BOX_W, BOX_H, BAND_H, GAP = 1.7, 0.62, 1.15, 0.18


def modules() -> set[str]:
    return {m for _, _, boxes in BANDS for _, names in boxes for m in names}


def draw(path: Path) -> Path:
    width = max(len(boxes) for _, _, boxes in BANDS) * (BOX_W + GAP) + 2.2
    fig, ax = plt.subplots(figsize=(width * 0.95, len(BANDS) * BAND_H * 0.95 + 0.6))
    centres = {}
    for row, (title, colour, boxes) in enumerate(BANDS):
        y = row * BAND_H
        ax.add_patch(FancyBboxPatch((0, y), width, BAND_H - 0.1, boxstyle="round,pad=0.02",
                                    fc=colour, ec="none", zorder=0))
        ax.text(0.12, y + BAND_H / 2 - 0.05, title, va="center", ha="left", fontsize=10,
                fontweight="bold", color="#333")
        for i, (label, _) in enumerate(boxes):
            x = 2.1 + i * (BOX_W + GAP)
            ax.add_patch(FancyBboxPatch((x, y + 0.2), BOX_W, BOX_H, boxstyle="round,pad=0.03",
                                        fc="white", ec="#555", lw=1, zorder=2))
            ax.text(x + BOX_W / 2, y + 0.2 + BOX_H / 2, label, ha="center", va="center",
                    fontsize=9, zorder=3)
            centres[label] = (x + BOX_W / 2, y + 0.2 + BOX_H / 2)
    boundary = 3 * BAND_H - 0.05
    ax.plot([0, width], [boundary, boundary], ls="--", color="#b03030", lw=1.5, zorder=1)
    ax.text(width - 0.1, boundary + 0.03, "plugin boundary: components by name only",
            ha="right", va="bottom", fontsize=8, color="#b03030")
    steps = []
    for source, target, label in TRAINING_STEP:
        (x0, y0), (x1, y1) = centres[source], centres[target]
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12,
                                     color="#1f5fa8", lw=1.3, connectionstyle="arc3,rad=0.18",
                                     zorder=4, shrinkA=14, shrinkB=14))
        number, text = label.split(" ", 1)
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, number, fontsize=8, color="white", zorder=5,
                ha="center", va="center", fontweight="bold",
                bbox=dict(boxstyle="circle,pad=0.25", fc="#1f5fa8", ec="none"))
        steps.append(f"{number}  {text}")
    ax.text(width - 3.6, 1 * BAND_H + 0.15, "one training step\n" + "\n".join(steps),
            ha="left", va="bottom", fontsize=8.5, color="#1f5fa8", linespacing=1.4,
            bbox=dict(fc="white", ec="#1f5fa8", boxstyle="round,pad=0.4"))
    ax.set_xlim(-0.05, width + 0.05)
    ax.set_ylim(-0.1, len(BANDS) * BAND_H)
    ax.axis("off")
    ax.set_title("tinygrad_edu: each band uses only the bands below it; arrows: one training step",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "figures" / "architecture.png"
    print(draw(out))
