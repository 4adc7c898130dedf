"""Workloads A-F in PyTorch (CPU, float32), the reference the issue compares against.

PyTorch is optional: ``run.py`` imports this module only when ``import torch`` works. Each
``workload_X`` builds its model and data and returns a :class:`Workload` whose ``run()`` does
one timed repetition; the models mirror ``workloads_tinygrad`` layer for layer.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch
import torch.nn as tnn
import torch.nn.functional as TF

from data import BATCH, mnist_test, mnist_train, random_batch
from spec import (CHAIN_LENGTH, CHAIN_SHAPE, E_TARGET, INFER_BATCH, Recipe, Workload,
                  e_initial_weights, e_learning_rate)

NAME = "PyTorch"


def version() -> str:
    return f"torch {torch.__version__}"


def set_threads(n: int) -> dict:
    torch.set_num_threads(n)
    return {"torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "mkldnn": torch.backends.mkldnn.is_available()}


def simple_convnet(init: str = "torch") -> tnn.Module:
    """conv 30 5x5 -> ReLU -> 2x2 max pool -> affine 100 -> ReLU -> affine 10 (the book's).
    ``init``: "torch" (PyTorch's default), "book" (weights N(0, 0.01^2), zero biases, as
    tinygrad_edu's SimpleConvNet) or "he" (He normal, std sqrt(2 / fan_in), zero biases).
    E uses the same init as the tinygrad_edu side: its epoch count depends on it."""
    torch.manual_seed(0)
    # pooling before the first ReLU, as tinygrad_edu's SimpleConvNet computes it (the same
    # network: pool(relu(x)) = relu(pool(x))), so both sides do the same arithmetic; for
    # PyTorch the order made no measurable difference (A and D, both orders, 3 rounds)
    model = tnn.Sequential(
        tnn.Conv2d(1, 30, 5), tnn.MaxPool2d(2), tnn.ReLU(), tnn.Flatten(),
        tnn.Linear(30 * 12 * 12, 100), tnn.ReLU(), tnn.Linear(100, 10))
    if init != "torch":
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif init == "book":
                    p.normal_(0.0, 0.01)
                else:
                    fan_in = p[0].numel()
                    p.normal_(0.0, (2.0 / fan_in) ** 0.5)
    return model


def mlp() -> tnn.Module:
    """784 -> 6 x (affine 100, ReLU) -> affine 10."""
    torch.manual_seed(0)
    layers, width = [], 784
    for _ in range(6):
        layers += [tnn.Linear(width, 100), tnn.ReLU()]
        width = 100
    layers.append(tnn.Linear(width, 10))
    return tnn.Sequential(*layers)


def _train_step(model, optimizer, x, t):
    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = TF.cross_entropy(model(x), t)
        loss.backward()
        optimizer.step()
    return step


def workload_A(quick: bool) -> Workload:
    model = simple_convnet()
    x, t = random_batch()
    return Workload(_train_step(model, torch.optim.SGD(model.parameters(), lr=0.01),
                                torch.from_numpy(x), torch.from_numpy(t)), per=1,
                    unit="step")


def workload_B(quick: bool) -> Workload:
    model = mlp()
    x, t = random_batch(flat=True)
    return Workload(_train_step(model, torch.optim.SGD(model.parameters(), lr=0.01),
                                torch.from_numpy(x), torch.from_numpy(t)), per=1,
                    unit="step")


def workload_C(quick: bool) -> Workload:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal(CHAIN_SHAPE, dtype=np.float32)).requires_grad_()
    w = torch.from_numpy(rng.uniform(0.5, 1.5, CHAIN_SHAPE).astype(np.float32))
    b = torch.from_numpy(rng.uniform(-0.5, 0.5, CHAIN_SHAPE).astype(np.float32))

    def run():
        y = x
        for _ in range(CHAIN_LENGTH // 4):   # the same four ops as workloads_tinygrad
            y = y * w
            y = y + b
            y = torch.tanh(y)
            y = y - b
        y.sum().backward()
        x.grad = None
    return Workload(run, per=CHAIN_LENGTH, unit="op")


def workload_D(quick: bool) -> Workload:
    model = simple_convnet().eval()
    x, t, source = mnist_test()
    if quick:
        x, t = x[:INFER_BATCH], t[:INFER_BATCH]
    x, t = torch.from_numpy(x), torch.from_numpy(t)

    def run():
        correct = 0
        with torch.inference_mode():
            for i in range(0, len(x), INFER_BATCH):
                correct += int((model(x[i:i + INFER_BATCH]).argmax(1) == t[i:i + INFER_BATCH])
                               .sum())
        return correct
    return Workload(run, per=1, unit=f"{len(x)} images", note=source)


def e_model(init: str) -> tnn.Module:
    """SimpleConvNet with E's initial weights (the same arrays the tinygrad_edu side loads;
    PyTorch's Linear keeps its weight as (out, in), so the affine weights are transposed)."""
    model = simple_convnet("torch")
    weights = e_initial_weights(init)
    conv, fc1, fc2 = model[0], model[4], model[6]
    with torch.no_grad():
        for layer, prefix, transpose in ((conv, "conv_", False), (fc1, "fc1_", True),
                                         (fc2, "fc2_", True)):
            w = weights[prefix + "W"]
            layer.weight.copy_(torch.from_numpy(w.T.copy() if transpose else w))
            layer.bias.copy_(torch.from_numpy(weights[prefix + "b"]))
    return model


def workload_E(quick: bool, recipe: Recipe) -> dict:
    """Train with Adam (``recipe``: its init, learning rate and schedule), batch 100, until the
    test accuracy reaches 98.9%; evaluation is not counted in the training time."""
    x_train, t_train = mnist_train()
    x_test, t_test, _ = mnist_test()
    max_epochs = recipe.max_epochs
    if quick:
        x_train, t_train, max_epochs = x_train[:1000], t_train[:1000], 1
    batches = -(-len(x_train) // BATCH)
    x_train, t_train = torch.from_numpy(x_train), torch.from_numpy(t_train)
    x_test, t_test = torch.from_numpy(x_test), torch.from_numpy(t_test)
    model = e_model(recipe.init)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    rng = np.random.default_rng(0)
    history, train_seconds, start, step = [], 0.0, time.perf_counter(), 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        begin = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(x_train)))
        for i in range(0, len(x_train), BATCH):
            idx = order[i:i + BATCH]
            lr = e_learning_rate(recipe, step, batches)   # the same formula as the other side
            for group in optimizer.param_groups:
                group["lr"] = lr
            _train_step(model, optimizer, x_train[idx], t_train[idx])()
            step += 1
        train_seconds += time.perf_counter() - begin
        model.eval()
        with torch.inference_mode():
            correct = sum(int((model(x_test[i:i + 1000]).argmax(1) == t_test[i:i + 1000]).sum())
                          for i in range(0, len(x_test), 1000))
        accuracy = correct / len(x_test)
        history.append(accuracy)
        print(f"E {NAME}: epoch {epoch}: test accuracy {accuracy:.2%}, training so far "
              f"{train_seconds:.1f} s (lr now {lr:.3g})", file=sys.stderr, flush=True)
        if accuracy >= E_TARGET:
            break
    return {"epochs": len(history), "accuracy": history[-1], "history": history,
            "reached": history[-1] >= E_TARGET, "train_seconds": train_seconds,
            "wall_seconds": time.perf_counter() - start}


def workload_F(quick: bool) -> Workload:
    """Training A, for the peak-RSS measurement (run in a fresh process by run.py)."""
    return workload_A(quick)
