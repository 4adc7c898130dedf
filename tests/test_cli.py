"""The tinygrad-edu command line."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tinygrad_edu import cli, plugins
from tinygrad_edu.components import Component
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.plugins import PluginRecord

COMMANDS = ["plugins", "train", "check", "reproduce", "graph"]


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``tinygrad-edu argv``, in this process."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_everywhere(capsys, command):
    code, out, err = run(capsys, *command, "--help")
    assert code == 0 and out.startswith("usage: tinygrad-edu") and err == ""
    if command == ["train"]:
        assert "--optimizer" in out and "--limit" in out and "default: simple_convnet" in out


@pytest.mark.parametrize("argv, phrase", [
    ([], "a command is required"),
    (["fly"], "invalid choice: 'fly'"),
    (["train", "--epochs", "0"], "--epochs: expected a positive integer, got '0'"),
    (["train", "--lr", "-1"], "--lr: expected a positive number"),
    (["train", "--model", "cnn"], "--model: Unknown model 'cnn'"),
    (["train", "--optimizer", "adamm"], "--optimizer: Unknown optimizer 'adamm'. Did you mean 'adam'?"),
    (["train", "--weight-init", "hee"], "--weight-init: Unknown initializer 'hee'"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "--seed", "-1"], "--seed: expected an integer from 0 to 2**32 - 1, got '-1'"),
    (["train", "--data-dir", "/no/such/dir"], "--data-dir: '/no/such/dir' does not exist"),
    (["train", "--callback", "nosuch"], "--callback: Unknown callback 'nosuch'"),
    (["train", "--resume", "/no/such/run"], "--resume: no run to resume in '/no/such/run'"),
    (["check", "rleu"], "Unknown component 'rleu'. Did you mean 'relu'?"),
    (["graph", "--batch", "x"], "--batch: expected a positive integer"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, phrase):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert phrase in err and "error:" in err and "--help" in err


def test_plugins_lists_the_standard_plugins(capsys):
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    for plugin in ("layers", "activations", "losses", "optimizers", "initializers"):
        assert f"  {plugin}  (tinygrad-edu 0.1.0)" in out
    assert "layers: affine, conv2d" in out and "losses: softmax_cross_entropy" in out
    assert "adam" in out and "he_normal" in out and "quarantined" not in out
    code, out, _ = run(capsys, "plugins", "--json")
    rows = json.loads(out)
    assert {"layers", "optimizers"} <= {r["name"] for r in rows}
    assert all(r["status"] == "loaded" for r in rows)


class HookOnly:
    @hookimpl
    def after_epoch(self, trainer, epoch, logs):
        pass


def test_plugins_shows_hooks_and_quarantined_plugins(capsys, monkeypatch):
    plugins.register_plugin(HookOnly(), name="epoch_logger")
    try:
        real = plugins.plugin_records()
        broken = PluginRecord("broken_thing", "broken_thing = broken_pkg:plugin", "broken-pkg", "0.3",
                              status="quarantined", stage="import",
                              error="ModuleNotFoundError: No module named 'numpyy'")
        monkeypatch.setattr(plugins, "plugin_records", lambda: [*real, broken])
        code, out, _ = run(capsys, "plugins")
        assert code == 0
        assert "epoch_logger  ((registered at run time))" in out and "lifecycle hooks: after_epoch" in out
        assert "1 plugin(s) quarantined" in out and "broken_thing  (broken-pkg 0.3" in out
        assert "error: import: ModuleNotFoundError: No module named 'numpyy'" in out
        assert run(capsys, "plugins", "--strict")[0] == 1
    finally:
        plugins.unregister_plugin("epoch_logger")


@pytest.mark.parametrize("model", ["mlp", "simple_convnet"])
def test_train_on_a_tiny_subset_writes_weights_plot_and_history(capsys, tmp_path, model):
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", "--model", model, "--source", "sample", "--epochs", "1",
                         "--limit", "300", "--test-limit", "200", "--batch-size", "50",
                         "--eval-train-samples", "100", "--out", str(out_dir))
    assert code == 0, err
    assert "data: embedded MNIST sample (10,000 train / 2,000 test)" in out
    assert "test accuracy: " in out and "on 200 test images" in out
    assert "6/6" in err                                       # the progress bar (stderr)
    assert [p.name for p in out_dir.iterdir()] == ["run1"]      # each run in a folder of its own
    out_dir = out_dir / "run1"
    assert sorted(p.name for p in out_dir.iterdir()) == ["curves.png", "history.json", "optimizer.npz",
                                                         "params.npz"]
    assert f"in {out_dir}" in out
    assert (out_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads((out_dir / "history.json").read_text())
    assert history["train_samples"] == 300 and len(history["loss"]) == 6
    assert history["status"] == "finished" and history["epochs_done"] == 1
    assert history["options"]["limit"] == 300 and history["params_saved_at"] == [1, 6]
    acc = float(out.split("test accuracy: ")[1].split()[0])
    assert acc == pytest.approx(history["test_acc"][-1]) and acc > 0.3      # better than chance
    from tinygrad_edu.models import get_model
    from tinygrad_edu.serialization import load_params
    from tinygrad_edu.train import accuracy
    from tinygrad_edu.data import load_mnist, preprocess
    restored = load_params(get_model(model, seed=99), out_dir / "params.npz")
    data = load_mnist(source="sample")
    x, t = preprocess(data.x_test[:100], data.t_test[:100], flatten=(model == "mlp"))
    assert accuracy(restored, x, t) > 0.3


def test_train_with_a_cosine_learning_rate_schedule(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", "--model", "mlp", "--source", "sample", "--epochs", "1",
                         "--limit", "300", "--test-limit", "100", "--batch-size", "50",
                         "--lr", "0.002", "--lr-schedule", "cosine", "--out", str(out_dir),
                         "--no-progress")
    assert code == 0, err
    history = json.loads((out_dir / "run1" / "history.json").read_text())
    lrs = history["lr"]
    assert lrs[0] == pytest.approx(0.002) and all(a > b for a, b in zip(lrs, lrs[1:]))
    code, _, err = run(capsys, "train", "--lr-schedule", "linear")
    assert code == 2 and "invalid choice" in err


def test_train_missing_dataset_is_an_error_not_a_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_EDU_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    code, out, err = run(capsys, "train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path),
                         "--out", str(tmp_path / "o"))
    assert code == 1 and "Fashion-MNIST not found" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_check_needs_hypothesis(capsys, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "hypothesis" else real(name, *a))
    code, out, err = run(capsys, "check")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "pip install hypothesis" in err


def bad_square(x):
    """x² with a wrong gradient (3x instead of 2x)."""
    from tinygrad_edu import Function

    class BadSquare(Function):
        def forward(self, a):
            return a * a

        def backward(self, gy):
            return gy * 3.0 * self.inputs[0]

    return BadSquare()(x)


class BadPlugin:
    @hookimpl
    def register_activations(self):
        return [Component("bad_square", bad_square)]


def test_check_passes_and_fails(capsys):
    code, out, _ = run(capsys, "check", "relu", "sgd", "--max-examples", "3")
    assert code == 0 and "PASSED  activation  relu" in out and "2 passed, 0 failed" in out
    plugins.register_plugin(BadPlugin(), name="bad_plugin")
    try:
        code, out, _ = run(capsys, "check", "bad_square", "--max-examples", "3")
    finally:
        plugins.unregister_plugin("bad_plugin")
    assert code == 1 and "FAILED  activation  bad_square" in out and "0 passed, 1 failed" in out
    assert "bad_square" in out.split("---", 1)[1]               # the report follows


def write_examples(folder):
    folder.mkdir()
    (folder / "ex1_good.py").write_text(textwrap.dedent("""
        import sys
        print("good ran with", sys.argv[1:])
    """))
    (folder / "ex2_broken.py").write_text("import sys\nprint('broken ran')\nsys.exit(3)\n")
    (folder / "_common.py").write_text("raise SystemExit('not an experiment')\n")
    (folder / "core_demo.py").write_text("raise SystemExit('not an experiment')\n")


def test_reproduce_discovers_and_runs_the_scripts(capfd, tmp_path):
    write_examples(tmp_path / "ex")
    code = cli.main(["reproduce", "--examples", str(tmp_path / "ex"), "--list"])
    out = capfd.readouterr().out
    assert code == 0 and "ex1_good" in out and "ex2_broken" in out and "core_demo" not in out
    code = cli.main(["reproduce", "good", "--quick", "--examples", str(tmp_path / "ex")])
    out = capfd.readouterr().out
    assert code == 0 and "good ran with ['--quick']" in out and "broken" not in out
    code = cli.main(["reproduce", "--examples", str(tmp_path / "ex"), "--", "--seed", "3"])
    out = capfd.readouterr().out
    assert code == 1 and "good ran with ['--seed', '3']" in out and "broken ran" in out
    assert "1 of 2 experiment(s) succeeded; failed: ex2_broken" in out
    code = cli.main(["reproduce", "9", "--examples", str(tmp_path / "ex")])
    err = capfd.readouterr().err
    assert code == 2 and "unknown experiment '9'; available: ex1_good, ex2_broken" in err


def test_reproduce_finds_the_repository_examples(capsys):
    code, out, _ = run(capsys, "reproduce", "--list")
    assert code == 0 and "ex1_" in out


def test_graph_prints_dot(capsys, tmp_path):
    code, out, _ = run(capsys, "graph", "--model", "mlp")
    assert code == 0 and out.startswith("digraph") and "hidden.0.W: Parameter" in out
    assert "SoftmaxCrossEntropy" in out and "(2, 784) float32" in out
    code, out, _ = run(capsys, "graph", "--model", "simple_convnet", "--out", str(tmp_path / "g.dot"))
    assert code == 0 and "Conv2dFunction" in (tmp_path / "g.dot").read_text()


def test_python_dash_m_and_console_script():
    result = subprocess.run([sys.executable, "-m", "tinygrad_edu", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "tinygrad-edu 0.1.0"
    result = subprocess.run([sys.executable, "-m", "tinygrad_edu", "train", "--epochs", "x"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and result.stdout == ""


# ---------------------------------------------------------------- run folders and errors
# (signals, kill -9, errors in callbacks and divergence: tests/faults/test_train_faults.py)

TINY = ["--model", "mlp", "--source", "sample", "--epochs", "1", "--limit", "200", "--test-limit", "100",
        "--batch-size", "100", "--eval-train-samples", "100", "--no-progress"]


def test_each_run_gets_its_own_folder(capsys, tmp_path):
    for seed in ("1", "2"):
        assert run(capsys, "train", *TINY, "--seed", seed, "--out", str(tmp_path))[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run1", "run2"]
    seeds = [json.loads((tmp_path / r / "history.json").read_text())["options"]["seed"] for r in ("run1", "run2")]
    assert seeds == [1, 2]


def test_new_run_folder_skips_numbers_taken_meanwhile(tmp_path, monkeypatch):
    from tinygrad_edu import train_command
    (tmp_path / "run1").mkdir()
    (tmp_path / "run7").mkdir()
    (tmp_path / "runaway").mkdir()
    real_mkdir = train_command.os.mkdir

    def racing_mkdir(path, *args):          # another run takes run8 just before we do
        if Path(path).name == "run8" and not Path(path).exists():
            real_mkdir(path)
        return real_mkdir(path, *args)
    monkeypatch.setattr(train_command.os, "mkdir", racing_mkdir)
    assert train_command.new_run_folder(tmp_path) == tmp_path / "run9"


@pytest.mark.parametrize("make, phrase", [
    (lambda d: (d / "file").write_text("x") and d / "file" / "out", "is not a folder"),
    (lambda d: (d / "ro").mkdir(0o500) or d / "ro" / "out", "no permission to write"),
])
def test_an_unusable_out_is_found_before_anything_is_loaded(capsys, tmp_path, make, phrase):
    if phrase.startswith("no permission") and os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    out = make(tmp_path)
    code, stdout, err = run(capsys, "train", *TINY, "--out", str(out))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--out: cannot create a run folder" in err and phrase in err
    assert stdout == ""                                   # no data loaded, nothing trained


def test_data_dir_that_holds_no_data_is_an_error_not_the_sample(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_EDU_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    code, out, err = run(capsys, "train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert code == 1 and "MNIST not found" in err and len(err.strip().splitlines()) == 1
    assert "embedded" not in out and not (tmp_path / "o").exists()


def write_idx(path, array):
    """An IDX file (the MNIST format): magic (0, 0, type 0x08 = uint8, ndim), sizes, bytes."""
    import struct
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_a_data_set_without_training_images_is_one_line(capsys, tmp_path, monkeypatch):
    from tinygrad_edu.data.mnist import FILE_NAMES
    monkeypatch.setenv("TINYGRAD_EDU_OFFLINE", "1")
    shapes = {"train-images": (0, 28, 28), "train-labels": (0,), "t10k-images": (5, 28, 28), "t10k-labels": (5,)}
    for name in FILE_NAMES:
        prefix = next(key for key in shapes if name.startswith(key))
        write_idx(tmp_path / name.removesuffix(".gz"), np.zeros(shapes[prefix]))
    code, out, err = run(capsys, "train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "(0 train / 5 test)) holds no training images" in err and not (tmp_path / "o").exists()


def test_errors_are_one_line_and_debug_shows_the_traceback(capsys, tmp_path, monkeypatch):
    code, _, err = run(capsys, "graph", "--out", str(tmp_path / "missing" / "g.dot"))
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("tinygrad-edu graph: error:") and "missing" in err and "--debug" in err
    code, _, err = run(capsys, "graph", "--out", str(tmp_path / "missing" / "g.dot"), "--debug")
    assert code == 1 and "Traceback (most recent call last)" in err
    monkeypatch.setenv("TINYGRAD_EDU_DEBUG", "1")
    code, _, err = run(capsys, "graph", "--out", str(tmp_path / "missing" / "g.dot"))
    assert code == 1 and "Traceback" in err


class OffersCallbacks:
    @hookimpl
    def register_callbacks(self):
        from tinygrad_edu.callbacks import Callback

        class CountEpochs(Callback):
            seen = []

            def after_epoch(self, trainer, epoch, logs):
                CountEpochs.seen.append(epoch)
        return [Component("count_epochs", CountEpochs, aliases=("epoch-counter",))]


def test_a_plugin_offers_callbacks_by_name_but_imposes_none(capsys, tmp_path):
    from tinygrad_edu import registry
    plugins.register_plugin(OffersCallbacks(), name="offers_callbacks")
    try:
        counter = registry.get("callback", "count_epochs")
        assert run(capsys, "train", *TINY, "--out", str(tmp_path))[0] == 0
        assert counter.seen == []                                   # not asked for: not used
        code, out, err = run(capsys, "train", *TINY, "--epochs", "2", "--callback", "epoch-counter",
                             "--out", str(tmp_path))
        assert code == 0, err
        assert counter.seen == [0, 1]
        code, _, err = run(capsys, "train", *TINY, "--callback", "count_epoch")
        assert code == 2 and "Did you mean 'count_epochs'?" in err
        code, out, _ = run(capsys, "plugins")
        assert "callbacks: count_epochs" in out
    finally:
        plugins.unregister_plugin("offers_callbacks")
