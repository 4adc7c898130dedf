"""Module: parameter discovery, train/eval, zero_grad, buffers, state_dict round trips."""
from collections import OrderedDict

import numpy as np
import pytest

from tinygrad_edu import Parameter, Tensor
from tinygrad_edu.module import Module, StateDictError


class Affine(Module):
    def __init__(self, n_in, n_out, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.W = Parameter(rng.standard_normal((n_in, n_out)))
        self.b = Parameter(np.zeros(n_out))
        self.cache = Tensor(np.ones(3), requires_grad=True)   # not a Parameter: ignored
        self.note = "plain attributes are ignored"

    def forward(self, x):
        return x @ self.W + self.b


class Norm(Module):
    def __init__(self, n):
        super().__init__()
        self.gamma = Parameter(np.ones(n))
        self.register_buffer("running_mean", np.zeros(n))
        self.register_buffer("count", np.array(0))

    def forward(self, x):
        return x * self.gamma


class Net(Module):
    def __init__(self):
        super().__init__()
        self.fc1 = Affine(4, 3, seed=1)
        self.norm = Norm(3)
        self.blocks = [Affine(3, 3, seed=2), Affine(3, 3, seed=3)]
        self.heads = OrderedDict(main=Affine(3, 2, seed=4))

    def forward(self, x):
        h = self.norm(self.fc1(x))
        for block in self.blocks:
            h = block(h)
        return self.heads["main"](h)


def test_parameters_are_found_with_dotted_names():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["fc1.W", "fc1.b", "norm.gamma", "blocks.0.W", "blocks.0.b",
                     "blocks.1.W", "blocks.1.b", "heads.main.W", "heads.main.b"]
    assert net.parameters()[0] is net.fc1.W
    assert all(isinstance(p, Parameter) for p in net.parameters())
    assert net.num_parameters() == 4 * 3 + 3 + 3 + 2 * (9 + 3) + 6 + 2
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "norm", "blocks.0", "blocks.1",
                                                  "heads.main"]
    assert net.children() == [net.fc1, net.norm, net.blocks[0], net.blocks[1], net.heads["main"]]


def test_later_assignments_and_appends_are_seen():
    net = Net()
    net.blocks.append(Affine(3, 3))
    net.extra = Parameter(np.zeros(1))
    names = [name for name, _ in net.named_parameters()]
    assert "blocks.2.W" in names and names[-1] == "extra"
    net.fc1 = Affine(4, 3)          # replacing a sub-module replaces its parameters
    assert net.parameters()[0] is net.fc1.W


def test_shared_parameters_and_modules_are_reported_once():
    net = Net()
    net.blocks[1] = net.blocks[0]
    net.tied = net.fc1.W
    net.parent_ref = [net]                   # a cycle must not recurse forever
    params = net.parameters()
    assert len(params) == len({id(p) for p in params})
    assert "tied" not in [n for n, _ in net.named_parameters()]
    assert len(net.modules()) == 5


def test_call_runs_forward():
    layer = Affine(2, 2)
    x = Tensor(np.ones((1, 2)))
    np.testing.assert_allclose(layer(x).data, layer.W.data.sum(axis=0, keepdims=True))
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        Module()(x)


def test_train_and_eval_propagate_to_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_sets_every_grad_to_none():
    net = Net()
    x = Tensor(np.ones((2, 4)))
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_has_parameters_and_buffers_as_copies():
    net = Net()
    state = net.state_dict()
    assert list(state)[:3] == ["fc1.W", "fc1.b", "norm.gamma"]
    assert "norm.running_mean" in state and "norm.count" in state
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["fc1.W"][...] = 123.0
    assert not np.any(net.fc1.W.data == 123.0)


def test_state_dict_round_trip_in_place():
    source, target = Net(), Net()
    for p in source.parameters():
        p.data[...] = np.random.default_rng(7).standard_normal(p.data.shape)
    source.norm.running_mean = np.array([1.0, 2.0, 3.0])   # rebinding a buffer is fine
    source.norm.count = np.array(5)
    W = target.fc1.W.data
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target.fc1.W.data is W                           # updated in place
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    x = Tensor(np.ones((2, 4)))
    np.testing.assert_allclose(source(x).data, target(x).data)


def test_load_keeps_the_dtype_of_the_parameter():
    layer = Affine(2, 2)
    layer.W = Parameter(np.zeros((2, 2), dtype=np.float32))
    layer.load_state_dict({**layer.state_dict(), "W": np.ones((2, 2), dtype=np.float64)})
    assert layer.W.data.dtype == np.float32 and layer.W.data.sum() == 4


def test_mismatch_lists_everything_and_leaves_the_module_untouched():
    net = Net()
    before = net.state_dict()
    bad = net.state_dict()
    del bad["norm.gamma"]                     # missing
    bad["fc9.W"] = np.zeros(1)                # unexpected
    bad["fc1.W"] = np.ones((3, 4))            # wrong shape (transposed)
    bad["fc1.b"] = np.full(3, 42.0)           # fine on its own, must not be loaded either
    with pytest.raises(StateDictError) as info:
        net.load_state_dict(bad)
    message = str(info.value)
    assert "missing: norm.gamma" in message
    assert "unexpected: fc9.W" in message
    assert "fc1.W: expected shape (4, 3), got (3, 4)" in message
    assert "nothing was loaded" in message
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_non_strict_load_skips_missing_and_unexpected_but_not_shape_errors():
    net = Net()
    partial = {"fc1.b": np.full(3, 2.0), "other": np.zeros(2)}
    result = net.load_state_dict(partial, strict=False)
    assert result.unexpected_keys == ["other"]
    assert "fc1.W" in result.missing_keys
    np.testing.assert_array_equal(net.fc1.b.data, np.full(3, 2.0))
    with pytest.raises(StateDictError, match="shape mismatch"):
        net.load_state_dict({"fc1.b": np.zeros(4)}, strict=False)


def test_register_buffer_validates():
    norm = Norm(2)
    with pytest.raises(ValueError, match="already a Parameter"):
        norm.register_buffer("gamma", np.zeros(2))
    with pytest.raises(ValueError, match="not a valid attribute name"):
        norm.register_buffer("running mean", np.zeros(2))
    assert [n for n, _ in norm.named_buffers()] == ["running_mean", "count"]


def test_module_without_super_init_still_works():
    class Lazy(Module):
        def __init__(self):
            self.w = Parameter(np.ones(2))
            self.register_buffer("steps", np.array(0))

    lazy = Lazy()
    assert lazy.training and lazy.parameters() == [lazy.w]
    assert set(lazy.state_dict()) == {"w", "steps"}


def test_repr_shows_the_tree():
    text = repr(Net())
    assert text.startswith("Net(\n  (fc1): Affine(W=(4, 3), b=(3,))\n")
    assert "  (blocks.1): Affine(W=(3, 3), b=(3,))\n" in text
    assert text.endswith("  (heads.main): Affine(W=(3, 2), b=(2,))\n)")
