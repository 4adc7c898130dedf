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


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """The uncompressed content of ``path`` (gunzipped if it starts with the gzip magic bytes)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read file ({error})") from error
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        # EOFError: "Compressed file ended before the end-of-stream marker was reached".
        raise DatasetError(f"{path}: damaged or truncated gzip data ({error})") from error


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Parse an unsigned-byte IDX file into a uint8 array of the shape its header gives.

    ``expected_magic`` (e.g. IMAGES_MAGIC) makes a file of the other kind an error.
    The file must hold exactly prod(sizes) bytes after the header: fewer means it was
    truncated, more means it is not what the header says.
    """
    path = Path(path)
    content = read_idx_bytes(path)
    if len(content) < 4:
        raise DatasetError(f"{path}: too short to be an IDX file ({len(content)} bytes)")
    magic = struct.unpack(">I", content[:4])[0]
    if expected_magic is not None and magic != expected_magic:
        raise DatasetError(
            f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"({_describe_magic(expected_magic)}); is this the right file?"
        )
    zeros, element_type, ndim = content[0:2], content[2], content[3]
    if zeros != b"\x00\x00" or element_type != UBYTE or ndim == 0:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file (magic number 0x{magic:08x})")

    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise DatasetError(f"{path}: truncated header ({len(content)} of {header_size} bytes)")
    shape = struct.unpack(f">{ndim}I", content[4:header_size])
    expected = int(np.prod(shape, dtype=np.int64))
    found = len(content) - header_size
    if found < expected:
        raise DatasetError(
            f"{path}: truncated: the header promises shape {shape} = {expected} bytes of data, "
            f"but only {found} bytes follow"
        )
    if found > expected:
        raise DatasetError(
            f"{path}: {found - expected} unexpected bytes after the {expected} bytes of data "
            f"that the header (shape {shape}) promises"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(shape).copy()


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
