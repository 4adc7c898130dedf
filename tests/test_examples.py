"""The five experiment scripts in examples/, run in --quick mode, judged by what they produced.

Each script runs once (a module-scoped fixture) as a subprocess of this Python, on the embedded
MNIST sample, with its figures and results.json written to a temporary folder; the tests read
the numbers back. A further run registers a third-party plugin at run time and checks that the
comparison experiments pick up its optimizer and initializer from the registry.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tinygrad_edu import registry

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _env():
    env = dict(os.environ)
    # never download; one BLAS thread (these matrices are small, and the cores are shared)
    env.update(TINYGRAD_EDU_OFFLINE="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def _run(command, cwd, timeout=180):
    proc = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f"{' '.join(map(str, command))} exited with {proc.returncode}\n"
                                  f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc.stdout


class Run:
    """One quick run of an example: its stdout, results.json and output folder."""

    def __init__(self, out: Path, stdout: str):
        self.out = out
        self.stdout = stdout
        self.results = json.loads((out / "results.json").read_text())

    def assert_figures(self):
        figures = self.results["figures"]
        assert figures, "no figures recorded"
        for name in figures:
            data = (self.out / name).read_bytes()
            assert data[:8] == PNG_MAGIC, f"{name} is not a PNG"
            assert len(data) > 5000, f"{name} is suspiciously small ({len(data)} bytes)"


def run_example(tmp_path_factory, name, *extra):
    cwd = tmp_path_factory.mktemp(name)
    out = cwd / "out"
    stdout = _run([sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--source", "sample",
                   "--out", str(out), *extra], cwd)
    return Run(out, stdout)


def spread_initializer_names():
    return sorted(c.name for c in registry.components("initializer")
                  if c.name != "normal" and getattr(c.check, "constant", None) is None)


# ---------------------------------------------------------------- experiment 1: initialisation


@pytest.fixture(scope="module")
def ex1(tmp_path_factory):
    return run_example(tmp_path_factory, "ex1_weight_init")


def test_sigmoid_std_1_piles_up_at_0_and_1(ex1):
    for k, layer in enumerate(ex1.results["histograms"]["sigmoid"]["std=1"], 1):
        assert layer["fraction_below_0.1"] > 0.25, f"layer {k}: too little mass near 0"
        assert layer["fraction_above_0.9"] > 0.25, f"layer {k}: too little mass near 1"
        assert layer["fraction_within_0.5_pm_0.05"] < 0.1, f"layer {k}: a peak at 0.5"
        counts = np.array(layer["histogram_0_1_30_bins"])
        middle = counts[5:25].max()
        assert counts[0] > 5 * middle and counts[-1] > 5 * middle, "not two-peaked"


def test_sigmoid_std_001_is_one_peak_at_one_half(ex1):
    for k, layer in enumerate(ex1.results["histograms"]["sigmoid"]["std=0.01"], 1):
        assert layer["fraction_within_0.5_pm_0.05"] > 0.9, f"layer {k}: not concentrated at 0.5"
        assert layer["fraction_below_0.1"] == 0 and layer["fraction_above_0.9"] == 0
        assert abs(layer["mean"] - 0.5) < 0.01
        counts = np.array(layer["histogram_0_1_30_bins"])
        assert counts.argmax() in (14, 15), "the peak is not at 0.5"


def test_xavier_keeps_sigmoid_activations_spread(ex1):
    for layer in ex1.results["histograms"]["sigmoid"]["xavier"]:
        assert layer["fraction_within_0.5_pm_0.05"] < 0.5
        assert layer["fraction_below_0.1"] + layer["fraction_above_0.9"] < 0.05
        assert layer["std"] > 0.08


def test_relu_std_001_vanishes_while_he_keeps_its_spread(ex1):
    relu = ex1.results["histograms"]["relu"]
    small = [layer["std"] for layer in relu["std=0.01"]]
    assert small[-1] < 1e-3 * small[0], small
    he = [layer["std"] for layer in relu["he_normal"]]
    assert 0.5 < he[-1] / he[0] < 2.0, he
    xavier = [layer["std"] for layer in relu["xavier"]]
    assert he[-1] > xavier[-1] > small[-1]


def test_initializers_come_from_the_registry(ex1):
    expected = spread_initializer_names()
    assert sorted(ex1.results["histograms"]["relu"]) == sorted(["std=0.01", *expected])
    assert sorted(ex1.results["histograms"]["sigmoid"]) == sorted(["std=1", "std=0.01", *expected])
    assert sorted(ex1.results["mnist"]["initializers"]) == sorted(["std=0.01", *expected])


def test_mnist_he_learns_std_001_does_not(ex1):
    rows = ex1.results["mnist"]["initializers"]
    assert "sample" in ex1.results["mnist"]["source"]
    assert abs(rows["std=0.01"]["final_loss_mean_last_50"] - np.log(10)) < 0.05   # stuck at chance
    assert rows["he_normal"]["final_loss_mean_last_50"] < rows["std=0.01"]["final_loss_mean_last_50"] - 0.5
    assert len(rows["he_normal"]["loss"]) == ex1.results["mnist"]["iterations"]


def test_ex1_figures(ex1):
    ex1.assert_figures()
    assert {"activations_sigmoid.png", "activations_relu.png", "mnist_weight_init.png"} <= set(
        ex1.results["figures"])


# ---------------------------------------------------------------- experiment 2: optimizers


@pytest.fixture(scope="module")
def ex2(tmp_path_factory):
    return run_example(tmp_path_factory, "ex2_optimizers")


def test_gradient_descent_lr_01_reaches_the_minimum(ex2):
    row = ex2.results["gradient_descent"]["0.1"]
    for method in ("numerical", "autodiff"):
        np.testing.assert_allclose(row[method], [-6.1111e-10, 8.1481e-10], rtol=1e-3)


def test_gradient_descent_lr_10_diverges_differently(ex2):
    row = ex2.results["gradient_descent"]["10.0"]
    np.testing.assert_allclose(row["numerical"], [-2.58983747e13, -1.29524862e12], rtol=1e-6)
    # autodiff: x <- x - 10*2x = -19x exactly, 100 times
    np.testing.assert_allclose(row["autodiff"], np.array([-3.0, 4.0]) * 19.0 ** 100, rtol=1e-9)
    assert row["numerical_gradient_zero_from_step"] is not None
    assert "Why they differ at lr = 10" in ex2.stdout


def test_gradient_descent_lr_1e10_barely_moves(ex2):
    row = ex2.results["gradient_descent"]["1e-10"]
    for method in ("numerical", "autodiff"):
        np.testing.assert_allclose(row[method], [-2.99999994, 3.99999992], rtol=1e-8)


def test_every_registered_optimizer_is_compared(ex2):
    names = sorted(c.name for c in registry.components("optimizer"))
    assert sorted(ex2.results["mnist"]["optimizers"]) == names
    assert len(ex2.results["trajectories"]) == len(names)
    start = (-7.0) ** 2 / 20 + 2.0 ** 2
    for label, row in ex2.results["trajectories"].items():
        assert row["f_final"] < 0.2 * start, label
    for name, row in ex2.results["mnist"]["optimizers"].items():
        assert row["final_loss_mean_last_50"] < row["first_loss"] - 0.3, name
    # with the book's learning rates, the adaptive methods beat plain SGD early on
    rows = ex2.results["mnist"]["optimizers"]
    assert rows["adam"]["final_loss_mean_last_50"] < rows["sgd"]["final_loss_mean_last_50"]


def test_ex2_figures(ex2):
    ex2.assert_figures()
    assert set(ex2.results["figures"]) == {"trajectories.png", "mnist_optimizers.png"}


# ---------------------------------------------------------------- experiment 3: overfitting


@pytest.fixture(scope="module")
def ex3(tmp_path_factory):
    return run_example(tmp_path_factory, "ex3_overfitting")


def test_overfitting_shows_a_gap_and_regularisation_shrinks_it(ex3):
    settings = ex3.results["settings"]
    assert ex3.results["train_size"] == 300 and ex3.results["epochs"] == 201
    plain = settings["no regularisation"]
    assert plain["train_acc"] >= 0.97, "300 images should be memorised"
    assert plain["gap"] >= 0.15, "no train/test gap"
    for label in ("weight decay λ=0.1", "dropout 0.2"):
        assert settings[label]["gap"] < plain["gap"], label
        assert settings[label]["train_acc"] < plain["train_acc"], label
        assert settings[label]["test_acc"] > 0.4, label
    assert settings["weight decay λ=0.1"]["weight_decay"] == 0.1
    assert settings["dropout 0.2"]["dropout"] == 0.2
    ex3.assert_figures()


# ---------------------------------------------------------------- experiment 4: CNN layers


@pytest.fixture(scope="module")
def ex4(tmp_path_factory):
    return run_example(tmp_path_factory, "ex4_cnn_layers")


def test_im2col_shapes(ex4):
    assert ex4.results["im2col_shapes"] == {"x(1,3,7,7) 5x5": [9, 75], "x(10,3,7,7) 5x5": [90, 75]}
    assert "(9, 75)" in ex4.stdout and "(90, 75)" in ex4.stdout


def test_conv_and_pool_on_a_real_digit(ex4):
    r = ex4.results
    assert r["shapes"]["x"] == [1, 1, 28, 28] and r["shapes"]["y"] == [1, 4, 24, 24]
    assert r["shapes"]["p"] == [1, 4, 12, 12] and r["shapes"]["dx"] == [1, 1, 28, 28]
    assert r["shapes"]["dW"] == [4, 1, 5, 5]
    assert r["forward_max_abs_error_vs_im2col_formula"] < 1e-12
    assert r["dW_max_abs_error_vs_formula"] < 1e-12
    assert r["pool_gradient_one_per_window"] is True
    assert r["gradcheck_passed"] is True
    assert r["dL_db"] == [144.0] * 4             # one gradient of 1 per pooled value
    assert "sample" in r["digit"]["source"] and 0 <= r["digit"]["label"] <= 9
    ex4.assert_figures()


# ---------------------------------------------------------------- experiment 5: SimpleConvNet


@pytest.fixture(scope="module")
def ex5(tmp_path_factory):
    return run_example(tmp_path_factory, "ex5_simple_convnet", "--epochs", "3", "--until", "0.5")


def test_simple_convnet_learns_and_is_honest_about_the_data(ex5):
    r = ex5.results
    assert r["full_mnist"] is False and "sample" in r["source"]
    assert "NOT the full MNIST" in ex5.stdout
    assert r["final_test_acc"] > 0.6, "far from what even 20 iterations give"
    # --until 0.5 stops after the first epoch that reaches 50%
    assert r["reached"] is not None and r["reached"]["epoch"] == r["epochs_run"] == 1
    assert len(r["test_acc_per_epoch"]) == len(r["seconds_per_epoch"]) == 1
    ex5.assert_figures()
    with np.load(ex5.out / r["params"]) as params:
        shapes = {k: params[k].shape for k in params.files}
    assert (30, 1, 5, 5) in shapes.values() and (4320, 100) in shapes.values()
    # the default recipe is the book's: Adam with a fixed lr 0.001
    assert r["recipe"] == "book" and r["lr"] == 0.001 and r["lr_schedule"] == "Constant(lr0=0.001)"
    assert 0 < r["train_seconds"] <= r["seconds"]


@pytest.fixture(scope="module")
def ex5_fast(tmp_path_factory):
    return run_example(tmp_path_factory, "ex5_simple_convnet", "--recipe", "fast", "--epochs", "2")


def test_simple_convnet_fast_recipe_decays_lr_by_cosine_and_learns(ex5_fast):
    r = ex5_fast.results
    # quick mode: 2,000 images = 20 batches per epoch, so the cosine spans 2 x 20 iterations
    assert r["recipe"] == "fast" and r["lr"] == 0.002
    assert r["lr_schedule"] == "Cosine(lr0=0.002, total_steps=40, lr_min=0.0)"
    assert "recipe fast" in ex5_fast.stdout and r["epochs_run"] == 2 and r["reached"] is None
    assert r["final_test_acc"] > 0.7, "the fast recipe learns at least as well as 20 book steps"
    assert len(r["train_seconds_per_epoch"]) == 2 and r["train_seconds_per_epoch"][0] > 0
    ex5_fast.assert_figures()


# ---------------------------------------------------------------- plugins join the comparisons

PLUGIN = textwrap.dedent('''
    """A third-party plugin, registered at run time: an optimizer, an initializer, and an
    optimizer that needs an argument (which the comparisons must leave out)."""
    import math
    import numpy as np
    from tinygrad_edu import Component, InitializerCheck, hookimpl
    from tinygrad_edu.optim import Optimizer

    class SignSGD(Optimizer):
        """p <- p - lr * sign(g)"""
        def __init__(self, params, lr=0.01):
            super().__init__(params, lr=lr)
        def update_one(self, param, grad, state):
            param.data -= self.lr * np.sign(grad)

    class Needy(Optimizer):
        def __init__(self, params, lr, schedule):
            super().__init__(params, lr=lr)

    def lecun(shape, fan_in=None, fan_out=None, rng=None, dtype=np.float32):
        """N(0, 1/fan_in)"""
        fan_in = fan_in or shape[0]
        return (np.random.default_rng(rng).standard_normal(shape) / math.sqrt(fan_in)).astype(dtype)

    @hookimpl
    def register_optimizers():
        return [Component("signsgd", SignSGD), Component("needy", Needy)]

    @hookimpl
    def register_initializers():
        return [Component("lecun_test", lecun,
                          check=InitializerCheck(std=lambda fan_in, fan_out: 1 / math.sqrt(fan_in)))]
''')

DRIVER = textwrap.dedent('''
    import runpy, sys
    import extra_components
    from tinygrad_edu import plugins
    plugins.register_plugin(extra_components, name="extra_components")
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
''')


def test_a_plugin_optimizer_and_initializer_join_the_comparisons(tmp_path):
    (tmp_path / "extra_components.py").write_text(PLUGIN)
    (tmp_path / "driver.py").write_text(DRIVER)
    outs = {}
    for name in ("ex2_optimizers", "ex1_weight_init"):
        out = tmp_path / name
        stdout = _run([sys.executable, str(tmp_path / "driver.py"), str(EXAMPLES / f"{name}.py"),
                       "--quick", "--source", "sample", "--out", str(out)], tmp_path)
        outs[name] = (json.loads((out / "results.json").read_text()), stdout)
    results, stdout = outs["ex2_optimizers"]
    assert "signsgd" in results["mnist"]["optimizers"]
    (sign_sgd,) = [row for label, row in results["trajectories"].items() if label.startswith("SignSGD")]
    assert sign_sgd["lr_from"] == "searched"          # not in the book's table: searched
    assert sign_sgd["f_final"] < 0.2 * ((-7.0) ** 2 / 20 + 2.0 ** 2)
    assert "needy" not in results["mnist"]["optimizers"]
    assert "left out: optimizer 'needy'" in stdout and "schedule" in stdout
    results, _ = outs["ex1_weight_init"]
    assert "lecun_test" in results["histograms"]["relu"]
    assert "lecun_test" in results["mnist"]["initializers"]
