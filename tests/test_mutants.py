"""Mutation test of the conformance suite: ``tinygrad-edu check --plugin tinygrad-edu-mutants``
over a third-party distribution of realistic wrong components (tests/mutants, installed as
entry points on a path) rejects every mutant with a report naming the component, the check,
the drawn input and the error, and passes every correct sibling.

The command runs once, in a subprocess (the mutants must not enter this process's registry),
with the command's own defaults: what a plugin author's CI would run.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MUTANTS_PATH = HERE / "mutants"
sys.path.insert(0, str(MUTANTS_PATH))
from tinygrad_edu_mutants import MUTANTS  # noqa: E402
sys.path.remove(str(MUTANTS_PATH))

SIBLINGS = sorted({sibling for sibling, _, _ in MUTANTS.values()})
KINDS = ("activation", "loss", "layer", "optimizer", "initializer")


@pytest.fixture(scope="module")
def check_run():
    """(exit code, {name: status}, {name: report}, last line) of the command."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(MUTANTS_PATH)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    proc = subprocess.run([sys.executable, "-m", "tinygrad_edu", "check", "--plugin",
                           "tinygrad-edu-mutants"], capture_output=True, text=True, env=env,
                          timeout=600)
    statuses = {name: status for status, name in
                re.findall(r"^(PASSED|FAILED) +\w+ +(\w+)", proc.stdout, re.M)}
    body = proc.stdout.split("\ntinygrad-edu check", 1)[0]
    parts = re.split(r"^--- \w+ (\w+) ---$", body, flags=re.M)
    reports = {name: text.strip("\n") for name, text in zip(parts[1::2], parts[2::2])}
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    return proc.returncode, statuses, reports, last


def test_the_mutants_cover_every_kind_and_are_many():
    assert len(MUTANTS) >= 40
    names = MUTANTS.keys()
    assert any(n.startswith("bad_softplus") for n in names)          # activations
    assert any(n.startswith("bad_mse") for n in names)               # losses
    assert any(n.startswith("BadDense") for n in names)              # layers
    assert any(n.startswith("BadAdam") for n in names)               # optimizers
    assert any(n.startswith("bad_he") for n in names)                # initializers


def test_the_command_fails_with_a_one_line_summary(check_run):
    code, statuses, _, last = check_run
    assert code == 1, last
    assert len(statuses) == len(MUTANTS) + len(SIBLINGS), last
    assert last.startswith("tinygrad-edu check (plugin tinygrad-edu-mutants): FAILED - "
                           f"{len(SIBLINGS)} passed, {len(MUTANTS)} failed: "), last


@pytest.mark.parametrize("sibling", SIBLINGS)
def test_every_correct_sibling_passes(check_run, sibling):
    _, statuses, reports, _ = check_run
    assert statuses.get(sibling) == "PASSED", reports.get(sibling, "not run")


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_every_mutant_is_rejected_with_a_report(check_run, mutant):
    _, statuses, reports, _ = check_run
    sibling, bug, check = MUTANTS[mutant]
    assert statuses.get(mutant) == "FAILED", f"{mutant} ({bug}) passed the suite"
    report = reports[mutant]
    lines = report.splitlines()
    # the component, its plugin and the check
    assert re.match(rf"conformance check '{re.escape(check)}' failed for "
                    rf"({'|'.join(KINDS)}) '{mutant}' \(from plugin 'mutants_\w+'\):$",
                    lines[0]), report
    # the input: what was called with what (drawn values, shapes, seeds)
    assert "(nothing drawn yet)" not in report
    assert re.search(r"^  (call|layer|optimizer): ", report, re.M), report
    # the error: a line that says what went wrong, after the input
    assert len(lines) >= 3 and lines[-1].strip(), report


def test_the_catalogue_in_the_docs_lists_every_bug():
    docs = (HERE.parent / "docs" / "plugins.md").read_text()
    catalogue = docs.split("## What the suite guarantees to catch", 1)[1]
    for mutant, (_, bug, check) in MUTANTS.items():
        assert f"`{mutant}`" in catalogue, mutant
