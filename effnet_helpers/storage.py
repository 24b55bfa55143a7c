"""File access that works the same for local paths and for gs:// (or any tf.io.gfile) URLs.

Local paths use the standard library (fast, no TensorFlow import); URLs go through tf.io.gfile.
"""
from __future__ import annotations

import io
import json
import os
import posixpath
import shutil

from .backend import tensorflow


def is_url(path) -> bool:
    """True for paths such as gs://bucket/dir that need tf.io.gfile."""
    return "://" in str(path)


def _gfile():
    return tensorflow().io.gfile


def join(*parts) -> str:
    """Join path parts with '/' for URLs and os.path.join otherwise."""
    parts = [str(p) for p in parts]
    return posixpath.join(*parts) if is_url(parts[0]) else os.path.join(*parts)


def basename(path) -> str:
    return posixpath.basename(str(path).rstrip("/")) if is_url(path) else os.path.basename(str(path))


def parent(path) -> str:
    """The folder that holds PATH: "gs://b/run/model.keras" -> "gs://b/run"; a local path's is
    absolute ("model.keras" -> the current folder), so it is never empty and `makedirs` takes it."""
    if is_url(path):
        return posixpath.dirname(str(path).rstrip("/"))
    return os.path.dirname(os.path.abspath(path))


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


def read_json(path):
    """The JSON value in a file (UTF-8; json.loads also takes a BOM and UTF-16/32)."""
    return json.loads(read_bytes(path))


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
    """Write a whole file under a temporary name, then rename it: readers never see half a file.
    When writing fails (a full disk, an interrupt), the temporary file is removed and PATH is
    left as it was."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    tmp = f"{path}.tmp"
    try:
        if is_url(path):
            with _gfile().GFile(tmp, "wb") as f:
                f.write(data)
        else:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        rename(tmp, path)
    except BaseException:
        try:
            remove(tmp)
        except Exception:  # (gfile raises its own errors) the original error is what counts
            pass
        raise


def save_figure(figure, path, close: bool = True, **savefig_kwargs) -> None:
    """Save a matplotlib figure atomically (`write_atomic`), in the format of PATH's extension
    (PNG without one), cropped to its content; `close=True` frees it (pyplot keeps every open
    figure alive otherwise)."""
    extension = os.path.splitext(str(path))[1].lstrip(".").lower()
    buffer = io.BytesIO()
    figure.savefig(buffer, **{"format": extension or "png", "bbox_inches": "tight",
                              **savefig_kwargs})
    if close:
        import matplotlib.pyplot as plt
        plt.close(figure)
    write_atomic(path, buffer.getvalue())


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
        makedirs(parent(target))
        gfile.copy(join(src, *rel.split("/")), target, overwrite=True)
        count += 1
    return count
