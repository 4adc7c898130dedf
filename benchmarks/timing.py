"""Timing helpers shared by every benchmark: repeated measurement, robust summaries, threads, RSS.

A workload is timed ``repeat`` times after ``warmup`` untimed runs, each run with
``time.perf_counter``. We summarise with the *median* (robust to the occasional slow run when the
two cores are shared with other work) and the interquartile range ``IQR = Q3 - Q1`` (how much the
runs spread), plus the minimum (the best the machine did). The garbage collector stays on: a real
training loop runs with it, and a framework that makes many small objects pays for it.
"""
from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from dataclasses import asdict, dataclass

#: Threads each framework may use. The benchmark machine has 2 cores; both sides get both.
DEFAULT_THREADS = 2


@dataclass
class Stats:
    """Summary of ``n`` timings in seconds (each already divided by the work per run)."""

    median: float
    q1: float
    q3: float
    min: float
    n: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(samples: list[float]) -> Stats:
    """Median, quartiles (linear interpolation between order statistics) and minimum."""
    if not samples:
        raise ValueError("summarize: no samples")
    ordered = sorted(samples)
    if len(ordered) == 1:
        q1 = q3 = ordered[0]
    else:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return Stats(statistics.median(ordered), q1, q3, ordered[0], len(ordered))


def measure(run, repeat: int, warmup: int = 1, per: float = 1.0) -> list[float]:
    """Call ``run()`` ``warmup`` times untimed, then ``repeat`` times timed; return the seconds
    of each timed call divided by ``per`` (e.g. the number of operations in one call)."""
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) / per)
    return samples


def peak_rss_mib() -> float:
    """The peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024.0


def _cpu_ticks():
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]                      # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_busy_fraction(seconds: float = 0.5) -> float | None:
    """How busy all CPUs were over the next ``seconds`` (0..1), measured while this process
    sleeps, so it is the load of *other* processes: what would disturb a timing. None where
    /proc/stat does not exist."""
    try:
        busy0, total0 = _cpu_ticks()
        time.sleep(seconds)
        busy1, total1 = _cpu_ticks()
    except OSError:
        return None
    return (busy1 - busy0) / max(total1 - total0, 1)


def limit_blas_threads(n: int) -> dict:
    """Pin numpy's BLAS (and any OpenMP pool loaded so far) to ``n`` threads with threadpoolctl,
    if it is installed. Returns what was found: {"blas": "...", "threads": n} for the report."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return {"threadpoolctl": "not installed (BLAS threads left as they are)"}
    threadpool_limits(n)
    pools = []
    for pool in threadpool_info():
        pools.append(f"{pool.get('internal_api')} {pool.get('version') or ''} "
                     f"{pool.get('architecture') or ''} threads={pool.get('num_threads')}"
                     .replace("  ", " ").strip())
    return {"pools": sorted(pools)}


def machine_description() -> dict:
    """What the numbers were measured on: CPU model, cores, python and numpy versions."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "openblas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                         if k in os.environ},
    }


def format_seconds(seconds: float) -> str:
    """A duration in the unit that reads best: s, ms or µs, three significant digits."""
    if seconds is None:
        return "–"
    if seconds >= 1.0:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"
