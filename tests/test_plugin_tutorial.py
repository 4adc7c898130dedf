"""The tutorial of docs/plugins.md works as written, next to the installed example plugin.

Its code blocks are extracted into a clean temporary folder (pyproject.toml, the module, the
tests), and the folder is installed as an installer would, into a temporary folder put on the
path: the module, and a ``*.dist-info`` whose METADATA and entry_points.txt are read from the
tutorial's pyproject.toml (``pip install`` itself would need a build backend and the network).
Then the tutorial's own commands run there: its tests, ``tinygrad-edu plugins``, the functional
surface, ``tinygrad-edu check --plugin``. Every step is a subprocess with a timeout.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")   # Python 3.11+

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
TUTORIAL = DOCS.read_text().split("## From an empty folder to a working plugin", 1)[1] \
    .split("\n## ", 1)[0]


def tutorial_files() -> dict:
    """{relative path: text} of the files the tutorial writes."""
    files = {}
    for language, code in re.findall(r"```(\w+)\n(.*?)```", TUTORIAL, re.S):
        if language == "toml":
            files["pyproject.toml"] = code
        elif language == "python" and code.startswith("# tests/"):
            files[code.splitlines()[0][2:].strip()] = code
        elif language == "python" and code.startswith('"""'):
            module = re.match(r'"""(\w+):', code).group(1)
            files[f"{module}.py"] = code
    return files


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(project folder, environment with the installed tutorial plugin on the path)."""
    project = tmp_path_factory.mktemp("tinygrad-edu-squareplus")
    for name, text in tutorial_files().items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    site = tmp_path_factory.mktemp("site")
    install(project, site)
    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop("TINYGRAD_EDU_DISABLE_PLUGINS", None)
    return project, env


def install(project: Path, site: Path) -> None:
    """What an installer puts into site-packages for the project: its modules and a dist-info
    folder with the metadata and the entry points of its pyproject.toml."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    for module in project.glob("*.py"):
        shutil.copy(module, site / module.name)
    info = site / f"{re.sub(r'[-.]+', '_', meta['name'])}-{meta['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\n"
                                   f"Version: {meta['version']}\n")
    groups = meta.get("entry-points", {})
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items())
        for group, points in groups.items()))


def run(args, env, cwd=None, timeout=300):
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def test_the_tutorial_writes_its_three_files():
    assert set(tutorial_files()) == {"pyproject.toml", "tinygrad_edu_squareplus.py",
                                     "tests/test_squareplus.py"}


def test_its_plugin_loads_next_to_the_example_plugin(installed):
    _, env = installed
    proc = run([sys.executable, "-m", "tinygrad_edu", "plugins"], env)
    assert proc.returncode == 0, proc.stderr
    assert "squareplus" in proc.stdout and "tinygrad_edu_example" in proc.stdout
    assert "quarantined" not in proc.stdout, proc.stdout
    command = re.search(r'\$ python -c "(.*?)"\n', TUTORIAL).group(1)
    proc = run([sys.executable, "-c", command], env)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"1\.618.*0\.618", proc.stdout), proc.stdout   # (x + sqrt(x²+4)) / 2


def test_its_own_tests_pass(installed):
    project, env = installed
    proc = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], env,
               cwd=project, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout


def test_check_plugin_is_fit_for_its_ci(installed):
    _, env = installed
    proc = run([sys.executable, "-m", "tinygrad_edu", "check", "--plugin",
                "tinygrad-edu-squareplus"], env)
    last = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.match(r"tinygrad-edu check \(plugin tinygrad-edu-squareplus\): OK - 2 passed, "
                    r"0 failed, 0 skipped in [\d.]+ s$", last), last
