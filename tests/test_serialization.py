"""save_params / load_params: round trip, mismatch errors that leave the model untouched, atomicity."""
import numpy as np
import pytest

from tinygrad_edu import Parameter
from tinygrad_edu.module import Module
from tinygrad_edu.serialization import ParamsMismatchError, load_params, read_params, save_params


class Net(Module):
    def __init__(self, n_hidden=3, seed=0, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.W1 = Parameter(rng.standard_normal((2, n_hidden)).astype(dtype))
        self.b1 = Parameter(rng.standard_normal(n_hidden).astype(dtype))
        self.register_buffer("running_mean", rng.standard_normal(n_hidden).astype(dtype))

    def forward(self, x):
        return x @ self.W1 + self.b1


def state(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_round_trip_in_place_keeps_dtype_and_buffers(tmp_path):
    src, dst = Net(seed=1), Net(seed=2)
    shared = dst.W1.data                       # an array held by other code
    path = save_params(src, tmp_path / "sub" / "params.npz")
    assert path == tmp_path / "sub" / "params.npz" and path.read_bytes()[:2] == b"PK"
    assert set(np.load(path).files) == {"W1", "b1", "running_mean"}
    assert load_params(dst, path) is dst
    for k, v in state(src).items():
        np.testing.assert_array_equal(state(dst)[k], v)
    assert dst.W1.data is shared and shared.dtype == np.float32
    np.testing.assert_array_equal(shared, src.W1.data)
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]    # no temporary file left


def test_float64_file_into_float32_model_keeps_float32(tmp_path):
    path = save_params(Net(dtype=np.float64), tmp_path / "p.npz")
    model = load_params(Net(seed=5), path)
    assert model.W1.data.dtype == np.float32
    np.testing.assert_allclose(model.W1.data, Net(dtype=np.float64).W1.data, rtol=1e-6)


def test_shape_mismatch_lists_names_and_leaves_model_untouched(tmp_path):
    path = save_params(Net(n_hidden=3), tmp_path / "p.npz")
    model = Net(n_hidden=4, seed=9)
    before = state(model)
    with pytest.raises(ParamsMismatchError) as info:
        load_params(model, path)
    message = str(info.value)
    assert "p.npz" in message and "W1" in message and "b1" in message and "running_mean" in message
    assert "(2, 4)" in message and "(2, 3)" in message
    after = state(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_missing_and_unexpected_names_are_listed(tmp_path):
    path = tmp_path / "p.npz"
    arrays = state(Net())
    arrays["extra"] = np.zeros(1)
    del arrays["b1"]
    np.savez(path, **arrays)
    model = Net(seed=3)
    before = state(model)
    with pytest.raises(ParamsMismatchError, match=r"missing: b1.*unexpected: extra"):
        load_params(model, path)
    assert all(np.array_equal(before[k], v) for k, v in state(model).items())
    load_params(model, path, strict=False)       # loads what fits
    np.testing.assert_array_equal(model.W1.data, Net().W1.data)
    np.testing.assert_array_equal(model.b1.data, before["b1"])


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_params(Net(), tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="bad.npz.*not a readable"):
        read_params(bad)
    with pytest.raises(TypeError, match="Module"):
        save_params({"W": np.ones(2)}, tmp_path / "x.npz")


def test_interrupted_save_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = save_params(Net(seed=1), tmp_path / "p.npz")
    old = path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        save_params(Net(seed=2), path)
    assert path.read_bytes() == old and list(tmp_path.iterdir()) == [path]
