"""The README is a contract: its Quick start is what CI runs, and what it shows exists."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def quick_start_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_quick_start_is_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands), commands


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = quick_start_commands()[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_main_job_command_is_an_installed_script():
    main_job = quick_start_commands()[0]
    assert main_job.endswith("&& tinygrad-edu train")
    assert 'tinygrad-edu = "tinygrad_edu.cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_linked_files_exist():
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)\)", README):
        assert (ROOT / target).exists(), f"README links to missing {target}"


def _run_snippet(index):
    snippets = re.findall(r"```python\n(.*?)\n```", README, flags=re.S)
    namespace = {}
    exec(compile(snippets[index], f"README.md python block {index}", "exec"), namespace)
    return namespace


def test_the_model_script_in_the_readme_trains():
    namespace = _run_snippet(0)
    assert namespace["accuracy"] > 0.7      # 20 Adam steps of a small convnet on real digits


def test_the_core_example_in_the_readme_is_right():
    import numpy as np
    namespace = _run_snippet(1)
    np.testing.assert_allclose(namespace["x"].grad.data, [2.0, 4.0, 6.0])
    t = np.tanh([1.0, 2.0, 3.0])
    np.testing.assert_allclose(namespace["gg"].data, -2 * t * (1 - t ** 2))
