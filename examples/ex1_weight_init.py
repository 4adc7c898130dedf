"""Experiment 1: vanishing gradients and weight initialisation (the book's section 6.2).

1. 1,000 inputs of 100 Gaussian values pass through 5 layers of 100 nodes (z = a·W, a = act(z),
   no bias); a histogram of each layer's activations shows what the initial weights do:
   * sigmoid, W ~ N(0, 1): the activations pile up at 0 and 1, where the sigmoid is flat, so
     its derivative y(1 − y) is ≈ 0 and the gradients vanish on the way back;
   * sigmoid, W ~ N(0, 0.01²): all activations are ≈ 0.5: every node computes the same thing
     and the layers lose their expressive power;
   * sigmoid, Xavier (std √(1/n)): the activations stay spread out;
   * ReLU, std 0.01: the activations shrink towards 0 layer by layer; Xavier: slowly; He (std
     √(2/n)): the same spread in every layer.
   Every initializer in the registry that is defined by its spread (not a constant) is drawn
   too, so an initializer added by a plugin shows up here without changing this file.
2. The same initialisations training a 5-layer ReLU network (784 → 100 ×4 → 10) on MNIST with
   SGD (lr 0.01, batch 128): training loss per iteration.

    python examples/ex1_weight_init.py            # full: 2,000 iterations per initialisation
    python examples/ex1_weight_init.py --quick    # seconds
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _common, however this is run

import _common  # noqa: E402
from tinygrad_edu import Tensor, nn, no_grad, optim, registry  # noqa: E402
from tinygrad_edu import functional as F  # noqa: E402
from tinygrad_edu.models import MultiLayerNet  # noqa: E402
from tinygrad_edu.plots import new_figure, plot_lines, save_figure  # noqa: E402

NAME = "ex1_weight_init"


def spread_initializers():
    """The registered initializers whose point is the spread of the weights (Xavier, He, and any
    a plugin adds), as ``{label: weight_init}``; "normal" is given explicit stds, constants
    (zeros, ones) are left out. ``weight_init`` is what nn.Linear accepts: a std or a name."""
    found = {}
    for comp in registry.components("initializer"):
        check = comp.check
        if comp.name == "normal" or getattr(check, "constant", None) is not None:
            continue
        sample = comp.obj((100, 100), 100, 100, np.random.default_rng(0), np.float64)
        if np.std(sample) == 0:   # a constant initializer without a declaration
            continue
        found[comp.name] = comp.name
    return found


# ---- 1. activation histograms ----------------------------------------------------------------


def forward_activations(activation, weight_init, x, layers=5, seed=0):
    """The activations of each of ``layers`` layers of 100 nodes: a_k = act(a_{k-1} · W_k)."""
    rng = np.random.default_rng(seed)
    act = F.get(activation)
    a = Tensor(x)
    out = []
    with no_grad():
        for _ in range(layers):
            layer = nn.Linear(100, 100, bias=False, weight_init=weight_init, rng=rng, dtype=np.float64)
            a = act(layer(a))
            out.append(a.data)
    return out


def describe(activations):
    """Numbers that say what a histogram shows, per layer."""
    rows = []
    for a in activations:
        counts, _ = np.histogram(a, bins=30, range=(0.0, 1.0))
        rows.append({"mean": a.mean(), "std": a.std(),
                     "fraction_below_0.1": np.mean(a < 0.1), "fraction_above_0.9": np.mean(a > 0.9),
                     "fraction_within_0.5_pm_0.05": np.mean(np.abs(a - 0.5) <= 0.05),
                     "fraction_zero": np.mean(a == 0.0), "histogram_0_1_30_bins": counts})
    return rows


def histogram_experiment(args):
    x = np.random.default_rng(args.seed).standard_normal((1000, 100))
    registered = spread_initializers()
    setups = {"sigmoid": {"std=1": 1.0, "std=0.01": 0.01, **registered},
              "relu": {"std=0.01": 0.01, **registered}}
    results, figures = {}, []
    for activation, inits in setups.items():
        rows, stats = {}, {}
        for label, weight_init in inits.items():
            activations = forward_activations(activation, weight_init, x, seed=args.seed)
            stats[label] = describe(activations)
            # ReLU: half the activations are exactly 0; leave them out so the rest can be seen
            rows[label] = [a[a > 0] if activation == "relu" else a for a in activations]
            spread = "  ".join(f"{row['std']:.3g}" for row in stats[label])
            print(f"  {activation:<7} {label:<15} std of the activations, layers 1-5: {spread}")
        note = " (zeros left out)" if activation == "relu" else ""
        figures.append(draw_histograms(rows, args.out / f"activations_{activation}.png",
                                       f"{activation}: activations of 5 layers of 100 nodes{note}"))
        results[activation] = stats
    return results, figures


def draw_histograms(rows, path, title):
    """One row per initialisation, one column per layer; histograms over [0, 1], 30 bins."""
    layers = len(next(iter(rows.values())))
    fig = new_figure(2.3 * layers + 0.6, 1.55 * len(rows) + 0.6)
    fig.set_layout_engine("constrained")
    axes = fig.subplots(len(rows), layers, sharex=True, sharey="row", squeeze=False)
    for r, (label, activations) in enumerate(rows.items()):
        for k, a in enumerate(activations):
            ax = axes[r, k]
            ax.hist(a.ravel(), bins=30, range=(0.0, 1.0), color="tab:blue")
            ax.tick_params(labelsize=7)
            ax.yaxis.get_offset_text().set_fontsize(7)
            if r == 0:
                ax.set_title(f"layer {k + 1}")
        axes[r, 0].set_ylabel(label, fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("activation", fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


# ---- 2. the initialisations on MNIST ---------------------------------------------------------


def train_losses(weight_init, x_train, t_train, iterations, batch_size, seed, lr=0.01):
    """Training loss per iteration with SGD; every initialisation sees the same mini-batches."""
    model = MultiLayerNet(784, [100] * 4, 10, weight_init=weight_init, seed=seed)   # ReLU
    optimizer = optim.SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed + 1)
    losses = []
    for _ in range(iterations):
        batch = rng.choice(len(x_train), batch_size)
        loss = F.softmax_cross_entropy(model(Tensor(x_train[batch])), t_train[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def main(argv=None):
    parser = _common.make_parser(NAME, __doc__.splitlines()[0])
    args = _common.parse(parser, argv)
    watch = _common.Stopwatch()
    print("activation histograms (input: 1000 x 100 Gaussian values):")
    histograms, figures = histogram_experiment(args)

    iterations = 150 if args.quick else 2000
    batch_size = 128
    x_train, t_train, _, _, source = _common.mnist(args)
    print(f"MNIST: a 5-layer ReLU network, SGD lr 0.01, batch {batch_size}, {iterations} iterations")
    curves, rows = {}, {}
    for label, weight_init in {"std=0.01": 0.01, **spread_initializers()}.items():
        timer = _common.Stopwatch()
        losses = train_losses(weight_init, x_train, t_train, iterations, batch_size, args.seed)
        curves[label] = losses
        rows[label] = _common.loss_curve_row(label, losses, timer())
    figures.append(plot_lines(curves, args.out / "mnist_weight_init.png", xlabel="iteration",
                              ylabel="training loss", smooth_window=1 if args.quick else 25,
                              ylim=(0, 2.5), title=f"5-layer ReLU net, SGD, on {source}"))
    results = {"histograms": histograms,
               "mnist": {"source": source, "iterations": iterations, "batch_size": batch_size,
                         "initializers": rows},
               "figures": [p.name for p in figures], "seconds": watch()}
    print("figures: " + ", ".join(str(p) for p in figures) + f"  ({watch():.1f} s)")
    _common.write_results(args, NAME, results)
    return results


if __name__ == "__main__":
    main()
