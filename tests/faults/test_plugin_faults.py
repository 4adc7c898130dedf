"""Fault injection for plugins: real distributions with ``tinygrad_edu`` entry points, installed
on a path (``PYTHONPATH``) and loaded by a fresh interpreter, that end the process, fake or
receive a Ctrl-C, patch the framework and then fail, take 30 s to import, or are disabled by a
name that does not exist. Every subprocess is bounded by a timeout and none is left running.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

TIMEOUT = 60

HEADER = """
from tinygrad_edu.components import Component
from tinygrad_edu.hookspecs import hookimpl
"""

GOOD_ACTIVATION = HEADER + """
def cube(x):
    "cube(x) = x ** 3"
    return x * x * x

@hookimpl
def register_activations():
    return [Component("cube", cube)]
"""


def install(site: Path, dist: str, module: str, source: str) -> None:
    """A distribution ``dist`` whose entry point ``module`` is the module ``module``."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[tinygrad_edu]\n{module} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))


def environment(site: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_EDU_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def run(site: Path, *args: str, script: str | None = None, **extra) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", textwrap.dedent(script)] if script else \
        [sys.executable, "-m", "tinygrad_edu", *args]
    return subprocess.run(command, env=environment(site, **extra), capture_output=True,
                          text=True, timeout=TIMEOUT)


USE_THE_FRAMEWORK = """
import warnings
warnings.simplefilter("always")
import numpy as np
from tinygrad_edu import F, Tensor, plugins
print("cube", F.cube(Tensor(2.0)).item())
print("relu", F.relu(Tensor(np.array([-1.0, 2.0]))).data.tolist())
print("2*3", (Tensor(2.0) * Tensor(3.0)).item())
for r in plugins.quarantined():
    print("QUARANTINED", r.name, r.stage, r.error)
print("reached the end")
"""


@pytest.fixture
def site(tmp_path):
    install(tmp_path, "good-cube", "good_cube", GOOD_ACTIVATION)
    return tmp_path


# ----------------------------------------------------- ending the process, faking Ctrl-C


@pytest.mark.parametrize("statement, said", [
    ("import sys; sys.exit(0)", "called sys.exit(0)"),
    ("raise SystemExit(3)", "called sys.exit(3)"),
    ("raise KeyboardInterrupt", "raised KeyboardInterrupt itself (no Ctrl-C was pressed)"),
    ("class Fatal(BaseException): pass\nraise Fatal()", "raised Fatal, which would end the program"),
])
def test_a_plugin_that_ends_the_process_at_import_is_quarantined(site, statement, said):
    install(site, "exiting-plugin", "exiting_plugin", statement + "\n")
    result = run(site, script=USE_THE_FRAMEWORK)
    assert result.returncode == 0, result.stderr
    assert "reached the end" in result.stdout                      # the script went on
    assert "cube 8.0" in result.stdout and "relu [0.0, 2.0]" in result.stdout
    assert f"QUARANTINED exiting_plugin import the plugin {said}" in result.stdout
    assert "exiting_plugin.py:" in result.stdout                   # where in the plugin
    assert "PluginWarning" in result.stderr and "exiting_plugin" in result.stderr
    listing = run(site, "plugins")
    assert "exiting_plugin" in listing.stdout and said in listing.stdout
    assert listing.returncode == 0 and run(site, "plugins", "--strict").returncode == 1


def test_sys_exit_in_a_registration_hook_is_quarantined(site):
    install(site, "exit-in-hook", "exit_in_hook", HEADER + textwrap.dedent("""
        import sys

        @hookimpl
        def register_losses():
            sys.exit("no losses today")
    """))
    result = run(site, script=USE_THE_FRAMEWORK)
    assert result.returncode == 0 and "reached the end" in result.stdout, result.stderr
    assert ("QUARANTINED exit_in_hook register_losses the plugin called "
            "sys.exit('no losses today')") in result.stdout


def test_sys_exit_in_a_lifecycle_hook_raises_an_error_naming_the_plugin(site):
    install(site, "exit-in-epoch", "exit_in_epoch", HEADER + textwrap.dedent("""
        @hookimpl
        def register_activations():
            return [Component("halve", lambda x: x * 0.5)]

        @hookimpl
        def after_epoch(epoch):
            raise SystemExit(0)
    """))
    result = run(site, script="""
        from tinygrad_edu import plugins, registry
        from tinygrad_edu.plugins import PluginError
        print("halve" in registry.names("activation"))
        try:
            plugins.call_hook("after_epoch", trainer=None, epoch=0, logs={})
        except PluginError as error:
            print("ERROR", error)
        print("halve" in registry.names("activation"), plugins.call_hook(
            "after_epoch", trainer=None, epoch=1, logs={}))
        print([(r.name, r.stage) for r in plugins.quarantined()])
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "True"
    assert lines[1] == ("ERROR tinygrad_edu plugin 'exit_in_epoch' called sys.exit(0) in hook "
                        "'after_epoch'; it is quarantined and the program goes on without it")
    assert lines[2] == "False []"                      # its components and hooks are gone
    assert lines[3] == "[('exit_in_epoch', 'after_epoch')]"


# ------------------------------------------------------------------- patches undone


def test_a_failing_plugin_s_patches_of_the_core_are_undone(site):
    install(site, "patcher", "patcher", """
        from tinygrad_edu import ops
        from tinygrad_edu.tensor import Tensor

        Tensor.__mul__ = lambda self, other: Tensor(9.0)
        Tensor.brand_new_method = lambda self: "patched"
        ops.exp = lambda x: "patched exp"
        import a_module_that_is_not_installed
    """)
    result = run(site, script=USE_THE_FRAMEWORK + """
from tinygrad_edu import ops
print("exp", ops.exp(Tensor(0.0)).item(), hasattr(Tensor, "brand_new_method"))
""")
    assert result.returncode == 0, result.stderr
    assert "2*3 6.0" in result.stdout                       # not 9
    assert "exp 1.0 False" in result.stdout
    quarantined = [line for line in result.stdout.splitlines() if "QUARANTINED patcher" in line]
    assert len(quarantined) == 1
    line = quarantined[0]
    assert "ModuleNotFoundError" in line and "what it changed was undone" in line
    assert "tinygrad_edu.tensor.Tensor.__mul__" in line and "tinygrad_edu.ops.exp" in line


def test_a_patch_made_in_a_raising_registration_hook_is_undone(site):
    install(site, "hook-patcher", "hook_patcher", HEADER + textwrap.dedent("""
        @hookimpl
        def register_layers():
            from tinygrad_edu.tensor import Tensor
            Tensor.__add__ = lambda self, other: Tensor(-1.0)
            raise RuntimeError("half done")
    """))
    result = run(site, script="""
        import warnings
        warnings.simplefilter("ignore")
        from tinygrad_edu import Tensor, plugins
        plugins.plugin_records()
        print((Tensor(2.0) + Tensor(3.0)).item())
        print(plugins.quarantined()[0].error)
    """)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == "5.0"
    assert second.startswith("RuntimeError: half done")
    assert "Tensor.__add__" in second


# ---------------------------------------------------------------------------- Ctrl-C


def _interrupt_while_importing(site: Path, command: list[str]) -> subprocess.CompletedProcess:
    install(site, "slow-plugin", "slow_plugin", """
        import sys, time
        print("importing the slow plugin", flush=True)
        time.sleep(30)
    """)
    process = subprocess.Popen(command, env=environment(site), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + TIMEOUT
        line = process.stdout.readline()
        assert "importing the slow plugin" in line, line
        assert time.monotonic() < deadline
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def test_a_real_ctrl_c_while_loading_plugins_still_interrupts_the_cli(site):
    result = _interrupt_while_importing(site, [sys.executable, "-m", "tinygrad_edu", "plugins"])
    assert result.returncode == 130
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(r"tinygrad-edu( plugins)?: interrupted( \(Ctrl-C\))?",
                                            lines[0]), lines
    assert "quarantined" not in result.stdout


def test_a_real_ctrl_c_while_loading_plugins_interrupts_a_script(site):
    script = "from tinygrad_edu import F\nF.relu\nprint('not reached')\n"
    result = _interrupt_while_importing(site, [sys.executable, "-c", script])
    assert result.returncode != 0 and "not reached" not in result.stdout
    assert "KeyboardInterrupt" in result.stderr
    assert "while loading tinygrad_edu plugin 'slow_plugin'" in result.stderr


# ------------------------------------------------------------------ start-up, disabling


def test_version_and_help_do_not_wait_for_a_slow_plugin(site):
    install(site, "slow-plugin", "slow_plugin", "import time\ntime.sleep(30)\n")
    for args, expected in ((["--version"], "tinygrad-edu 0.1.0"), (["--help"], "usage:")):
        start = time.monotonic()
        result = run(site, *args)
        assert result.returncode == 0 and expected in result.stdout, result.stderr
        assert time.monotonic() - start < 15, f"{args} waited for the plugin"


def test_disabling_an_unknown_plugin_name_warns_with_the_known_names(site):
    result = run(site, "plugins", TINYGRAD_EDU_DISABLE_PLUGINS="nosuch,good_cube")
    assert result.returncode == 0
    assert "'nosuch', which is no plugin (ignored)" in result.stderr
    assert "good_cube" in result.stderr and "layers" in result.stderr    # the known names
    assert "1 disabled: good_cube" in result.stdout
    quiet = run(site, "plugins", TINYGRAD_EDU_DISABLE_PLUGINS="good_cube")
    assert "no plugin" not in quiet.stderr


def test_in_a_lifecycle_hook_a_keyboard_interrupt_is_taken_for_ctrl_c_and_names_the_plugin(site):
    """During training the Trainer owns SIGINT, so a KeyboardInterrupt from a hook cannot be
    told from a Ctrl-C: it propagates (the Trainer stops as on Ctrl-C), noted with the plugin."""
    script = textwrap.dedent("""
        import os, signal, time
        from tinygrad_edu import hookimpl, plugins

        class PressesCtrlC:
            @staticmethod
            @hookimpl
            def before_epoch(epoch):
                os.kill(os.getpid(), signal.SIGINT)    # what the terminal does on Ctrl-C
                time.sleep(5)

        class RaisesIt:
            @staticmethod
            @hookimpl
            def after_epoch(epoch):
                raise KeyboardInterrupt

        plugins.register_plugin(PressesCtrlC, name="presses")
        plugins.register_plugin(RaisesIt, name="raises")
        for hook, kwargs in (("before_epoch", {}), ("after_epoch", {"logs": {}})):
            try:
                plugins.call_hook(hook, trainer=None, epoch=0, **kwargs)
            except KeyboardInterrupt as interrupt:
                print("KeyboardInterrupt", getattr(interrupt, "__notes__", []))
        print(plugins.quarantined())
    """)
    result = subprocess.run([sys.executable, "-c", script], env=environment(site),
                            capture_output=True, text=True, timeout=TIMEOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "KeyboardInterrupt [\"(in hook 'before_epoch' of tinygrad_edu plugin 'presses')\"]",
        "KeyboardInterrupt [\"(in hook 'after_epoch' of tinygrad_edu plugin 'raises')\"]",
        "[]"]
