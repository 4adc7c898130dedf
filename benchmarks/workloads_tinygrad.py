"""Workloads A-F in tinygrad_edu, through the public API only (models, nn, F, optim).

Each ``workload_X(quick)`` builds its model and data and returns a :class:`~spec.Workload`
whose ``run()`` does one timed repetition. ``workloads_torch`` mirrors every one of them.
"""
from __future__ import annotations

import sys
import time

import numpy as np

import tinygrad_edu
import tinygrad_edu.functional as F
from tinygrad_edu import Tensor, no_grad, optim, schedules
from tinygrad_edu.models import MultiLayerNet, SimpleConvNet

from data import BATCH, mnist_test, mnist_train, random_batch
from spec import (CHAIN_LENGTH, CHAIN_SHAPE, E_TARGET, INFER_BATCH, Recipe, Workload,
                  e_initial_weights)

NAME = "tinygrad_edu"


def version() -> str:
    return f"tinygrad_edu {tinygrad_edu.__version__}, numpy {np.__version__}"


def set_threads(n: int) -> dict:
    """numpy's BLAS threads are set by run.py (environment + threadpoolctl); numba's pool (the
    optional plugin) here. Also reports which implementation of relu and maxpool2d is active."""
    info = {"relu": _implementation("activation", "relu"),
            "maxpool2d": _implementation("layer", "maxpool2d")}
    if "numba" in (info["relu"] + info["maxpool2d"]):
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        info["numba_threads"] = numba.get_num_threads()
        from tinygrad_edu_numba import kernels
        info["numba_parallel_kernels"] = kernels.PARALLEL   # TINYGRAD_EDU_NUMBA_PARALLEL
    return info


def _implementation(kind: str, name: str) -> str:
    from tinygrad_edu import registry
    return registry.get_component(kind, name).plugin


def simple_convnet(init: str = "book"):
    """conv 30 5x5 -> ReLU -> 2x2 max pool -> affine 100 -> ReLU -> affine 10, float32;
    weights N(0, 0.01^2) (the book's, ``init="book"``) or He normal (``init="he"``)."""
    return SimpleConvNet(seed=0, dtype=np.float32, weight_init=0.01 if init == "book" else "he")


def mlp():
    """784 -> 6 x (affine 100, ReLU) -> affine 10, float32."""
    return MultiLayerNet(784, [100] * 6, 10, activation="relu", seed=0, dtype=np.float32)


def _train_step(model, optimizer, x, t):
    x = Tensor(x)

    def step():
        optimizer.zero_grad()
        loss = F.softmax_cross_entropy(model(x), t)
        loss.backward()
        optimizer.step()
        return loss
    return step


def workload_A(quick: bool) -> Workload:
    model = simple_convnet()
    x, t = random_batch()
    return Workload(_train_step(model, optim.SGD(model.parameters(), lr=0.01), x, t), per=1,
                    unit="step")


def workload_A_bound(quick: bool) -> Workload:
    """A's lower bound: only the matrix products of one SimpleConvNet training step, on the
    shapes and memory layouts the step really multiplies (float32, batch 100). The convolution
    groups 6 adjacent output pixels per im2col row (``Conv2dFunction``, thin filters):
    forward  col (9600, 51) @ Wg (51, 180), x (100, 4320) @ W1, h (100, 100) @ W2;
    backward col.T @ dY (9600, 180), dH @ W1.T, x.T @ dH, dO @ W2.T, h.T @ dO
    (the first layer's input needs no gradient: no product for it). With the plain im2col
    the two convolution products were (57600, 26) @ (26, 30) and (26, 57600) @ (57600, 30)."""
    rng = np.random.default_rng(0)

    def f32(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    col, Wg, dY = f32(9600, 51), f32(51, 180), f32(9600, 180)
    x, W1, dH = f32(100, 4320), f32(4320, 100), f32(100, 100)
    h, W2, dO = f32(100, 100), f32(100, 10), f32(100, 10)

    def run():
        col @ Wg, x @ W1, h @ W2
        col.T @ dY, dH @ W1.T, x.T @ dH, dO @ W2.T, h.T @ dO
    return Workload(run, per=1, unit="step")


def workload_B(quick: bool) -> Workload:
    model = mlp()
    x, t = random_batch(flat=True)
    return Workload(_train_step(model, optim.SGD(model.parameters(), lr=0.01), x, t), per=1,
                    unit="step")


def workload_C(quick: bool) -> Workload:
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal(CHAIN_SHAPE, dtype=np.float32), requires_grad=True)
    w = Tensor(rng.uniform(0.5, 1.5, CHAIN_SHAPE).astype(np.float32))
    b = Tensor(rng.uniform(-0.5, 0.5, CHAIN_SHAPE).astype(np.float32))

    def run():
        y = x
        for _ in range(CHAIN_LENGTH // 4):
            y = y * w
            y = y + b
            y = y.tanh()
            y = y - b
        y.sum().backward()
        x.grad = None
    return Workload(run, per=CHAIN_LENGTH, unit="op")


def _accuracy(model, x, t, batch=INFER_BATCH) -> int:
    correct = 0
    with no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(Tensor(x[i:i + batch])).data.argmax(axis=1)
                            == t[i:i + batch]).sum())
    return correct


def workload_D(quick: bool) -> Workload:
    model = simple_convnet()
    model.eval()
    x, t, source = mnist_test()
    if quick:
        x, t = x[:INFER_BATCH], t[:INFER_BATCH]
    return Workload(lambda: _accuracy(model, x, t), per=1, unit=f"{len(x)} images",
                    note=source)


def e_model(init: str):
    """SimpleConvNet with E's initial weights (the same arrays the PyTorch side loads)."""
    model = simple_convnet(init)
    weights = e_initial_weights(init)
    layers = {"conv": model.conv1, "fc1": model.affine1, "fc2": model.affine2}
    for name, array in weights.items():
        layer, attr = name.split("_")                     # "fc1_W" -> model.affine1.W
        param = getattr(layers[layer], attr)
        if param.shape != array.shape:
            raise ValueError(f"E: {name} has shape {param.shape}, the shared weights {array.shape}")
        param.data[...] = array
    return model


def workload_E(quick: bool, recipe: Recipe) -> dict:
    """Train with Adam (``recipe``: its init, learning rate and schedule), batch 100, until the
    test accuracy reaches 98.9%; evaluation is not counted in the training time."""
    x_train, t_train = mnist_train()
    x_test, t_test, _ = mnist_test()
    max_epochs = recipe.max_epochs
    if quick:
        x_train, t_train, max_epochs = x_train[:1000], t_train[:1000], 1
    model = e_model(recipe.init)
    optimizer = optim.Adam(model.parameters(), lr=recipe.lr)
    batches = -(-len(x_train) // BATCH)
    # the learning rate of each iteration, set before the step (the optimizer reads lr there)
    schedule = schedules.cosine(recipe.lr, recipe.cosine_epochs * batches) if recipe.cosine_epochs \
        else schedules.constant(recipe.lr)
    rng = np.random.default_rng(0)
    history, train_seconds, start, step = [], 0.0, time.perf_counter(), 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        begin = time.perf_counter()
        order = rng.permutation(len(x_train))
        for i in range(0, len(x_train), BATCH):
            idx = order[i:i + BATCH]
            optimizer.lr = schedule(step)
            _train_step(model, optimizer, x_train[idx], t_train[idx])()
            step += 1
        train_seconds += time.perf_counter() - begin
        model.eval()
        accuracy = _accuracy(model, x_test, t_test) / len(x_test)
        history.append(accuracy)
        print(f"E {NAME}: epoch {epoch}: test accuracy {accuracy:.2%}, training so far "
              f"{train_seconds:.1f} s (lr now {optimizer.lr:.3g})", file=sys.stderr, flush=True)
        if accuracy >= E_TARGET:
            break
    return {"epochs": len(history), "accuracy": history[-1], "history": history,
            "reached": history[-1] >= E_TARGET, "train_seconds": train_seconds,
            "wall_seconds": time.perf_counter() - start, "schedule": repr(schedule)}


def workload_F(quick: bool) -> Workload:
    """Training A, for the peak-RSS measurement (run in a fresh process by run.py)."""
    return workload_A(quick)
