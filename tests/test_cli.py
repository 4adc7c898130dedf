"""The tinygrad-edu command line."""
import json
import subprocess
import sys
import textwrap

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
    assert sorted(p.name for p in out_dir.iterdir()) == ["curves.png", "history.json", "params.npz"]
    assert (out_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads((out_dir / "history.json").read_text())
    assert history["train_samples"] == 300 and len(history["loss"]) == 6
    acc = float(out.split("test accuracy: ")[1].split()[0])
    assert acc == pytest.approx(history["test_accuracy"]) and acc > 0.3      # better than chance
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
    history = json.loads((out_dir / "history.json").read_text())
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
    assert "pip install tinygrad-edu[test]" in err


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


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_during_train_stops_cleanly_and_saves(tmp_path):
    import signal
    import time

    command = [sys.executable, "-m", "tinygrad_edu", "train", "--model", "mlp", "--source", "sample",
               "--epochs", "500", "--limit", "1000", "--test-limit", "200", "--out", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + 60
    while b"epoch 2:" not in seen and time.monotonic() < deadline:   # training is under way
        chunk = proc.stderr.read1(4096)
        if not chunk:
            break
        seen += chunk
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    err = (seen + err).decode()
    out = out.decode()
    assert proc.returncode == 0, err[-2000:]
    assert "Training interrupted (Ctrl-C)" in err and "parameters learned so far" in err
    assert "(interrupted)" in out and "test accuracy: " in out
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["interrupted"] is True and 20 <= len(history["loss"]) < 500 * 10
    assert (tmp_path / "params.npz").is_file() and (tmp_path / "curves.png").is_file()
