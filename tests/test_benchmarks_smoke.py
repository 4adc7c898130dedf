"""The benchmark script runs: one tiny repetition of each workload (--quick), no timing asserted."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load_timing():
    """benchmarks/timing.py, loaded by path (benchmarks/ is not a package, and putting it on
    sys.path would let its module names shadow others in the test session)."""
    spec = importlib.util.spec_from_file_location("benchmarks_timing", BENCHMARKS / "timing.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


summarize = _load_timing().summarize


def test_summarize_gives_median_quartiles_and_minimum():
    s = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.median, s.q1, s.q3, s.min, s.n) == (3.0, 2.0, 4.0, 1.0, 5)
    assert s.iqr == 2.0
    assert summarize([7.0]).median == summarize([7.0]).q3 == 7.0
    with pytest.raises(ValueError):
        summarize([])


def test_quick_run_of_every_workload_except_E(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--frameworks", "tinygrad",
         "--only", "A,B,C,D,F", "--json", str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for w in "ABCDF":
        assert f"| {w}. " in proc.stdout
    results = json.loads(out.read_text())["results"]
    assert set(results) == set("ABCDF")
    for w in "ABCD":
        r = results[w]["tinygrad"]
        assert r["kind"] == "time" and r["stats"]["n"] == 1 and r["stats"]["median"] > 0
    assert results["F"]["tinygrad"]["peak_rss_mib"] >= results["F"]["tinygrad"][
        "rss_after_import_mib"] > 0


def test_unknown_workload_is_a_clear_error():
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "run.py"), "--only", "Z"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown workload" in proc.stderr
