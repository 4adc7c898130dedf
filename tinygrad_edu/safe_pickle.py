"""Reading pickles that cannot run code: dicts, lists, tuples, strings, numbers and numpy arrays.

``pickle.load`` runs whatever a file tells it to: a pickle is a small program, and its
``GLOBAL``/``REDUCE`` instructions can call any function in any module (``os.system``,
``builtins.eval``, ...) before the caller sees a single value. The book's published weights
(``sample_weight.pkl``, ``params.pkl``, ``deep_convnet_params.pkl``) are pickles, so this module
reads them with a restricted unpickler:

    from tinygrad_edu import safe_pickle
    params = safe_pickle.load("params.pkl")         # a path or an open binary file
    # or, in a book script:  from tinygrad_edu import safe_pickle as pickle

What a file may hold: ``dict``, ``list``, ``tuple``, ``set``, ``frozenset``, ``str``,
``bytes``, ``int``, ``float``, ``complex``, ``bool``, ``None``, ``collections.OrderedDict``, and
numpy arrays and scalars of numeric, bool or string dtypes. For those the unpickler resolves
only numpy's own rebuilding functions (``_reconstruct``, ``scalar``, ``_frombuffer``, ``dtype``
and ``_codecs.encode`` that old protocols use for raw bytes), each replaced by a wrapper that
checks its arguments. Anything else -- another global, an object dtype, a persistent id, an
extension code, ``INST``/``OBJ``/``NEWOBJ`` -- stops the load with :class:`UnsafePickleError`
naming the file and what it asked for; nothing in the file is ever called.

Before the unpickler starts, the bytes are scanned with :mod:`pickletools` (which only
decodes): every length the file declares must fit in the file, and every memo index must be
one the file could have written, so a few crafted bytes cannot make the loader allocate
gigabytes. After loading, containers nested deeper than ``max_depth`` are refused.

``dump``/``dumps`` are :mod:`pickle`'s (writing runs nothing from a file).
"""
from __future__ import annotations

import io
import os
import pickle
import pickletools
from collections import OrderedDict

import numpy as np

__all__ = ["load", "loads", "dump", "dumps", "UnsafePickleError", "MAX_DEPTH"]

dump = pickle.dump
dumps = pickle.dumps

#: How deeply containers may nest (the book's files nest 2 deep: a dict of arrays).
MAX_DEPTH = 64

#: numpy dtype kinds an array may have: bool, signed/unsigned int, float, complex, bytes, str.
_DTYPE_KINDS = "biufcSU"

#: Opcodes that build objects by other means than the globals below; never needed for data.
_FORBIDDEN_OPCODES = {
    "PERSID": "a persistent id", "BINPERSID": "a persistent id",
    "EXT1": "an extension code", "EXT2": "an extension code", "EXT4": "an extension code",
    "INST": "an INST instruction (calls a class)", "OBJ": "an OBJ instruction (calls a class)",
    "NEWOBJ": "a NEWOBJ instruction (calls cls.__new__)",
    "NEWOBJ_EX": "a NEWOBJ_EX instruction (calls cls.__new__)",
}
_MEMO_OPCODES = {"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for something a data file does not need (and nothing of it ran)."""


class _Where:
    """The file name that errors mention."""

    def __init__(self, name: str):
        self.name = name

    def fail(self, message: str):
        raise UnsafePickleError(f"safe_pickle: {self.name!r}: {message}; refused (nothing in "
                                f"the file was run)")


class _NdarrayToken:
    """What ``numpy.ndarray`` resolves to: only numpy's ``_reconstruct`` may take it.
    (Calling ``ndarray(shape)`` directly would allocate whatever size the file declares.)"""

    def __init__(self, where: _Where):
        self.where = where

    def __call__(self, *args, **kwargs):
        self.where.fail("numpy.ndarray called directly (arrays are rebuilt by numpy's "
                        "_reconstruct only)")


def _checked_dtype(dtype, where: _Where) -> np.dtype:
    if not isinstance(dtype, np.dtype):
        where.fail(f"an array dtype must be a numpy dtype, got {type(dtype).__name__}")
    if dtype.kind not in _DTYPE_KINDS or dtype.hasobject or dtype.fields is not None:
        where.fail(f"dtype {dtype} is not allowed (only bool, int, float, complex and string "
                   f"dtypes)")
    return dtype


def _checked_shape(shape, where: _Where) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        where.fail(f"an array shape must be a tuple of non-negative ints, got {shape!r}")
    return shape


class _Constructors:
    """The checked stand-ins for the globals a numpy pickle names."""

    def __init__(self, where: _Where):
        self.where = where
        self.ndarray = _NdarrayToken(where)

    def reconstruct(self, subtype, shape, dtype_code):
        """numpy's ``_reconstruct(ndarray, (0,), b'b')``: an empty array that the following
        BUILD fills through ``ndarray.__setstate__`` (which checks the data length)."""
        if subtype is not self.ndarray:
            self.where.fail(f"numpy _reconstruct of {subtype!r} (only numpy.ndarray)")
        if _checked_shape(shape, self.where) != (0,):
            self.where.fail(f"numpy _reconstruct with shape {shape} (numpy writes (0,))")
        return np.empty(0, dtype=np.int8)

    def dtype(self, code, align=False, copy=False):
        """``numpy.dtype('f8', False, True)``: a plain numeric/string dtype."""
        if not isinstance(code, str) or not code.isalnum():
            self.where.fail(f"numpy dtype {code!r} (only simple codes such as 'f8')")
        try:
            dtype = np.dtype(code)
        except TypeError:
            self.where.fail(f"numpy dtype {code!r} is not a dtype")
        return _checked_dtype(dtype, self.where)

    def scalar(self, dtype, data=None):
        """numpy's ``scalar(dtype, raw bytes)``: a numpy number."""
        dtype = _checked_dtype(dtype, self.where)
        if not isinstance(data, bytes) or len(data) != dtype.itemsize:
            self.where.fail(f"a numpy {dtype} scalar needs {dtype.itemsize} raw bytes")
        return np.frombuffer(data, dtype=dtype)[0]

    def frombuffer(self, buffer, dtype, shape, order):
        """numpy's ``_frombuffer(buffer, dtype, shape, order)`` (pickle protocol 5)."""
        dtype = _checked_dtype(dtype, self.where)
        shape = _checked_shape(shape, self.where)
        if not isinstance(buffer, (bytes, bytearray, pickle.PickleBuffer)) or order not in "CF":
            self.where.fail("numpy _frombuffer needs raw bytes and order 'C' or 'F'")
        data = memoryview(buffer).cast("B")
        if len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            self.where.fail(f"numpy _frombuffer: {len(data)} bytes do not hold a {shape} "
                            f"{dtype} array")
        return np.frombuffer(bytes(data), dtype=dtype).reshape(shape, order=order).copy()

    def encode(self, text, encoding="utf-8"):
        """``_codecs.encode(text, 'latin1')``: how protocols 0-2 store raw bytes."""
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            self.where.fail(f"_codecs.encode with {encoding!r} (only 'latin1' of a string)")
        return text.encode("latin1")


def _allowed_globals(c: _Constructors) -> dict:
    allowed = {("numpy", "ndarray"): c.ndarray, ("numpy", "dtype"): c.dtype,
               ("_codecs", "encode"): c.encode,
               ("collections", "OrderedDict"): OrderedDict}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = c.reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = c.scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = c.frombuffer
    for builtins in ("builtins", "__builtin__"):
        for cls in (set, frozenset, complex):
            allowed[(builtins, cls.__name__)] = cls
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, where: _Where):
        super().__init__(file)
        self.where = where
        self.allowed = _allowed_globals(_Constructors(where))

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except (KeyError, TypeError):
            self.where.fail(f"it asks for the global {module}.{name} (a data file may hold only "
                            f"dicts, lists, tuples, strings, numbers and numpy arrays)")

    def persistent_load(self, pid):
        self.where.fail("it holds a persistent id")


def _scan(data: bytes, where: _Where) -> None:
    """Decode every opcode without running any: refuse forbidden ones, declared lengths beyond
    the end of the file, and memo indices the file could not have written."""
    ops = 0
    try:
        for opcode, arg, pos in pickletools.genops(io.BytesIO(data)):
            ops += 1
            name = opcode.name
            if name in _FORBIDDEN_OPCODES:
                where.fail(f"it holds {_FORBIDDEN_OPCODES[name]} at byte {pos}")
            if name == "FRAME" and arg > len(data) - pos:
                where.fail(f"a frame at byte {pos} declares {arg} bytes, more than the file has")
            if name in _MEMO_OPCODES and (not isinstance(arg, int) or arg > ops):
                where.fail(f"memo index {arg!r} at byte {pos} is out of range")
    except UnsafePickleError:
        raise
    except Exception as error:       # truncated data, a length beyond the end, a bad opcode
        where.fail(f"not a valid pickle ({error})")


def _check_result(obj, where: _Where, max_depth: int):
    """Refuse containers nested deeper than ``max_depth`` and arrays of object dtype (walked
    with an explicit stack, each container once)."""
    stack, seen = [(obj, 0)], set()
    while stack:
        item, depth = stack.pop()
        if isinstance(item, np.ndarray):
            _checked_dtype(item.dtype, where)
            continue
        if not isinstance(item, (dict, list, tuple, set, frozenset)) or id(item) in seen:
            continue
        if depth >= max_depth:
            where.fail(f"containers nested deeper than {max_depth} levels")
        seen.add(id(item))
        children = (list(item.keys()) + list(item.values())) if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return obj


def loads(data: bytes, *, name: str = "<bytes>", max_depth: int = MAX_DEPTH):
    """The object pickled in ``data`` -- only data, see the module docstring."""
    where = _Where(name)
    data = bytes(data)
    _scan(data, where)
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), where).load()
    except UnsafePickleError:
        raise
    except Exception as error:
        where.fail(f"not a valid pickle of data ({type(error).__name__}: {error})")
    return _check_result(obj, where, max_depth)


def load(file, *, max_depth: int = MAX_DEPTH):
    """The object pickled in ``file`` (a path, or an open binary file as for ``pickle.load``)."""
    if hasattr(file, "read"):
        name = str(getattr(file, "name", "<file>"))
        data = file.read()
    else:
        name = os.fspath(file)
        with open(file, "rb") as f:
            data = f.read()
    return loads(data, name=name, max_depth=max_depth)
