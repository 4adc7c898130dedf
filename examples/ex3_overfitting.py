"""Experiment 3: overfitting, weight decay and dropout (the book's section 6.4).

A deliberately overfitting setup: only the first 300 MNIST training images, a large network
(784 → 100 ×6 → 10, ReLU, He initialisation), SGD with lr 0.01, mini-batches of 100, 201 epochs.
The training accuracy reaches about 100% while the test accuracy stalls far below: the network
has learned the 300 images, not the digits. Then the same run twice more, regularised:

* weight decay, λ = 0.1: the loss gets the term ½·λ·Σ‖W‖² (over the weight matrices, not the
  biases), so every step also pulls W towards 0 by lr·λ·W;
* dropout, ratio 0.2: after each hidden activation every value is set to 0 with probability
  0.2 during training (a different random mask every time); at test time nothing is dropped.

Both shrink the gap between training and test accuracy.

    python examples/ex3_overfitting.py            # full: 201 epochs, every test image
    python examples/ex3_overfitting.py --quick    # seconds: 201 epochs, 500 test images,
                                                  # evaluated every 10 epochs
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _common, however this is run

import _common  # noqa: E402
from tinygrad_edu import Tensor, optim  # noqa: E402
from tinygrad_edu import functional as F  # noqa: E402
from tinygrad_edu.data import DataLoader  # noqa: E402
from tinygrad_edu.models import MultiLayerNet  # noqa: E402
from tinygrad_edu.plots import new_figure, save_figure  # noqa: E402
from tinygrad_edu.train import accuracy  # noqa: E402

NAME = "ex3_overfitting"


def run(x_train, t_train, x_test, t_test, epochs, eval_every, weight_decay=0.0, dropout=0.0,
        lr=0.01, batch_size=100, seed=0):
    """Train and return the accuracies: ``{"epoch": [...], "train_acc": [...], "test_acc": [...]}``."""
    # (Affine -> ReLU -> Dropout) x 6, then Affine; no Dropout layer at all when dropout == 0
    model = MultiLayerNet(784, [100] * 6, 10, weight_init="he", weight_decay=weight_decay,
                          dropout=dropout, seed=seed)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    loader = DataLoader(x_train, t_train, batch_size=batch_size, shuffle=True, seed=seed + 1)
    history = {"epoch": [], "train_acc": [], "test_acc": []}
    for epoch in range(1, epochs + 1):
        model.train()
        for x, t in loader:
            loss = F.softmax_cross_entropy(model(Tensor(x)), t)
            if weight_decay:
                loss = loss + model.regularization()     # 0.5 * weight_decay * sum of W**2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % eval_every == 0 or epoch in (1, epochs):
            history["epoch"].append(epoch)
            history["train_acc"].append(accuracy(model, x_train, t_train))
            history["test_acc"].append(accuracy(model, x_test, t_test))
    return history


def plot(histories, path, title):
    """One panel per setting: training and test accuracy per epoch."""
    fig = new_figure(4.2 * len(histories), 3.8)
    fig.set_layout_engine("constrained")
    axes = fig.subplots(1, len(histories), sharey=True)
    for ax, (label, h) in zip(axes, histories.items()):
        ax.plot(h["epoch"], h["train_acc"], label="train", marker="o", markersize=2)
        ax.plot(h["epoch"], h["test_acc"], label="test", marker="s", markersize=2)
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    axes[0].set_ylabel("accuracy")
    fig.suptitle(title)
    return save_figure(fig, path)


def main(argv=None):
    parser = _common.make_parser(NAME, __doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=300, help="training images (default: 300)")
    args = _common.parse(parser, argv)
    watch = _common.Stopwatch()
    x_train, t_train, x_test, t_test, source = _common.mnist(args)
    x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
    epochs = 201
    if args.quick:
        x_test, t_test, eval_every = x_test[:500], t_test[:500], 10
    else:
        eval_every = 1
    print(f"{len(x_train)} training images, {len(x_test)} test images; 784-100x6-10 ReLU net, "
          f"SGD lr 0.01, batch 100, {epochs} epochs")
    settings = {"no regularisation": {}, "weight decay λ=0.1": {"weight_decay": 0.1},
                "dropout 0.2": {"dropout": 0.2}}
    histories, table = {}, {}
    print(f"  {'setting':<20} {'train acc':>9} {'test acc':>9} {'gap':>7}")
    for label, options in settings.items():
        timer = _common.Stopwatch()
        h = run(x_train, t_train, x_test, t_test, epochs, eval_every, seed=args.seed, **options)
        histories[label] = h
        train_acc, test_acc = h["train_acc"][-1], h["test_acc"][-1]
        table[label] = {**options, "train_acc": train_acc, "test_acc": test_acc,
                        "gap": train_acc - test_acc, "seconds": timer(), "history": h}
        print(f"  {label:<20} {train_acc:>9.4f} {test_acc:>9.4f} {train_acc - test_acc:>7.4f}"
              f"  [{timer():.1f} s]")
    figure = plot(histories, args.out / "overfitting.png",
                  f"{len(x_train)} training images of {source}")
    results = {"source": source, "train_size": len(x_train), "test_size": len(x_test),
               "epochs": epochs, "settings": table, "figures": [figure.name], "seconds": watch()}
    print(f"figure: {figure}  ({watch():.1f} s)")
    _common.write_results(args, NAME, results)
    return results


if __name__ == "__main__":
    main()
