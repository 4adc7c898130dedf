"""Where workload A's step goes: the time of every Function's forward and backward, against the
step and against A's lower bound (its matrix products alone). ``--workload D`` does the same for
D's inference pass over the 10,000 test images (no bound).

    python benchmarks/profile_a.py                 # numpy core only (the numba plugin disabled)
    python benchmarks/profile_a.py --plugin        # with the numba plugin's relu and max pooling
    python benchmarks/profile_a.py --threads 2 --steps 60
    python benchmarks/profile_a.py --workload D --steps 3 --threads 2

Each Function class's ``forward`` and ``backward`` are wrapped with a wall-clock timer that
counts *exclusive* time (a Function called inside another one's backward is counted once, as
itself). What no Function accounts for is the engine, Python, the optimizer and the loss glue:
the "rest" line. One thread by default, which a busy machine disturbs least.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugin", action="store_true", help="enable the numba plugin")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workload", choices=("A", "D"), default="A")
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    if not args.plugin:
        os.environ["TINYGRAD_EDU_DISABLE_PLUGINS"] = "tinygrad_edu_numba"
    sys.path.insert(0, str(HERE))
    import workloads_tinygrad as workloads
    from tinygrad_edu.function import Function

    totals: dict[str, float] = defaultdict(float)
    stack: list[float] = []

    def timed(label, method):
        def wrapper(self, *args, **kwargs):
            stack.append(0.0)
            start = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                inner = stack.pop()
                totals[label] += elapsed - inner
                if stack:
                    stack[-1] += elapsed
        return wrapper

    step = getattr(workloads, f"workload_{args.workload}")(False).run
    step()                                   # loads the plugins, compiles or loads kernels
    bound_job = workloads.workload_A_bound(False).run
    classes, pending = set(), list(Function.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls not in classes:
            classes.add(cls)
            pending.extend(cls.__subclasses__())
    for cls in classes:
        for name in ("forward", "backward"):
            if name in vars(cls):
                setattr(cls, name, timed(f"{cls.__name__}.{name}", vars(cls)[name]))
    for _ in range(3):
        step()
    totals.clear()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    per_step = (time.perf_counter() - start) / args.steps
    plugin = "with" if args.plugin else "without"
    if args.workload == "A":
        start = time.perf_counter()
        for _ in range(args.steps):
            bound_job()
        bound = (time.perf_counter() - start) / args.steps
        print(f"A, {args.threads} thread(s), {plugin} the numba plugin: step "
              f"{per_step * 1e3:.2f} ms, its matrix products alone {bound * 1e3:.2f} ms "
              f"(step = {per_step / bound:.1f}x the bound)")
    else:
        print(f"D, {args.threads} thread(s), {plugin} the numba plugin: {per_step * 1e3:.0f} ms "
              f"per pass over the test images")
    print(f"| part (exclusive wall ms per {'step' if args.workload == 'A' else 'pass'}) | ms | share |"
          "\n|---|---|---|")
    rows = sorted(((t / args.steps, label) for label, t in totals.items()), reverse=True)
    for ms, label in rows:
        if ms * 1e3 >= 0.01:
            print(f"| {label} | {ms * 1e3:.2f} | {ms / per_step:.0%} |")
    rest = per_step - sum(ms for ms, _ in rows)
    print(f"| rest: engine, Python, optimizer | {rest * 1e3:.2f} | {rest / per_step:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
