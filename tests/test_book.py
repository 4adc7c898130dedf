"""The book-compatible API (tinygrad_edu.book).

Two kinds of tests:

* scripts in the book's style (tests/book_scripts/*.py), each run end to end in a fresh Python
  process, asserting on what they print -- accuracy improves, gradient checks agree, the
  Trainer prints the book's lines;
* unit tests comparing functions, layers and optimizers with the book's formulas written out
  here in plain numpy, and checking names, signatures, dtypes and in-place behaviour.
"""
from __future__ import annotations

import ast
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu.book as book
from helpers import naive_conv2d
from tinygrad_edu.book import layers as book_layers
from tinygrad_edu.book import mnist as book_mnist

SCRIPTS = Path(__file__).parent / "book_scripts"
FULL_MNIST = Path("/work/shared/data/mnist")
FLOAT = r"[-+]?\d*\.?\d+(?:e[-+]?\d+)?"


@pytest.fixture(autouse=True)
def _offline_data(monkeypatch, tmp_path_factory):
    """Tests get the embedded MNIST sample (never a user's cache), and nothing downloads."""
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("TINYGRAD_EDU_OFFLINE", "1")


def run_script(name, cwd, with_stderr=False):
    """Run tests/book_scripts/<name> in a fresh interpreter in ``cwd``; return its stdout
    (and stderr)."""
    env = dict(os.environ)
    # one BLAS thread: the matrices are small, and spinning threads on a shared machine are slow
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(SCRIPTS / name)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return (proc.stdout, proc.stderr) if with_stderr else proc.stdout


def parse_diffs(out):
    return {m.group(1): float(m.group(2))
            for m in re.finditer(rf"^(\w+):({FLOAT})$", out, re.MULTILINE)}


# ================================================================ the book-style scripts


def test_script_gradient_method(tmp_path):
    lines = run_script("ch04_gradient_method.py", tmp_path).splitlines()
    assert lines[:3] == ["[6. 8.]", "[0. 4.]", "[6. 0.]"]
    x = np.array(ast.literal_eval(re.sub(r"\s+", ",", lines[3].strip("[] ").strip())))
    np.testing.assert_allclose(x, [-6.1e-10, 8.1e-10], rtol=0.01)
    large = [float(v) for v in lines[4].strip("[]").split()]
    small = [float(v) for v in lines[5].strip("[]").split()]
    assert min(abs(v) for v in large) > 1e6          # lr = 10 diverges
    np.testing.assert_allclose(small, [-3.0, 4.0], atol=1e-6)   # lr = 1e-10 barely moves
    assert lines[6] == "(20, 2)"


def test_script_two_layer_net_gradient_check(tmp_path):
    out, err = run_script("ch05_gradient_check.py", tmp_path, with_stderr=True)
    # which data was used goes to stderr: stdout is what the book's code prints
    assert "load_mnist: using embedded MNIST sample" in err and "load_mnist" not in out
    diffs = parse_diffs(out)
    assert set(diffs) == {"W1", "b1", "W2", "b2"}
    assert all(d < 1e-7 for d in diffs.values()), diffs


def test_script_two_layer_net_training_improves_accuracy(tmp_path):
    out = run_script("ch05_train_neuralnet.py", tmp_path)
    pairs = [tuple(map(float, m.groups()))
             for m in re.finditer(rf"^({FLOAT}) ({FLOAT})$", out, re.MULTILINE)]
    assert len(pairs) == 6                          # 600 iterations, 100 per epoch
    train_acc, test_acc = zip(*pairs)
    assert test_acc[0] < 0.3 and test_acc[-1] > 0.85, pairs
    assert train_acc[-1] > train_acc[0] + 0.5
    final = float(re.search(rf"final test acc:({FLOAT})", out).group(1))
    assert final > 0.85


def test_script_optimizers_on_plain_floats(tmp_path):
    out = run_script("ch06_optimizer_compare_naive.py", tmp_path)
    found = {m.group(1): tuple(map(float, m.groups()[1:])) for m in re.finditer(
        rf"^(\w+): x=({FLOAT}), y=({FLOAT}), f=({FLOAT})$", out, re.MULTILINE)}
    assert list(found) == ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
    start = 49 / 20 + 4                              # f(-7, 2)
    for name, (x, y, f) in found.items():
        assert f < 0.12 < start, (name, f)
        assert f == pytest.approx(x * x / 20 + y * y)


def test_script_optimizer_comparison_on_mnist(tmp_path):
    out = run_script("ch06_optimizer_compare_mnist.py", tmp_path)
    blocks = re.findall(r"===========iteration:(\d+)===========\n((?:\w+:\S+\n){4})", out)
    assert [int(i) for i, _ in blocks] == [0, 100, 200]
    losses = [{k: float(v) for k, v in (line.split(":") for line in body.split())}
              for _, body in blocks]
    for name in ("SGD", "Momentum", "AdaGrad", "Adam"):
        assert losses[2][name] < 0.7 * losses[0][name], (name, losses)
    # the book's finding: plain SGD is the slowest of the four
    assert max(losses[2], key=losses[2].get) == "SGD", losses[2]


def test_script_batch_norm_gradient_check(tmp_path):
    diffs = parse_diffs(run_script("ch06_batch_norm_gradient_check.py", tmp_path))
    assert set(diffs) == {"W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3",
                          "b3"}
    assert all(d < 1e-7 for d in diffs.values()), diffs


def test_script_trainer_prints_the_books_lines(tmp_path):
    out = run_script("ch06_overfit_dropout_batchnorm.py", tmp_path)
    body = out.splitlines()
    losses = [float(m.group(1)) for line in body if (m := re.fullmatch(
        rf"train loss:({FLOAT})", line))]
    epochs = [(int(m.group(1)), float(m.group(2)), float(m.group(3))) for line in body
              if (m := re.fullmatch(rf"=== epoch:(\d+), train acc:({FLOAT}), test acc:({FLOAT}) ===",
                                    line))]
    assert len(losses) == 8 * 3                     # epochs * 300 / 100 iterations
    assert [e for e, _, _ in epochs] == list(range(1, 9))
    assert len(losses) + len(epochs) + 2 == len(body)   # nothing else is printed
    assert body[-2:] == ["=============== Final Test Accuracy ===============",
                         body[-1]] and re.fullmatch(rf"test acc:({FLOAT})", body[-1])
    # the epoch line comes right after the first loss of each epoch, as in the book
    assert re.match(r"=== epoch:1,", body[1]) and body[0].startswith("train loss:")
    assert epochs[-1][1] > epochs[0][1] + 0.3        # train accuracy rises
    assert epochs[-1][2] > epochs[0][2] + 0.2        # and so does test accuracy


def test_script_simple_convnet_trains_and_saves(tmp_path):
    out = run_script("ch07_train_convnet.py", tmp_path)
    losses = [float(v) for v in re.findall(rf"^train loss:({FLOAT})$", out, re.MULTILINE)]
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.2
    assert len(re.findall(r"^=== epoch:\d, train acc:\S+, test acc:\S+ ===$", out,
                          re.MULTILINE)) == 2
    assert float(re.search(rf"^test acc:({FLOAT})$", out, re.MULTILINE).group(1)) > 0.3
    assert out.rstrip().endswith("Saved Network Parameters!")
    with open(tmp_path / "params.pkl", "rb") as f:
        saved = pickle.load(f)
    assert type(saved) is dict and sorted(saved) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    assert saved["W1"].shape == (30, 1, 5, 5) and saved["W2"].shape == (4320, 100)
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in saved.values())


def test_script_params_pickle_roundtrip(tmp_path):
    out = run_script("params_pickle_roundtrip.py", tmp_path)
    assert "same prediction after load_params: True" in out
    assert "params['W1'] is still the same array: True" in out
    assert "dict ['W1', 'W2', 'W3', 'b1', 'b2', 'b3'] float64" in out
    assert re.search(r"refused: load_params: .*small\.pkl.* missing: W3, b3; W1: the network "
                     r"has shape \(30, 1, 5, 5\), the file \(784, 10\)", out)
    assert "untouched: True" in out


# ================================================================ the namespace


BOOK_NAMES = """
    identity_function step_function sigmoid sigmoid_grad relu relu_grad softmax
    sum_squared_error cross_entropy_error softmax_loss
    smooth_curve shuffle_dataset conv_output_size im2col col2im
    numerical_gradient gradient_descent
    SGD Momentum Nesterov AdaGrad RMSprop Adam
    Relu Sigmoid Affine SoftmaxWithLoss Dropout BatchNormalization Convolution Pooling
    TwoLayerNet MultiLayerNet MultiLayerNetExtend SimpleConvNet DeepConvNet Trainer load_mnist
    np OrderedDict
""".split()


def test_star_import_provides_the_books_names():
    namespace = {}
    exec("from tinygrad_edu.book import *", namespace)
    missing = [name for name in BOOK_NAMES if name not in namespace]
    assert not missing
    assert namespace["np"] is np


# ================================================================ functions


def test_functions_match_the_books_formulas():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(book.sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(book.sigmoid_grad(x), (1 - 1 / (1 + np.exp(-x))) / (1 + np.exp(-x)),
                               rtol=1e-12)
    np.testing.assert_array_equal(book.relu(x), np.maximum(0, x))
    np.testing.assert_array_equal(book.relu_grad(x), [0, 0, 1, 1, 1])   # 1 at 0, like the book
    step = book.step_function(x)
    assert step.dtype.kind == "i" and step.tolist() == [0, 0, 0, 1, 1]
    assert book.identity_function(x) is x
    assert isinstance(book.sigmoid(0.0), np.floating) and book.sigmoid(0.0) == 0.5

    a = np.array([[0.3, 2.9, 4.0], [1010.0, 1000.0, 990.0]])
    e = np.exp(a - a.max(axis=1, keepdims=True))
    np.testing.assert_allclose(book.softmax(a), e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(book.softmax(a[0]), [0.01821127, 0.24519181, 0.73659691],
                               rtol=1e-6)


def test_losses_match_the_books_examples():
    t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    assert book.sum_squared_error(y, t) == pytest.approx(0.0975)
    assert book.cross_entropy_error(y, t) == pytest.approx(0.510825457099338)
    Y = np.stack([y, np.roll(y, 3)])
    T = np.stack([t, t])
    assert book.cross_entropy_error(Y, T) == pytest.approx(book.cross_entropy_error(Y, [2, 2]))
    X = np.array([[0.3, 2.9, 4.0], [2.0, -1.0, 0.5]])
    labels = np.array([2, 0])
    assert book.softmax_loss(X, labels) == pytest.approx(
        book.cross_entropy_error(book.softmax(X), labels), abs=1e-6)
    assert book.softmax_loss(X, np.eye(3)[labels]) == pytest.approx(book.softmax_loss(X, labels))


# ================================================================ numerical gradient


def test_gradient_descent_reproduces_the_books_figures():
    init_x = np.array([-3.0, 4.0])
    x = book.gradient_descent(lambda x: x[0] ** 2 + x[1] ** 2, init_x, lr=0.1, step_num=100)
    np.testing.assert_allclose(x, [-6.1e-10, 8.1e-10], rtol=0.01)
    assert x.dtype == np.float64
    assert x is init_x                                # updated in place, as in the book
    x, history = book.gradient_descent(lambda x: x[0] ** 2 + x[1] ** 2, np.array([-3.0, 4.0]),
                                       lr=0.1, step_num=20, return_history=True)
    assert history.shape == (20, 2) and history[0].tolist() == [-3.0, 4.0]
    np.testing.assert_allclose(history[1], [-2.4, 3.2])


def test_numerical_gradient_of_any_shape_restores_x():
    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.5]])
    original = x.copy()
    grad = book.numerical_gradient(lambda z: np.sum(z ** 3), x)
    np.testing.assert_allclose(grad, 3 * original ** 2, atol=1e-7)
    np.testing.assert_array_equal(x, original)
    np.testing.assert_allclose(book.numerical_gradient(lambda z: z[0] ** 2 + z[1] ** 2,
                                                       np.array([3.0, 4.0])), [6.0, 8.0])
    with pytest.raises(TypeError, match="float"):
        book.numerical_gradient(lambda z: np.sum(z), np.array([1, 2]))


# ================================================================ util


def test_im2col_shapes_dtype_and_adjoint():
    rng = np.random.default_rng(0)
    x1 = rng.random((1, 3, 7, 7)).astype(np.float32)
    assert book.im2col(x1, 5, 5, stride=1, pad=0).shape == (9, 75)
    assert book.im2col(rng.random((10, 3, 7, 7)), 5, 5).shape == (90, 75)
    col = book.im2col(x1, 3, 3, stride=2, pad=1)
    assert col.dtype == np.float64                    # like the book's np.zeros
    y = rng.standard_normal(col.shape)
    back = book.col2im(y, x1.shape, 3, 3, stride=2, pad=1)
    assert back.shape == x1.shape and back.dtype == np.float64
    assert np.sum(col * y) == pytest.approx(np.sum(x1 * back))
    assert book.conv_output_size(28, 5) == 24.0


def test_smooth_curve_and_shuffle_dataset():
    curve = np.linspace(0.0, 1.0, 50) + np.sin(np.arange(50))
    smooth = book.smooth_curve(curve)
    assert smooth.shape == curve.shape
    assert np.abs(np.diff(smooth)).mean() < np.abs(np.diff(curve)).mean() / 2
    np.testing.assert_allclose(book.smooth_curve(np.full(30, 2.5)), 2.5)
    w = np.kaiser(11, 2)
    np.testing.assert_allclose(smooth[20], np.dot(w / w.sum(), curve[15:26]))

    x = np.arange(20.0).reshape(10, 2)
    t = np.arange(10)
    np.random.seed(3)
    xs, ts = book.shuffle_dataset(x, t)
    np.testing.assert_array_equal(xs[:, 0] / 2, ts)   # rows and labels stay together
    assert sorted(ts.tolist()) == list(range(10)) and ts.tolist() != list(range(10))
    x4 = np.arange(10 * 4.0).reshape(10, 1, 2, 2)
    np.random.seed(3)
    x4s, _ = book.shuffle_dataset(x4, t)
    np.testing.assert_array_equal(x4s[:, 0, 0, 0] / 4, ts)


# ================================================================ optimizers


def book_reference(name, lr, steps, p, grad_fn, **hyper):
    """The book's update rules, written out in numpy; returns the parameter after each step."""
    p, state, out = p.copy(), {}, []
    for t in range(1, steps + 1):
        g = grad_fn(p)
        if name == "SGD":
            p -= lr * g
        elif name == "Momentum":
            v = state["v"] = hyper.get("momentum", 0.9) * state.get("v", 0) - lr * g
            p += v
        elif name == "Nesterov":
            m = hyper.get("momentum", 0.9)
            v = state["v"] = m * state.get("v", 0) - lr * g
            p += m * m * v - (1 + m) * lr * g
        elif name == "AdaGrad":
            h = state["h"] = state.get("h", 0) + g * g
            p -= lr * g / (np.sqrt(h) + 1e-7)
        elif name == "RMSprop":
            rho = hyper.get("decay_rate", 0.99)
            h = state["h"] = rho * state.get("h", 0) + (1 - rho) * g * g
            p -= lr * g / (np.sqrt(h) + 1e-7)
        elif name == "Adam":
            b1, b2 = hyper.get("beta1", 0.9), hyper.get("beta2", 0.999)
            m = state["m"] = state.get("m", 0) + (1 - b1) * (g - state.get("m", 0))
            v = state["v"] = state.get("v", 0) + (1 - b2) * (g * g - state.get("v", 0))
            lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            p -= lr_t * m / (np.sqrt(v) + 1e-7)
        out.append(p.copy())
    return out


OPTIMIZER_CASES = [("SGD", {}), ("Momentum", {"momentum": 0.8}), ("Nesterov", {}),
                   ("AdaGrad", {}), ("RMSprop", {"decay_rate": 0.9}),
                   ("Adam", {"beta1": 0.8, "beta2": 0.99})]


@pytest.mark.parametrize("name,hyper", OPTIMIZER_CASES)
def test_optimizer_updates_arrays_in_place_like_the_book(name, hyper):
    rng = np.random.default_rng(1)
    target = rng.standard_normal((3, 4))
    W = rng.standard_normal((3, 4))
    b = rng.standard_normal(4).astype(np.float32)
    expected_W = book_reference(name, 0.05, 6, W, lambda p: 2 * (p - target), **hyper)
    expected_b = book_reference(name, 0.05, 6, b.astype(np.float64), lambda p: p, **hyper)
    optimizer = getattr(book, name)(lr=0.05, **hyper)
    params = {"W": W, "b": b}
    for step in range(6):
        optimizer.update(params, {"W": 2 * (W - target), "b": b.astype(np.float64)})
        assert params["W"] is W and params["b"] is b            # in place
        np.testing.assert_allclose(W, expected_W[step], rtol=1e-10, atol=1e-12)
    assert b.dtype == np.float32
    np.testing.assert_allclose(b, expected_b[-1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,hyper", OPTIMIZER_CASES)
def test_optimizer_on_plain_floats_writes_back_numbers(name, hyper):
    def df(x, y):
        return x / 10.0, 2.0 * y

    expected = book_reference(name, 0.1, 30, np.array([-7.0, 2.0]),
                              lambda p: np.array(df(*p)), **hyper)
    optimizer = getattr(book, name)(lr=0.1, **hyper)
    params = {"x": -7.0, "y": 2.0}
    history = []
    for _ in range(30):
        history.append(params["x"])
        gx, gy = df(params["x"], params["y"])
        optimizer.update(params, {"x": gx, "y": gy})
    assert isinstance(params["x"], np.float64) and np.ndim(params["x"]) == 0
    np.testing.assert_allclose([params["x"], params["y"]], expected[-1], rtol=1e-10, atol=1e-14)
    assert len(set(history)) == 30                   # every step a new value, none aliased


def test_optimizer_hyperparameters_state_and_errors():
    optimizer = book.Momentum(lr=0.1)
    assert optimizer.v is None
    W = np.ones(3)
    optimizer.update({"W": W}, {"W": np.ones(3)})
    np.testing.assert_allclose(optimizer.v["W"], -0.1)
    optimizer.lr = 0.0                               # read at every update
    optimizer.momentum = 0.0
    before = W.copy()
    optimizer.update({"W": W}, {"W": np.ones(3)})
    np.testing.assert_array_equal(W, before)
    with pytest.raises(KeyError, match="grads has no entry 'W'"):
        book.SGD().update({"W": np.ones(2)}, {"b": np.ones(2)})
    with pytest.raises(ValueError, match=r"grads\['W'\] has shape \(3,\)"):
        book.SGD().update({"W": np.ones(2)}, {"W": np.ones(3)})
    adam = book.Adam()
    adam.update({"W": np.ones(2)}, {"W": np.ones(2)})
    assert adam.iter == 1 and set(adam.m) == {"W"}


def test_optimizers_are_the_registered_ones(monkeypatch):
    from tinygrad_edu import registry

    looked_up = []
    original = registry.get

    def recording_get(kind, name):
        looked_up.append((kind, name))
        return original(kind, name)

    monkeypatch.setattr(registry, "get", recording_get)
    for cls, name in ((book.SGD, "sgd"), (book.Nesterov, "nesterov"), (book.Adam, "adam")):
        cls().update({"W": np.ones(2)}, {"W": np.ones(2)})
        assert ("optimizer", name) in looked_up


# ================================================================ layers


def test_affine_layer_forward_backward_and_shared_arrays():
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((12, 5)), rng.standard_normal(5)
    layer = book.Affine(W, b)
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    out = layer.forward(x)
    np.testing.assert_allclose(out, x.reshape(4, -1) @ W + b, rtol=1e-6)
    dout = rng.standard_normal((4, 5))
    dx = layer.backward(dout)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, (dout @ W.T).reshape(x.shape), rtol=1e-10)
    np.testing.assert_allclose(layer.dW, x.reshape(4, -1).T @ dout, rtol=1e-6)
    np.testing.assert_allclose(layer.db, dout.sum(axis=0), rtol=1e-12)
    assert layer.dW.dtype == np.float64 and layer.dw is layer.dW
    W *= 2                                           # in place: the layer sees it
    np.testing.assert_allclose(layer.forward(x), x.reshape(4, -1) @ W + b, rtol=1e-6)
    np.testing.assert_allclose(layer.backward(dout), layer.backward(dout))   # may repeat


def test_relu_sigmoid_softmax_with_loss_layers():
    x = np.array([[1.0, -0.5], [-2.0, 3.0]])
    relu = book.Relu()
    np.testing.assert_array_equal(relu.forward(x), [[1.0, 0.0], [0.0, 3.0]])
    np.testing.assert_array_equal(relu.mask, x <= 0)
    np.testing.assert_array_equal(relu.backward(np.ones_like(x)), [[1, 0], [0, 1]])
    sig = book.Sigmoid()
    y = sig.forward(x)
    np.testing.assert_allclose(sig.backward(np.ones_like(x)), y * (1 - y), rtol=1e-12)
    assert sig.out is y

    logits = np.array([[0.3, 2.9, 4.0], [2.0, -1.0, 0.5]])
    labels = np.array([2, 0])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for t in (labels, np.eye(3)[labels]):
        last = book.SoftmaxWithLoss()
        loss = last.forward(logits, t)
        assert loss == pytest.approx(-np.mean(np.log(p[[0, 1], labels])))
        np.testing.assert_allclose(last.backward(), (p - np.eye(3)[labels]) / 2, rtol=1e-12)
        np.testing.assert_allclose(last.y, p, rtol=1e-12)


def test_dropout_layer_is_the_books():
    x = np.ones((200, 50))
    layer = book.Dropout(dropout_ratio=0.3)
    np.random.seed(0)
    out = layer.forward(x, train_flg=True)
    np.random.seed(0)
    mask = np.random.rand(200, 50) > 0.3             # the book's mask from the global state
    np.testing.assert_array_equal(out, x * mask)     # no 1/(1 - p) scaling
    np.testing.assert_array_equal(layer.backward(np.full_like(x, 2.0)), 2.0 * mask)
    np.testing.assert_allclose(layer.forward(x, train_flg=False), 0.7 * x)


def test_batch_normalization_layer_is_the_books():
    rng = np.random.default_rng(0)
    gamma, beta = rng.random(4) + 0.5, rng.standard_normal(4)
    layer = book.BatchNormalization(gamma, beta)
    x = rng.standard_normal((6, 4)) * 3 + 1
    out = layer.forward(x, train_flg=True)
    mu, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(out, gamma * (x - mu) / np.sqrt(var + 1e-6) + beta, rtol=1e-10)
    # running statistics start at 0 and average the biased variance with momentum 0.9
    np.testing.assert_allclose(layer.running_mean, 0.1 * mu)
    np.testing.assert_allclose(layer.running_var, 0.1 * var)
    test_out = layer.forward(x, train_flg=False)
    np.testing.assert_allclose(test_out, gamma * (x - 0.1 * mu) / np.sqrt(0.1 * var + 1e-6)
                               + beta, rtol=1e-10)
    # backward (training mode) against central differences
    layer.forward(x, train_flg=True)
    dout = rng.standard_normal(x.shape)
    dx = layer.backward(dout)

    def f(z):
        fresh = book.BatchNormalization(gamma, beta)
        return np.sum(fresh.forward(z, train_flg=True) * dout)

    np.testing.assert_allclose(dx, book.numerical_gradient(f, x.copy()), atol=1e-6)
    np.testing.assert_allclose(layer.dbeta, dout.sum(axis=0), rtol=1e-10)
    # conv-shaped inputs are normalised per C*H*W feature; a batch of one is allowed
    conv_layer = book.BatchNormalization(np.ones(8), np.zeros(8))
    assert conv_layer.forward(rng.standard_normal((3, 2, 2, 2))).shape == (3, 2, 2, 2)
    one = book.BatchNormalization(np.ones(4), np.full(4, 0.5))
    np.testing.assert_allclose(one.forward(x[:1]), 0.5)


def test_convolution_and_pooling_layers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 5))
    W, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    conv = book.Convolution(W, b, stride=2, pad=1)
    out = conv.forward(x)
    np.testing.assert_allclose(out, naive_conv2d(x, W, b, 2, 1), rtol=1e-10)
    dout = rng.standard_normal(out.shape)
    dx = conv.backward(dout)
    f = lambda _: np.sum(naive_conv2d(x, W, b, 2, 1) * dout)   # noqa: E731
    np.testing.assert_allclose(conv.dW, book.numerical_gradient(f, W), atol=1e-6)
    np.testing.assert_allclose(conv.db, book.numerical_gradient(f, b), atol=1e-6)
    np.testing.assert_allclose(dx, book.numerical_gradient(f, x), atol=1e-6)

    pool = book.Pooling(pool_h=2, pool_w=2, stride=2)
    x = rng.standard_normal((2, 3, 4, 6))
    out = pool.forward(x)
    np.testing.assert_array_equal(out, x.reshape(2, 3, 2, 2, 3, 2).max(axis=(3, 5)))
    dx = pool.backward(np.ones_like(out))
    window_max = np.repeat(np.repeat(out, 2, axis=2), 2, axis=3)
    np.testing.assert_array_equal(dx, (x == window_max).astype(float))   # onto the maxima
    assert book.Pooling(2, 2).stride == 1             # the book's default stride


def test_layers_run_the_registered_components(monkeypatch):
    looked_up = []
    original = book_layers.registry.get

    def recording_get(kind, name):
        looked_up.append((kind, name))
        return original(kind, name)

    monkeypatch.setattr(book_layers.registry, "get", recording_get)
    np.random.seed(0)
    net = book.SimpleConvNet(input_dim=(1, 8, 8), conv_param={'filter_num': 2, 'filter_size': 3,
                                                             'pad': 0, 'stride': 1},
                             hidden_size=5, output_size=3)
    net.gradient(np.random.rand(2, 1, 8, 8), np.array([0, 2]))
    for component in (("layer", "conv2d"), ("activation", "relu"), ("layer", "maxpool2d"),
                      ("layer", "affine"), ("loss", "softmax_cross_entropy")):
        assert component in looked_up


# ================================================================ networks


def test_networks_params_are_float64_and_shared_with_layers():
    np.random.seed(0)
    nets = [book.TwoLayerNet(784, 20, 10),
            book.MultiLayerNet(784, [20, 20], 10, activation='sigmoid', weight_init_std='xavier'),
            book.MultiLayerNetExtend(784, [20, 20], 10, use_batchnorm=True, use_dropout=True),
            book.SimpleConvNet(),
            book.DeepConvNet()]
    for net in nets:
        assert all(v.dtype == np.float64 for v in net.params.values()), type(net).__name__
    two = nets[0]
    assert two.layers['Affine1'].W is two.params['W1']
    x = np.random.rand(3, 784).astype(np.float32)
    before = two.predict(x)
    assert before.dtype == np.float64
    two.params['b2'] += 1.0                          # in place: the model changes
    np.testing.assert_allclose(two.predict(x), before + 1.0)
    # He / Xavier scales of the book
    np.random.seed(0)
    he = book.MultiLayerNet(1000, [1000], 10)
    assert he.params['W1'].std() == pytest.approx(np.sqrt(2 / 1000), rel=0.02)
    xavier = nets[1]
    assert xavier.params['W1'].std() == pytest.approx(np.sqrt(1 / 784), rel=0.05)
    conv = nets[3]
    assert conv.layers[0] is conv.layers['Conv1'] and conv.layers[3] is conv.layers['Affine1']


def test_multilayer_net_weight_decay_gradient_check():
    np.random.seed(1)
    net = book.MultiLayerNet(6, [5, 4], 3, activation='sigmoid', weight_decay_lambda=0.1)
    x = np.random.rand(4, 6)
    t = np.eye(3)[[0, 2, 1, 2]]
    backprop, numerical = net.gradient(x, t), net.numerical_gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(backprop[key], numerical[key], atol=1e-7, err_msg=key)
    assert net.accuracy(x, t) == net.accuracy(x, np.argmax(t, axis=1))


def test_simple_convnet_gradient_check_and_accuracy_in_batches():
    np.random.seed(1)   # (some seeds put a pooling window's two largest values within h)
    net = book.SimpleConvNet(input_dim=(1, 8, 8), conv_param={'filter_num': 3, 'filter_size': 3,
                                                             'pad': 1, 'stride': 1},
                             hidden_size=6, output_size=4, weight_init_std=0.3)
    x = np.random.rand(3, 1, 8, 8)
    t = np.array([0, 3, 1])
    backprop, numerical = net.gradient(x, t), net.numerical_gradient(x, t)
    for key in ('W1', 'b1', 'W2', 'b2', 'W3', 'b3'):
        assert np.average(np.abs(backprop[key] - numerical[key])) < 1e-7, key
    predicted = np.argmax(net.predict(x), axis=1)
    # every sample counts, also those of a last, short batch
    assert net.accuracy(x, t, batch_size=2) == np.mean(predicted == t)


def test_deep_convnet_gradient_shapes():
    np.random.seed(0)
    net = book.DeepConvNet()
    x = np.random.rand(2, 1, 28, 28).astype(np.float32)
    grads = net.gradient(x, np.array([3, 7]))
    assert list(grads) == [f"{p}{i}" for i in range(1, 9) for p in "Wb"]
    assert all(grads[k].shape == net.params[k].shape for k in grads)
    assert 0.0 <= net.accuracy(x, np.array([3, 7])) <= 1.0


def test_load_params_reads_old_protocols_and_npz(tmp_path):
    np.random.seed(0)
    a, b = book.TwoLayerNet(5, 4, 3), book.TwoLayerNet(5, 4, 3)
    with open(tmp_path / "old.pkl", "wb") as f:       # as an old Python would have written it
        pickle.dump({k: v.copy() for k, v in a.params.items()}, f, protocol=2)
    b.load_params(tmp_path / "old.pkl")
    x = np.random.rand(2, 5)
    np.testing.assert_allclose(b.predict(x), a.predict(x))
    a.params['W1'] += 1.0
    a.save_params(str(tmp_path / "p.npz"))
    b.load_params(str(tmp_path / "p.npz"))
    np.testing.assert_allclose(b.params['W1'], a.params['W1'])
    with open(tmp_path / "list.pkl", "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match="not a dict"):
        b.load_params(tmp_path / "list.pkl")


# ================================================================ Trainer


def test_trainer_options_and_silence(capsys):
    np.random.seed(0)
    x = np.random.rand(40, 6)
    t = (x[:, 0] > 0.5).astype(np.int64)
    net = book.MultiLayerNet(6, [8], 2)
    trainer = book.Trainer(net, x, t, x, t, epochs=3, mini_batch_size=10, optimizer='RMSprop',
                           optimizer_param={'lr': 0.01}, verbose=False)
    assert isinstance(trainer.optimizer, book.RMSprop) and trainer.max_iter == 12
    trainer.train()
    assert capsys.readouterr().out == ""
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 3
    assert len(trainer.train_loss_list) == 12
    for name in ('sgd', 'Momentum', 'NESTEROV', 'adagrad', 'rmsprpo', 'adam'):
        book.Trainer(net, x, t, x, t, optimizer=name, optimizer_param={})
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        book.Trainer(net, x, t, x, t, optimizer='adamw')


# ================================================================ load_mnist


def test_load_mnist_arrays_like_the_book(capsys, monkeypatch):
    monkeypatch.setattr(book_mnist, "_announced", set())
    (x_train, t_train), (x_test, t_test) = book.load_mnist()
    (x2, t2), _ = book.load_mnist(normalize=False, flatten=False, one_hot_label=True)
    captured = capsys.readouterr()
    assert captured.err.count("load_mnist: using embedded MNIST sample") == 1   # said once
    assert captured.out == ""                         # stdout is the script's own
    assert "sample" in book_mnist.last_source
    assert x_train.dtype == np.float32 and x_train.shape == (10000, 784)
    assert 0.0 <= x_train.min() and x_train.max() == 1.0
    assert t_train.dtype == np.uint8 and t_train.shape == (10000,) and x_test.shape == (2000, 784)
    assert x2.dtype == np.uint8 and x2.shape == (10000, 1, 28, 28) and x2.max() == 255
    assert t2.dtype == np.float64 and t2.shape == (10000, 10)
    np.testing.assert_array_equal(t2.argmax(axis=1), t_train)
    np.testing.assert_array_equal(x2.reshape(10000, -1) / np.float32(255.0), x_train)


@pytest.mark.skipif(not FULL_MNIST.is_dir(), reason="full MNIST not available here")
def test_load_mnist_full_data_says_so(capsys, monkeypatch):
    monkeypatch.setattr(book_mnist, "_announced", set())
    (x_train, t_train), (x_test, t_test) = book.load_mnist(root=FULL_MNIST)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert "full MNIST" in capsys.readouterr().err


# ================================================================ what the repository's scripts rely on


def test_softmax_with_loss_takes_labels_of_shape_n_by_1():
    """ch07/gradient_check.py passes T = np.array([1]).reshape((1, 1))."""
    rng = np.random.default_rng(0)
    for n in (1, 3):
        logits = rng.standard_normal((n, 10))
        labels = rng.integers(0, 10, n)
        flat, column = book.SoftmaxWithLoss(), book.SoftmaxWithLoss()
        assert column.forward(logits, labels.reshape(n, 1)) == pytest.approx(
            flat.forward(logits, labels), rel=1e-12)
        np.testing.assert_allclose(column.backward(), flat.backward(), rtol=1e-12)


def test_simple_convnet_gradient_check_with_one_label_in_a_column():
    np.random.seed(0)
    net = book.SimpleConvNet(input_dim=(1, 6, 6), conv_param={'filter_num': 3, 'filter_size': 3,
                                                             'pad': 0, 'stride': 1},
                             hidden_size=5, output_size=10, weight_init_std=0.01)
    X = np.random.rand(36).reshape((1, 1, 6, 6))
    T = np.array([1]).reshape((1, 1))
    grad_num, grad = net.numerical_gradient(X, T), net.gradient(X, T)
    for key in grad_num:
        assert np.abs(grad_num[key] - grad[key]).mean() < 1e-8, key
    # the loss is that of label 1
    assert net.loss(X, T) == pytest.approx(net.loss(X, np.array([1])))


def test_convolution_and_affine_take_a_scalar_bias():
    """ch07/apply_filter.py: Convolution(w, b=0) on a float32 image, w float64."""
    rng = np.random.default_rng(0)
    img = rng.random((1, 1, 9, 8)).astype(np.float32)
    w = rng.standard_normal((1, 1, 5, 5))
    conv = book.Convolution(w, 0)
    out = conv.forward(img)
    np.testing.assert_allclose(out, naive_conv2d(img.astype(np.float64), w, np.zeros(1), 1, 0),
                               rtol=1e-6, atol=1e-6)
    assert out.shape == (1, 1, 5, 4) and conv.b == 0           # the user's b stays as given
    conv.backward(np.ones_like(out))
    np.testing.assert_allclose(conv.db, [out.size])             # d/db of sum = count
    affine = book.Affine(np.eye(3), 1.5)
    np.testing.assert_allclose(affine.forward(np.ones((2, 3))), np.full((2, 3), 2.5))
    with pytest.raises(ValueError, match=r"Convolution: b of shape \(2,\) does not broadcast "
                                         r"to \(1,\)"):
        book.Convolution(w, np.zeros(2, dtype=int)).forward(img)
    with pytest.raises(TypeError, match="b must be a float numpy array or a number"):
        book.Convolution(w, "0").forward(img)


def test_one_sgd_updates_two_different_networks():
    """ch06/batch_norm_test.py updates a network with BatchNorm and one without by one SGD."""
    np.random.seed(0)
    bn_net = book.MultiLayerNetExtend(6, [5, 5], 3, use_batchnorm=True)
    net = book.MultiLayerNetExtend(6, [4], 3)
    optimizer = book.SGD(lr=0.1)
    x, t = np.random.rand(8, 6), np.random.randint(0, 3, 8)
    for _ in range(2):
        for network in (bn_net, net, bn_net):
            before = {k: v.copy() for k, v in network.params.items()}
            grads = network.gradient(x, t)
            optimizer.update(network.params, grads)
            for key in network.params:
                np.testing.assert_allclose(network.params[key], before[key] - 0.1 * grads[key],
                                           rtol=1e-12, err_msg=key)
    # an optimizer with state still refuses a different model: its state belongs to the first
    momentum = book.Momentum()
    momentum.update(bn_net.params, bn_net.gradient(x, t))
    with pytest.raises(KeyError, match="create a new optimizer"):
        momentum.update(net.params, net.gradient(x, t))


def test_layers_see_replaced_weight_arrays():
    """The chapters' own load_params assign ``layers[key].W = params[...]``."""
    np.random.seed(0)
    net = book.SimpleConvNet(input_dim=(1, 8, 8), conv_param={'filter_num': 2, 'filter_size': 3,
                                                             'pad': 0, 'stride': 1},
                             hidden_size=4, output_size=3)
    x = np.random.rand(2, 1, 8, 8)
    other = book.SimpleConvNet(input_dim=(1, 8, 8), conv_param={'filter_num': 2,
                                                               'filter_size': 3, 'pad': 0,
                                                               'stride': 1},
                               hidden_size=4, output_size=3, weight_init_std=1.0)
    for key, value in other.params.items():
        net.params[key] = value
    for i, key in enumerate(['Conv1', 'Affine1', 'Affine2']):
        net.layers[key].W = net.params['W' + str(i + 1)]
        net.layers[key].b = net.params['b' + str(i + 1)]
    np.testing.assert_allclose(net.predict(x), other.predict(x), rtol=1e-12)


def test_half_float_inputs_and_parameters():
    """ch08/half_float_network.py rounds the parameters to float16 in place and feeds float16
    images; the accuracy is that of the rounded values."""
    np.random.seed(0)
    net = book.SimpleConvNet(input_dim=(1, 8, 8), conv_param={'filter_num': 2, 'filter_size': 3,
                                                             'pad': 0, 'stride': 1},
                             hidden_size=6, output_size=4, weight_init_std=0.3)
    x, t = np.random.rand(20, 1, 8, 8), np.random.randint(0, 4, 20)
    for param in net.params.values():
        param[...] = param.astype(np.float16)
    scores16 = net.predict(x.astype(np.float16))
    scores = net.predict(x.astype(np.float16).astype(np.float64))
    np.testing.assert_allclose(scores16, scores, rtol=1e-2, atol=1e-2)
    assert net.accuracy(x.astype(np.float16), t, batch_size=7) == net.accuracy(
        x.astype(np.float16).astype(np.float64), t, batch_size=7)


# ================================================================ load_params checks everything first


def _snapshot(net):
    return {key: value.copy() for key, value in net.params.items()}


@pytest.mark.parametrize("bad,message", [
    (np.full((5, 4), "0.1"), r"W1: holds <U3 values, not real numbers"),
    (np.full((5, 4), np.nan), r"W1: 20 of its values are NaN or infinite"),
    (np.array([[np.inf] * 4] + [[0.0] * 4] * 4), r"W1: 4 of its values are NaN or infinite"),
    (np.ones((5, 4), dtype=complex), r"W1: holds complex128 values"),
    (np.ones((5, 4), dtype=bool), r"W1: holds bool values"),
    ("W1", r"W1: holds str values"),
])
def test_load_params_refuses_non_numbers_and_changes_nothing(tmp_path, bad, message):
    np.random.seed(0)
    net, donor = book.TwoLayerNet(5, 4, 3), book.TwoLayerNet(5, 4, 3)
    params = {key: value.copy() + 1.0 for key, value in donor.params.items()}
    params["W1"] = bad                                   # W2 after it is fine, and different
    path = tmp_path / "bad.pkl"
    with open(path, "wb") as f:
        pickle.dump(params, f)
    before = _snapshot(net)
    with pytest.raises(ValueError, match=rf"load_params: .*bad\.pkl.*nothing was loaded.*{message}"):
        net.load_params(path)
    for key in before:
        np.testing.assert_array_equal(net.params[key], before[key], err_msg=key)


def test_load_params_reports_every_problem_at_once(tmp_path):
    np.random.seed(0)
    net = book.TwoLayerNet(5, 4, 3)
    params = _snapshot(net)
    params["b1"] = np.full(4, np.nan)
    params["W2"] = np.ones((3, 3))
    del params["b2"]
    np.savez(tmp_path / "bad.npz", **params)
    with pytest.raises(ValueError) as info:
        net.load_params(tmp_path / "bad.npz")
    text = str(info.value)
    assert "missing: b2" in text and "b1: 4 of its values are NaN" in text
    assert "W2: the network has shape (4, 3), the file (3, 3)" in text


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_load_params_never_runs_code_from_a_pickle(tmp_path):
    np.random.seed(0)
    net = book.TwoLayerNet(5, 4, 3)
    params = _snapshot(net)
    params["W1"] = _Evil(tmp_path / "pwned")
    with open(tmp_path / "params.pkl", "wb") as f:
        pickle.dump(params, f)
    before = _snapshot(net)
    from tinygrad_edu.safe_pickle import UnsafePickleError
    with pytest.raises(UnsafePickleError, match=r"params\.pkl.*global posix\.system"):
        net.load_params(tmp_path / "params.pkl")
    assert not (tmp_path / "pwned").exists()
    assert all(np.array_equal(net.params[k], before[k]) for k in before)


def test_load_params_reads_the_books_published_format(tmp_path):
    """The repository's params.pkl / deep_convnet_params.pkl: a dict of float64 arrays
    pickled by numpy 1.x (numpy.core names); integers and float32 are converted to float64."""
    np.random.seed(0)
    source = book.DeepConvNet()
    params = {key: value.copy() for key, value in source.params.items()}
    params["b8"] = np.arange(10)                          # whole numbers are numbers too
    data = pickle.dumps(params, protocol=2).replace(b"numpy._core", b"numpy.core")
    (tmp_path / "deep_convnet_params.pkl").write_bytes(data)
    net = book.DeepConvNet()
    b8 = net.params["b8"]
    net.load_params(tmp_path / "deep_convnet_params.pkl")
    assert net.params["b8"] is b8 and b8.dtype == np.float64
    np.testing.assert_array_equal(b8, np.arange(10))
    x = np.random.rand(2, 1, 28, 28)
    source.params["b8"][...] = np.arange(10)
    np.testing.assert_allclose(net.predict(x), source.predict(x), rtol=1e-12)


# ================================================================ the repository harness


sys.path.insert(0, str(SCRIPTS))
import book_repo_harness  # noqa: E402


def test_harness_redirects_only_imports():
    source = ("import sys, os\nsys.path.append(os.pardir)\nimport pickle\nimport numpy as np\n"
              "from dataset.mnist import load_mnist\nfrom common.layers import *\n"
              "from simple_convnet import SimpleConvNet\nfrom two_layer_net import TwoLayerNet\n"
              "x = 'from common.util import smooth_curve'\n")
    out = book_repo_harness.redirect_imports(source, "ch07", keep_local=False)
    assert out.splitlines() == [
        "import sys, os", "sys.path.append(os.pardir)",
        "from tinygrad_edu import safe_pickle as pickle", "import numpy as np",
        "from tinygrad_edu.book import load_mnist", "from tinygrad_edu.book import *",
        "from tinygrad_edu.book import SimpleConvNet",
        "from two_layer_net import TwoLayerNet",          # ch04's network is not the book API's
        "x = 'from common.util import smooth_curve'"]
    kept = book_repo_harness.redirect_imports(source, "ch07", keep_local=True)
    assert "from simple_convnet import SimpleConvNet" in kept


def test_harness_compares_words_exactly_and_numbers_within_tolerance():
    same, where, worst = book_repo_harness.compare_text("loss:2.3025 acc 0.1\n",
                                                        "loss:2.30250001 acc 0.1\n", 1e-4, 1e-6)
    assert same and worst < 1e-7
    same, where, _ = book_repo_harness.compare_text("loss:2.3\n", "loss:2.4\n", 1e-4, 1e-6)
    assert not same and where == "2.3 vs 2.4"
    same, where, _ = book_repo_harness.compare_text("test acc:0.9\n", "train acc:0.9\n", 1e-4, 1e-6)
    assert not same and "line 1" in where


BOOK_REPO = os.environ.get("TINYGRAD_EDU_BOOK_REPO")


@pytest.mark.skipif(not BOOK_REPO or not FULL_MNIST.is_dir(),
                    reason="set TINYGRAD_EDU_BOOK_REPO to your copy of "
                           "oreilly-japan/deep-learning-from-scratch (and have the full MNIST)")
def test_the_books_repository_scripts(tmp_path):
    """The quick chapters of the user's copy of the book's repository, end to end (the whole
    run: python tests/book_scripts/book_repo_harness.py PATH --mnist DIR; see
    docs/book-scripts.md)."""
    rc = book_repo_harness.main([BOOK_REPO, "--mnist", str(FULL_MNIST), "--work",
                                 str(tmp_path), "--only", "ch03", "ch05/gradient_check",
                                 "ch07/apply_filter", "ch07/gradient_check"])
    assert rc == 0


def test_the_readme_safe_pickle_snippet_runs(tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (snippet,) = [s for s in re.findall(r"```python\n(.*?)\n```", readme, flags=re.S)
                  if "safe_pickle.load(" in s]
    params = {"W1": np.ones((2, 3)), "b1": np.zeros(3, dtype=np.float32)}
    with open(tmp_path / "params.pkl", "wb") as f:
        pickle.dump(params, f)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(snippet, "README.md safe_pickle block", "exec"), namespace)
    assert namespace["params"].keys() == params.keys()
    np.testing.assert_array_equal(namespace["params"]["W1"], params["W1"])


def test_convolution_and_pooling_take_the_floor_like_the_book():
    """A stride that does not tile the padded input: the book's im2col takes the floor of
    (H + 2*pad - FH) / stride + 1 and leaves out the border no window reaches; so do these."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 8, 7))
    W, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    conv = book.Convolution(W, b, stride=2, pad=0)
    out = conv.forward(x)
    assert out.shape == (2, 3, 3, 3)                  # (8 - 3) // 2 + 1 rows, (7 - 3) // 2 + 1
    np.testing.assert_allclose(out, naive_conv2d(x, W, b, 2, 0), rtol=1e-10)
    dx = conv.backward(np.ones_like(out))
    assert np.all(dx[:, :, 7, :] == 0) and np.any(dx[:, :, 6, :] != 0)   # row 7 is not seen
    pool = book.Pooling(3, 3, stride=2)
    pooled = pool.forward(x)
    assert pooled.shape == (2, 2, 3, 3)
    np.testing.assert_array_equal(pooled[:, :, 2, 2], x[:, :, 4:7, 4:7].max(axis=(2, 3)))
    assert book.im2col(x, 3, 3, stride=2).shape == (2 * 3 * 3, 2 * 9)
