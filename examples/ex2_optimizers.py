"""Experiment 2: learning rates and optimizers (the book's sections 4.4.1 and 6.1).

1. Gradient descent x ← x − lr·∇f(x) on f(x) = x0² + x1² from (−3, 4), 100 steps, with
   lr = 0.1, 10.0 and 1e-10. The gradient is computed two ways, printed side by side:
   numerically, by central differences (f(x + h·e_i) − f(x − h·e_i)) / 2h with h = 1e-4, and
   by backpropagation (autodiff), which gives the exact ∇f(x) = 2x.
2. The paths of every registered optimizer (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam,
   and any a plugin adds) on f(x, y) = x²/20 + y² from (−7, 2), drawn over its contour lines.
3. The same optimizers training a 5-layer network (784 → 100 → 100 → 100 → 100 → 10, ReLU,
   He initialisation) on MNIST with mini-batches of 128: training loss per iteration.

    python examples/ex2_optimizers.py            # full: 2,000 iterations per optimizer
    python examples/ex2_optimizers.py --quick    # seconds
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _common, however this is run

import _common  # noqa: E402
from tinygrad_edu import Parameter, Tensor, registry  # noqa: E402
from tinygrad_edu import functional as F  # noqa: E402
from tinygrad_edu.models import MultiLayerNet  # noqa: E402
from tinygrad_edu.plots import plot_lines, plot_trajectories  # noqa: E402

NAME = "ex2_optimizers"

# ---- 1. gradient descent with a numerical gradient and with autodiff -------------------------


def f(x):
    """f(x) = x0² + x1²; works on a numpy array and on a Tensor alike."""
    return x[0] ** 2 + x[1] ** 2


def numerical_gradient(f, x, h=1e-4):
    """Central differences, one coordinate at a time: ∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h.
    ``x`` is changed in place while probing and restored afterwards (as in the book)."""
    grad = np.zeros_like(x)
    for i in range(x.size):
        saved = x[i]
        x[i] = saved + h
        f_plus = f(x)
        x[i] = saved - h
        f_minus = f(x)
        grad[i] = (f_plus - f_minus) / (2 * h)
        x[i] = saved
    return grad


def descend_numerically(lr, steps=100, start=(-3.0, 4.0)):
    """x ← x − lr·(numerical gradient). Returns the final x and the first step at which the
    numerical gradient was exactly zero (None if never)."""
    x = np.array(start)
    frozen_at = None
    for step in range(steps):
        g = numerical_gradient(f, x)
        if frozen_at is None and not g.any():
            frozen_at = step
        x -= lr * g
    return x, frozen_at


def descend_autodiff(lr, steps=100, start=(-3.0, 4.0)):
    """x ← x − lr·∇f(x) with ∇f from backward(): define the function by running it, then ask
    for its gradient."""
    x = Tensor(np.array(start), requires_grad=True)
    for _ in range(steps):
        x.grad = None
        f(x).backward()
        x.data -= lr * x.grad.data
    return x.data.copy()


def gradient_descent_table():
    print("gradient descent on f(x) = x0**2 + x1**2 from (-3, 4), 100 steps")
    print(f"{'lr':>7}  {'numerical gradient (h = 1e-4)':<34}  {'autodiff (backward)':<34}")
    rows = {}
    for lr in (0.1, 10.0, 1e-10):
        x_num, frozen_at = descend_numerically(lr)
        x_auto = descend_autodiff(lr)
        rows[repr(lr)] = {"lr": lr, "numerical": x_num, "autodiff": x_auto,
                          "numerical_gradient_zero_from_step": frozen_at}
        print(f"{lr:>7g}  [{x_num[0]: .8e}, {x_num[1]: .8e}]  [{x_auto[0]: .8e}, {x_auto[1]: .8e}]")
    frozen = rows["10.0"]["numerical_gradient_zero_from_step"]
    print(f"\nWhy they differ at lr = 10: each exact step is x ← x − 10·2x = −19·x, so autodiff "
          f"gives (−19)^100·(−3, 4) ≈ (−2.3e128, 3.0e128): it diverges, as gradient descent with "
          f"too large a learning rate must. The numerical gradient diverges with it until |x| is "
          f"about 1e13; there the rounding error of f(x ± h) ≈ x² in float64 (~1e-16·x²) is larger "
          f"than the difference 4·x·h it is meant to measure, f(x + h) and f(x − h) come out "
          f"equal, the estimated gradient is exactly 0 (from step {frozen} on) and the descent "
          f"freezes at about (−2.6e13, −1.3e12). Both numbers are 'wrong' answers to a divergent "
          f"problem; they differ only because central differences break down for huge x.")
    return rows


# ---- 2. trajectories on f(x, y) = x²/20 + y² ---------------------------------------------------

# The book's learning rates for this figure (SGD 0.95, Momentum 0.1, AdaGrad 1.5, Adam 0.3); for
# the optimizers it does not draw, rates that show their character in 30 steps. For an optimizer
# from a plugin, not listed here, the rate is searched (see trajectory_lr).
TRAJECTORY_LR = {"sgd": 0.95, "momentum": 0.1, "nesterov": 0.1, "adagrad": 1.5, "rmsprop": 0.1,
                 "adam": 0.3, "adamw": 0.3}


def bowl(x, y):
    """f(x, y) = x²/20 + y²: stretched along x, so the gradient points mostly along y."""
    return x ** 2 / 20.0 + y ** 2


def usable_optimizers():
    """Every registered optimizer whose constructor needs nothing but the parameters (all its
    hyper-parameters have defaults), as ``{name: (class, default lr)}``. Those that need more
    are listed and left out."""
    found = {}
    for comp in registry.components("optimizer"):
        signature = inspect.signature(comp.obj)
        required = [p.name for p in list(signature.parameters.values())[1:]
                    if p.default is inspect.Parameter.empty
                    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if required:
            print(f"  (left out: optimizer {comp.name!r} from plugin {comp.plugin!r} needs "
                  f"{', '.join(required)})")
            continue
        lr = signature.parameters.get("lr")
        found[comp.name] = (comp.obj, lr.default if lr is not None and
                            lr.default is not inspect.Parameter.empty else 0.01)
    return found


def trajectory_lr(name, optimizer_class, default_lr):
    """The learning rate to draw an optimizer's path with: the table above, else the best of
    default_lr · 10^(k/2), k = 0..8: the one with the lowest mean f over the last 10 of the 30
    steps (a default meant for training networks, Lion's 1e-4 say, may not move at all in 30
    steps on this bowl; the mean, not the last value, so that a lucky last bounce does not win)."""
    if name in TRAJECTORY_LR:
        return TRAJECTORY_LR[name], "book" if name in ("sgd", "momentum", "adagrad", "adam") else "chosen"
    best = None
    for k in range(9):
        lr = float(f"{default_lr * 10 ** (k / 2):.3g}")
        with np.errstate(all="ignore"):
            score = float(np.mean([bowl(*p) for p in trajectory(optimizer_class, lr)[-10:]]))
        if np.isfinite(score) and (best is None or score < best[1]):
            best = (lr, score)
    return (best[0] if best else default_lr), "searched"


def trajectory(optimizer_class, lr, steps=30, start=(-7.0, 2.0)):
    """The points an optimizer visits minimising ``bowl`` from ``start``: (steps + 1, 2)."""
    p = Parameter(np.array(start))
    optimizer = optimizer_class([p], lr=lr)
    points = [p.data.copy()]
    for _ in range(steps):
        optimizer.zero_grad()
        bowl(p[0], p[1]).backward()
        optimizer.step()
        points.append(p.data.copy())
    return np.array(points)


# ---- 3. the optimizers on MNIST ---------------------------------------------------------------


def train_losses(optimizer_class, lr, x_train, t_train, iterations, batch_size, seed):
    """Training loss per iteration; every optimizer starts from the same weights and sees the
    same mini-batches (drawn with replacement, as in the book)."""
    model = MultiLayerNet(784, [100] * 4, 10, seed=seed)   # ReLU, He initial weights
    optimizer = optimizer_class(model.parameters(), lr=lr)
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
    results = {"gradient_descent": gradient_descent_table()}

    print("\noptimizers (from the registry):")
    optimizers = usable_optimizers()
    paths, chosen = {}, {}
    for name, (cls, default_lr) in optimizers.items():
        lr, how = trajectory_lr(name, cls, default_lr)
        label = f"{cls.__name__} (lr={lr:g})"
        chosen[label] = {"optimizer": name, "lr": lr, "lr_from": how}
        paths[label] = points = trajectory(cls, lr)
        plugin = registry.get_component("optimizer", name).plugin
        print(f"  {cls.__name__:<10} lr {lr:<5g} ({how + ')':<9} after 30 steps at ({points[-1][0]: .4f}, "
              f"{points[-1][1]: .4f}), f = {bowl(*points[-1]):.2e}   [plugin {plugin}]")
    trajectory_png = plot_trajectories(bowl, paths, args.out / "trajectories.png",
                                       title="f(x, y) = x²/20 + y² from (−7, 2), 30 steps")
    results["trajectories"] = {k: {**chosen[k], "final": v[-1], "f_final": bowl(*v[-1])}
                               for k, v in paths.items()}

    iterations = 100 if args.quick else 2000
    batch_size = 128
    x_train, t_train, _, _, source = _common.mnist(args)
    print(f"MNIST: a 5-layer ReLU network, batch {batch_size}, {iterations} iterations per optimizer "
          f"(each optimizer's default learning rate)")
    curves, mnist_rows = {}, {}
    for name, (cls, default_lr) in optimizers.items():
        timer = _common.Stopwatch()
        losses = train_losses(cls, default_lr, x_train, t_train, iterations, batch_size, args.seed)
        label = f"{cls.__name__} (lr={default_lr:g})"
        curves[label] = losses
        mnist_rows[name] = {"lr": default_lr, **_common.loss_curve_row(label, losses, timer(), width=24)}
    mnist_png = plot_lines(curves, args.out / "mnist_optimizers.png", xlabel="iteration",
                           ylabel="training loss", smooth_window=1 if args.quick else 25,
                           ylim=(0, 1.0 if not args.quick else 2.5),
                           title=f"5-layer ReLU net on {source}")
    results["mnist"] = {"source": source, "iterations": iterations, "batch_size": batch_size,
                        "optimizers": mnist_rows}
    results["figures"] = [trajectory_png.name, mnist_png.name]
    results["seconds"] = watch()
    print(f"figures: {trajectory_png}, {mnist_png}  ({watch():.1f} s)")
    _common.write_results(args, NAME, results)
    return results


if __name__ == "__main__":
    main()
