"""Run the benchmark workloads A-F for tinygrad_edu and, when it is installed, PyTorch.

    python benchmarks/run.py                      # A, B, C, D, F (E is long: ask for it)
    python benchmarks/run.py --quick              # one tiny repetition of each (a smoke test)
    python benchmarks/run.py --only A,C --repeat 50 --json out.json
    python benchmarks/run.py --only E             # time to 98.9% MNIST test accuracy (minutes)
    python benchmarks/run.py --only E --e-recipe book   # the book's method: about 20 epochs

Every (workload, framework) pair runs in a fresh Python process, so the frameworks never share
thread pools or memory, and the peak RSS of F is that framework's alone. Both sides get the same
number of threads (``--threads``, 2 by default): numpy's BLAS through OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS and threadpoolctl, PyTorch through ``torch.set_num_threads``.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: some machines set them so that old OpenBLAS builds pick a
safe kernel; they slow a current numpy down (Haswell kernels on an AVX-512 CPU).
``--unset-openblas-coretype`` removes both from the workers' environment only; the BLAS kernel
each worker ran is printed either way.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from spec import (DEFAULT_REPEAT, DESCRIPTIONS, E_DEFAULT_RECIPE, E_RECIPES,  # noqa: E402
                  GOAL_TEXT, QUICK_REPEAT, WARMUP, e_recipe)
from timing import (DEFAULT_THREADS, cpu_busy_fraction, format_seconds,  # noqa: E402
                    limit_blas_threads, machine_description, measure, peak_rss_mib, summarize)

FRAMEWORKS = {"tinygrad": "workloads_tinygrad", "torch": "workloads_torch"}
NUMBA_PLUGIN = "tinygrad_edu_numba"
#: The variants compared: (framework, what is different in the worker's environment).
#: "tinygrad" is the numpy core alone (the optional numba plugin disabled), "tinygrad+numba" the
#: same with the plugin's compiled relu and max pooling; "torch" is PyTorch with glibc's
#: default allocator settings, "torch+malloc" PyTorch with the settings tinygrad_edu applies on
#: import (tinygrad_edu/_malloc.py), given through glibc's environment variables.
VARIANTS = ("tinygrad", "tinygrad+numba", "torch", "torch+malloc")
LABELS = {"tinygrad": "tinygrad_edu", "tinygrad+numba": "tinygrad_edu + numba plugin",
          "torch": "PyTorch", "torch+malloc": "PyTorch, our malloc settings"}
ALL = "ABCDEF"
DEFAULT_SELECTION = "ABCDF"
#: Flag a measurement when other processes used more than this share of the CPUs before it.
BUSY = 0.10


# --------------------------------------------------------------------------- the worker

def worker(framework: str, workload: str, repeat: int, quick: bool, threads: int,
           recipe=None) -> dict:
    """Run one workload of one framework in this (fresh) process and return its result."""
    rss_start = peak_rss_mib()
    module = __import__(FRAMEWORKS[framework])
    info = {"framework": module.NAME, "version": module.version(),
            "threads": {**module.set_threads(threads), **limit_blas_threads(threads)}}
    rss_imported = peak_rss_mib()
    if workload == "A_bound":
        job = module.workload_A_bound(quick)
        samples = measure(job.run, repeat, warmup=0 if quick else WARMUP["A"])
        return {**info, "kind": "time", "unit": job.unit, "note": "", "samples": samples,
                "stats": summarize(samples).to_dict()}
    if workload == "E":
        recipe = recipe or e_recipe()
        return {**info, "kind": "training", "recipe": recipe.describe(), "init": recipe.init,
                **module.workload_E(quick, recipe)}
    job = getattr(module, f"workload_{workload}")(quick)
    warmup = 0 if quick else WARMUP[workload]
    samples = measure(job.run, repeat, warmup=warmup, per=job.per)
    if workload == "F":
        return {**info, "kind": "memory", "peak_rss_mib": peak_rss_mib(),
                "rss_after_import_mib": rss_imported, "rss_interpreter_mib": rss_start,
                "steps": repeat + warmup}
    return {**info, "kind": "time", "unit": job.unit, "note": job.note, "samples": samples,
            "stats": summarize(samples).to_dict()}


def torch_available() -> bool:
    try:
        import importlib.util
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def numba_plugin_available() -> bool:
    try:
        import importlib.util
        return all(importlib.util.find_spec(name) is not None
                   for name in ("numba", NUMBA_PLUGIN))
    except (ImportError, ValueError):
        return False


def malloc_settings() -> dict:
    """glibc's environment variables for the allocator settings tinygrad_edu applies on import
    (the defaults of ``tinygrad_edu._malloc.keep_freed_memory``, read from its signature)."""
    import inspect
    from tinygrad_edu._malloc import keep_freed_memory   # noqa: PLC0415
    defaults = inspect.signature(keep_freed_memory).parameters
    return {"MALLOC_MMAP_THRESHOLD_": str(defaults["mmap_threshold"].default),
            "MALLOC_TRIM_THRESHOLD_": str(defaults["trim_threshold"].default)}


def variant_environment(variant: str, env: dict) -> dict:
    """``env`` changed for one variant (see VARIANTS)."""
    env = dict(env)
    disabled = [n for n in env.get("TINYGRAD_EDU_DISABLE_PLUGINS", "").split(",")
                if n.strip() and n.strip() != NUMBA_PLUGIN]
    if variant == "tinygrad":
        disabled.append(NUMBA_PLUGIN)
    env["TINYGRAD_EDU_DISABLE_PLUGINS"] = ",".join(disabled)
    for name, value in malloc_settings().items():
        if variant == "torch+malloc":
            env[name] = value
        else:
            env.pop(name, None)
    return env


def run_worker(variant, workload, args, repeat) -> dict:
    """Start a fresh interpreter for one (variant, workload) and collect its JSON result."""
    framework = variant.split("+")[0]
    env = variant_environment(variant, os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(args.threads)
    env["NUMBA_NUM_THREADS"] = str(args.threads)
    if args.unset_openblas_coretype:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", framework, workload,
               "--repeat", str(repeat), "--threads", str(args.threads), "--e-recipe", args.e_recipe] \
        + (["--e-init", args.e_init] if args.e_init else []) \
        + (["--max-epochs", str(args.max_epochs)] if args.max_epochs else []) \
        + (["--quick"] if args.quick else [])
    busy = cpu_busy_fraction()
    started = time.perf_counter()
    # E reports each epoch on stderr: let it through; otherwise keep stderr for the error
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True,
                          stderr=None if workload == "E" else subprocess.PIPE)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or "see above").strip().splitlines()[-6:])
        return {"error": f"exit {proc.returncode}: {tail}"}
    result = json.loads(lines[-1])
    result["process_seconds"] = time.perf_counter() - started
    result["busy_before"] = [None if busy is None else round(busy, 3)]
    return result


def _merge(previous, result):
    """Pool the samples of several rounds of a timed workload (the first error wins)."""
    if previous is None:
        return result
    if "error" in previous or "error" in result or result["kind"] != "time":
        return previous if "error" in previous else result
    samples = previous["samples"] + result["samples"]
    return {**result, "samples": samples, "stats": summarize(samples).to_dict(),
            "busy_before": previous["busy_before"] + result["busy_before"]}


# --------------------------------------------------------------------------- the report

def _cell(result) -> str:
    if result is None:
        return "–"
    if "error" in result:
        return "error"
    if result["kind"] == "memory":
        return f"{result['peak_rss_mib']:.0f} MiB"
    if result["kind"] == "training":
        mark = "" if result["reached"] else " (not reached)"
        return (f"{result['epochs']} ep, {result['train_seconds']:.0f} s "
                f"({result['accuracy']:.2%}){mark}")
    s = result["stats"]
    return f"{format_seconds(s['median'])} ± {format_seconds(s['q3'] - s['q1'])}"


def _min(result) -> str:
    if result is None or "error" in result or result["kind"] != "time":
        return "–"
    return format_seconds(result["stats"]["min"])


def _value(result):
    if result is None or "error" in result:
        return None
    return {"time": lambda r: r["stats"]["median"], "memory": lambda r: r["peak_rss_mib"],
            "training": lambda r: r["train_seconds"] if r["reached"] else None}[result["kind"]](
        result)


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if a is not None and b else "–"


def table(results: dict) -> str:
    """A markdown table: median ± IQR (and min) per variant, the ratios of each tinygrad_edu
    variant to PyTorch with its default and with our allocator settings, and the goal."""
    variants = [v for v in VARIANTS if any(v in r for r in results.values())]
    ours = [v for v in variants if v.startswith("tinygrad")]
    theirs = [v for v in variants if v.startswith("torch")]
    ratios = [(o, t) for o in ours for t in theirs]
    rows = ["| workload | " + " | ".join(f"{LABELS[v]}: median ± IQR (min)" for v in variants)
            + "".join(f" | {_short(o)} / {_short(t)}" for o, t in ratios) + " | goal |",
            "|---" * (2 + len(variants) + len(ratios)) + "|"]
    for w, by_variant in results.items():
        cells = [f"{_cell(by_variant.get(v))} ({_min(by_variant.get(v))})"
                 if by_variant.get(v) and by_variant[v].get("kind") == "time"
                 else _cell(by_variant.get(v)) for v in variants]
        cells += [_ratio(_value(by_variant.get(o)), _value(by_variant.get(t))) for o, t in ratios]
        rows.append(f"| {w}. {DESCRIPTIONS[w]} | " + " | ".join(cells) + f" | {GOAL_TEXT[w]} |")
    return "\n".join(rows)


def _short(variant: str) -> str:
    return {"tinygrad": "tg", "tinygrad+numba": "tg+numba", "torch": "torch",
            "torch+malloc": "torch+malloc"}[variant]


def bound_lines(results: dict, bound: dict) -> list[str]:
    """A against its lower bound: the time of its matrix products alone."""
    b = _value(bound)
    if b is None:
        return []
    lines = [f"A's lower bound (its 8 matrix products alone, real shapes, same threads): "
             f"{format_seconds(b)} (min {_min(bound)})"]
    for v in VARIANTS:
        step = _value(results.get("A", {}).get(v))
        if step is not None and step > b:
            lines.append(f"A {LABELS[v]}: step {format_seconds(step)} = {step / b:.1f}x the bound; "
                         f"the other {format_seconds(step - b)} is everything but the products")
        elif step is not None:
            lines.append(f"A {LABELS[v]}: step {format_seconds(step)}, not above the bound: the "
                         f"machine was too busy for this comparison (rerun)")
    return lines


def notes(results: dict) -> list[str]:
    lines = []
    seen = set()
    for w, by_framework in results.items():
        for fw, r in by_framework.items():
            if r is None:
                continue
            if "error" in r:
                lines.append(f"{w} {fw}: {r['error']}")
                continue
            label = LABELS.get(fw, r["framework"])
            key = (fw, json.dumps(r.get("threads"), sort_keys=True))
            if key not in seen:
                seen.add(key)
                lines.append(f"{label} ({r['version']}): threads {r['threads']}")
            if r["kind"] == "memory":
                lines.append(f"F {label}: peak RSS {r['peak_rss_mib']:.0f} MiB after "
                             f"{r['steps']} steps (after imports {r['rss_after_import_mib']:.0f}"
                             f" MiB, bare interpreter {r['rss_interpreter_mib']:.0f} MiB)")
            if r["kind"] == "training":
                lines.append(f"E {label} ({r.get('recipe', r.get('init'))}): accuracy per epoch "
                             + ", ".join(f"{a:.2%}" for a in r["history"])
                             + f"; training {r['train_seconds']:.1f} s, wall with evaluation "
                             f"{r['wall_seconds']:.1f} s")
            busy = [b for b in r.get("busy_before", []) if b is not None]
            if busy and max(busy) > BUSY:
                lines.append(f"{w} {label}: other processes kept the CPUs "
                             f"{max(busy):.0%} busy just before a round: expect noise, compare "
                             f"the minima (or rerun with --threads 1)")
            if r.get("note") and r["note"] not in seen:
                seen.add(r["note"])
                lines.append(f"{w}: data: {r['note']}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one tiny repetition of each workload, no warm-up (a smoke test)")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated workloads out of {ALL} (default "
                             f"{','.join(DEFAULT_SELECTION)}; E runs only when named)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed repetitions per workload (default: per workload, see spec.py)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate the frameworks this many times per timed workload, "
                             "splitting the repetitions (default %(default)s)")
    parser.add_argument("--json", default=None, help="also write all results to this file")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="threads for each framework (default %(default)s)")
    parser.add_argument("--frameworks", default=",".join(VARIANTS),
                        help="comma-separated variants out of " + ", ".join(VARIANTS) +
                             " (default: all; torch* are skipped without PyTorch, "
                             "tinygrad+numba without the numba plugin)")
    parser.add_argument("--e-recipe", choices=sorted(E_RECIPES), default=E_DEFAULT_RECIPE,
                        help="E: how to train, the same on both sides. "
                             + "; ".join(f"{name}: {r.describe()}, at most {r.max_epochs} epochs"
                                         for name, r in E_RECIPES.items())
                             + " (default %(default)s)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="E: give up after this many epochs (default: the recipe's)")
    parser.add_argument("--e-init", choices=("book", "he"), default=None,
                        help="E: initial weights, the book's N(0, 0.01^2) or He normal "
                             "(default: the recipe's); the same arrays on both sides")
    parser.add_argument("--unset-openblas-coretype", action="store_true",
                        help="drop OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for the workers")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        framework, workload = args.worker
        result = worker(framework, workload, args.repeat, args.quick, args.threads,
                        e_recipe(args.e_recipe, args.e_init, args.max_epochs))
        print(json.dumps(result))
        return 0

    selection = (args.only or ",".join(DEFAULT_SELECTION)).upper().replace(" ", "").split(",")
    unknown = [w for w in selection if w not in ALL or not w]
    if unknown:
        parser.error(f"--only: unknown workload(s) {unknown}; choose from {','.join(ALL)}")
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    bad = [f for f in frameworks if f not in VARIANTS]
    if bad:
        parser.error(f"--frameworks: unknown {bad}; choose from {', '.join(VARIANTS)}")
    if any(f.startswith("torch") for f in frameworks) and not torch_available():
        print("PyTorch is not installed: measuring tinygrad_edu only "
              "(pip install torch==2.13.0 to compare)", file=sys.stderr)
        frameworks = [f for f in frameworks if not f.startswith("torch")]
    if "tinygrad+numba" in frameworks and not numba_plugin_available():
        print("the numba plugin is not installed: measuring without it "
              "(pip install -e ./plugins/tinygrad-edu-numba to compare)", file=sys.stderr)
        frameworks.remove("tinygrad+numba")

    machine = machine_description()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; python {machine['python']}, "
          f"numpy {machine['numpy']}; threads per framework: {args.threads}; "
          f"load average {machine['load_average']}")
    if machine["openblas_env"] and not args.unset_openblas_coretype:
        print(f"note: {machine['openblas_env']} is set; numpy's OpenBLAS runs those kernels. "
              f"Pass --unset-openblas-coretype to measure the CPU's own.")
    results: dict = {}
    bound = None
    for w in selection:
        results[w] = {}
        repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT).get(w, 1)
        # Timed workloads alternate between the frameworks over several rounds (a fresh process
        # each), so that both see the same background load; E and F run once.
        rounds = 1 if (args.quick or w in "EF") else max(1, min(args.rounds, repeat))
        for r in range(rounds):
            for fw in frameworks:
                print(f"  running {w} ({fw}) round {r + 1}/{rounds} ...", file=sys.stderr,
                      flush=True)
                share = repeat // rounds + (1 if r < repeat % rounds else 0)
                result = run_worker(fw, w, args, share)
                results[w][fw] = _merge(results[w].get(fw), result)
            if w == "A" and any(f.startswith("tinygrad") for f in frameworks):
                print(f"  running A's lower bound round {r + 1}/{rounds} ...", file=sys.stderr,
                      flush=True)
                bound = _merge(bound, run_worker("tinygrad", "A_bound", args, share))
    print()
    print(table(results))
    print()
    for line in bound_lines(results, bound) + notes(results):
        print("- " + line)
    if args.json:
        from tinygrad_edu.atomic import atomic_write  # noqa: PLC0415
        payload = {"command": " ".join(["python", "benchmarks/run.py"] + (argv or sys.argv[1:])),
                   "machine": machine, "threads": args.threads, "results": results,
                   "A_bound": bound}
        with atomic_write(args.json, "w", encoding="utf-8") as f:
            f.write(json.dumps(payload, indent=1))
    failed = [f"{w}/{fw}" for w, r in results.items() for fw, x in r.items() if "error" in x]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
