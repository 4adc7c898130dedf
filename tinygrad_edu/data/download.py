"""Downloading a data file from a list of mirrors, verified by SHA-256 and written atomically.

The file is streamed into a temporary file next to its destination while its SHA-256 is
computed; only if the digest equals the published one is the temporary file renamed
into place (tinygrad_edu.atomic.atomic_write). A failed, interrupted or tampered
download therefore leaves nothing behind, and the next mirror is tried.

Tests replace ``urlopen`` in this module with a fake; nothing here is special about
the network otherwise.
"""

from __future__ import annotations

import hashlib
import http.client
import sys
from pathlib import Path
from urllib.request import urlopen

from ..atomic import atomic_write
from .idx import DatasetError

__all__ = ["download_file", "sha256_of_file"]

CHUNK_SIZE = 1 << 16
TIMEOUT_S = 60


def sha256_of_file(path: str | Path) -> str:
    """Hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _check_announced_size(response, size: int | None) -> None:
    announced = getattr(response, "headers", {}).get("Content-Length") if size is not None else None
    if announced is not None and announced.isdigit() and int(announced) > size:
        raise DatasetError(f"the mirror announces {announced} bytes, more than the expected {size}")


def download_file(name: str, mirrors: list[str], destination: Path, sha256: str, *,
                  size: int | None = None, quiet: bool = False) -> Path:
    """Download ``name`` from the first mirror that serves it with the expected SHA-256.

    ``mirrors`` are base URLs; the file's URL is ``mirror + "/" + name``. The verified
    file is written atomically to ``destination`` (its directory must exist). ``size``, the
    published size in bytes, caps the download: a mirror that announces or sends more is
    cut off at once (a file of another size cannot have the expected digest anyway). If no
    mirror succeeds, DatasetError lists what went wrong with each of them.
    """
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        if not quiet:
            print(f"tinygrad_edu: downloading {url}", file=sys.stderr)
        try:
            with atomic_write(destination, "wb") as file:
                digest = hashlib.sha256()
                with urlopen(url, timeout=TIMEOUT_S) as response:
                    _check_announced_size(response, size)
                    received = 0
                    while chunk := response.read(CHUNK_SIZE):
                        received += len(chunk)
                        if size is not None and received > size:
                            raise DatasetError(f"the mirror sent more than the expected {size} bytes")
                        digest.update(chunk)
                        file.write(chunk)
                if digest.hexdigest() != sha256:
                    # Raised inside atomic_write: the unverified file is deleted.
                    raise DatasetError(f"SHA-256 mismatch: got {digest.hexdigest()}, expected {sha256}")
            return destination
        except (OSError, http.client.HTTPException, DatasetError) as error:
            # OSError covers URLError, HTTPError, timeouts and dropped connections;
            # HTTPException covers IncompleteRead (the server closed the connection early).
            failures.append(f"  {url}: {type(error).__name__}: {error}")
    raise DatasetError(f"could not download {name} (nothing was saved):\n" + "\n".join(failures))
