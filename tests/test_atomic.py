"""tinygrad_edu.atomic: a written file is complete or absent, never half-written."""

import os

import numpy as np
import pytest

from tinygrad_edu import atomic
from tinygrad_edu.atomic import atomic_write, save_npz_atomic


def leftovers(directory):
    """Files in directory other than the expected targets: temporary files that were not cleaned up."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_writes_bytes_and_text(tmp_path):
    with atomic_write(tmp_path / "a.bin") as f:
        f.write(b"\x00\x01hello")
    with atomic_write(tmp_path / "b.txt", "w") as f:
        f.write("grüße\n")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01hello"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "grüße\n"
    assert leftovers(tmp_path) == []


def test_nothing_visible_until_the_block_ends(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target, "w") as f:
        f.write("new")
        f.flush()
        assert target.read_text() == "old"
    assert target.read_text() == "new"


def test_exception_keeps_old_file_and_removes_temporary(tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"old content")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as f:
            f.write(b"half of the new cont")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old content"
    assert leftovers(tmp_path) == []


def test_interrupt_leaves_no_new_file(tmp_path):
    target = tmp_path / "new.bin"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as f:
            f.write(b"partial")
            raise KeyboardInterrupt
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_replace_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "x.bin"

    def failing_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        with atomic_write(target) as f:
            f.write(b"data")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_permissions_new_file_and_replaced_file(tmp_path):
    new = tmp_path / "new.txt"
    with atomic_write(new, "w") as f:
        f.write("x")
    assert new.stat().st_mode & 0o777 == 0o666 & ~atomic._UMASK  # not mkstemp's 0o600

    existing = tmp_path / "existing.txt"
    existing.write_text("old")
    existing.chmod(0o640)
    with atomic_write(existing, "w") as f:
        f.write("new")
    assert existing.stat().st_mode & 0o777 == 0o640


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "a", "a"):
            pass
    with pytest.raises(FileNotFoundError, match="does not exist"):
        with atomic_write(tmp_path / "missing_dir" / "a"):
            pass


def test_save_npz_atomic_roundtrip(tmp_path):
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.array([1, 2, 3], dtype=np.int64)
    for compressed in (False, True):
        path = save_npz_atomic(tmp_path / f"params_{compressed}.weights", compressed=compressed, W1=w, b1=b)
        assert path.name == f"params_{compressed}.weights"  # used as given, no ".npz" appended
        with np.load(path) as archive:
            assert sorted(archive.files) == ["W1", "b1"]
            np.testing.assert_array_equal(archive["W1"], w)
            assert archive["W1"].dtype == np.float32
            np.testing.assert_array_equal(archive["b1"], b)
    assert leftovers(tmp_path) == []


def test_save_npz_atomic_failure_keeps_old_archive(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save_npz_atomic(path, W=np.ones(3))

    def failing_savez(file, **arrays):
        file.write(b"PK\x03\x04 partial zip")
        raise OSError("no space left on device")

    monkeypatch.setattr(atomic.np, "savez", failing_savez)
    with pytest.raises(OSError, match="no space"):
        save_npz_atomic(path, W=np.zeros(3))
    with np.load(path) as archive:
        np.testing.assert_array_equal(archive["W"], np.ones(3))
    assert leftovers(tmp_path) == []


def test_save_npz_atomic_needs_arrays(tmp_path):
    with pytest.raises(ValueError, match="no arrays"):
        save_npz_atomic(tmp_path / "empty.npz")
