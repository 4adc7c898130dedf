"""Atomic file writing: a file is either the complete new version or the old one, never half.

The recipe (the same one editors and databases use):

1. write everything to a temporary file in the *same directory* as the target
   (so the final rename does not cross file systems),
2. flush and ``fsync`` it, so the bytes are on disk before the rename,
3. ``os.replace(temporary, target)``, an atomic rename on POSIX and Windows,
4. ``fsync`` the directory, so the rename itself survives a crash (POSIX only).

If anything fails before step 3 (an exception, Ctrl-C, a full disk), the temporary
file is removed and the old target, if there was one, is left untouched. A process killed
outright (``kill -9``, a power cut) cannot clean up after itself: its temporary file is named
after its process id (``.params.npz.<pid>.<random>.tmp``), and the next write of the same target
removes the temporary files of processes that no longer exist.

    with atomic_write("weights.txt", "w") as f:
        f.write("...")

    save_npz_atomic("model.npz", W1=W1, b1=b1)
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

import numpy as np

__all__ = ["atomic_write", "remove_stale_temporaries", "save_npz_atomic"]

_MODES = {"w", "wt", "wb"}


def _current_umask() -> int:
    """The process umask (read once at import; os.umask can only be read by setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable. Not possible (and not needed) on Windows."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not support fsync on directories
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None) -> Iterator[IO]:
    """Open ``path`` for writing so that it appears all at once, or not at all.

    Yields a file object open on a temporary file next to ``path``. On a normal exit the
    data are fsync'ed and the temporary file replaces ``path`` (``os.replace``). On an
    exception (including KeyboardInterrupt) the temporary file is deleted, ``path`` is
    left as it was, and the exception propagates.

    ``mode`` is "wb" (bytes, default), "w" or "wt" (text; ``encoding`` defaults to UTF-8).
    The directory of ``path`` must exist. The new file gets the usual permissions for a
    new file (0o666 minus the umask), or the permissions of the file it replaces.
    """
    if mode not in _MODES:
        raise ValueError(f"atomic_write: mode must be one of {sorted(_MODES)}, got {mode!r}")
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"atomic_write: directory {str(directory)!r} for {str(path)!r} does not exist")
    if "b" not in mode and encoding is None:
        encoding = "utf-8"

    try:
        permissions = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        permissions = 0o666 & ~_UMASK

    remove_stale_temporaries(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                     dir=directory)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, permissions)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writers of ``path`` killed mid-write left behind (those
    whose process no longer exists); returns what was removed. Files of live processes, and
    files not named by this module, are left alone."""
    path = Path(path)
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = candidate.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        return True
    return True


def save_npz_atomic(path: str | os.PathLike, /, *, compressed: bool = False, **arrays: np.ndarray) -> Path:
    """Save named arrays to an ``.npz`` archive atomically; load them back with ``np.load(path)``.

    Unlike ``np.savez``, the file name is used exactly as given (no ``.npz`` is appended).
    ``compressed=True`` uses ``np.savez_compressed`` (zip deflate). Returns the path.
    """
    if not arrays:
        raise ValueError(f"save_npz_atomic({str(path)!r}): no arrays given")
    save = np.savez_compressed if compressed else np.savez
    with atomic_write(path, "wb") as file:
        save(file, **arrays)
    return Path(path)
