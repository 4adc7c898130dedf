"""Experiment 4: the layers of a CNN, convolution and max pooling (the book's sections 7.2-7.4).

1. im2col, the trick that turns a convolution into one matrix product: every patch a 5x5
   filter sees in a (C=3, 7, 7) image becomes one row of C·5·5 = 75 values. One image gives
   3·3 = 9 patches: shape (9, 75); a batch of 10 images gives (90, 75). Then

       y = im2col(x) @ W.reshape(FN, −1).T + b          reshaped to (N, FN, OH, OW).

2. A real MNIST digit through a convolution with four 5x5 edge filters (vertical, horizontal and
   the two diagonals), then a 2x2 max pooling, forward and backward from L = Σ pooled:
   * dL/d(feature map) is 1 exactly where each 2x2 window had its maximum and 0 elsewhere: max
     pooling routes the gradient to the winner of each window;
   * dL/dx = the filters pasted (summed) at those winning positions: col2im of dY·W;
   * dL/dW = the sum of the input patches at the winning positions: dYᵀ·im2col(x).
   The layer's forward is checked against the im2col formula above, and its backward against
   central differences (gradcheck).

    python examples/ex4_cnn_layers.py [--quick]   # seconds either way
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _common, however this is run

import _common  # noqa: E402
import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import Tensor, gradcheck, nn  # noqa: E402
from tinygrad_edu.im2col import im2col  # noqa: E402
from tinygrad_edu.plots import new_figure, save_figure  # noqa: E402

NAME = "ex4_cnn_layers"


def im2col_shapes(seed):
    rng = np.random.default_rng(seed)
    x1 = rng.random((1, 3, 7, 7))      # 1 image, 3 channels, 7x7
    x2 = rng.random((10, 3, 7, 7))     # 10 images
    col1, col2 = im2col(x1, 5, 5, stride=1, pad=0), im2col(x2, 5, 5, stride=1, pad=0)
    print(f"im2col of x (1, 3, 7, 7) with a 5x5 filter:  {col1.shape}")
    print(f"im2col of x (10, 3, 7, 7) with a 5x5 filter: {col2.shape}")
    return col1.shape, col2.shape


def edge_filters():
    """Four 5x5 filters, each summing to 0: vertical, horizontal, diagonal and anti-diagonal
    edges (light on one side, dark on the other)."""
    ramp = np.array([-1.0, -1.0, 0.0, 1.0, 1.0])
    vertical = np.tile(ramp, (5, 1))                      # responds to left-right changes
    horizontal = vertical.T                               # top-bottom changes
    i, j = np.indices((5, 5))
    diagonal = np.sign(j - i).astype(float)               # across the "\" diagonal
    anti = np.sign(i + j - 4).astype(float)               # across the "/" diagonal
    return np.stack([vertical, horizontal, diagonal, anti])[:, None] / 10.0   # (4, 1, 5, 5)


def convolution_and_pooling(digit):
    """Forward and backward of conv (4 filters 5x5) → max pool 2x2 on one (1, 1, 28, 28) image."""
    conv = nn.Conv2d(1, 4, 5, weight_init=lambda shape, fan_in, fan_out, rng, dtype:
                     edge_filters().astype(dtype), dtype=np.float64)
    pool = nn.MaxPool2d(2)
    x = Tensor(digit, requires_grad=True)
    y = conv(x)                        # (1, 4, 24, 24)
    p = pool(y)                        # (1, 4, 12, 12)
    loss = p.sum()
    # dL/dy: the gradient arriving at the feature maps, computed by asking for it directly
    (dy,) = tg.grad(loss, [y], retain_graph=True)
    loss.backward()
    return {"x": digit, "W": conv.W.data.copy(), "y": y.data, "p": p.data, "dy": dy.data,
            "dx": x.grad.data, "dW": conv.W.grad.data, "db": conv.b.grad.data, "conv": conv,
            "pool": pool}


def check_against_formulas(run):
    """The layer against the im2col formula, and its backward against central differences."""
    x, W, conv = run["x"], run["W"], run["conv"]
    FN = W.shape[0]
    col = im2col(x, 5, 5)
    formula = (col @ W.reshape(FN, -1).T + conv.b.data).reshape(1, 24, 24, FN).transpose(0, 3, 1, 2)
    forward_error = float(np.abs(formula - run["y"]).max())
    # every 2x2 window passes its gradient 1 to exactly one element
    windows = run["dy"].reshape(1, FN, 12, 2, 12, 2).sum(axis=(3, 5))
    one_per_window = bool(np.all(windows == 1.0) and np.count_nonzero(run["dy"]) == run["p"].size)
    # gradcheck on a 12x12 crop (fast): the input and the layer's own filters (a float64
    # Parameter, perturbed in place by gradcheck) are both checked. Noise is added because the
    # blank background gives equal values in a pooling window, where max is not differentiable.
    noise = np.random.default_rng(0).uniform(0.0, 0.1, size=(1, 1, 12, 12))
    crop = Tensor(x[:, :, 8:20, 8:20] + noise, requires_grad=True)
    passed = gradcheck(lambda image, filters: run["pool"](conv(image)), crop, conv.W,
                       names=["x crop", "W"])
    # dW also equals dYᵀ·im2col(x)
    dY = run["dy"].transpose(0, 2, 3, 1).reshape(-1, FN)
    dW_error = float(np.abs((dY.T @ col).reshape(W.shape) - run["dW"]).max())
    return {"forward_max_abs_error_vs_im2col_formula": forward_error,
            "dW_max_abs_error_vs_formula": dW_error,
            "pool_gradient_one_per_window": one_per_window, "gradcheck_passed": bool(passed)}


def draw(run, label, path):
    """Rows: filters, feature maps, pooled maps, dL/d(feature map), dL/dW; the input and dL/dx
    on the left."""
    FN = run["W"].shape[0]
    fig = new_figure(2.0 * (FN + 1), 2.0 * 5)
    fig.set_layout_engine("constrained")
    axes = fig.subplots(5, FN + 1)
    rows = [("filter W", run["W"][:, 0], "RdBu_r"), ("conv(x, W)", run["y"][0], "RdBu_r"),
            ("max pool 2x2", run["p"][0], "RdBu_r"), ("dL/d(conv)", run["dy"][0], "gray_r"),
            ("dL/dW", run["dW"][:, 0], "RdBu_r")]
    for r, (name, images, cmap) in enumerate(rows):
        for k in range(FN):
            ax = axes[r, k + 1]
            image = images[k]
            limit = np.abs(image).max() or 1.0
            ax.imshow(image, cmap=cmap, vmin=-limit if cmap == "RdBu_r" else 0, vmax=limit,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 0:
                ax.set_ylabel(name)
            if r == 0:
                ax.set_title(("vertical", "horizontal", "diagonal \\", "diagonal /")[k]
                             if FN == 4 else f"filter {k + 1}")
    for r in range(5):
        axes[r, 0].set_axis_off()
    axes[0, 0].imshow(run["x"][0, 0], cmap="gray_r", interpolation="nearest")
    axes[0, 0].set_title(f"input x: a {label}")
    dx = run["dx"][0, 0]
    limit = np.abs(dx).max() or 1.0
    axes[3, 0].imshow(dx, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    axes[3, 0].set_title("dL/dx")
    fig.suptitle("convolution → max pooling, forward and backward of L = Σ pooled "
                 "(red > 0 > blue)")
    return save_figure(fig, path)


def main(argv=None):
    parser = _common.make_parser(NAME, __doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=0, help="which test image to use (default: 0)")
    args = _common.parse(parser, argv)
    watch = _common.Stopwatch()
    shape1, shape2 = im2col_shapes(args.seed)

    _, _, x_test, t_test, source = _common.mnist(args, flatten=False)
    digit = x_test[args.index:args.index + 1].astype(np.float64)      # (1, 1, 28, 28)
    label = int(t_test[args.index])
    run = convolution_and_pooling(digit)
    print(f"test image {args.index} (a {label}) of {source}:")
    print(f"  x {run['x'].shape} -> conv (4 filters 5x5) {run['y'].shape} -> max pool 2x2 "
          f"{run['p'].shape}")
    print(f"  gradients: dL/dx {run['dx'].shape}, dL/dW {run['dW'].shape}, dL/db {run['db'].shape} "
          f"(dL/db = {np.array2string(run['db'], precision=0)}: one per pooled value)")
    checks = check_against_formulas(run)
    print(f"  conv forward vs im2col formula: max |difference| = "
          f"{checks['forward_max_abs_error_vs_im2col_formula']:.1e}")
    print(f"  dL/dW vs dY^T im2col(x): max |difference| = {checks['dW_max_abs_error_vs_formula']:.1e}")
    print(f"  max pool passes exactly one gradient per 2x2 window: "
          f"{checks['pool_gradient_one_per_window']}")
    print(f"  gradcheck of conv + max pool (x and W, float64): "
          f"{'passed' if checks['gradcheck_passed'] else 'FAILED'}")
    figure = draw(run, f"{label}", args.out / "conv_pool.png")
    results = {"im2col_shapes": {"x(1,3,7,7) 5x5": shape1, "x(10,3,7,7) 5x5": shape2},
               "digit": {"source": source, "index": args.index, "label": label},
               "shapes": {k: run[k].shape for k in ("x", "W", "y", "p", "dy", "dx", "dW")},
               "dL_db": run["db"], **checks, "figures": [figure.name], "seconds": watch()}
    print(f"figure: {figure}  ({watch():.1f} s)")
    _common.write_results(args, NAME, results)
    return results


if __name__ == "__main__":
    main()
