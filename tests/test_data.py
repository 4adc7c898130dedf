"""tinygrad_edu.data: IDX parsing, MNIST lookup/download, the embedded sample, preprocessing, DataLoader.

Nothing here touches the network: every test runs with a fake ``urlopen`` that fails the test
if it is called, and the download tests replace it with one serving local bytes.

The real MNIST is looked for at ``<parent of the repo>/shared/data/mnist`` (in this project
``/work/shared/data/mnist``), else at ``$TINYGRAD_EDU_DATA/mnist``; tests that need it are
skipped with the reason when neither exists.
"""

import dataclasses
import gzip
import hashlib
import http.client
import io
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu.data import (
    DataLoader,
    DatasetError,
    flatten_images,
    images_to_nchw,
    load_mnist,
    load_mnist_arrays,
    load_sample,
    normalize_images,
    one_hot,
    read_idx,
    read_images,
    read_labels,
)
from tinygrad_edu.data import download as download_module
from tinygrad_edu.data import mnist as mnist_module
from tinygrad_edu.data.make_sample import make_sample
from tinygrad_edu.data.mnist import FILE_NAMES, MNIST_CONTENT_MD5, SAMPLE_PATH


def real_mnist_dir() -> Path | None:
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"]
    if os.environ.get("TINYGRAD_EDU_DATA"):
        candidates.append(Path(os.environ["TINYGRAD_EDU_DATA"]) / "mnist")
    for candidate in candidates:
        if all((candidate / name).is_file() for name in FILE_NAMES):
            return candidate
    return None


REAL_MNIST = real_mnist_dir()  # evaluated before the isolate_environment fixture clears the variable
needs_real_mnist = pytest.mark.skipif(
    REAL_MNIST is None,
    reason="real MNIST not found at ../shared/data/mnist (relative to the repo) or $TINYGRAD_EDU_DATA/mnist",
)


# ----------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An unsigned-byte IDX file holding ``array``."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_file(path: Path, content: bytes, compress: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path.write_bytes(gzip.compress(content, mtime=0))
    else:
        path = path.with_name(path.name.removesuffix(".gz"))
        path.write_bytes(content)
    return path


def fake_mnist_arrays(n_train: int = 30, n_test: int = 12, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "t_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def fake_mnist_files(n_train: int = 30, n_test: int = 12, seed: int = 0) -> dict[str, bytes]:
    """The four .gz files of a tiny MNIST-format dataset: file name -> gzip bytes."""
    a = fake_mnist_arrays(n_train, n_test, seed)
    contents = [idx_bytes(a["x_train"]), idx_bytes(a["t_train"]), idx_bytes(a["x_test"]), idx_bytes(a["t_test"])]
    return {name: gzip.compress(content, mtime=0) for name, content in zip(FILE_NAMES, contents)}


def write_fake_mnist(directory: Path, n_train: int = 30, n_test: int = 12, seed: int = 0, compress=True) -> dict:
    a = fake_mnist_arrays(n_train, n_test, seed)
    for name, key in zip(FILE_NAMES, ("x_train", "t_train", "x_test", "t_test")):
        write_file(directory / name, idx_bytes(a[key]), compress)
    return a


def no_network(*args, **kwargs):
    raise AssertionError("a test tried to use the network")


@pytest.fixture(autouse=True)
def isolate_environment(tmp_path, monkeypatch):
    """A private cache, no TINYGRAD_EDU_* variables, and no network for every test here."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    monkeypatch.delenv("TINYGRAD_EDU_OFFLINE", raising=False)
    monkeypatch.setattr(download_module, "urlopen", no_network)


# ----------------------------------------------------------------------------- real MNIST


@pytest.fixture(scope="module")
def real_mnist():
    if REAL_MNIST is None:
        pytest.skip("real MNIST not available")
    return load_mnist(REAL_MNIST, source="full", download=False)


@needs_real_mnist
def test_real_mnist_shapes_and_values(real_mnist):
    assert not real_mnist.is_sample
    assert real_mnist.directory == REAL_MNIST
    assert str(REAL_MNIST) in real_mnist.source and "full MNIST" in real_mnist.source
    shapes = [a.shape for a in real_mnist]
    assert shapes == [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]
    assert all(a.dtype == np.uint8 for a in real_mnist)
    assert set(np.unique(real_mnist.t_train)) == set(range(10))
    assert real_mnist.x_train.max() == 255 and real_mnist.x_train.min() == 0
    # Label of the first training image of MNIST is 5, of the first test image 7.
    assert real_mnist.t_train[0] == 5 and real_mnist.t_test[0] == 7


@needs_real_mnist
def test_real_mnist_content_matches_canonical_md5():
    for name, expected in MNIST_CONTENT_MD5.items():
        content = gzip.decompress((REAL_MNIST / name).read_bytes())
        assert hashlib.md5(content).hexdigest() == expected, name


@needs_real_mnist
def test_parsed_arrays_are_the_file_content(real_mnist):
    """The parsed arrays reproduce the bytes after the header exactly (no off-by-one in offsets)."""
    labels = gzip.decompress((REAL_MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert real_mnist.t_test.tobytes() == labels[8:]
    images = gzip.decompress((REAL_MNIST / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert real_mnist.x_test.tobytes() == images[16:]


# ----------------------------------------------------------------------------- IDX parser


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_roundtrip(tmp_path, compress):
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    image_path = write_file(tmp_path / "imgs.gz", idx_bytes(images), compress)
    label_path = write_file(tmp_path / "lbls.gz", idx_bytes(labels), compress)
    np.testing.assert_array_equal(read_images(image_path), images)
    np.testing.assert_array_equal(read_labels(label_path), labels)
    out = read_idx(image_path)
    assert out.dtype == np.uint8 and out.flags.writeable


def test_gzip_detected_by_content_not_name(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-without-extension"
    path.write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_labels(path), labels)


def test_wrong_magic_names_file(tmp_path):
    labels_file = write_file(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz.*wrong magic number 0x00000801.*0x00000803"):
        read_images(labels_file)
    images_file = write_file(tmp_path / "imgs.gz", idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    with pytest.raises(DatasetError, match=r"imgs\.gz.*wrong magic"):
        read_labels(images_file)
    not_idx = write_file(tmp_path / "notes.gz", b"hello, this is not an IDX file")
    with pytest.raises(DatasetError, match=r"notes\.gz.*magic"):
        read_images(not_idx)


def test_truncated_data_names_file(tmp_path):
    content = idx_bytes(np.ones((3, 28, 28), np.uint8))
    path = write_file(tmp_path / "t10k-images-idx3-ubyte.gz", content[:-100])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: truncated.*2352 bytes.*2252"):
        read_images(path)


def test_truncated_header_names_file(tmp_path):
    path = write_file(tmp_path / "short.gz", idx_bytes(np.ones((3, 28, 28), np.uint8))[:10])
    with pytest.raises(DatasetError, match=r"short\.gz: truncated header"):
        read_images(path)
    tiny = write_file(tmp_path / "tiny", b"\x00\x00", compress=False)
    with pytest.raises(DatasetError, match="tiny: too short"):
        read_idx(tiny)


def test_truncated_gzip_stream_names_file(tmp_path):
    compressed = gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8).reshape(100) % 10))
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz: damaged or truncated gzip"):
        read_labels(path)


def test_extra_bytes_are_an_error(tmp_path):
    path = write_file(tmp_path / "labels.gz", idx_bytes(np.zeros(4, np.uint8)) + b"\x07\x07")
    with pytest.raises(DatasetError, match=r"labels\.gz: 2 unexpected bytes"):
        read_labels(path)


def test_bad_label_value_and_image_size(tmp_path):
    path = write_file(tmp_path / "labels.gz", idx_bytes(np.array([1, 2, 12, 3], np.uint8)))
    with pytest.raises(DatasetError, match=r"labels\.gz: label 12 at index 2"):
        read_labels(path)
    path = write_file(tmp_path / "small.gz", idx_bytes(np.zeros((2, 14, 14), np.uint8)))
    with pytest.raises(DatasetError, match=r"small\.gz: images are 14x14, expected 28x28"):
        read_images(path)


def test_unreadable_file_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="missing.gz: cannot read"):
        read_idx(tmp_path / "missing.gz")


def test_count_mismatch_between_images_and_labels(tmp_path):
    write_fake_mnist(tmp_path)
    write_file(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(11, np.uint8)))
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz has 12 images but .*t10k-labels.* 11 labels"):
        load_mnist(tmp_path, source="full", download=False)


def test_corrupt_local_file_is_an_error_not_a_fallback(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)  # source="auto" must not hide a damaged file behind the sample


# ----------------------------------------------------------------------------- lookup order


def test_lookup_order_root_then_env_then_cache(tmp_path, monkeypatch):
    root, env, cache = tmp_path / "root", tmp_path / "env", tmp_path / "cache" / "tinygrad_edu"
    write_fake_mnist(root, n_train=11)
    write_fake_mnist(env / "mnist", n_train=12)
    write_fake_mnist(cache / "mnist", n_train=13)
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(env))

    data = load_mnist(root, source="full", download=False)
    assert len(data.x_train) == 11 and data.directory == root
    data = load_mnist(source="full", download=False)
    assert len(data.x_train) == 12 and data.directory == env / "mnist"
    monkeypatch.delenv("TINYGRAD_EDU_DATA")
    data = load_mnist(source="full", download=False)
    assert len(data.x_train) == 13 and data.directory == cache / "mnist"
    assert data.source == f"full MNIST from {cache / 'mnist'} (13 train / 12 test)"


def test_root_subfolder_and_uncompressed_files(tmp_path):
    arrays = write_fake_mnist(tmp_path / "data" / "mnist", compress=False)
    data = load_mnist(tmp_path / "data", source="full", download=False)
    np.testing.assert_array_equal(data.x_train, arrays["x_train"])
    np.testing.assert_array_equal(data.t_test, arrays["t_test"])
    assert data.directory == tmp_path / "data" / "mnist"


def test_incomplete_folder_is_skipped_and_reported(tmp_path):
    write_fake_mnist(tmp_path / "root")
    (tmp_path / "root" / "t10k-labels-idx1-ubyte.gz").unlink()
    write_fake_mnist(tmp_path / "cache" / "tinygrad_edu" / "mnist", n_train=13)
    assert len(load_mnist(tmp_path / "root", source="full", download=False).x_train) == 13
    (tmp_path / "cache" / "tinygrad_edu" / "mnist" / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as info:
        load_mnist(tmp_path / "root", source="full", download=False)
    assert f"{tmp_path / 'root'} (missing t10k-labels-idx1-ubyte.gz)" in str(info.value)


def test_auto_uses_local_full_data_else_the_sample_and_never_downloads(tmp_path):
    data = load_mnist()  # nothing local: the embedded sample (urlopen would fail the test)
    assert data.is_sample and data.source == "embedded MNIST sample (10,000 train / 2,000 test)"
    write_fake_mnist(tmp_path / "cache" / "tinygrad_edu" / "mnist")
    data = load_mnist()
    assert not data.is_sample and len(data.x_train) == 30


def test_auto_warns_when_an_explicit_root_has_no_data(tmp_path):
    with pytest.warns(UserWarning, match="no MNIST files under root=.*empty.*embedded sample"):
        data = load_mnist(tmp_path / "empty")
    assert data.is_sample


def test_offline_error_lists_places_and_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetError) as info:
        load_mnist(tmp_path / "nowhere", source="full", download=False)
    message = str(info.value)
    assert "download=False" in message
    for place in (tmp_path / "nowhere", tmp_path / "nowhere" / "mnist", tmp_path / "env" / "mnist"):
        assert str(place) in message
    assert str(tmp_path / "cache" / "tinygrad_edu" / "mnist") in message
    assert all(name in message for name in FILE_NAMES)
    assert f"into {tmp_path / 'nowhere'}" in message


def test_offline_environment_variable_blocks_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_EDU_OFFLINE", "1")
    with pytest.raises(DatasetError, match="TINYGRAD_EDU_OFFLINE=1") as info:
        load_mnist(source="full")  # download=True, but the environment says offline
    assert f"into {tmp_path / 'cache' / 'tinygrad_edu' / 'mnist'}" in str(info.value)
    assert "TINYGRAD_EDU_DATA: not set" in str(info.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown kind 'kmnist'"):
        load_mnist(kind="kmnist")
    with pytest.raises(ValueError, match="source must be one of"):
        load_mnist(source="everything")


# ----------------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_uses_the_same_loader(tmp_path, monkeypatch):
    arrays = write_fake_mnist(tmp_path / "data" / "fashion-mnist", seed=5)
    write_fake_mnist(tmp_path / "data" / "mnist", seed=6)
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(tmp_path / "data"))
    data = load_mnist(kind="fashion-mnist", download=False)
    np.testing.assert_array_equal(data.x_train, arrays["x_train"])
    assert data.kind == "fashion-mnist" and data.source.startswith("full Fashion-MNIST from ")


def test_fashion_mnist_has_no_sample():
    with pytest.raises(DatasetError, match="no embedded sample of Fashion-MNIST"):
        load_mnist(kind="fashion-mnist", source="sample")
    with pytest.raises(DatasetError, match="Fashion-MNIST not found"):
        load_mnist(kind="fashion-mnist", download=False)  # "auto" cannot fall back to a sample


# ----------------------------------------------------------------------------- download (fake network)


class FakeServer:
    """Stands in for urllib's urlopen: serves registered bytes, optionally broken, and records requests."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.break_after: dict[str, int] = {}  # url -> bytes served before the connection drops
        self.requests: list[str] = []

    def __call__(self, url, timeout=None):
        self.requests.append(url)
        if url not in self.files:
            raise OSError(f"HTTP Error 404: Not Found ({url})")
        data = self.files[url]
        if url in self.break_after:
            return DroppedConnection(data[: self.break_after[url]])
        return io.BytesIO(data)


class DroppedConnection(io.BytesIO):
    """A response whose connection drops after the bytes it was given."""

    def read(self, size=-1):
        chunk = super().read(size)
        if not chunk:
            raise http.client.IncompleteRead(b"")
        return chunk


MIRRORS = ("https://mirror-a.example/mnist", "https://mirror-b.example/mnist")


@pytest.fixture
def server(monkeypatch):
    """A fake network serving a tiny dataset; the MNIST spec points at it and pins its SHA-256s."""
    files = fake_mnist_files(seed=3)
    spec = dataclasses.replace(
        mnist_module.SPECS["mnist"],
        mirrors=MIRRORS,
        sha256={name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
        sizes={name: len(content) for name, content in files.items()},
    )
    monkeypatch.setitem(mnist_module.SPECS, "mnist", spec)
    fake = FakeServer()
    for name, content in files.items():
        fake.files[f"{MIRRORS[0]}/{name}"] = content
        fake.files[f"{MIRRORS[1]}/{name}"] = content
    monkeypatch.setattr(download_module, "urlopen", fake)
    fake.expected = fake_mnist_arrays(seed=3)
    return fake


def no_temporary_files(directory: Path) -> bool:
    return not [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


def test_download_verified_into_cache_then_reused(server, tmp_path, capsys):
    data = load_mnist(source="full")
    cache = tmp_path / "cache" / "tinygrad_edu" / "mnist"
    assert data.directory == cache and not data.is_sample
    np.testing.assert_array_equal(data.x_train, server.expected["x_train"])
    np.testing.assert_array_equal(data.t_test, server.expected["t_test"])
    assert server.requests == [f"{MIRRORS[0]}/{name}" for name in FILE_NAMES]
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILE_NAMES)
    assert "downloading https://mirror-a.example/mnist/train-images-idx3-ubyte.gz" in capsys.readouterr().err

    load_mnist(source="full")  # found in the cache now: no new request
    load_mnist()  # "auto" finds it too
    assert len(server.requests) == 4


def test_download_goes_to_root_when_given(server, tmp_path):
    data = load_mnist(tmp_path / "mydata", source="full")
    assert data.directory == tmp_path / "mydata"
    assert sorted(p.name for p in (tmp_path / "mydata").iterdir()) == sorted(FILE_NAMES)


def test_download_fetches_only_missing_files(server, tmp_path):
    cache = tmp_path / "cache" / "tinygrad_edu" / "mnist"
    cache.mkdir(parents=True)
    (cache / FILE_NAMES[1]).write_bytes(server.files[f"{MIRRORS[0]}/{FILE_NAMES[1]}"])
    load_mnist(source="full")
    assert server.requests == [f"{MIRRORS[0]}/{name}" for name in FILE_NAMES if name != FILE_NAMES[1]]


def test_hash_mismatch_falls_back_to_next_mirror(server, tmp_path):
    url = f"{MIRRORS[0]}/{FILE_NAMES[0]}"
    tampered = bytearray(server.files[url])
    tampered[-9] ^= 0xFF
    server.files[url] = bytes(tampered)
    data = load_mnist(source="full")
    np.testing.assert_array_equal(data.x_train, server.expected["x_train"])
    assert server.requests[:2] == [url, f"{MIRRORS[1]}/{FILE_NAMES[0]}"]


def test_hash_mismatch_everywhere_saves_nothing(server, tmp_path):
    for mirror in MIRRORS:
        server.files[f"{mirror}/{FILE_NAMES[0]}"] = gzip.compress(b"not the real file")
    with pytest.raises(DatasetError) as info:
        load_mnist(source="full")
    message = str(info.value)
    assert "SHA-256 mismatch" in message and f"could not download {FILE_NAMES[0]}" in message
    assert all(mirror in message for mirror in MIRRORS)
    cache = tmp_path / "cache" / "tinygrad_edu" / "mnist"
    assert not (cache / FILE_NAMES[0]).exists()
    assert no_temporary_files(tmp_path)


def test_interrupted_download_leaves_nothing_behind(server, tmp_path):
    name = FILE_NAMES[0]
    for mirror in MIRRORS:
        server.break_after[f"{mirror}/{name}"] = 1000
    with pytest.raises(DatasetError, match="IncompleteRead") as info:
        load_mnist(source="full")
    assert "nothing was saved" in str(info.value)
    cache = tmp_path / "cache" / "tinygrad_edu" / "mnist"
    assert not (cache / name).exists()
    assert no_temporary_files(tmp_path)

    del server.break_after[f"{MIRRORS[1]}/{name}"]  # second mirror works again
    data = load_mnist(source="full")
    np.testing.assert_array_equal(data.x_train, server.expected["x_train"])


def test_keyboard_interrupt_during_download_leaves_nothing_behind(server, tmp_path, monkeypatch):
    class Interrupted(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 0:
                raise KeyboardInterrupt
            return super().read(size)

    monkeypatch.setattr(download_module, "CHUNK_SIZE", 100)
    monkeypatch.setattr(download_module, "urlopen", lambda url, timeout=None: Interrupted(b"x" * 1000))
    with pytest.raises(KeyboardInterrupt):
        load_mnist(source="full")
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_unreachable_mirrors(server, tmp_path):
    server.files.clear()
    with pytest.raises(DatasetError, match="404") as info:
        load_mnist(source="full")
    assert "the download failed" in str(info.value) and "Searched, in this order" in str(info.value)


def test_published_hashes_are_well_formed():
    for spec in mnist_module.SPECS.values():
        assert sorted(spec.sha256) == sorted(FILE_NAMES) == sorted(spec.sizes)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in spec.sha256.values())
        assert len(set(spec.sha256.values())) == 4
        assert all(m.startswith(("https://", "http://")) for m in spec.mirrors)


# ----------------------------------------------------------------------------- embedded sample


@pytest.fixture(scope="module")
def sample_archive():
    with np.load(SAMPLE_PATH) as archive:
        return {key: archive[key] for key in archive.files}


def test_sample_file_is_small():
    assert SAMPLE_PATH.stat().st_size <= 3_000_000


def test_sample_counts_and_dtypes():
    data = load_sample()
    assert data.is_sample and data.directory is None
    assert [a.shape for a in data] == [(10000, 28, 28), (10000,), (2000, 28, 28), (2000,)]
    assert all(a.dtype == np.uint8 for a in data)
    assert "10,000 train / 2,000 test" in data.source
    assert load_mnist(source="sample").source == data.source


def test_sample_is_stratified():
    data = load_sample()
    for labels in (data.t_train, data.t_test):
        share = np.bincount(labels, minlength=10) / len(labels)
        assert len(share) == 10
        assert np.all((share >= 0.09) & (share <= 0.11)), share


def test_sample_indices_are_valid(sample_archive):
    for key, size in (("train_index", 60000), ("test_index", 10000)):
        index = sample_archive[key]
        assert np.all(np.diff(index) > 0), "indices must be sorted and unique"
        assert index[0] >= 0 and index[-1] < size


@needs_real_mnist
def test_sample_images_are_real_mnist(sample_archive, real_mnist):
    train_index, test_index = sample_archive["train_index"], sample_archive["test_index"]
    np.testing.assert_array_equal(sample_archive["x_train"], real_mnist.x_train[train_index])
    np.testing.assert_array_equal(sample_archive["t_train"], real_mnist.t_train[train_index])
    np.testing.assert_array_equal(sample_archive["x_test"], real_mnist.x_test[test_index])
    np.testing.assert_array_equal(sample_archive["t_test"], real_mnist.t_test[test_index])


@needs_real_mnist
def test_make_sample_reproduces_the_committed_sample(sample_archive):
    remade = make_sample(REAL_MNIST, seed=int(sample_archive["seed"]))
    assert sorted(remade) == sorted(sample_archive)
    for key, array in remade.items():
        np.testing.assert_array_equal(array, sample_archive[key], err_msg=key)


# ----------------------------------------------------------------------------- preprocessing


def test_normalize_images():
    x = np.array([[0, 51, 255]], dtype=np.uint8)
    out = normalize_images(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]], rtol=1e-7)
    assert normalize_images(x, np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="expected uint8"):
        normalize_images(out)
    with pytest.raises(TypeError, match="float type"):
        normalize_images(x, np.int32)


def test_flatten_and_nchw():
    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    flat = flatten_images(x)
    assert flat.shape == (2, 784)
    np.testing.assert_array_equal(flat[1], x[1].ravel())
    nchw = images_to_nchw(flat)
    assert nchw.shape == (2, 1, 28, 28)
    np.testing.assert_array_equal(nchw[:, 0], x)
    assert flatten_images(nchw).shape == (2, 784)
    with pytest.raises(ValueError, match=r"images_to_nchw: .*got shape \(2, 100\)"):
        images_to_nchw(np.zeros((2, 100)))
    with pytest.raises(ValueError, match="flatten_images"):
        flatten_images(np.zeros((2, 3, 28, 28)))


def test_one_hot():
    out = one_hot(np.array([2, 0, 9], dtype=np.uint8))
    assert out.shape == (3, 10) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(axis=1), [2, 0, 9])
    np.testing.assert_array_equal(out.sum(axis=1), [1, 1, 1])
    with pytest.raises(ValueError, match="0..9"):
        one_hot(np.array([10]))
    with pytest.raises(ValueError, match="integer class numbers"):
        one_hot(np.array([0.5]))


def test_load_mnist_arrays_like_the_book():
    (x_train, t_train), (x_test, t_test) = load_mnist_arrays()
    assert x_train.shape == (10000, 784) and x_train.dtype == np.float32
    assert 0.0 <= x_train.min() and x_train.max() == 1.0
    assert t_train.shape == (10000,) and x_test.shape == (2000, 784) and t_test.shape == (2000,)

    (x_raw, _), _ = load_mnist_arrays(normalize=False, flatten=False, one_hot_label=True)
    assert x_raw.shape == (10000, 1, 28, 28) and x_raw.dtype == np.uint8
    np.testing.assert_allclose(x_train, x_raw.reshape(10000, 784) / 255.0, rtol=1e-6)

    (_, t_one_hot), _ = load_mnist_arrays(one_hot_label=True, dtype=np.float64)
    assert t_one_hot.shape == (10000, 10) and t_one_hot.dtype == np.float64
    np.testing.assert_array_equal(t_one_hot.argmax(axis=1), t_train)


# ----------------------------------------------------------------------------- DataLoader


def test_loader_in_order_with_short_last_batch():
    x, t = np.arange(10).reshape(10, 1) * 10, np.arange(10)
    loader = DataLoader(x, t, batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [len(tb) for _, tb in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([tb for _, tb in batches]), t)
    for xb, tb in batches:
        np.testing.assert_array_equal(xb[:, 0], tb * 10)


def test_loader_drop_last():
    loader = DataLoader(np.zeros((10, 3)), np.arange(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(tb) for _, tb in loader] == [4, 4]
    assert len(DataLoader(np.zeros((8, 3)), np.arange(8), batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(np.zeros((3, 3)), np.arange(3), batch_size=4, drop_last=True)) == 0


def test_loader_shuffle_new_order_each_epoch_same_for_same_seed():
    x, t = np.arange(100) * 10, np.arange(100)
    a = DataLoader(x, t, batch_size=32, shuffle=True, seed=7)
    b = DataLoader(x, t, batch_size=32, shuffle=True, seed=7)
    epochs_a = [np.concatenate([tb for _, tb in a]) for _ in range(3)]
    epochs_b = [np.concatenate([tb for _, tb in b]) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b):
        np.testing.assert_array_equal(ea, eb)  # same seed, same sequence
        np.testing.assert_array_equal(np.sort(ea), t)  # each epoch visits every sample once
    assert not np.array_equal(epochs_a[0], epochs_a[1])  # a new permutation each epoch
    assert not np.array_equal(epochs_a[0], t)
    c = DataLoader(x, t, batch_size=32, shuffle=True, seed=8)
    assert not np.array_equal(np.concatenate([tb for _, tb in c]), epochs_a[0])
    for xb, tb in a:
        np.testing.assert_array_equal(xb, tb * 10)  # x and t stay paired


def test_loader_abandoned_epoch_does_not_shift_later_epochs():
    t = np.arange(50)
    a = DataLoader(t, t, batch_size=10, shuffle=True, seed=1)
    b = DataLoader(t, t, batch_size=10, shuffle=True, seed=1)
    next(iter(a))  # start an epoch and stop after one batch
    list(b)
    np.testing.assert_array_equal(np.concatenate([tb for _, tb in a]), np.concatenate([tb for _, tb in b]))


def test_loader_errors():
    with pytest.raises(ValueError, match="x has 10 samples but t has 9"):
        DataLoader(np.zeros((10, 2)), np.zeros(9), batch_size=2)
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            DataLoader(np.zeros(4), np.zeros(4), batch_size=bad)
    with pytest.raises(ValueError, match="arrays of samples"):
        DataLoader(np.float64(1.0), np.zeros(1), batch_size=1)


@given(
    n=st.integers(0, 60),
    batch_size=st.integers(1, 70),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_loader_batches_partition_the_data(n, batch_size, shuffle, drop_last, seed):
    t = np.arange(n)
    loader = DataLoader(t * 2, t, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader)
    assert all(len(tb) == batch_size for _, tb in batches[:-1])
    seen = np.concatenate([tb for _, tb in batches]) if batches else np.array([], dtype=int)
    assert len(np.unique(seen)) == len(seen)
    expected = n - n % batch_size if drop_last else n
    assert len(seen) == expected
    if not shuffle:
        np.testing.assert_array_equal(seen, t[:expected])
    for xb, tb in batches:
        np.testing.assert_array_equal(xb, tb * 2)
