"""Reading a PyTorch state dict (`torch.save(model.state_dict(), path)`, the legacy non-zip
serialization) with numpy alone, without executing anything the file names.

A `.pth` file is a pickle, and unpickling runs whatever callables the file asks for: a crafted
file can name `os.system`. The reader below unpickles with an allow-list: only the handful of
globals a state dict needs (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and the
`torch.*Storage` types), each mapped to a harmless stand-in of this module; any other global is
refused with `UnsafeFileError` before it is looked up. The layout of the legacy format (five
pickles, then the raw storages) is described in docs/transfer.md.
"""
from __future__ import annotations

import collections
import pickle
import struct

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
                  "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32,
                  "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
                  "BoolStorage": np.bool_}


class UnsafeFileError(pickle.UnpicklingError):
    """The file asks for code that a state dict never needs; nothing from it was run."""


class StateDictFormatError(ValueError):
    """The file is not a PyTorch state dict in the legacy serialization."""


class _Storage:
    """Stands in for a torch.*Storage type: remembers its numpy dtype."""

    def __init__(self, name: str):
        self.dtype = np.dtype(STORAGE_DTYPES[name])


class _Tensor:
    """A tensor waiting for its storage's bytes, which come after the pickles."""

    def __init__(self, storage, offset, size, stride, *_ignored):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), stride


def _rebuild_tensor(storage, offset, size, stride, *rest):
    return _Tensor(storage, offset, size, stride, *rest)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only what a state dict holds; refuses every other global by name."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _Storage(name)
        raise UnsafeFileError(
            f"Refused to load {module}.{name}: a PyTorch state dict needs only tensors and an "
            "OrderedDict, so this file is either not a state dict or was crafted to run code. "
            "Nothing from it was executed.")

    def persistent_load(self, pid):
        # ("storage", storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _Storage)):
            raise StateDictFormatError(f"Unexpected persistent id {pid!r} in the state dict.")
        return {"type": pid[1], "key": str(pid[2]), "numel": int(pid[4])}


def _load(stream):
    unpickler = _RestrictedUnpickler(stream)
    return unpickler.load()


def read_state_dict(path) -> dict[str, np.ndarray]:
    """The tensors of a legacy-format PyTorch state dict as numpy arrays, in file order.

    Raises UnsafeFileError when the file names any callable beyond the allow-list, and
    StateDictFormatError when it is not a legacy state dict (for example the zip format of
    PyTorch 1.6+, which this reader does not handle)."""
    with open(path, "rb") as stream:
        head = stream.read(2)
        if head[:2] == b"PK":
            raise StateDictFormatError(
                f"{path} is a zip-format PyTorch file (PyTorch 1.6+); this reader handles the "
                "legacy format only.")
        stream.seek(0)
        try:
            magic = _load(stream)
        except (pickle.UnpicklingError, EOFError) as error:
            if isinstance(error, UnsafeFileError):
                raise
            raise StateDictFormatError(f"{path} is not a PyTorch file ({error}).") from None
        if magic != LEGACY_MAGIC:
            raise StateDictFormatError(f"{path} is not a PyTorch legacy file (magic {magic!r}).")
        _load(stream)  # protocol version
        _load(stream)  # system info (endianness, type sizes)
        state = _load(stream)
        keys = _load(stream)
        if not isinstance(state, dict) or not isinstance(keys, list):
            raise StateDictFormatError(f"{path} holds no state dict.")
        storages = _read_storages(stream, keys, _storage_types(state))
    return {name: _materialise(tensor, storages) for name, tensor in state.items()}


def _storage_types(state: dict) -> dict:
    types = {}
    for name, tensor in state.items():
        if not isinstance(tensor, _Tensor):
            raise StateDictFormatError(f"Entry {name!r} of the state dict is not a tensor.")
        types[tensor.storage["key"]] = tensor.storage["type"].dtype
    return types


def _read_storages(stream, keys: list, dtypes: dict) -> dict:
    """Each storage as written after the pickles: an int64 element count, then raw little-endian
    data of that many elements."""
    storages = {}
    for key in keys:
        key = str(key)
        (count,) = struct.unpack("<q", stream.read(8))
        dtype = dtypes[key]
        data = stream.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise StateDictFormatError("The file ends inside a tensor: it is truncated.")
        storages[key] = np.frombuffer(data, dtype=dtype.newbyteorder("<"))
    return storages


def _materialise(tensor: _Tensor, storages: dict) -> np.ndarray:
    flat = storages[tensor.storage["key"]]
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[tensor.offset:], shape=tensor.size,
        strides=tuple(s * itemsize for s in tensor.stride))
    return np.array(view, dtype=flat.dtype.newbyteorder("="))
