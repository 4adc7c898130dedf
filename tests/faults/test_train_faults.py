"""Fault injection for training: real ``tinygrad-edu train`` processes that get SIGINT, SIGTERM
or ``kill -9`` at chosen moments, a callback that raises, a loss that turns NaN.

The moments are chosen, not guessed with sleeps: a fault plugin (a real distribution with an
entry point, on the child's PYTHONPATH) offers the callback ``fault``, which pauses at the event
named by $TG_FAULT_AT ("after_epoch:1": the after_epoch of the second epoch), leaving a marker
file and waiting for a "go" file; $TG_FAULT_IN_SAVE and $TG_FAULT_IN_STARTUP pause the same way
inside a checkpoint save and before the data are loaded. The test sends its signal while the
child waits there. Every child runs in its own process group, is bounded by timeouts, and is
killed in a ``finally``.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and process groups")

TIMEOUT = 90          # seconds any one child may take (a loaded 2-core machine)
ITERATIONS = 3        # per epoch: --limit 300 --batch-size 100

FAULT_PLUGIN = '''
import os
import time
from pathlib import Path

from tinygrad_edu import Component, hookimpl
from tinygrad_edu.callbacks import Callback

FOLDER = Path(os.environ.get("TG_FAULT_DIR", "."))


def pause(label):
    """Leave the marker at-<label>, then wait (up to 60 s) for the test's "go" file."""
    (FOLDER / f"at-{label}").touch()
    deadline = time.monotonic() + 60
    while not (FOLDER / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


class Fault(Callback):
    """At $TG_FAULT_AT ("event:epoch"): pause, raise ($TG_FAULT_ACTION=raise) or make a
    parameter NaN (nan)."""

    def __init__(self):
        event, _, epoch = os.environ.get("TG_FAULT_AT", "").partition(":")
        self.event, self.epoch = event, int(epoch or 0)
        self.action = os.environ.get("TG_FAULT_ACTION", "pause")

    def _at(self, event, trainer):
        if event != self.event or trainer.epoch != self.epoch:
            return
        if self.action == "raise":
            raise ValueError(f"injected fault in {event}")
        if self.action == "nan":
            trainer.model.parameters()[0].data[...] = float("nan")
            return
        pause(event)

    def before_epoch(self, trainer, epoch):
        self._at("before_epoch", trainer)

    def after_epoch(self, trainer, epoch, logs):
        self._at("after_epoch", trainer)


@hookimpl
def register_callbacks():
    return [Component("fault", Fault)]


if os.environ.get("TG_FAULT_IN_SAVE"):          # pause inside every checkpoint save
    import tinygrad_edu.serialization as serialization
    _save_params = serialization.save_params

    def save_params(module, path):
        pause("save")
        return _save_params(module, path)
    serialization.save_params = save_params

if os.environ.get("TG_FAULT_IN_STARTUP"):       # pause before the data are loaded
    import tinygrad_edu.data as data
    _load_mnist = data.load_mnist

    def load_mnist(*args, **kwargs):
        pause("startup")
        return _load_mnist(*args, **kwargs)
    data.load_mnist = load_mnist
'''


@pytest.fixture
def site(tmp_path):
    """A folder holding the fault plugin as an installed distribution."""
    folder = tmp_path / "site"
    info = folder / "tg_fault_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tg-fault-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[tinygrad_edu]\nfault = tg_fault_plugin\n")
    (folder / "tg_fault_plugin.py").write_text(textwrap.dedent(FAULT_PLUGIN))
    return folder


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """One ``tinygrad-edu train`` process in its own process group."""

    def __init__(self, tmp_path, site, *options, env=None, out="out"):
        self.folder = tmp_path
        self.out = tmp_path / out
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("TG_FAULT", "TINYGRAD_EDU_DISABLE"))}
        environ.update(PYTHONPATH=os.pathsep.join([str(site), environ.get("PYTHONPATH", "")]),
                       TG_FAULT_DIR=str(tmp_path), **(env or {}))
        command = [sys.executable, "-m", "tinygrad_edu", "train", "--model", "mlp", "--source", "sample",
                   "--limit", "300", "--test-limit", "100", "--batch-size", "100",
                   "--eval-train-samples", "100", "--no-progress", "--out", str(self.out), *options]
        # SIGINT as a terminal's process has it (SIG_DFL): a test run started as a background
        # job (`pytest &`) ignores SIGINT, the child would inherit that, and an ignored SIGINT
        # stays ignored (the Trainer installs its handler only over Python's default one)
        self.proc = subprocess.Popen(command, cwd=tmp_path, env=environ, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True,
                                     preexec_fn=_default_sigint)
        self.out_text = self.err_text = ""

    def wait_for(self, name: str) -> None:
        """Until the child leaves the marker ``name`` (it has reached the chosen moment)."""
        deadline = time.monotonic() + TIMEOUT
        while not (self.folder / name).exists():
            if self.proc.poll() is not None:
                self.finish()
                pytest.fail(f"the child ended ({self.proc.returncode}) before {name}:\n{self.err_text}")
            if time.monotonic() > deadline:
                pytest.fail(f"the child did not reach {name} within {TIMEOUT} s")
            time.sleep(0.02)

    def send(self, signum) -> None:
        self.proc.send_signal(signum)
        time.sleep(0.1)     # let the handler run before the next signal (signals do not queue)

    def go(self) -> None:
        (self.folder / "go").touch()

    def finish(self) -> int:
        self.out_text, self.err_text = self.proc.communicate(timeout=TIMEOUT)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=TIMEOUT)

    def run_folder(self, name="run1") -> Path:
        return self.out / name

    def record(self, name="run1") -> dict:
        return json.loads((self.run_folder(name) / "history.json").read_text())


@pytest.fixture
def child(tmp_path, site):
    started = []

    def start(*options, env=None, out="out"):
        started.append(Child(tmp_path, site, *options, env=env, out=out))
        return started[-1]

    yield start
    for c in started:   # none is left running, whatever happened
        c.kill()


def params(folder: Path) -> dict:
    with np.load(folder / "params.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def assert_complete_and_finite(folder: Path) -> None:
    saved = params(folder)
    assert saved and all(np.isfinite(a).all() for a in saved.values())
    assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"


def test_ctrl_c_after_the_last_epoch_before_its_save_still_saves(child):
    c = child("--epochs", "2", "--callback", "fault", env={"TG_FAULT_AT": "after_epoch:1"})
    c.wait_for("at-after_epoch")            # the last epoch is done, its checkpoint not yet written
    c.send(signal.SIGINT)
    c.go()
    assert c.finish() == 130, c.err_text
    assert "Traceback" not in c.err_text
    line = last_line(c.err_text)
    assert line.startswith("Training interrupted (Ctrl-C)") and str(c.run_folder()) in line
    assert f"params.npz (iteration {2 * ITERATIONS}, 2 complete epoch(s))" in line
    record = c.record()
    assert record["status"] == "interrupted" and record["stop_reason"] == "Ctrl-C"
    assert record["epochs_done"] == 2 and record["params_saved_at"] == [2, 2 * ITERATIONS]
    assert_complete_and_finite(c.run_folder())


def test_second_ctrl_c_and_sigterm_while_saving_do_not_cut_the_save(child):
    c = child("--epochs", "3", env={"TG_FAULT_IN_SAVE": "1"})
    c.wait_for("at-save")                   # inside the checkpoint of epoch 1
    for signum in (signal.SIGINT, signal.SIGINT, signal.SIGTERM):
        c.send(signum)
    assert c.proc.poll() is None            # still saving
    c.go()
    assert c.finish() == 130, c.err_text    # the first signal decides the status
    assert "Traceback" not in c.err_text
    assert last_line(c.err_text).startswith("Training interrupted (Ctrl-C) at epoch 1")
    record = c.record()
    assert record["params_saved_at"] == [1, ITERATIONS] and record["status"] == "interrupted"
    assert_complete_and_finite(c.run_folder())
    assert (c.run_folder() / "optimizer.npz").is_file() and (c.run_folder() / "curves.png").is_file()


def test_sigterm_during_training_stops_after_the_batch_saves_and_exits_143(child):
    c = child("--epochs", "3", "--callback", "fault", env={"TG_FAULT_AT": "before_epoch:1"})
    c.wait_for("at-before_epoch")
    c.send(signal.SIGTERM)
    c.go()
    assert c.finish() == 143, c.err_text
    assert "Traceback" not in c.err_text
    line = last_line(c.err_text)
    assert line.startswith("Training interrupted (SIGTERM) at epoch 2")
    assert f"params.npz (iteration {ITERATIONS + 1}, 1 complete epoch(s))" in line   # one more batch
    record = c.record()
    assert record["stop_reason"] == "SIGTERM" and len(record["loss"]) == ITERATIONS + 1
    assert_complete_and_finite(c.run_folder())


def test_sigterm_at_an_unchosen_moment_of_a_longer_run(child):
    c = child("--epochs", "200")
    deadline = time.monotonic() + TIMEOUT
    while not (c.run_folder() / "params.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.02)                    # the first epoch's checkpoint is on disk
    c.send(signal.SIGTERM)
    assert c.finish() == 143, c.err_text
    record = c.record()
    assert record["status"] == "interrupted" and record["params_saved_at"][1] == record["iteration"]
    assert_complete_and_finite(c.run_folder())


def test_an_error_in_a_callback_in_the_last_epoch_saves_and_is_one_line(child):
    c = child("--epochs", "2", "--callback", "fault",
              env={"TG_FAULT_AT": "after_epoch:1", "TG_FAULT_ACTION": "raise"})
    assert c.finish() == 1
    err = c.err_text.strip().splitlines()
    assert err[-1].startswith("tinygrad-edu train: error: injected fault in after_epoch")
    assert "Fault.after_epoch" in err[-1] and "Traceback" not in c.err_text
    assert f"params.npz (iteration {2 * ITERATIONS}, 2 complete epoch(s))" in err[-1]
    assert c.record()["status"] == "failed"
    assert_complete_and_finite(c.run_folder())


def test_a_nan_loss_stops_with_exit_3_and_keeps_the_last_good_params(child):
    c = child("--epochs", "3", "--callback", "fault",
              env={"TG_FAULT_AT": "before_epoch:1", "TG_FAULT_ACTION": "nan"})
    assert c.finish() == 3
    line = last_line(c.err_text)
    assert f"the loss is nan at iteration {ITERATIONS} (epoch 2)" in line and "Traceback" not in c.err_text
    assert f"the last good params.npz (iteration {ITERATIONS}, 1 complete epoch(s))" in line
    record = c.record()
    assert record["status"] == "diverged" and record["params_saved_at"] == [1, ITERATIONS]
    assert_complete_and_finite(c.run_folder())     # epoch 1's parameters, not the NaN ones


def test_the_issue_example_lr_1e6_fails_instead_of_reporting_an_accuracy(child):
    c = child("--epochs", "2", "--optimizer", "sgd", "--lr", "1e6")
    assert c.finish() == 3
    assert "test accuracy" not in c.out_text
    assert "training diverged: the loss is" in last_line(c.err_text)
    assert not (c.run_folder() / "params.npz").exists()     # no NaN weights written, ever
    assert c.record()["status"] == "diverged"


def test_kill_9_loses_at_most_an_epoch_and_resume_matches_an_uninterrupted_run(child):
    whole = child("--epochs", "3", out="whole")
    assert whole.finish() == 0, whole.err_text
    c = child("--epochs", "3", "--callback", "fault", env={"TG_FAULT_AT": "before_epoch:2"})
    c.wait_for("at-before_epoch")           # epoch 2's checkpoint is written
    os.killpg(c.proc.pid, signal.SIGKILL)
    assert c.finish() == -signal.SIGKILL
    assert c.record()["params_saved_at"] == [2, 2 * ITERATIONS]
    assert_complete_and_finite(c.run_folder())
    resumed = child("--resume", str(c.run_folder()))
    assert resumed.finish() == 0, resumed.err_text
    assert "resuming after epoch 2" in resumed.out_text
    expected, got = params(whole.run_folder()), params(c.run_folder())
    assert all(np.array_equal(expected[k], got[k]) for k in expected)
    record = c.record()
    assert record["status"] == "finished" and len(record["loss"]) == 3 * ITERATIONS
    assert record["test_acc"] == whole.record()["test_acc"]
    again = child("--resume", str(c.run_folder()))
    assert again.finish() == 2 and "has finished" in again.err_text


def test_ctrl_c_during_start_up_is_one_line_and_leaves_no_run_folder(child):
    c = child("--epochs", "1", env={"TG_FAULT_IN_STARTUP": "1"})
    c.wait_for("at-startup")
    c.send(signal.SIGINT)
    assert c.finish() == 130
    assert c.err_text.strip() == "tinygrad-edu train: interrupted (Ctrl-C)"
    assert not c.out.exists()


def test_two_runs_started_together_get_folders_of_their_own(child):
    runs = [child("--epochs", "1", "--seed", str(seed)) for seed in (1, 2)]
    assert [r.finish() for r in runs] == [0, 0], [r.err_text for r in runs]
    folders = sorted(p.name for p in runs[0].out.iterdir())
    assert folders == ["run1", "run2"]
    seeds = sorted(runs[0].record(name)["options"]["seed"] for name in folders)
    assert seeds == [1, 2]                   # each folder holds one run's files, not a mix
    for name in folders:
        assert_complete_and_finite(runs[0].run_folder(name))
