"""File access that works the same for local paths and for gs:// (or any tf.io.gfile) URLs.

Local paths use the standard library (fast, no TensorFlow import); URLs go through tf.io.gfile.
"""
from __future__ import annotations

import os
import posixpath
import shutil


def is_url(path) -> bool:
    """True for paths such as gs://bucket/dir that need tf.io.gfile."""
    return "://" in str(path)


def _gfile():
    import tensorflow as tf
    return tf.io.gfile


def join(*parts) -> str:
    """Join path parts with '/' for URLs and os.path.join otherwise."""
    parts = [str(p) for p in parts]
    return posixpath.join(*parts) if is_url(parts[0]) else os.path.join(*parts)


def basename(path) -> str:
    return posixpath.basename(str(path).rstrip("/")) if is_url(path) else os.path.basename(str(path))


def exists(path) -> bool:
    return _gfile().exists(str(path)) if is_url(path) else os.path.exists(path)


def isdir(path) -> bool:
    return _gfile().isdir(str(path)) if is_url(path) else os.path.isdir(path)


def listdir(path) -> list[str]:
    """Entry names in a folder, sorted, without trailing slashes."""
    if is_url(path):
        return sorted(name.rstrip("/") for name in _gfile().listdir(str(path)))
    return sorted(os.listdir(path))


def walk_files(top) -> list[str]:
    """Every file below top, as paths relative to top with '/' separators, sorted."""
    found = []
    if is_url(top):
        for dirpath, _, filenames in _gfile().walk(str(top)):
            rel = dirpath[len(str(top)):].strip("/")
            found += [f"{rel}/{f}" if rel else f for f in filenames]
    else:
        for dirpath, _, filenames in os.walk(top, followlinks=True):  # linked class folders too
            rel = os.path.relpath(dirpath, top).replace(os.sep, "/")
            found += [f if rel == "." else f"{rel}/{f}" for f in filenames]
    return sorted(found)


def size(path) -> int:
    return _gfile().stat(str(path)).length if is_url(path) else os.path.getsize(path)


def read_bytes(path) -> bytes:
    if is_url(path):
        with _gfile().GFile(str(path), "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def makedirs(path) -> None:
    _gfile().makedirs(str(path)) if is_url(path) else os.makedirs(path, exist_ok=True)


def rename(src, dst) -> None:
    """Move src to dst, replacing dst (atomic for local files on one file system)."""
    if is_url(src):
        _gfile().rename(str(src), str(dst), overwrite=True)
    else:
        os.replace(src, dst)


def remove(path) -> None:
    if exists(path):
        _gfile().remove(str(path)) if is_url(path) else os.remove(path)


def remove_tree(path) -> None:
    if exists(path):
        _gfile().rmtree(str(path)) if is_url(path) else shutil.rmtree(path)


def write_atomic(path, data: bytes | str) -> None:
    """Write a whole file under a temporary name, then rename it: readers never see half a file."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    tmp = f"{path}.tmp"
    if is_url(path):
        with _gfile().GFile(tmp, "wb") as f:
            f.write(data)
    else:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    rename(tmp, path)


def glob(pattern) -> list[str]:
    if is_url(pattern):
        return sorted(_gfile().glob(str(pattern)))
    import glob as _glob
    return sorted(_glob.glob(str(pattern)))


def copy_tree(src, dst) -> int:
    """Copy every file below SRC to DST (local folders or gs:// buckets, either way); returns
    the number of files. Used to put TFRecords where a Cloud TPU can read them."""
    gfile = _gfile()
    count = 0
    for rel in walk_files(src):
        target = join(dst, *rel.split("/"))
        parent = target.rsplit("/", 1)[0] if is_url(target) else os.path.dirname(target)
        makedirs(parent)
        gfile.copy(join(src, *rel.split("/")), target, overwrite=True)
        count += 1
    return count
