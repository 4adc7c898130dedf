"""tinygrad_edu.safe_pickle: the book's weight files load; crafted pickles are refused before
anything in them runs or any size they declare is allocated."""
from __future__ import annotations

import os
import pickle
import struct
import time
from collections import OrderedDict

import numpy as np
import pytest

from tinygrad_edu import safe_pickle
from tinygrad_edu.safe_pickle import UnsafePickleError


def book_like_params(rng, dtype=np.float64):
    """The structure of the book's params.pkl: a dict of weight and bias arrays."""
    return {"W1": rng.standard_normal((30, 1, 5, 5)).astype(dtype),
            "b1": np.zeros(30, dtype=dtype),
            "W2": rng.standard_normal((40, 10)).astype(dtype),
            "b2": rng.standard_normal(10).astype(dtype)}


def assert_same_params(a, b):
    assert type(b) is dict and list(a) == list(b)
    for key in a:
        assert b[key].dtype == a[key].dtype and b[key].shape == a[key].shape, key
        np.testing.assert_array_equal(b[key], a[key])


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dicts_of_arrays_load_in_every_protocol(protocol, dtype, tmp_path):
    params = book_like_params(np.random.default_rng(0), dtype)
    path = tmp_path / "params.pkl"
    with open(path, "wb") as f:
        pickle.dump(params, f, protocol=protocol)
    assert_same_params(params, safe_pickle.load(path))
    with open(path, "rb") as f:                      # pickle.load's calling convention
        assert_same_params(params, safe_pickle.load(f))


def test_files_written_by_old_numpy_load():
    """The book's files were written by numpy 1.x, whose reconstructor lives in numpy.core."""
    params = book_like_params(np.random.default_rng(1), np.float32)
    data = pickle.dumps(params, protocol=2)
    assert b"numpy._core.multiarray" in data
    old = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert_same_params(params, safe_pickle.loads(old))


def test_plain_data_numbers_and_scalars_load():
    data = {"lr": 0.01, "n": 3, "name": "adam", "flags": (True, None), "z": 1 + 2j,
            "tags": {"a", "b"}, "ordered": OrderedDict(a=1), "scalar": np.float64(2.5),
            "ints": np.arange(4, dtype=np.int16), "text": np.array(["ab", "c"]),
            "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
    for protocol in (2, 4, 5):
        loaded = safe_pickle.loads(pickle.dumps(data, protocol=protocol))
        assert loaded["lr"] == 0.01 and loaded["flags"] == (True, None) and loaded["z"] == 1 + 2j
        assert loaded["tags"] == {"a", "b"} and loaded["ordered"] == OrderedDict(a=1)
        assert loaded["scalar"] == 2.5 and loaded["scalar"].dtype == np.float64
        np.testing.assert_array_equal(loaded["fortran"], data["fortran"])
        assert loaded["text"].tolist() == ["ab", "c"] and loaded["ints"].dtype == np.int16


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class CallsEval:
    def __reduce__(self):
        return (eval, ("__import__('os').getpid()",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_os_system_via_reduce_is_refused_and_never_runs(protocol, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"W1": np.ones(2), "x": RunsACommand(marker)},
                                  protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"evil\.pkl.*global (posix|nt)\.system"):
        safe_pickle.load(path)
    assert not marker.exists()
    assert issubclass(UnsafePickleError, pickle.UnpicklingError)


def test_builtins_eval_is_refused():
    with pytest.raises(UnsafePickleError, match=r"global builtins\.eval"):
        safe_pickle.loads(pickle.dumps(CallsEval(), protocol=4))


@pytest.mark.parametrize("module,name", [
    ("numpy.testing._private.utils", "runstring"),    # exec() of a string
    ("numpy", "load"),                                # would unpickle another file
    ("numpy.lib.npyio", "load"),
    ("numpy", "frompyfunc"),
    ("numpy.f2py", "compile"),
    ("builtins", "getattr"),
    ("builtins", "bytearray"),                        # bytearray(10**12) allocates
    ("copyreg", "_reconstructor"),
])
def test_numpys_and_pythons_dangerous_globals_are_refused(module, name):
    data = f"c{module}\n{name}\n(S'x'\ntR.".encode()
    with pytest.raises(UnsafePickleError, match=rf"global {module}\.{name}"):
        safe_pickle.loads(data)


def test_allowed_globals_refuse_dangerous_arguments():
    # numpy's reconstructor with another class than ndarray
    data = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nccollections\nOrderedDict\n"
            b"K\x00\x85C\x01b\x87R.")
    with pytest.raises(UnsafePickleError, match="_reconstruct of"):
        safe_pickle.loads(data)
    # numpy.ndarray called directly with a huge shape (would allocate 8 TB)
    data = b"\x80\x02cnumpy\nndarray\n\x8a\x06\x00\x00\x00\x00\x00\x01\x85R."
    with pytest.raises(UnsafePickleError, match="ndarray called directly"):
        safe_pickle.loads(data)
    # an object array, whatever it holds
    with pytest.raises(UnsafePickleError, match="dtype object"):
        safe_pickle.loads(pickle.dumps(np.array([1, "a", None], dtype=object), protocol=2))
    # _codecs.encode with another codec than latin1
    with pytest.raises(UnsafePickleError, match="_codecs.encode"):
        safe_pickle.loads(b"c_codecs\nencode\n(S'eA=='\nS'base64'\ntR.")


@pytest.mark.parametrize("opcode,what", [
    (b"\x80\x02K\x01Q.", "persistent id"),                  # BINPERSID
    (b"\x80\x02\x82\x01.", "extension code"),               # EXT1
    (b"(ibuiltins\nlist\n.", "INST"),                       # INST
    (b"\x80\x02cbuiltins\nset\n)\x81.", "NEWOBJ"),          # NEWOBJ
])
def test_opcodes_that_build_objects_are_refused(opcode, what):
    with pytest.raises(UnsafePickleError, match=what):
        safe_pickle.loads(opcode)


def test_deep_nesting_is_refused_quickly():
    depth = 200_000
    data = b"(" * depth + b"l" * depth + b"."           # [[[[...]]]] 200,000 deep
    start = time.perf_counter()
    with pytest.raises(UnsafePickleError, match="nested deeper than 64"):
        safe_pickle.loads(data)
    assert time.perf_counter() - start < 30
    assert safe_pickle.loads(b"(" * 10 + b"l" * 10 + b".", max_depth=64) == \
        [[[[[[[[[[]]]]]]]]]]


def test_shared_references_are_walked_once():
    """A 'billion laughs' pickle: 40 levels, each a list holding the level below twice --
    2**40 paths, 40 objects. The check visits each object once."""
    level = []
    for _ in range(40):
        level = [level, level]
    start = time.perf_counter()
    loaded = safe_pickle.loads(pickle.dumps(level, protocol=4))
    assert loaded[0] is loaded[1] and loaded[0][0] is loaded[1][1]
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("data,message", [
    (b"\x80\x04\x8e" + struct.pack("<Q", 2 ** 40) + b"abc.", "but only"),      # BINBYTES8
    (b"\x80\x04\x8d" + struct.pack("<Q", 2 ** 40) + b"abc.", "but only"),      # BINUNICODE8
    (b"\x80\x05\x96" + struct.pack("<Q", 2 ** 40) + b"abc.", "but only"),      # BYTEARRAY8
    (b"\x80\x02B" + struct.pack("<I", 2 ** 31) + b"abc.", "but only"),         # BINBYTES
    (b"\x80\x04\x95" + struct.pack("<Q", 2 ** 40) + b"N.", "frame"),           # FRAME
    (b"\x80\x02Nr" + struct.pack("<I", 2 ** 31) + b".", "memo index"),         # LONG_BINPUT
])
def test_huge_declared_sizes_are_refused_before_allocating(data, message):
    with pytest.raises(UnsafePickleError, match=message):
        safe_pickle.loads(data)


def test_array_whose_shape_does_not_match_its_data_is_refused():
    data = pickle.dumps(np.ones(2), protocol=2)
    shape = b"K\x02\x85"                                   # BININT1 2, TUPLE1: (2,)
    assert data.count(shape) == 1
    big = b"J@B\x0f\x00J@B\x0f\x00\x86"                  # (10**6, 10**6): 8 TB of float64
    with pytest.raises(UnsafePickleError, match="not a valid pickle"):
        safe_pickle.loads(data.replace(shape, big))


def test_truncated_and_garbage_files_name_the_file(tmp_path):
    path = tmp_path / "broken.pkl"
    path.write_bytes(pickle.dumps({"W": np.ones(3)}, protocol=4)[:-20])
    with pytest.raises(UnsafePickleError, match=r"broken\.pkl.*(not a valid|more than)"):
        safe_pickle.load(path)
    path.write_bytes(b"PK\x03\x04 this is a zip file")
    with pytest.raises(UnsafePickleError, match=r"broken\.pkl"):
        safe_pickle.load(path)


def test_dump_is_picklings():
    assert safe_pickle.dump is pickle.dump and safe_pickle.dumps is pickle.dumps
