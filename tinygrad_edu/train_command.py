"""The ``tinygrad-edu train`` command: its options, run folders, checkpoints and ``--resume``.

Every run gets a folder of its own under ``--out`` (default ``runs/<model>``): ``run1``,
``run2``, ... (the next free number, taken with ``os.mkdir`` so that two runs started at once
never share one). The :class:`~tinygrad_edu.callbacks.Checkpoint` callback writes into it at the
end of every epoch and on every way out: ``params.npz``, ``optimizer.npz``, ``history.json``
(what the run was, how far it got, how it ended) and, at the end, ``curves.png``.

How a run ends (the exit statuses are listed in :mod:`tinygrad_edu.cli`): after its last
epoch (0); Ctrl-C or SIGTERM (130, 143: after the current batch, with everything saved and
one line saying where); a loss that is no longer finite (3: the last good parameters stay on
disk); an error in a callback (1, saved likewise). ``--resume DIR`` continues a run that did
not finish from its folder.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from tinygrad_edu import interrupts, schedules
from tinygrad_edu.arguments import UsageError, number, positive_int

RUN_PREFIX = "run"
_seed = number(int, lambda v: 0 <= v < 2 ** 32, "an integer from 0 to 2**32 - 1")
_positive_float = number(float, lambda v: 0 < v < float("inf"), "a positive number")


def _weight_init(text: str):
    """A std ("0.01") or an initializer name ("he")."""
    try:
        value = float(text)
    except ValueError:
        return text
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"a std must be >= 0, got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``tinygrad-edu train``."""
    from tinygrad_edu.registry import NameChoices   # names looked up only when needed (--help)

    p.add_argument("--model", type=NameChoices("model"), choices=NameChoices("model"), metavar="NAME",
                   default="simple_convnet", help="the model (default: %(default)s), any registered one: %(choices)s")
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist", help="the dataset (default: %(default)s)")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="folder with the four IDX files; it must exist (else $TINYGRAD_EDU_DATA, "
                        "the user cache)")
    p.add_argument("--source", choices=("auto", "full", "sample"), default="auto",
                   help="auto: the full data if found locally, else the embedded MNIST sample; "
                        "full: the full data (downloaded if missing); sample: the embedded sample "
                        "(default: %(default)s; with --data-dir, auto means the data in DIR)")
    p.add_argument("--optimizer", type=NameChoices("optimizer"), choices=NameChoices("optimizer"),
                   metavar="NAME", default="adam",
                   help="any registered optimizer: %(choices)s (default: %(default)s)")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: the optimizer's own, 0.001 for adam)")
    p.add_argument("--lr-schedule", choices=sorted(schedules.NAMED), default="cosine",
                   help="cosine: decay the learning rate over the run as lr * (1 + cos(pi t/T)) / 2; "
                        "constant: a fixed learning rate (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=10, help="passes over the training data (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=100, help="mini-batch size (default: %(default)s)")
    p.add_argument("--seed", type=_seed, default=0, help="seeds the weights, the shuffling and dropout (default: %(default)s)")
    p.add_argument("--weight-init", type=_weight_init, default="he",
                   help="an initializer name (he, xavier, ...) or a std such as 0.01 (the book's); "
                        "default: %(default)s")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="train on a random subset of N training images")
    p.add_argument("--test-limit", type=positive_int, default=None, metavar="N",
                   help="evaluate on a random subset of N test images")
    p.add_argument("--eval-train-samples", type=positive_int, default=1000, metavar="N",
                   help="training accuracy per epoch is measured on N training images "
                        "(default: %(default)s)")
    p.add_argument("--callback", type=NameChoices("callback"), choices=NameChoices("callback"),
                   action="append", default=[], metavar="NAME",
                   help="use a callback that a plugin offers (repeatable); installed: %(choices)s")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="where the run folders go: each run writes to a new DIR/runN "
                        "(default: runs/<model>)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue the run saved in RUN_DIR (its own options are used; the epoch "
                        "that was cut short is run again from the saved parameters)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


# ------------------------------------------------------------------------------ run folders


def new_run_folder(parent: Path) -> Path:
    """Create and return ``parent/runN`` with N one more than the largest taken. Safe against
    runs started at the same moment: ``os.mkdir`` either creates the folder or fails, so when
    another run took the number first, the next one is tried."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        taken = [int(p.name[len(RUN_PREFIX):]) for p in parent.iterdir()
                 if p.name.startswith(RUN_PREFIX) and p.name[len(RUN_PREFIX):].isdigit()]
        number = max(taken, default=0) + 1
        while True:
            folder = parent / f"{RUN_PREFIX}{number}"
            try:
                os.mkdir(folder)
                return folder
            except FileExistsError:
                number += 1
    except OSError as error:   # a regular file on the way, no permission, a read-only disk
        raise UsageError(f"argument --out: cannot create a run folder in {str(parent)!r}: "
                         f"{error.strerror or error}") from None


def check_out(parent: Path) -> None:
    """Find an unusable ``--out`` before anything is loaded or trained: the nearest existing
    folder on its path must be a folder we may write in."""
    existing = parent.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"argument --out: cannot create a run folder in {str(parent)!r}: "
                         f"{str(existing)!r} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"argument --out: cannot create a run folder in {str(parent)!r}: "
                         f"no permission to write in {str(existing)!r}")


def _subset(x, t, limit, seed):
    """A seeded random subset of ``limit`` samples (all of them when limit is None)."""
    import numpy as np

    if limit is None or limit >= len(x):
        return x, t
    pick = np.sort(np.random.default_rng(seed).choice(len(x), limit, replace=False))
    return x[pick], t[pick]


# The options a run records, and --resume takes back.
RUN_OPTIONS = ("model", "dataset", "data_dir", "source", "optimizer", "lr", "lr_schedule", "epochs",
               "batch_size", "seed", "weight_init", "limit", "test_limit", "eval_train_samples",
               "callback")


def _resume_options(args) -> dict:
    """The saved run's record; its options replace those of ``args``."""
    folder = Path(args.resume)
    path = folder / "history.json"
    try:
        record = json.loads(path.read_text())
        options = record["options"]
    except FileNotFoundError:
        raise UsageError(f"argument --resume: no run to resume in {str(folder)!r} "
                         f"(no history.json)") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"argument --resume: {str(path)!r} is not a run record "
                         f"({type(error).__name__}: {error})") from None
    if record.get("status") == "finished":
        raise UsageError(f"argument --resume: the run in {str(folder)!r} has finished "
                         f"({record.get('epochs_done')} epochs)")
    if record.get("params_saved_at") is None:
        raise UsageError(f"argument --resume: the run in {str(folder)!r} saved no parameters "
                         f"to resume from; start it again")
    for name in RUN_OPTIONS:
        setattr(args, name, options.get(name, getattr(args, name)))
    return record


def _check_data_dir(args) -> None:
    if args.data_dir is None:
        return
    folder = Path(args.data_dir).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"argument --data-dir: {str(args.data_dir)!r} {what}")


def _check_components(args) -> list:
    """Look up what argparse could not (an initializer name; the components a resumed run
    names) before anything is loaded; returns the callbacks, built."""
    from tinygrad_edu import registry

    wanted = [("initializer", "--weight-init", args.weight_init)] if isinstance(args.weight_init, str) else []
    if args.resume:
        wanted += [("model", "--model", args.model), ("optimizer", "--optimizer", args.optimizer),
                   *(("callback", "--callback", name) for name in args.callback)]
    for kind, option, name in wanted:
        try:
            registry.get_component(kind, name)
        except LookupError as error:
            raise UsageError(f"argument {option}: {str(error).splitlines()[0]}") from None
    return [registry.get("callback", name)() for name in args.callback]


# ------------------------------------------------------------------------------ the command


def cmd_train(args) -> int:
    from tinygrad_edu.callbacks import Checkpoint
    from tinygrad_edu.data import load_mnist, preprocess
    from tinygrad_edu.models import get_model
    from tinygrad_edu.train import Trainer, _add_note

    record = _resume_options(args) if args.resume else None
    _check_data_dir(args)
    callbacks = _check_components(args)
    out = Path(args.resume) if args.resume else Path(args.out) if args.out else Path("runs") / args.model
    check_out(out)
    started = time.perf_counter()

    source = args.source
    if args.data_dir is not None and source == "auto":
        source = "full"   # the data in the folder the user named, never a silent fallback
    data = load_mnist(args.data_dir, kind=args.dataset, source=source,
                      download=args.data_dir is None or args.source == "full")
    print(f"data: {data.source}")
    x_train, t_train = preprocess(data.x_train, data.t_train, flatten=False)   # models take images
    x_test, t_test = preprocess(data.x_test, data.t_test, flatten=False)
    if len(x_train) == 0 or len(x_test) == 0:
        which = "training" if len(x_train) == 0 else "test"
        raise ValueError(f"the data set ({data.source}) holds no {which} images")
    x_train, t_train = _subset(x_train, t_train, args.limit, args.seed)
    x_test, t_test = _subset(x_test, t_test, args.test_limit, args.seed)
    if args.limit or args.test_limit:
        print(f"using {len(x_train):,} training and {len(x_test):,} test images")

    folder = out if args.resume else new_run_folder(out)
    model = get_model(args.model, input_shape=(1, 28, 28), num_classes=10, seed=args.seed,
                      weight_init=args.weight_init)
    checkpoint = Checkpoint(folder, record={
        "model": args.model, "data": data.source, "train_samples": len(x_train),
        "test_samples": len(x_test), "options": {name: getattr(args, name) for name in RUN_OPTIONS}})
    trainer = Trainer(model, loss="softmax_cross_entropy", optimizer=args.optimizer, lr=args.lr,
                      eval_train_samples=args.eval_train_samples, callbacks=[*callbacks, checkpoint])
    checkpoint.record["optimizer"] = type(trainer.optimizer).__name__
    checkpoint.title = _title(args.model, trainer, args, data.source, len(x_train), len(x_test))
    initial_epoch = _restore(trainer, checkpoint, record) if record else 0
    print(f"model: {args.model} ({model.num_parameters():,} parameters, float32), optimizer: "
          f"{type(trainer.optimizer).__name__} lr={trainer.base_lr:g}, {args.epochs} epoch(s) of "
          f"{-(-len(x_train) // args.batch_size)} batches of {args.batch_size}; run folder {folder}"
          + (f"; resuming after epoch {initial_epoch}" if record else ""))
    try:
        history = trainer.fit(x_train, t_train, x_test, t_test, epochs=args.epochs,
                              batch_size=args.batch_size, seed=args.seed, initial_epoch=initial_epoch,
                              progress=not args.no_progress, verbose=True, lr_schedule=args.lr_schedule)
    except Exception as error:
        _add_note(error, f"- on disk: {checkpoint.summary()}")
        raise
    if trainer.stop_reason is not None:   # the trainer said what was saved where
        return interrupts.EXIT_STATUS.get(trainer.stop_reason, 130)
    print(f"test accuracy: {history.test_acc[-1]:.4f} on {len(x_test):,} test images")
    print(f"saved {checkpoint.summary()}")
    print(f"done in {time.perf_counter() - started:.1f} s (training {history.elapsed:.1f} s)")
    return 0


def _title(model: str, trainer, args, source: str, n_train: int, n_test: int) -> str:
    """What the run really used, for the plot's title: "mlp, SGD lr=0.1 (cosine), batch 100,
    seed 0 / 300 training images (--limit 300), 2,000 test images; embedded MNIST sample"."""
    train = f"{n_train:,} training images" + (f" (--limit {args.limit})" if args.limit else "")
    test = f"{n_test:,} test images" + (f" (--test-limit {args.test_limit})" if args.test_limit else "")
    return (f"{model}, {type(trainer.optimizer).__name__} lr={trainer.base_lr:g} ({args.lr_schedule}), "
            f"batch {args.batch_size}, seed {args.seed}\n{train}, {test}; {source}")


def _restore(trainer, checkpoint, record: dict) -> int:
    """Load a saved run into ``trainer``; returns the number of complete epochs."""
    import numpy as np

    from tinygrad_edu.serialization import load_params
    from tinygrad_edu.train import History

    folder = checkpoint.directory
    load_params(trainer.model, folder / "params.npz")
    with np.load(folder / "optimizer.npz", allow_pickle=False) as saved:
        trainer.optimizer.load_state_dict({name: saved[name] for name in saved.files})
    fields = History.__dataclass_fields__
    trainer.history = History(**{k: v for k, v in record.items() if k in fields})
    trainer.epochs_done, trainer.iteration = record["epochs_done"], record["iteration"]
    checkpoint.params_at = tuple(record["params_saved_at"])
    return trainer.epochs_done
