"""MNIST and Fashion-MNIST: find the four IDX files, parse them, or fall back to the embedded sample.

    data = load_mnist()                    # full MNIST if found locally, else the embedded sample
    print(data.source)                     # e.g. "embedded MNIST sample (10,000 train / 2,000 test)"
    x_train, t_train, x_test, t_test = data
    # x_*: uint8 (N, 28, 28), pixel values 0..255; t_*: uint8 (N,), class 0..9

Where the full data are looked for, in this order:

1. ``root`` (the folder holding the four files, or its ``mnist``/``fashion-mnist`` subfolder),
2. ``$TINYGRAD_EDU_DATA/<kind>`` (``TINYGRAD_EDU_DATA`` names a data folder with one
   subfolder per dataset, e.g. ``$TINYGRAD_EDU_DATA/mnist``),
3. the user cache ``$XDG_CACHE_HOME/tinygrad_edu/<kind>`` (default ``~/.cache/tinygrad_edu/<kind>``),
4. only with ``source="full"``: download from the canonical mirrors into ``root`` if given,
   else into the cache, each file verified by the SHA-256 of its published ``.gz``.
   ``download=False`` or the environment variable ``TINYGRAD_EDU_OFFLINE=1`` switch this off.

The four files are the standard ones (gzip-compressed or not, detected by content):
train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .download import download_file
from .idx import DatasetError, read_images, read_labels
from .preprocess import preprocess

__all__ = [
    "MNIST",
    "FILE_NAMES",
    "SAMPLE_PATH",
    "cache_directory",
    "find_mnist_files",
    "load_mnist",
    "load_mnist_arrays",
    "load_sample",
]

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

SAMPLE_PATH = Path(__file__).with_name("mnist_sample.npz")

SOURCES = ("auto", "full", "sample")


@dataclass(frozen=True)
class DatasetSpec:
    """What is known about one dataset in the MNIST file layout."""

    kind: str  # the name used in kind= and as the folder name
    title: str  # for messages
    mirrors: tuple[str, ...]  # base URLs, tried in order
    sha256: dict[str, str]  # SHA-256 of each published .gz file
    sizes: dict[str, int]  # its size in bytes: a download is cut off past it
    has_sample: bool  # an embedded sample ships with the package


# SHA-256 of the canonical .gz files, as published on the mirrors (the same digests that
# e.g. TensorFlow Datasets pins). For MNIST the uncompressed content also has the canonical
# MD5s below, which make_sample checks and which stay the same if a copy is re-gzipped.
SPECS = {
    "mnist": DatasetSpec(
        kind="mnist",
        title="MNIST",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist",
            "https://storage.googleapis.com/cvdf-datasets/mnist",
        ),
        sha256={
            TRAIN_IMAGES: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            TRAIN_LABELS: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            TEST_IMAGES: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            TEST_LABELS: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        sizes={TRAIN_IMAGES: 9912422, TRAIN_LABELS: 28881, TEST_IMAGES: 1648877, TEST_LABELS: 4542},
        has_sample=True,
    ),
    "fashion-mnist": DatasetSpec(
        kind="fashion-mnist",
        title="Fashion-MNIST",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion",
        ),
        sha256={
            TRAIN_IMAGES: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            TRAIN_LABELS: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            TEST_IMAGES: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            TEST_LABELS: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        sizes={TRAIN_IMAGES: 26421880, TRAIN_LABELS: 29515, TEST_IMAGES: 4422102, TEST_LABELS: 5148},
        has_sample=False,
    ),
}

# MD5 of the *uncompressed* canonical MNIST files.
MNIST_CONTENT_MD5 = {
    TRAIN_IMAGES: "6bbc9ace898e44ae57da46a324031adb",
    TRAIN_LABELS: "a25bea736e30d166cdddb491f175f624",
    TEST_IMAGES: "2646ac647ad5339dbf082846283269ea",
    TEST_LABELS: "27ae3e4e09519cfbb04c329615203637",
}


@dataclass(frozen=True, repr=False, eq=False)
class MNIST:
    """The four arrays of an MNIST-style dataset, and where they came from.

    ``x_train``/``x_test``: uint8 (N, 28, 28), 0 = background, 255 = ink.
    ``t_train``/``t_test``: uint8 (N,), the class 0..9.
    ``source``: a sentence saying which data these are, for logs and plots.
    ``is_sample``: True for the embedded sample; ``directory``: the folder read, if any.

    Unpacks like a tuple: ``x_train, t_train, x_test, t_test = load_mnist()``.
    """

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    source: str
    kind: str = "mnist"
    is_sample: bool = False
    directory: Path | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.x_train, self.t_train, self.x_test, self.t_test))

    def __repr__(self) -> str:
        return (
            f"MNIST(kind={self.kind!r}, x_train={self.x_train.shape}, x_test={self.x_test.shape}, "
            f"source={self.source!r})"
        )


def expand_user(path, what: str) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; DatasetError naming ``what`` (the
    argument or environment variable it came from) when that user does not exist."""
    try:
        return Path(path).expanduser()
    except RuntimeError as error:  # "Can't determine home directory"
        raise DatasetError(f"{what}={str(path)!r}: cannot expand {str(path).split('/')[0]!r}: "
                           f"no such user or home directory") from None


def _spec(kind: str) -> DatasetSpec:
    if kind not in SPECS:
        raise ValueError(f"load_mnist: unknown kind {kind!r}; choose one of {sorted(SPECS)}")
    return SPECS[kind]


def cache_directory(kind: str = "mnist") -> Path:
    """The user cache folder for a dataset: ``$XDG_CACHE_HOME/tinygrad_edu/<kind>`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return expand_user(base, "XDG_CACHE_HOME") / "tinygrad_edu" / _spec(kind).kind


def _offline_by_environment() -> bool:
    value = os.environ.get("TINYGRAD_EDU_OFFLINE", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def _find_in(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """The four files in ``directory`` (each as NAME.gz or NAME), and the names not found."""
    found, missing = {}, []
    for name in FILE_NAMES:
        for candidate in (directory / name, directory / name.removesuffix(".gz")):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            missing.append(name)
    return found, missing


def _search_places(root, kind: str) -> list[tuple[str, Path | None]]:
    """(label, folder) in lookup order; folder None for an unset environment variable."""
    places: list[tuple[str, Path | None]] = []
    if root is not None:
        root = expand_user(root, "root")
        places += [("root", root), ("root", root / kind)]
    env = os.environ.get("TINYGRAD_EDU_DATA")
    places.append(("TINYGRAD_EDU_DATA", expand_user(env, "TINYGRAD_EDU_DATA") / kind if env else None))
    places.append(("cache", cache_directory(kind)))
    return places


def _search(root, kind: str) -> tuple[dict[str, Path] | None, list[str]]:
    """The first folder that holds all four files (or None), and a report line per place searched."""
    report = []
    for label, directory in _search_places(root, kind):
        if directory is None:
            report.append(f"  {label}: not set")
            continue
        if not directory.is_dir():
            report.append(f"  {label}: {directory} (does not exist)")
            continue
        found, missing = _find_in(directory)
        if not missing:
            return found, report
        report.append(f"  {label}: {directory} (missing {', '.join(missing)})")
    return None, report


def find_mnist_files(root=None, kind: str = "mnist") -> dict[str, Path] | None:
    """The paths of the four files of the first folder in the lookup order holding all of them, or None."""
    _spec(kind)
    return _search(root, kind)[0]


def _read_files(files: dict[str, Path], spec: DatasetSpec) -> MNIST:
    """Parse the four files; image and label counts must agree."""
    x_train, t_train = read_images(files[TRAIN_IMAGES]), read_labels(files[TRAIN_LABELS])
    x_test, t_test = read_images(files[TEST_IMAGES]), read_labels(files[TEST_LABELS])
    for images, labels, image_file, label_file in (
        (x_train, t_train, TRAIN_IMAGES, TRAIN_LABELS),
        (x_test, t_test, TEST_IMAGES, TEST_LABELS),
    ):
        if len(images) != len(labels):
            raise DatasetError(
                f"{files[image_file]} has {len(images)} images but {files[label_file]} has {len(labels)} labels"
            )
    directory = files[TRAIN_IMAGES].parent
    return MNIST(
        x_train,
        t_train,
        x_test,
        t_test,
        source=f"full {spec.title} from {directory} ({len(x_train):,} train / {len(x_test):,} test)",
        kind=spec.kind,
        is_sample=False,
        directory=directory,
    )


def load_sample(kind: str = "mnist") -> MNIST:
    """The sample of real MNIST that ships inside the package (see tinygrad_edu/data/README.md)."""
    spec = _spec(kind)
    if not spec.has_sample:
        raise DatasetError(f"there is no embedded sample of {spec.title}; use source='full'")
    if not SAMPLE_PATH.is_file():
        raise DatasetError(
            f"{SAMPLE_PATH}: the embedded MNIST sample is missing; reinstall tinygrad_edu or regenerate it "
            f"with `python -m tinygrad_edu.data.make_sample --source <mnist folder>`"
        )
    with np.load(SAMPLE_PATH) as archive:
        arrays = {key: archive[key] for key in ("x_train", "t_train", "x_test", "t_test")}
    x_train, t_train, x_test, t_test = (arrays[k] for k in ("x_train", "t_train", "x_test", "t_test"))
    if x_train.shape[1:] != (28, 28) or len(x_train) != len(t_train) or len(x_test) != len(t_test):
        raise DatasetError(f"{SAMPLE_PATH}: the embedded sample is damaged (unexpected shapes)")
    return MNIST(
        x_train,
        t_train,
        x_test,
        t_test,
        source=f"embedded MNIST sample ({len(x_train):,} train / {len(x_test):,} test)",
        kind=kind,
        is_sample=True,
        directory=None,
    )


def _not_found_message(spec: DatasetSpec, report: list[str], reason: str, download_dir: Path) -> str:
    files = "\n".join(f"    {name}" for name in FILE_NAMES)
    return (
        f"{spec.title} not found: {reason}.\n"
        f"Searched, in this order:\n" + "\n".join(report) + "\n"
        f"Put the four files (gzip-compressed or not)\n{files}\n"
        f"into {download_dir}, or pass root=<folder>, or set TINYGRAD_EDU_DATA to a folder with a "
        f"'{spec.kind}' subfolder. They can be downloaded from {spec.mirrors[0]}/<file name>."
    )


def _download(spec: DatasetSpec, directory: Path) -> dict[str, Path]:
    """Download the files missing from ``directory`` (created if needed); each verified and atomic."""
    directory.mkdir(parents=True, exist_ok=True)
    found, missing = _find_in(directory)
    for name in missing:
        found[name] = download_file(name, list(spec.mirrors), directory / name, spec.sha256[name],
                                    size=spec.sizes[name])
    return found


def load_mnist(root=None, *, kind: str = "mnist", download: bool = True, source: str = "auto") -> MNIST:
    """Load MNIST (or Fashion-MNIST with ``kind="fashion-mnist"``) as uint8 arrays.

    ``source``:
      * ``"auto"`` (default): the full data if found locally (root, TINYGRAD_EDU_DATA, cache;
        never downloads), otherwise the embedded MNIST sample (with a UserWarning if
        ``root`` was given but holds no data). For a dataset without a
        sample (Fashion-MNIST) "auto" means "full".
      * ``"full"``: the full data, downloading it if it is not found locally and
        downloading is allowed (``download=True`` and TINYGRAD_EDU_OFFLINE unset).
      * ``"sample"``: the embedded sample (10,000 train / 2,000 test images of MNIST).

    Returns an MNIST record; its ``source`` says which data you got. A damaged file raises
    DatasetError naming the file; data that cannot be found raise DatasetError listing the
    places searched.
    """
    spec = _spec(kind)
    if source not in SOURCES:
        raise ValueError(f"load_mnist: source must be one of {SOURCES}, got {source!r}")
    if source == "sample":
        return load_sample(kind)

    files, report = _search(root, kind)
    if files is not None:
        return _read_files(files, spec)
    if source == "auto" and spec.has_sample:
        if root is not None:
            warnings.warn(
                f"load_mnist: no {spec.title} files under root={str(root)!r}; using the embedded sample. "
                f"Searched:\n" + "\n".join(report),
                stacklevel=2,
            )
        return load_sample(kind)

    download_dir = expand_user(root, "root") if root is not None else cache_directory(kind)
    if not download:
        raise DatasetError(_not_found_message(spec, report, "downloading is switched off (download=False)", download_dir))
    if _offline_by_environment():
        reason = f"downloading is switched off (TINYGRAD_EDU_OFFLINE={os.environ['TINYGRAD_EDU_OFFLINE']})"
        raise DatasetError(_not_found_message(spec, report, reason, download_dir))
    try:
        files = _download(spec, download_dir)
    except DatasetError as error:
        raise DatasetError(_not_found_message(spec, report, f"the download failed: {error}", download_dir)) from error
    return _read_files(files, spec)


def load_mnist_arrays(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    dtype=np.float32,
    source: str = "auto",
    root=None,
    *,
    kind: str = "mnist",
    download: bool = True,
):
    """``((x_train, t_train), (x_test, t_test))`` as the book's ``load_mnist`` returns them.

    normalize: pixels as ``dtype`` in [0, 1] (x / 255), else uint8 0..255.
    flatten: images as (N, 784), else (N, 1, 28, 28).
    one_hot_label: labels as (N, 10) one-hot rows of ``dtype``, else uint8 class numbers.
    ``source``/``root``/``kind``/``download`` are passed to load_mnist; call load_mnist
    directly to also learn which data were used (its ``.source``).
    """
    data = load_mnist(root, kind=kind, download=download, source=source)
    options = dict(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label, dtype=dtype)
    train = preprocess(data.x_train, data.t_train, **options)
    test = preprocess(data.x_test, data.t_test, **options)
    return train, test
