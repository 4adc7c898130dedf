"""Figures for training runs and experiments, saved as PNG files.

Plain functions: each takes the data and a path, draws one figure, writes it atomically and
returns the path. They use matplotlib's object-oriented API on the Agg canvas, so they work
without a display (on a server, in CI) and never touch pyplot's global state or the backend
you chose for your own plots.

    plot_history(trainer.history, "curves.png")                 loss and accuracy curves
    plot_lines({"SGD": losses1, "Adam": losses2}, "opt.png")      any named curves
    plot_activation_histograms({"layer 1": a1, ...}, "hist.png")  a grid of histograms
    plot_trajectories(f, {"SGD": path, ...}, "traj.png")          optimizer paths over contours
    plot_filters(W, "filters.png")                                conv filters as image grids
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tinygrad_edu.atomic import atomic_write

__all__ = ["plot_history", "plot_lines", "plot_activation_histograms", "plot_trajectories",
           "plot_filters", "smooth", "save_figure", "new_figure"]


def new_figure(width: float = 6.4, height: float = 4.8) -> Figure:
    """A Figure on its own Agg canvas (no pyplot, no display needed)."""
    fig = Figure(figsize=(width, height), layout="constrained")  # labels never overlap titles
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` as PNG, atomically; parent folders are created. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
    return path


def smooth(values: Sequence[float], window: int = 11) -> np.ndarray:
    """A moving average over ``window`` points (same length as the input; the book's
    ``smooth_curve`` idea). A window of 1, or fewer points than the window, returns a copy."""
    y = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(y) < window:
        return y.copy()
    kernel = np.ones(window) / window
    padded = np.pad(y, (window // 2, window - 1 - window // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _get(history, key):
    if isinstance(history, Mapping):
        return history.get(key)
    return getattr(history, key, None)


def plot_history(history, path: str | os.PathLike, title: str | None = None,
                 smooth_window: int = 0) -> Path:
    """Training curves: the loss per iteration (left) and accuracy per epoch (right).

    ``history`` is a :class:`tinygrad_edu.train.History` or a dict with ``loss`` (per
    iteration) and optionally ``epochs``, ``train_acc``, ``test_acc`` (per evaluated epoch).
    ``smooth_window`` > 1 adds a moving average of the loss. The loss is drawn on a log scale
    when every value is positive (on a linear one, the curve is flat after the first hundred
    iterations). ``title``: what the run was (model, optimizer, data, limits), above both plots.
    """
    loss = list(_get(history, "loss") or [])
    epochs = list(_get(history, "epochs") or [])
    train_acc = list(_get(history, "train_acc") or [])
    test_acc = list(_get(history, "test_acc") or [])
    fig = new_figure(11, 4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    if loss:
        ax_loss.plot(np.arange(1, len(loss) + 1), loss, lw=0.8, alpha=0.6 if smooth_window > 1 else 1.0,
                     label="loss per iteration")
        if smooth_window > 1:
            ax_loss.plot(np.arange(1, len(loss) + 1), smooth(loss, smooth_window), lw=1.5,
                         label=f"moving average ({smooth_window})")
        ax_loss.legend(loc="upper right")
    else:
        ax_loss.text(0.5, 0.5, "no iterations", ha="center", va="center", transform=ax_loss.transAxes)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("training loss")
    if loss and min(loss) > 0:   # a log scale shows progress long after the first hundred steps
        ax_loss.set_yscale("log")
        ax_loss.set_ylabel("training loss (log scale)")
    ax_loss.set_title("loss")
    ax_loss.grid(alpha=0.3)
    x = epochs if epochs else None
    lowest = 1.0
    for values, label, marker in ((train_acc, "train", "o"), (test_acc, "test", "s")):
        if values and any(v is not None for v in values):
            xs = x[:len(values)] if x else list(range(1, len(values) + 1))
            ys = [np.nan if v is None else v for v in values]
            ax_acc.plot(xs, ys, marker=marker, label=label)
            lowest = min(lowest, np.nanmin(ys))
    if train_acc or test_acc:
        ax_acc.set_ylim(max(0.0, math.floor((lowest - 0.02) * 10) / 10), 1.0)   # zoom on the curves
        ax_acc.legend(loc="lower right")
    else:
        ax_acc.text(0.5, 0.5, "not evaluated", ha="center", va="center", transform=ax_acc.transAxes)
    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("accuracy")
    ax_acc.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_lines(curves: Mapping[str, Sequence[float]], path: str | os.PathLike,
               xlabel: str = "iteration", ylabel: str = "loss", title: str | None = None,
               smooth_window: int = 0, ylim: tuple[float, float] | None = None,
               x: Mapping[str, Sequence[float]] | Sequence[float] | None = None,
               styles: Mapping[str, str] | None = None) -> Path:
    """Several named curves on one axes (e.g. the training loss of each optimizer).

    ``x``: shared x values, or one sequence per name (default 0, 1, 2, ...);
    ``smooth_window`` > 1 draws moving averages; ``styles``: name -> matplotlib format string.
    """
    if not curves:
        raise ValueError(f"plot_lines({str(path)!r}): no curves given")
    fig = new_figure(7, 4.5)
    ax = fig.subplots()
    for name, values in curves.items():
        y = smooth(values, smooth_window) if smooth_window > 1 else np.asarray(values, dtype=np.float64)
        if isinstance(x, Mapping):
            xs = np.asarray(x[name])
        elif x is not None:
            xs = np.asarray(x)[:len(y)]
        else:
            xs = np.arange(len(y))
        fmt = (styles or {}).get(name)
        if fmt:
            ax.plot(xs, y, fmt, label=str(name))
        else:
            ax.plot(xs, y, label=str(name))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def plot_activation_histograms(activations: Mapping[str, np.ndarray] | Sequence[np.ndarray],
                               path: str | os.PathLike, bins: int = 30,
                               value_range: tuple[float, float] | None = (0.0, 1.0),
                               title: str | None = None, columns: int | None = None) -> Path:
    """One histogram per layer's activations, side by side (the book's figures 6-10 to 6-14).

    ``activations``: name -> array, or a list (named "1-layer", "2-layer", ...).
    ``value_range``: the histogram range (None: each layer's own min..max).
    ``columns``: panels per row (default: all in one row up to 5).
    """
    if not isinstance(activations, Mapping):
        activations = {f"{i + 1}-layer": a for i, a in enumerate(activations)}
    if not activations:
        raise ValueError(f"plot_activation_histograms({str(path)!r}): no activations given")
    n = len(activations)
    columns = columns or min(n, 5)
    rows = math.ceil(n / columns)
    fig = new_figure(2.6 * columns, 2.4 * rows + (0.4 if title else 0))
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for i, (ax, (name, values)) in enumerate(zip(axes, activations.items())):
        data = np.asarray(values, dtype=np.float64).ravel()   # a Tensor converts too
        ax.hist(data, bins=bins, range=value_range)
        ax.set_title(str(name))
        if i % columns:
            ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_trajectories(f: Callable[[np.ndarray, np.ndarray], np.ndarray],
                      trajectories: Mapping[str, np.ndarray], path: str | os.PathLike,
                      xlim: tuple[float, float] = (-10.0, 10.0), ylim: tuple[float, float] = (-5.0, 5.0),
                      levels: int = 20, columns: int | None = None, title: str | None = None,
                      minimum: tuple[float, float] | None = (0.0, 0.0)) -> Path:
    """Optimizer paths drawn over the contour lines of ``f(x, y)`` (the book's figure 6-8).

    ``f`` takes two grids (vectorised) and returns the values; ``trajectories`` maps an
    optimizer's name to its points, an array of shape (steps, 2). One panel per optimizer.
    ``minimum`` is marked with a cross.
    """
    if not trajectories:
        raise ValueError(f"plot_trajectories({str(path)!r}): no trajectories given")
    n = len(trajectories)
    columns = columns or min(n, 3)
    rows = math.ceil(n / columns)
    gx, gy = np.meshgrid(np.linspace(*xlim, 200), np.linspace(*ylim, 200))
    gz = np.asarray(f(gx, gy), dtype=np.float64)
    fig = new_figure(4.2 * columns, 3.2 * rows + (0.4 if title else 0))
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for ax, (name, points) in zip(axes, trajectories.items()):
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"plot_trajectories: the trajectory of {name!r} must have shape "
                             f"(steps, 2), got {pts.shape}")
        ax.contour(gx, gy, gz, levels=levels, linewidths=0.6, colors="0.6")
        ax.plot(pts[:, 0], pts[:, 1], "o-", color="red", markersize=2, lw=1)
        if minimum is not None:
            ax.plot(*minimum, "+", color="black", markersize=10)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_title(str(name))
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def _filter_images(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)   # an array, a Tensor or a Parameter
    if w.ndim == 3:            # (FN, FH, FW): one channel
        w = w[:, None]
    if w.ndim != 4:
        raise ValueError(f"plot_filters: expected convolution weights (FN, C, FH, FW), got shape {w.shape}")
    return w[:, 0] if w.shape[1] == 1 else w.mean(axis=1)   # several channels: their mean


def plot_filters(weights, path: str | os.PathLike, columns: int = 10, title: str | None = None,
                 cmap: str = "gray_r") -> Path:
    """The filters of a convolution layer as a grid of small images (the book's figure 7-24).

    ``weights``: an array (FN, C, FH, FW) (a channel mean is shown when C > 1), or a dict
    name -> such array to draw several sets one above the other ("before" / "after" training).
    Each filter is scaled to its own min..max.
    """
    sets = weights if isinstance(weights, Mapping) else {"": weights}
    images = {name: _filter_images(w) for name, w in sets.items()}
    if not images:
        raise ValueError(f"plot_filters({str(path)!r}): no filters given")
    rows_per = {name: math.ceil(len(imgs) / columns) for name, imgs in images.items()}
    total_rows = sum(rows_per.values())
    fig = new_figure(columns * 0.9, total_rows * 0.9 + 0.4 * len(images) + (0.4 if title else 0))
    subfigs = fig.subfigures(len(images), 1, height_ratios=[max(r, 1) for r in rows_per.values()],
                             squeeze=False).ravel()
    for subfig, (name, imgs) in zip(subfigs, images.items()):
        rows = rows_per[name]
        axes = np.atleast_1d(subfig.subplots(rows, columns, squeeze=False)).ravel()
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_axis_off()
        for ax, img in zip(axes, imgs):
            ax.imshow(img, cmap=cmap, interpolation="nearest")
        if name:
            subfig.suptitle(str(name))
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
