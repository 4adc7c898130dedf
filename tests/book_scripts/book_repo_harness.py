"""Run every script of the book's repository twice -- as published, and with only its imports
redirected to ``tinygrad_edu.book`` -- and compare what they print and draw.

    python tests/book_scripts/book_repo_harness.py PATH/TO/deep-learning-from-scratch \\
        --mnist /path/to/mnist-folder [--only ch07] [--work DIR]

PATH is your own copy of the public repository oreilly-japan/deep-learning-from-scratch (none of
its files belong to this project). The folder given by ``--mnist`` holds the four MNIST
``*-ubyte.gz`` files: the original code gets them copied into its ``dataset/`` folder (and
converts them once, before any script runs, so nothing downloads), this framework reads them
through ``TINYGRAD_EDU_DATA``.

For each ``chNN/*.py`` the harness

* copies the repository twice into a work folder; in the "ours" copy ``common/`` and
  ``dataset/*.py`` are deleted, so an import that was not redirected fails;
* rewrites in the "ours" copy only import lines: ``from common.X import ...`` and
  ``from dataset.mnist import ...`` -> ``from tinygrad_edu.book import ...``; ``import pickle``
  -> ``from tinygrad_edu import safe_pickle as pickle`` (a loader that runs no code); and the
  chapter's own network modules that the book API provides (ch05's ``two_layer_net``, ch07's
  ``simple_convnet``, ch08's ``deep_convnet``) -> ``tinygrad_edu.book`` (``--keep-local``
  leaves those, running the book's own network code on this framework's layers);
* patches the scripts that train for minutes or hours to fewer iterations -- the same patch
  in both copies (``REDUCED`` below);
* runs both with ``np.random.seed(0)`` set first, matplotlib's Agg backend, and every figure
  that ``plt.show()`` would show saved as a PNG;
* compares stdout token by token: the words must be equal, the numbers equal within
  ``--rtol``/``--atol``; and the figures: as many, each of the same size, and the mean
  absolute pixel difference.

The last lines printed are a table (one row per script) with the verdict.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Patches that shorten long runs: (old text, new text), applied to both copies.
REDUCED = {
    "ch04/train_neuralnet.py": [("iters_num = 10000", "iters_num = 1201")],
    "ch05/train_neuralnet.py": [("iters_num = 10000", "iters_num = 1201")],
    "ch06/batch_norm_test.py": [("max_epochs = 20", "max_epochs = 5"),
                                ("np.logspace(0, -4, num=16)", "np.logspace(0, -4, num=4)")],
    "ch06/hyperparameter_optimization.py": [("optimization_trial = 100",
                                             "optimization_trial = 8")],
    "ch06/optimizer_compare_mnist.py": [("max_iterations = 2000", "max_iterations = 301")],
    "ch06/weight_init_compare.py": [("max_iterations = 2000", "max_iterations = 301")],
    "ch06/overfit_dropout.py": [("epochs=301", "epochs=21")],
    "ch06/overfit_weight_decay.py": [("max_epochs = 201", "max_epochs = 21")],
    "ch07/train_convnet.py": [("#x_train, t_train = x_train[:5000], t_train[:5000]",
                               "x_train, t_train = x_train[:1000], t_train[:1000]"),
                              ("#x_test, t_test = x_test[:1000], t_test[:1000]",
                               "x_test, t_test = x_test[:1000], t_test[:1000]"),
                              ("max_epochs = 20", "max_epochs = 2")],
    "ch08/train_deepnet.py": [("(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)",
                               "(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)"
                               "\nx_train, t_train = x_train[:300], t_train[:300]"
                               "\nx_test, t_test = x_test[:200], t_test[:200]"),
                              ("epochs=20", "epochs=1")],
    "ch08/half_float_network.py": [("sampled = 10000", "sampled = 500")],
}

#: The chapter modules whose network the book API provides.
BOOK_NETWORK_MODULES = {"ch05": {"two_layer_net"}, "ch07": {"simple_convnet"},
                        "ch08": {"deep_convnet"}}

SITECUSTOMIZE = '''
import os
import numpy as np
np.random.seed(0)
_count = [0]
def _save_figures(*args, **kwargs):
    import matplotlib.pyplot as plt
    for number in plt.get_fignums():
        _count[0] += 1
        plt.figure(number).savefig(os.path.join(os.environ["BOOK_FIGURES"],
                                                "figure%02d.png" % _count[0]), dpi=60)
    plt.close("all")
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.show = _save_figures
except ImportError:
    pass
try:
    from PIL import Image
    def _save_image(self, *args, **kwargs):
        _count[0] += 1
        self.save(os.path.join(os.environ["BOOK_FIGURES"], "image%02d.png" % _count[0]))
    Image.Image.show = _save_image
except ImportError:
    pass
'''

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf")


def redirect_imports(source: str, chapter: str, keep_local: bool) -> str:
    """The script with only its import lines redirected to tinygrad_edu.book."""
    modules = set() if keep_local else BOOK_NETWORK_MODULES.get(chapter, set())
    out = []
    for line in source.splitlines(keepends=True):
        m = re.match(r"^(\s*)from (common\.\w+|dataset\.mnist) import (.+)$", line)
        n = re.match(r"^(\s*)from (\w+) import (.+)$", line)
        if m:
            line = f"{m.group(1)}from tinygrad_edu.book import {m.group(3)}\n"
        elif n and n.group(2) in modules:
            line = f"{n.group(1)}from tinygrad_edu.book import {n.group(3)}\n"
        elif re.match(r"^\s*import pickle\s*$", line):
            line = line.replace("import pickle", "from tinygrad_edu import safe_pickle as pickle")
        out.append(line)
    return "".join(out)


def prepare(repo: Path, work: Path, mnist: Path, keep_local: bool) -> tuple[Path, Path]:
    ignore = shutil.ignore_patterns("notebooks", ".git", "__pycache__")
    orig, ours = work / "orig", work / "ours"
    for target in (orig, ours):
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(repo, target, ignore=ignore)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(mnist / name, orig / "dataset" / name)
    subprocess.run([sys.executable, "-c", "from dataset.mnist import init_mnist; init_mnist()"],
                   cwd=orig, check=True, capture_output=True, timeout=600)
    shutil.rmtree(ours / "common")
    for path in (ours / "dataset").glob("*.py"):
        path.unlink()
    for side in (orig, ours):
        for script, patches in REDUCED.items():
            path = side / script
            if not path.exists():
                continue
            text = path.read_text(encoding="utf-8")
            for old, new in patches:
                if old not in text:
                    raise SystemExit(f"harness: {script} no longer contains {old!r}")
                text = text.replace(old, new)
            path.write_text(text, encoding="utf-8")
    for path in ours.glob("ch0*/*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(redirect_imports(text, path.parent.name, keep_local), encoding="utf-8")
    site = work / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return orig, ours


def run(side: Path, script: str, work: Path, label: str, mnist: Path, timeout: float) -> dict:
    figures = work / "figures" / label / script.replace("/", "_")
    if figures.exists():
        shutil.rmtree(figures)
    figures.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=str(work / "site"), MPLBACKEND="Agg",
               BOOK_FIGURES=str(figures), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", TINYGRAD_EDU_DATA=str(mnist.parent),
               TINYGRAD_EDU_OFFLINE="1")
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, Path(script).name], cwd=side / Path(script).parent,
                              env=env, capture_output=True, text=True, timeout=timeout)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or "", e.stderr or ""
        out = out.decode() if isinstance(out, bytes) else out
        err = err.decode() if isinstance(err, bytes) else err
    return {"rc": rc, "out": out, "err": err, "seconds": time.perf_counter() - start,
            "figures": sorted(figures.glob("*.png"))}


def compare_text(a: str, b: str, rtol: float, atol: float) -> tuple[bool, str, float]:
    """(same?, first difference, largest relative difference of the numbers)."""
    words_a, words_b = NUMBER.split(a), NUMBER.split(b)
    nums_a, nums_b = NUMBER.findall(a), NUMBER.findall(b)
    if words_a != words_b or len(nums_a) != len(nums_b):
        for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines())):
            if NUMBER.split(x) != NUMBER.split(y):
                return False, f"line {i + 1}: {x!r} vs {y!r}", float("nan")
        return False, f"{len(a.splitlines())} vs {len(b.splitlines())} lines", float("nan")
    worst, where = 0.0, ""
    for x, y in zip(nums_a, nums_b):
        fx, fy = float(x), float(y)
        if fx == fy or (fx != fx and fy != fy):
            continue
        if max(abs(fx), abs(fy)) > 1e3 * atol:     # tiny numbers (gradient-check noise) aside
            worst = max(worst, abs(fx - fy) / max(abs(fx), abs(fy)))
        if not where and abs(fx - fy) > atol + rtol * abs(fx):
            where = f"{x} vs {y}"
    return not where, where, worst


def compare_figures(a: list, b: list) -> tuple[bool, str]:
    if len(a) != len(b):
        return False, f"{len(a)} vs {len(b)} figures"
    if not a:
        return True, ""
    import numpy as np
    from matplotlib.image import imread
    worst = 0.0
    for x, y in zip(a, b):
        ia, ib = imread(x), imread(y)
        if ia.shape != ib.shape:
            return False, f"{x.name}: size {ia.shape} vs {ib.shape}"
        worst = max(worst, float(np.abs(ia.astype(float) - ib.astype(float)).mean()))
    return worst < 0.01, f"{len(a)} figure(s), mean |pixel diff| <= {worst:.4f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--mnist", type=Path, required=True,
                        help="folder with the four MNIST *-ubyte.gz files")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="chapters or scripts, e.g. ch07")
    parser.add_argument("--keep-local", action="store_true",
                        help="keep the chapters' own network modules (two_layer_net ...)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-6)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="book-harness-"))
    work.mkdir(parents=True, exist_ok=True)
    orig, ours = prepare(args.repo, work, args.mnist, args.keep_local)
    scripts = sorted(str(p.relative_to(orig)) for p in orig.glob("ch0*/*.py"))
    if args.only:
        scripts = [s for s in scripts if any(s.startswith(o) for o in args.only)]
    rows = []
    for script in scripts:
        a = run(orig, script, work, "orig", args.mnist, args.timeout)
        b = run(ours, script, work, "ours", args.mnist, args.timeout)
        same, where, worst = compare_text(a["out"], b["out"], args.rtol, args.atol)
        figs_same, fig_note = compare_figures(a["figures"], b["figures"])
        if b["rc"] != 0 and a["rc"] == 0:
            verdict = f"FAILS (ours rc={b['rc']}): {b['err'].strip().splitlines()[-1:] }"
        elif a["rc"] != b["rc"]:
            verdict = f"exit {a['rc']} vs {b['rc']}"
        elif not same:
            verdict = f"DIFFERS: {where}"
        elif not figs_same:
            verdict = f"FIGURES DIFFER: {fig_note}"
        else:
            verdict = "same" + (f" (numbers within {worst:.1e})" if worst else "")
        if a["rc"] != 0:
            verdict += f" [original exits {a['rc']}: {a['err'].strip().splitlines()[-1:]}]"
        rows.append((script, verdict, fig_note, a["seconds"], b["seconds"]))
        print(f"{script}: {verdict}; {fig_note}; {a['seconds']:.1f} s / {b['seconds']:.1f} s",
              flush=True)
        (work / "logs").mkdir(exist_ok=True)
        for label, r in (("orig", a), ("ours", b)):
            log = work / "logs" / f"{script.replace('/', '_')}.{label}"
            log.with_suffix(log.suffix + ".out").write_text(r["out"])
            log.with_suffix(log.suffix + ".err").write_text(r["err"])
    print(f"\nwork folder: {work}\n")
    print("| script | result | figures | seconds (book / ours) |")
    print("|---|---|---|---|")
    for script, verdict, fig_note, ta, tb in rows:
        print(f"| {script} | {verdict} | {fig_note} | {ta:.1f} / {tb:.1f} |")
    return 0 if all(not v.startswith(("FAILS", "DIFFERS", "FIGURES", "exit")) for _, v, *_ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
