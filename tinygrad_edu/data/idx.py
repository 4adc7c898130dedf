"""Reader for the IDX file format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by the raw array:

    offset  type     value
    0       2 bytes  0x00 0x00
    2       1 byte   element type (0x08 = unsigned byte, the only one MNIST uses)
    3       1 byte   number of dimensions d
    4       d x 4    the size of each dimension (uint32, big-endian)
    4+4d    ...      prod(sizes) elements, row-major

So the image files start with the 4-byte magic number 0x00000803 (ubyte, 3 dimensions:
count, rows, columns) and the label files with 0x00000801 (ubyte, 1 dimension: count).
The files are usually gzip-compressed; gzip is recognised by its own magic bytes 1f 8b,
not by the file name.

Every check that fails raises DatasetError naming the file and what is wrong: a damaged
file never turns into a silently wrong array.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["DatasetError", "IMAGES_MAGIC", "LABELS_MAGIC", "read_idx", "read_idx_bytes", "read_images", "read_labels"]

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08


class DatasetError(ValueError):
    """A data file is missing, damaged, or does not hold what it should."""


#: deflate cannot compress better than about 1032:1, so a gzip file whose IDX header promises
#: more than this many bytes per compressed byte is lying (a "gzip bomb"), and is refused
#: before anything is inflated.
MAX_DEFLATE_RATIO = 1032


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """The uncompressed content of ``path`` (gunzipped if it starts with the gzip magic bytes).

    Reads everything: use :func:`read_idx` for data files, which inflates no more than the
    IDX header promises."""
    path = Path(path)
    with _open_idx(path) as (stream, _):
        try:
            return stream.read()
        except (OSError, EOFError, zlib.error) as error:
            raise DatasetError(f"{path}: damaged or truncated gzip data ({error})") from error


class _open_idx:
    """``with _open_idx(path) as (stream, most)``: a binary stream of the file's uncompressed
    content (gzip recognised by its magic bytes) and the most bytes that content can hold (the
    size on disk, times MAX_DEFLATE_RATIO for a gzip file)."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        try:
            self.file = open(self.path, "rb")
            size = os.fstat(self.file.fileno()).st_size
            compressed = self.file.read(2) == GZIP_MAGIC
            self.file.seek(0)
        except OSError as error:
            raise DatasetError(f"{self.path}: cannot read file ({error})") from error
        if not compressed:
            return self.file, size
        return gzip.GzipFile(fileobj=self.file, mode="rb"), size * MAX_DEFLATE_RATIO

    def __exit__(self, *exc):
        self.file.close()


def _read(stream, count: int, path: Path) -> bytes:
    """``count`` bytes of the stream (fewer only at its end), as one gzip-error-checked read."""
    try:
        return stream.read(count)
    except (OSError, EOFError, zlib.error) as error:
        # EOFError: "Compressed file ended before the end-of-stream marker was reached".
        raise DatasetError(f"{path}: damaged or truncated gzip data ({error})") from error


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Parse an unsigned-byte IDX file into a uint8 array of the shape its header gives.

    ``expected_magic`` (e.g. IMAGES_MAGIC) makes a file of the other kind an error.
    The file must hold exactly prod(sizes) bytes after the header: fewer means it was
    truncated, more means it is not what the header says. A compressed file is inflated
    only as far as the header promises (plus one byte, to see whether more follows), and a
    promise that no real gzip file could keep is refused before anything is inflated.
    """
    path = Path(path)
    with _open_idx(path) as (stream, most):
        head = _read(stream, 4, path)
        if len(head) < 4:
            raise DatasetError(f"{path}: too short to be an IDX file ({len(head)} bytes)")
        magic = struct.unpack(">I", head)[0]
        if expected_magic is not None and magic != expected_magic:
            raise DatasetError(
                f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
                f"({_describe_magic(expected_magic)}); is this the right file?"
            )
        zeros, element_type, ndim = head[0:2], head[2], head[3]
        if zeros != b"\x00\x00" or element_type != UBYTE or ndim == 0:
            raise DatasetError(f"{path}: not an unsigned-byte IDX file (magic number 0x{magic:08x})")

        sizes = _read(stream, 4 * ndim, path)
        if len(sizes) < 4 * ndim:
            raise DatasetError(f"{path}: truncated header ({4 + len(sizes)} of {4 + 4 * ndim} bytes)")
        shape = struct.unpack(f">{ndim}I", sizes)
        expected = math.prod(shape)  # python ints: no overflow, however large the sizes
        if expected > most:
            raise DatasetError(
                f"{path}: the header promises shape {shape} = {expected} bytes of data, more "
                f"than this file can hold (at most {most} bytes); it is damaged or crafted"
            )
        data = np.empty(shape, dtype=np.uint8)
        found = _read_into(stream, data.reshape(-1), path)
        extra = _count_rest(stream, path)
    if found < expected:
        raise DatasetError(
            f"{path}: truncated: the header promises shape {shape} = {expected} bytes of data, "
            f"but only {found} bytes follow"
        )
    if extra:
        raise DatasetError(
            f"{path}: {extra} unexpected bytes after the {expected} bytes of data "
            f"that the header (shape {shape}) promises"
        )
    return data


def _read_into(stream, out: np.ndarray, path: Path) -> int:
    """Fill ``out`` (1-D uint8) from the stream, straight into its memory; the bytes read."""
    view, filled = memoryview(out), 0
    try:
        while filled < len(view):
            n = stream.readinto(view[filled:])
            if not n:
                break
            filled += n
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"{path}: damaged or truncated gzip data ({error})") from error
    return filled


def _count_rest(stream, path: Path, most: int = 1 << 24) -> str:
    """How many bytes are left in the stream ("" for none), counted in chunks and no further
    than ``most``: trailing garbage is reported without inflating all of it."""
    count = 0
    while count <= most:
        chunk = _read(stream, 1 << 16, path)
        if not chunk:
            return str(count) if count else ""
        count += len(chunk)
    return f"more than {most}"


def read_images(path: str | os.PathLike, rows: int = 28, cols: int = 28) -> np.ndarray:
    """Images from an IDX image file: uint8 array (N, rows, cols)."""
    images = read_idx(path, IMAGES_MAGIC)
    if images.shape[1:] != (rows, cols):
        raise DatasetError(f"{path}: images are {images.shape[1]}x{images.shape[2]}, expected {rows}x{cols}")
    return images


def read_labels(path: str | os.PathLike, num_classes: int = 10) -> np.ndarray:
    """Labels from an IDX label file: uint8 array (N,), every value in 0..num_classes-1."""
    labels = read_idx(path, LABELS_MAGIC)
    if labels.size and labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DatasetError(
            f"{path}: label {labels[bad]} at index {bad} is outside 0..{num_classes - 1}; the file is damaged"
        )
    return labels


def _describe_magic(magic: int) -> str:
    return {IMAGES_MAGIC: "an image file", LABELS_MAGIC: "a label file"}.get(magic, "IDX")
