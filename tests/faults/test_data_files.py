"""Fault injection for the files the framework reads and writes: crafted data files, crafted
parameter files, downloads that send too much, and writers killed with ``kill -9``.

Each case is a file an attacker or a damaged disk could hand us; each must end in a one-line
error naming the file (or, for kill -9, in a clean next write), never in a silent wrong
array, a MemoryError, or a model half changed.
"""
from __future__ import annotations

import gzip
import io
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from tinygrad_edu import Parameter
from tinygrad_edu.atomic import remove_stale_temporaries, save_npz_atomic
from tinygrad_edu.data import download as download_module
from tinygrad_edu.data.idx import IMAGES_MAGIC, DatasetError, read_idx
from tinygrad_edu.data.mnist import load_mnist
from tinygrad_edu.module import Module
from tinygrad_edu.serialization import ParamsFileError, ParamsMismatchError, load_params, save_params


def idx_header(shape, magic=None) -> bytes:
    magic = (0x0800 | len(shape)) if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{len(shape)}I", *shape)


def gzip_stream(path: Path, header: bytes, zero_bytes: int) -> Path:
    """A gzip file of ``header`` followed by ``zero_bytes`` zeros, written in chunks (the test
    itself never holds the inflated content)."""
    chunk = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(header)
        for _ in range(zero_bytes // len(chunk)):
            f.write(chunk)
    return path


# ----------------------------------------------------------------------------- IDX / gzip


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    """A ~1 MB gzip that inflates to 1 GiB behind an honest-looking header (10 images): the
    reader inflates only what the header promises, so the child's peak memory stays small."""
    path = gzip_stream(tmp_path / "bomb-images-idx3-ubyte.gz", idx_header((10, 28, 28)), 1 << 30)
    assert path.stat().st_size < 2 << 20
    child = textwrap.dedent(f"""
        import resource, sys
        from tinygrad_edu.data.idx import read_idx, DatasetError
        try:
            read_idx({str(path)!r})
        except DatasetError as error:
            print("ERROR", error)
        print("PEAK_MIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         timeout=120).stdout
    assert "unexpected bytes after the 7840 bytes" in out and "bomb-images" in out
    peak = int(out.split("PEAK_MIB")[1])
    assert peak < 300, f"peak memory {peak} MiB while refusing a gzip bomb"


def test_header_promising_more_than_gzip_can_hold_is_refused_at_once(tmp_path):
    path = gzip_stream(tmp_path / "x.gz", idx_header((60000, 28, 28)), 0)
    with pytest.raises(DatasetError, match=r"x\.gz: the header promises shape \(60000, 28, 28\)"):
        read_idx(path)


@pytest.mark.parametrize("shape", [(2**32 - 1, 2**32 - 1, 2**32 - 1), (65536, 65536, 65536)])
def test_header_whose_sizes_overflow_is_a_clear_error(tmp_path, shape):
    """prod(sizes) overflows int64 for the first shape: python ints, no wrap-around to a
    small or negative number that would pass the size check."""
    path = tmp_path / "overflow.gz"
    path.write_bytes(gzip.compress(idx_header(shape) + bytes(100)))
    with pytest.raises(DatasetError, match="overflow.gz: the header promises shape"):
        read_idx(path, IMAGES_MAGIC)
    raw = tmp_path / "overflow-raw"
    raw.write_bytes(idx_header(shape) + bytes(100))
    with pytest.raises(DatasetError, match="more than this file can hold"):
        read_idx(raw)


def test_data_environment_variable_with_unknown_user_is_one_line(monkeypatch):
    monkeypatch.setenv("TINYGRAD_EDU_DATA", "~no_such_user_tg_edu/data")
    with pytest.raises(DatasetError, match=r"TINYGRAD_EDU_DATA='~no_such_user_tg_edu/data': "
                                           r"cannot expand '~no_such_user_tg_edu'"):
        load_mnist(source="full", download=False)


# ----------------------------------------------------------------------------- downloads


class Response(io.BytesIO):
    def __init__(self, data: bytes, announced: int | None = None):
        super().__init__(data)
        self.headers = {} if announced is None else {"Content-Length": str(announced)}
        self.bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_download_is_cut_off_past_the_published_size(tmp_path, monkeypatch):
    sent = []

    def endless(url, timeout=None):
        sent.append(url)
        return Response(bytes(10_000_000))

    monkeypatch.setattr(download_module, "urlopen", endless)
    monkeypatch.setattr(download_module, "CHUNK_SIZE", 1000)
    with pytest.raises(DatasetError, match="more than the expected 5000 bytes"):
        download_module.download_file("f.gz", ["https://a.example", "https://b.example"],
                                      tmp_path / "f.gz", "0" * 64, size=5000, quiet=True)
    assert len(sent) == 2 and list(tmp_path.iterdir()) == []


def test_download_announcing_too_much_is_refused_before_reading(tmp_path, monkeypatch):
    response = Response(b"x" * 100, announced=10**12)
    monkeypatch.setattr(download_module, "urlopen", lambda url, timeout=None: response)
    with pytest.raises(DatasetError, match="announces 1000000000000 bytes"):
        download_module.download_file("f.gz", ["https://a.example"], tmp_path / "f.gz", "0" * 64,
                                      size=100, quiet=True)
    assert response.bytes_read == 0 and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- parameter files


class Net(Module):
    def __init__(self):
        super().__init__()
        self.W = Parameter(np.arange(6, dtype=np.float32).reshape(2, 3))
        self.b = Parameter(np.zeros(3, dtype=np.float32))


def npz_with_member(path: Path, name: str, header_shape, payload: bytes, dtype="<f4") -> Path:
    """A zip holding one .npy member whose header claims ``header_shape`` whatever follows."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": dtype, "fortran_order": False, "shape": tuple(header_shape)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.npy", header.getvalue() + payload)
    return path


def test_npz_member_claiming_1e12_elements_is_refused_before_allocation(tmp_path):
    path = npz_with_member(tmp_path / "crafted.npz", "W", (10**6, 10**6), bytes(24))
    with pytest.raises(ParamsFileError, match=r"crafted\.npz.*'W' claims shape \(1000000, 1000000\)"):
        load_params(Net(), path)


@pytest.mark.parametrize("value, problem", [
    (np.array([["a", "b", "c"], ["d", "e", "f"]]), "<U1 values, not real numbers"),
    (np.full((2, 3), np.nan, dtype=np.float32), "6 non-finite values"),
    (np.array([[1, 2, np.inf], [0, 0, 0]], dtype=np.float64), "1 non-finite values"),
    (np.ones((2, 3), dtype=np.complex64), "complex64 values"),
])
def test_bad_values_load_nothing(tmp_path, value, problem):
    """Every entry is checked before any is copied: a good b next to a bad W leaves both as
    they were."""
    path = tmp_path / "bad.npz"
    np.savez(path, W=value, b=np.ones(3, dtype=np.float32))
    net = Net()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    with pytest.raises(ParamsMismatchError, match=f"bad values: W: {problem}"):
        load_params(net, path)
    for name, array in net.state_dict().items():
        np.testing.assert_array_equal(array, before[name])


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, W=np.array([{"x": 1}, None], dtype=object))
    with pytest.raises(ParamsFileError, match="'W' is an array of Python objects"):
        load_params(Net(), path)


# ----------------------------------------------------------------------------- kill -9


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from tinygrad_edu.atomic import save_npz_atomic
    big = np.random.default_rng(0).standard_normal(4_000_000)  # 32 MB: a save takes a while
    print("ready", flush=True)
    while True:
        save_npz_atomic(sys.argv[1], W=big)
""")


def test_kill_9_mid_save_leaves_a_whole_file_and_the_next_save_cleans_up(tmp_path):
    """Kill writers outright at several moments: the target is always a complete file (old or
    new), and the temporary files the dead writers left are removed by the next write."""
    target = tmp_path / "params.npz"
    save_npz_atomic(target, W=np.zeros(3))
    leftovers = 0
    for delay in (0.05, 0.2, 0.4):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(target)],
                                 stdout=subprocess.PIPE, text=True, start_new_session=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            time.sleep(delay)
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=30)
        leftovers += len(list(tmp_path.glob(".params.npz.*.tmp")))
        with np.load(target) as archive:  # complete, whichever version it is
            assert archive["W"].shape in ((3,), (4_000_000,))
    assert leftovers > 0, "no kill landed mid-write; the test did not exercise the cleanup"
    save_npz_atomic(target, W=np.ones(2))
    assert list(tmp_path.glob(".params.npz.*.tmp")) == []


def test_temporaries_of_live_writers_and_foreign_files_are_kept(tmp_path):
    target = tmp_path / "params.npz"
    live = tmp_path / f".params.npz.{os.getpid()}.abc123.tmp"
    foreign = tmp_path / ".params.npz.notapid.tmp"
    dead = tmp_path / ".params.npz.999999999.xyz.tmp"  # above pid_max: no such process
    for p in (live, foreign, dead):
        p.write_bytes(b"partial")
    assert remove_stale_temporaries(target) == [dead]
    assert live.exists() and foreign.exists() and not dead.exists()


def test_save_params_after_a_killed_save_round_trips(tmp_path):
    net = Net()
    (tmp_path / ".p.npz.999999999.zzz.tmp").write_bytes(b"half")
    save_params(net, tmp_path / "p.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]
    other = Net()
    other.W.data[...] = 0
    load_params(other, tmp_path / "p.npz")
    np.testing.assert_array_equal(other.W.data, net.W.data)


def test_a_graph_built_before_load_params_refuses_to_backward(tmp_path):
    """Loading changes the parameters in place: a graph recorded before would compute its
    gradient from the new values, so backward refuses (as after an optimizer step)."""
    net = Net()
    save_params(net, tmp_path / "p.npz")
    x = Parameter(np.ones((4, 2), dtype=np.float32))
    y = (x @ net.W).sum()
    load_params(net, tmp_path / "p.npz")
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()
