"""The example third-party plugin (plugins/example-plugin, distribution
tinygrad-edu-example-plugin): installed like any plugin, its components are found everywhere,
work in a model, and pass the conformance suite.

Install it with ``pip install -e ./plugins/example-plugin``; without it this module is skipped.
"""
import math
from importlib import metadata

import numpy as np
import pytest

from tinygrad_edu import plugins

DISTRIBUTION = "tinygrad-edu-example-plugin"
PLUGIN = "tinygrad_edu_example"

try:
    metadata.distribution(DISTRIBUTION)
except metadata.PackageNotFoundError:
    pytest.skip(f"{DISTRIBUTION} is not installed (pip install -e ./plugins/example-plugin)",
                allow_module_level=True)

import tinygrad_edu.functional as F  # noqa: E402
from tinygrad_edu import Module, Tensor, gradcheck, nn, optim, registry  # noqa: E402
from tinygrad_edu.testing import conformance_tests  # noqa: E402

# The one line a plugin author writes: every component of the plugin through the suite.
test_conformance = conformance_tests(plugin=PLUGIN)

EXPECTED = {"activation": ["softplus", "mish"], "layer": ["layernorm"], "optimizer": ["lion"]}


def _record():
    return next(r for r in plugins.plugin_records() if r.name == PLUGIN)


# ---- discovery ------------------------------------------------------------------------------------


def test_loaded_through_its_entry_point():
    record = _record()
    assert record.status == "loaded", record.describe()
    assert record.distribution == DISTRIBUTION
    assert record.entry_point == f"{PLUGIN} = tinygrad_edu_example"
    assert record.registers == EXPECTED


def test_components_are_in_the_registries():
    for kind, names in EXPECTED.items():
        for name in names:
            comp = registry.get_component(kind, name.lower())   # case-insensitive
            assert (comp.name, comp.kind, comp.plugin) == (name, kind, PLUGIN)
            assert comp.doc, f"{name} has no docstring formula"
    assert registry.get("layer", "layer_norm") is registry.get("layer", "LayerNorm")  # alias


def test_components_are_on_the_surfaces():
    from tinygrad_edu_example import LayerNorm, Lion, mish, softplus

    assert F.mish is mish and F.softplus is softplus and F.get("MISH") is mish
    assert nn.LayerNorm is LayerNorm and nn.layernorm is LayerNorm
    assert optim.Lion is Lion and optim.get("lion") is Lion
    assert {"mish", "softplus"} <= set(dir(F)) and "LayerNorm" in dir(nn) and "Lion" in dir(optim)


def test_cli_lists_and_checks_it(capsys):
    from tinygrad_edu.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert f"{PLUGIN}  ({DISTRIBUTION} " in out
    assert "activations: softplus, mish" in out and "optimizers: lion" in out
    assert main(["check", "mish", "LayerNorm", "--max-examples", "3"]) == 0
    out = capsys.readouterr().out
    assert "PASSED  activation  mish  (plugin tinygrad_edu_example)" in out
    assert "2 passed, 0 failed" in out


def test_can_be_disabled(monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_ENV, PLUGIN)
    try:
        plugins.reload()
        assert _record().status == "disabled"
        with pytest.raises(AttributeError, match="Lion"):
            optim.Lion
    finally:
        monkeypatch.delenv(plugins.DISABLE_ENV)
        plugins.reload()
    assert optim.Lion.__name__ == "Lion"


# ---- the formulas, against plain numpy ----------------------------------------------------------


def _np_softplus(x, beta=1.0):
    return np.log1p(np.exp(beta * x)) / beta


def test_softplus_and_mish_values():
    x = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(F.softplus(x).data, _np_softplus(x), rtol=1e-12)
    np.testing.assert_allclose(F.softplus(x, beta=2.5).data, _np_softplus(x, 2.5), rtol=1e-12)
    np.testing.assert_allclose(F.mish(x).data, x * np.tanh(_np_softplus(x)), rtol=1e-12,
                               atol=1e-15)
    assert F.softplus(0.0).item() == pytest.approx(math.log(2.0))


def test_softplus_never_overflows_and_keeps_float32():
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=np.float32)
    y = F.softplus(x)
    assert y.dtype == np.float32 and np.all(np.isfinite(y.data))
    np.testing.assert_allclose(y.data, [0.0, np.exp(-50.0), math.log(2.0), 50.0, 1e4],
                               rtol=1e-6)
    xt = Tensor(x, requires_grad=True)
    F.mish(xt).sum().backward()
    assert xt.grad.dtype == np.float32 and np.all(np.isfinite(xt.grad.data))
    np.testing.assert_allclose(xt.grad.data[[0, -1]], [0.0, 1.0], atol=1e-6)


def test_softplus_rejects_a_bad_beta():
    with pytest.raises(ValueError, match="beta must be positive"):
        F.softplus([1.0], beta=0.0)


def test_layernorm_normalises_each_row():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 5.0, size=(4, 6))
    layer = nn.LayerNorm(6, dtype=np.float64)
    y = layer(x).data
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, rtol=1e-4)   # var / (var + eps)
    layer.gamma.data[...] = 2.0
    layer.beta.data[...] = -1.0
    np.testing.assert_allclose(layer(x).data, 2.0 * y - 1.0, rtol=1e-12)
    layer.eval()
    np.testing.assert_allclose(layer(x).data, 2.0 * y - 1.0, rtol=1e-12)  # same in eval
    assert [n for n, _ in layer.named_parameters()] == ["gamma", "beta"]
    assert nn.LayerNorm(6, elementwise_affine=False).parameters() == []


def test_layernorm_gradients_and_errors():
    layer = nn.LayerNorm(3, dtype=np.float64)
    x = np.array([[0.5, -1.0, 2.0], [1.0, 1.5, -0.5]])
    assert gradcheck(lambda x, g, b: layer(x), x, layer.gamma, layer.beta)
    with pytest.raises(ValueError, match="must have size 3"):
        layer(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="positive int"):
        nn.LayerNorm(0)


def test_lion_moves_each_coordinate_by_lr():
    from tinygrad_edu import Parameter

    p = Parameter(np.array([1.0, 1.0, 1.0]))
    opt = optim.Lion([p], lr=0.1, beta1=0.9, beta2=0.99)
    p.grad = Tensor(np.array([3.0, -0.01, 0.0]))
    opt.step()
    np.testing.assert_allclose(p.data, [0.9, 1.1, 1.0])
    # the momentum m = 0.01 g now steers: c = 0.9 m + 0.1 g
    p.grad = Tensor(np.array([-0.2, 0.0, 0.0]))
    opt.step()   # c = 0.9*0.03 - 0.02 > 0 -> still down; c = 0.9*(-0.0001) < 0 -> up
    np.testing.assert_allclose(p.data, [0.8, 1.2, 1.0])
    with pytest.raises(ValueError, match="beta1"):
        optim.Lion([p], beta1=1.0)


# ---- in a model ------------------------------------------------------------------------------------


class _Net(Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16, seed=0)
        self.norm = nn.LayerNorm(16)
        self.fc2 = nn.Linear(16, 3, seed=1)

    def forward(self, x):
        return self.fc2(F.mish(self.norm(self.fc1(x))))


def test_training_with_the_plugin_components_reduces_the_loss():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    t = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)        # 3 classes
    model = _Net()
    opt = optim.Lion(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = F.softmax_cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert losses[-1] < 0.5 * losses[0], losses[::10]


def test_sequential_with_softplus():
    model = nn.Sequential(nn.Linear(3, 5, seed=0), F.softplus, nn.LayerNorm(5),
                          nn.Linear(5, 1, seed=1))
    y = model(np.ones((2, 3), dtype=np.float32))
    assert y.shape == (2, 1) and y.dtype == np.float32
