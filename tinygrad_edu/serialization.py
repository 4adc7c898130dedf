"""Save and load a model's parameters as a ``.npz`` archive.

    save_params(model, "runs/simple_convnet/params.npz")
    load_params(model, "runs/simple_convnet/params.npz")

The archive holds one array per entry of ``model.state_dict()``: every parameter under its
dotted name (``"conv1.W"``) and every buffer (BatchNorm's running statistics). It is an
ordinary numpy file: ``np.load(path)`` reads it without tinygrad_edu.

Saving is atomic: the file appears complete or not at all (an interrupted save leaves the old
file and no temporary file). Loading checks every name, shape and value first (real, finite
numbers only: no strings, objects, complex numbers, NaN or inf); any problem raises
:class:`ParamsMismatchError` listing all of them, and the model is left untouched. A damaged or
crafted file raises :class:`ParamsFileError` before its arrays are read. Values are copied into
the existing arrays, so each parameter keeps its dtype.
"""
from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np

from tinygrad_edu.atomic import save_npz_atomic
from tinygrad_edu.module import Module, StateDictError

__all__ = ["save_params", "load_params", "read_params", "ParamsFileError", "ParamsMismatchError"]


class ParamsMismatchError(StateDictError):
    """The saved parameters do not fit the model (names or shapes); nothing was loaded."""


def _check_module(module, what: str) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{what}: expected a Module, got {type(module).__name__}")


def save_params(module: Module, path: str | os.PathLike) -> Path:
    """Write every parameter and buffer of ``module`` to ``path`` (an ``.npz`` archive).

    The name is used exactly as given; missing parent folders are created. Returns the path.
    """
    _check_module(module, "save_params")
    path = Path(path)
    state = module.state_dict()
    if not state:
        raise ValueError(f"save_params({str(path)!r}): {type(module).__name__} has no parameters")
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_npz_atomic(path, **state)


def read_params(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a parameter file as a dict (name -> array), without a model.

    Each member's ``.npy`` header is read first: a member whose header promises more data than
    the member holds (a crafted "10^12 elements" claim), or an array of objects, is refused
    before any memory is allocated for it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_params: no parameter file {str(path)!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                _check_member_header(path, archive, info)
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        if isinstance(error, ParamsFileError):
            raise
        raise ParamsFileError(f"load_params: {str(path)!r} is not a readable .npz parameter file "
                              f"({type(error).__name__}: {error})") from error


class ParamsFileError(ValueError):
    """A parameter file is damaged, crafted, or holds what no parameter can be."""


def _check_member_header(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Compare what a member's .npy header promises with the member's real (uncompressed) size."""
    name = info.filename.removesuffix(".npy")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        header_size = member.tell()
    if dtype.hasobject:
        raise ParamsFileError(f"load_params: {str(path)!r}: {name!r} is an array of Python "
                              f"objects ({dtype}); a parameter file holds numbers only")
    promised = math.prod(shape) * dtype.itemsize
    if promised != info.file_size - header_size:
        raise ParamsFileError(
            f"load_params: {str(path)!r}: {name!r} claims shape {shape} of {dtype} "
            f"({promised} bytes) but holds {info.file_size - header_size} bytes; the file is "
            f"damaged or crafted")


def load_params(module: Module, path: str | os.PathLike, strict: bool = True) -> Module:
    """Copy the arrays saved in ``path`` into ``module``'s parameters and buffers, in place.

    Every name and shape is checked before anything changes. Names missing from the file or
    not in the model (unless ``strict=False``) and shape mismatches raise
    :class:`ParamsMismatchError` listing them all; the model is then untouched. Returns the
    module.
    """
    _check_module(module, "load_params")
    state = read_params(path)
    try:
        module.load_state_dict(state, strict=strict)
    except StateDictError as error:
        raise ParamsMismatchError(f"load_params({str(path)!r}): the file does not fit "
                                  f"{type(module).__name__}: {error}") from None
    return module
