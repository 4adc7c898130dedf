"""The ``tinygrad-edu`` command (also ``python -m tinygrad_edu``).

    tinygrad-edu train                      SimpleConvNet on MNIST (the embedded sample when the
                                            full data are not found): progress bar, test
                                            accuracy, weights (.npz) and curves (.png)
    tinygrad-edu train --model mlp --optimizer sgd --lr 0.1 --epochs 5
    tinygrad-edu plugins                    installed plugins, what each registers, failures
    tinygrad-edu check [NAME ...]           the conformance suite over the registered components
    tinygrad-edu check --plugin DIST        ... over what one plugin or distribution registers
    tinygrad-edu reproduce [NAME ...]       the experiment scripts in examples/ (--quick: seconds)
    tinygrad-edu graph --model mlp          the computation graph of one training step, as DOT
    tinygrad-edu graph --html step.html     ... as a page stepping through backward (--png: a picture)

Every command has ``--help``. An error is one line on stderr (``--debug`` or
``TINYGRAD_EDU_DEBUG=1`` adds the traceback), and the exit status says what happened:

    0    done
    1    an error (data, files, a plugin or callback raised), or a check or experiment failed
    2    bad arguments, including paths that do not exist or cannot be written
    3    training diverged (a loss or parameter stopped being finite)
    130  Ctrl-C (SIGINT); training saves its checkpoint first
    143  SIGTERM during training, after saving (outside training, the default: killed)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tinygrad_edu import __version__
from tinygrad_edu.arguments import UsageError, number, positive_int

PROG = "tinygrad-edu"


EXIT_ERROR, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 1, 2, 3, 130
DEBUG_ENV = "TINYGRAD_EDU_DEBUG"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: ``tinygrad-edu train: error: ... (see --help)``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# ------------------------------------------------------------------------------ argument types




# ------------------------------------------------------------------------------ plugins


def _plural(kind: str) -> str:
    return kind + ("es" if kind.endswith("s") else "s")


def _role(slot, comp) -> str:
    """How one implementation of a replaced name stands: active, standard, or why not used."""
    roles = ["standard"] if comp is slot.standard else []
    if comp is slot.active:
        roles.append("active")
    elif comp is not slot.standard:
        roles.append(slot.notes.get(comp.plugin, f"priority {comp.priority}, outranked"))
    return ", ".join(roles)


def cmd_plugins(args) -> int:
    from tinygrad_edu import plugins

    records = plugins.plugin_records()
    rows = [record.as_row() for record in records]
    manager = plugins.get_plugin_manager()
    replaced = plugins.name_table().replaced()
    for record, row in zip(records, rows):   # which lifecycle hooks each loaded plugin implements
        callers = manager.get_hookcallers(record.plugin) if record.status == "loaded" else None
        row["hooks"] = sorted(c.name for c in callers or [] if not c.name.startswith("register_"))
        row["active_replacements"] = sorted(
            f"{slot.standard.kind}:{slot.standard.name}" for slot in replaced
            if slot.active is not None and slot.active.plugin == record.name
            and slot.active is not slot.standard)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    loaded = [r for r in rows if r["status"] == "loaded"]
    disabled = [r for r in rows if r["status"] == "disabled"]
    broken = [r for r in rows if r["status"] == "quarantined"]
    print(f"{len(loaded)} plugin(s) loaded from the entry-point group '{plugins.ENTRY_POINT_GROUP}':")
    for r in loaded:
        where = f"{r['distribution']} {r['version']}".strip() or r["entry_point"]
        print(f"  {r['name']}  ({where})")
        for kind, names in r["registers"].items():
            if names:
                print(f"      {_plural(kind)}: {', '.join(names)}")
        for kind, names in r["replaces"].items():
            print(f"      replaces {_plural(kind)}: {', '.join(names)}")
        if r["hooks"]:
            print(f"      lifecycle hooks: {', '.join(r['hooks'])}")
        if not any(r["registers"].values()) and not r["replaces"] and not r["hooks"]:
            print("      (registers nothing)")
    if replaced:
        print("replaced names (the active implementation first):")
        for slot in replaced:
            chain = " > ".join(f"{c.plugin} ({_role(slot, c)})" for c in slot.implementations())
            print(f"  {slot.standard.kind} {slot.standard.name}: {chain}")
    if disabled:
        print(f"{len(disabled)} disabled: " + ", ".join(r["name"] for r in disabled)
              + f"  (see ${plugins.DISABLE_ENV})")
    if broken:
        print(f"{len(broken)} plugin(s) quarantined (not used; the others work):")
        for r in broken:
            where = f"{r['distribution']} {r['version']}".strip() or r["entry_point"]
            print(f"  {r['name']}  ({where}; entry point {r['entry_point']!r})")
            print(f"      error: {r['error']}")
    return 1 if broken and args.strict else 0


# ------------------------------------------------------------------------------ check


def cmd_check(args) -> int:
    if importlib.util.find_spec("hypothesis") is None:   # a broken install: it is a dependency
        print(f"{PROG} check: the conformance suite needs hypothesis, which is not installed: "
              f"pip install hypothesis (a dependency of tinygrad-edu)", file=sys.stderr)
        return 2
    from tinygrad_edu.testing.conformance import run_checks

    def show(result):
        line = f"{result.status.upper():7} {result.kind:11} {result.name}"
        if result.plugin and result.plugin != result.name:
            line += f"  (plugin {result.plugin})"
        if result.status == "skipped":
            line += f": {result.message}"
        print(line, flush=True)

    start = time.perf_counter()
    jobs = args.jobs if args.jobs is not None else min(os.cpu_count() or 1, 4)
    try:
        results = run_checks(args.names or None, max_examples=args.max_examples,
                             plugin=args.plugin, jobs=jobs, on_result=show)
    except LookupError as error:
        raise UsageError(str(error).splitlines()[0]) from None
    failed = [r for r in results if r.failed]
    for r in failed:
        print(f"\n--- {r.kind} {r.name} ---\n{r.message}")
    passed = sum(r.passed for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    scope = f" (plugin {args.plugin})" if args.plugin else ""
    verdict = "FAILED" if failed else ("NOTHING CHECKED" if not passed else "OK")
    names = f": {', '.join(r.name for r in failed)}" if failed else ""
    print(f"\n{PROG} check{scope}: {verdict} - {passed} passed, {len(failed)} failed{names}, "
          f"{skipped} skipped in {time.perf_counter() - start:.1f} s")
    return 1 if failed or not passed else 0


# ------------------------------------------------------------------------------ reproduce

_EXPERIMENT = re.compile(r"^ex(\d+)_(\w+)\.py$")


def examples_directory(explicit: str | None = None) -> Path | None:
    """Where the experiment scripts are: ``--examples DIR``, ``./examples``, or the
    ``examples`` folder next to the installed package (a source checkout)."""
    candidates = [Path(explicit)] if explicit else [Path.cwd() / "examples",
                                                    Path(__file__).resolve().parent.parent / "examples"]
    for directory in candidates:
        if directory.is_dir() and any(_EXPERIMENT.match(p.name) for p in directory.iterdir()):
            return directory
    return None


def discover_experiments(directory: Path) -> list[tuple[str, Path]]:
    """The experiment scripts ``exN_name.py`` of ``directory``, by number: [(stem, path)]."""
    found = []
    for path in directory.iterdir():
        match = _EXPERIMENT.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path.stem, path))
    return [(stem, path) for _, stem, path in sorted(found)]


def _select(experiments, wanted):
    """Match names: "ex3_overfitting", "overfitting", "ex3" or "3"."""
    chosen = []
    for name in wanted:
        key = name.lower().removesuffix(".py")
        hits = [(stem, path) for stem, path in experiments
                if key in (stem, stem.split("_", 1)[1], stem.split("_", 1)[0], stem.split("_", 1)[0][2:])]
        if not hits:
            available = ", ".join(stem for stem, _ in experiments)
            raise UsageError(f"unknown experiment {name!r}; available: {available}")
        for hit in hits:
            if hit not in chosen:
                chosen.append(hit)
    return chosen


def cmd_reproduce(args) -> int:
    directory = examples_directory(args.examples)
    if directory is None:
        where = args.examples or f"{Path.cwd() / 'examples'} or next to the package"
        print(f"{PROG} reproduce: no experiment scripts (examples/exN_name.py) found in {where}; "
              f"run it from a source checkout or pass --examples DIR", file=sys.stderr)
        return 1
    experiments = discover_experiments(directory)
    chosen = _select(experiments, args.experiments) if args.experiments else experiments
    if args.list:
        for stem, path in experiments:
            print(f"{stem}  ({path})")
        return 0
    mode = "--quick" if args.quick else "full"
    outcomes = []
    for stem, path in chosen:
        command = [sys.executable, str(path)] + (["--quick"] if args.quick else []) + list(args.extra)
        print(f"=== {stem} ({mode}): {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(command)
        seconds = time.perf_counter() - start
        outcomes.append((stem, code, seconds))
        print(f"=== {stem}: {'ok' if code == 0 else f'FAILED (exit status {code})'} in {seconds:.1f} s\n",
              flush=True)
    failed = [stem for stem, code, _ in outcomes if code != 0]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} experiment(s) succeeded"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


# ------------------------------------------------------------------------------ graph


def cmd_graph(args) -> int:
    import numpy as np

    from tinygrad_edu import Tensor, registry
    from tinygrad_edu.graphviz import save_dot, to_dot
    from tinygrad_edu.models import get_model

    model = get_model(args.model, input_shape=(1, 28, 28), num_classes=10, seed=0)
    for name, p in model.named_parameters():
        p.name = name
    title = f"{args.model}: one training step's graph"
    if args.html or args.png:
        return _explain_step(args, model, title)
    x = Tensor(np.zeros((args.batch, 1, 28, 28), np.float32), name="x")
    loss = registry.get("loss", "softmax_cross_entropy")(model(x), np.zeros(args.batch, np.int64))
    loss.name = "loss"
    if args.out:
        path = save_dot(loss, args.out, title=title)
        print(f"wrote {path}; render it with: dot -Tpng {path} -o {Path(path).with_suffix('.png')}")
    else:
        sys.stdout.write(to_dot(loss, title=title))
    return 0


def _explain_step(args, model, title) -> int:
    """``graph --html/--png``: one step on the first ``--batch`` images of the embedded MNIST
    sample, explained (backward recorded, layers grouped by the Module that made them)."""
    import numpy as np

    from tinygrad_edu import Tensor, registry
    from tinygrad_edu.data.mnist import load_sample
    from tinygrad_edu.explain import describe, record_modules

    sample = load_sample()
    if args.batch > len(sample.x_train):
        raise UsageError(f"--batch: the embedded sample has {len(sample.x_train)} training images")
    images = (sample.x_train[:args.batch] / np.float32(255)).astype(np.float32)
    x = Tensor(images.reshape(args.batch, 1, 28, 28), name="x")
    labels = sample.t_train[:args.batch].astype(np.int64)
    with record_modules() as calls:
        loss = registry.get("loss", "softmax_cross_entropy")(model(x), labels)
    loss.name = "loss"
    data = describe(loss, modules=calls, title=f"{title} (batch {args.batch})")
    if args.html:
        from tinygrad_edu.explain.html import save_html
        print(f"wrote {save_html(data, args.html)}: open it in a browser (it needs nothing else)")
    if args.png:
        from tinygrad_edu.explain.png import save_png
        print(f"wrote {save_png(data, args.png)}")
    return 0


# ------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    from tinygrad_edu import train_command
    from tinygrad_edu.registry import NameChoices

    parser = _Parser(prog=PROG, description="tinygrad_edu: a small deep-learning framework on numpy "
                     "for learning how backpropagation works.",
                     epilog=f"Run `{PROG} COMMAND --help` for the options of a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help=f"show the traceback of an error (also ${DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("plugins", help="list the installed plugins and what each registers",
                       description="List the installed plugins (entry-point group 'tinygrad_edu'), their "
                                   "versions and the components each registers, per kind; plugins that "
                                   "failed to load are listed with their error.")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if a plugin was quarantined")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("train", help="train a model on MNIST (default: SimpleConvNet, well under a minute)",
                       description="Train a model on MNIST or Fashion-MNIST, show a progress bar, print the "
                                   "test accuracy and save, in a new run folder (runs/<model>/runN), the "
                                   "weights (params.npz), the optimizer state, the history (history.json) "
                                   "at every epoch and on every way out, and the curves (curves.png). "
                                   "Ctrl-C or SIGTERM: save, then exit 130 or 143; a diverging loss: "
                                   "exit 3, the last good weights kept. With no options: "
                                   "SimpleConvNet, Adam with a cosine learning-rate decay, 10 epochs on the "
                                   "embedded MNIST sample when the full data are not found (about 20 s "
                                   "on 2 cores).")
    train_command.add_arguments(p)
    p.set_defaults(func=train_command.cmd_train)

    p = sub.add_parser("check", help="run the conformance suite over the registered components",
                       description="Check every registered component (or the named ones: relu, conv2d, "
                                   "adam, loss:mse ...) against its declared properties: gradients by "
                                   "finite differences, dtypes, optimizer formulas, initializer "
                                   "statistics. The last line is a one-line summary; exits with 1 if "
                                   "a check fails (or nothing was checked), 2 on a bad argument.")
    p.add_argument("names", nargs="*", metavar="NAME", help="components to check (default: all)")
    p.add_argument("--plugin", metavar="NAME", default=None,
                   help="check only what one plugin registers (a plugin name, or a distribution "
                        "name: all its plugins); a plugin that fails to load fails the check")
    p.add_argument("--max-examples", type=positive_int, default=None, metavar="N",
                   help="hypothesis examples per check (default: 10)")
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="worker processes (default: the CPU count, at most 4)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("reproduce", help="run the experiment scripts (examples/exN_*.py)",
                       description="Run the experiments of examples/ (the scripts named exN_name.py, found "
                                   "in ./examples or next to the package), each writing its figures and "
                                   "results.json under runs/examples/<name>. Exits with 1 if one fails.",
                       epilog="Options after -- are passed to every script, e.g. "
                              "`tinygrad-edu reproduce --quick -- --source sample --seed 1`.")
    p.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                   help="which ones: ex3_overfitting, overfitting, ex3 or 3 (default: all)")
    p.add_argument("--quick", action="store_true", help="the quick mode (seconds each)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--examples", metavar="DIR", default=None, help="the folder holding the scripts")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("graph", help="the computation graph of a model: DOT, an explain page or a PNG",
                       description="Build a model, run one forward pass and the loss on a small batch, and "
                                   "print (or save) the graph behind the loss as Graphviz DOT text; "
                                   "--html writes a self-contained page that steps through backward, "
                                   "--png the same layout as a picture.")
    p.add_argument("--model", type=NameChoices("model"), choices=NameChoices("model"), metavar="NAME",
                   default="mlp", help="the model (default: mlp), any registered one: %(choices)s")
    p.add_argument("--batch", type=positive_int, default=2, help="batch size of the example input")
    p.add_argument("--out", metavar="FILE", default=None, help="write the DOT text to FILE")
    p.add_argument("--html", metavar="FILE", default=None,
                   help="write the explain page of one step on real MNIST images: values, gradients, "
                        "a step-through of backward (one file, no network)")
    p.add_argument("--png", metavar="FILE", default=None, help="draw the same layout as a PNG picture")
    p.set_defaults(func=cmd_graph)
    for command_parser in sub.choices.values():   # `tinygrad-edu COMMAND --debug` as well
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                    help=f"show the traceback of an error (also ${DEBUG_ENV}=1)")
    return parser


def _debugging(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "reproduce" in argv and "--" in argv[argv.index("reproduce"):]:
        cut = argv.index("--", argv.index("reproduce"))   # `reproduce ... -- SCRIPT OPTIONS`
        argv, extra = argv[:cut], argv[cut + 1:]
    where = PROG
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.error("a command is required: plugins, train, check, reproduce or graph")
        args.extra = extra
        where = f"{PROG} {args.command}"
        return args.func(args)
    except UsageError as error:
        print(f"{where}: error: {error} (see `{where} --help`)", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{where}: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:   # `tinygrad-edu plugins | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as error:
        from tinygrad_edu.train import DivergenceError, _one_line

        if _debugging(argv):
            import traceback

            traceback.print_exc()
        hint = "" if _debugging(argv) else " (--debug shows the traceback)"
        known = isinstance(error, (ValueError, OSError, LookupError, FloatingPointError))
        print(f"{where}: error: {_one_line(error, with_type=not known)}{hint}", file=sys.stderr)
        return EXIT_DIVERGED if isinstance(error, DivergenceError) else EXIT_ERROR


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
