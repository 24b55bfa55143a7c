"""Data helpers shared by the benchmarks: the smooth random fields their synthetic photos are
made of, and counting and pre-reading the files of a benchmark dataset."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image


def field(rng, height: int, width: int, cells: tuple[int, int], channels: int) -> np.ndarray:
    """A smooth random field: normal noise on a coarse grid, upscaled bicubically."""
    small = rng.normal(0, 1, (cells[0], cells[1], channels)).astype(np.float32)
    out = np.empty((height, width, channels), np.float32)
    for c in range(channels):
        out[..., c] = np.asarray(Image.fromarray(small[..., c], "F").resize(
            (width, height), Image.Resampling.BICUBIC))
    return out


def count_files(folder: Path) -> int:
    """Files below FOLDER (0 when it does not exist)."""
    return sum(len(files) for _, _, files in os.walk(folder)) if Path(folder).is_dir() else 0


def read_all(folder: Path) -> int:
    """Read every file below FOLDER once and return the bytes read: this VM's kernel drops idle
    page cache within seconds (kdamond), so each timed run starts with the data in memory."""
    total = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                while chunk := f.read(1 << 22):
                    total += len(chunk)
    return total


def link_subset(data_dir: Path, target: Path, fraction: float) -> int:
    """TARGET: the same folders as DATA_DIR with the first `fraction` of each folder's files (by
    name), as hard links (no copy: both sizes read the same files). Returns the files linked."""
    wanted = []
    for dirpath, _, names in os.walk(data_dir):
        names = sorted(names)
        keep = max(1, round(len(names) * fraction)) if names else 0
        wanted += [os.path.relpath(os.path.join(dirpath, n), data_dir) for n in names[:keep]]
    if count_files(target) != len(wanted):
        import shutil
        shutil.rmtree(target, ignore_errors=True)
        for relpath in wanted:
            link(Path(data_dir) / relpath, Path(target) / relpath)
    return len(wanted)


def link(source: Path, target: Path) -> None:
    """A hard link (a copy where the file system refuses links), its folder made."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        import shutil
        shutil.copyfile(source, target)


def count_records(paths) -> int:
    """Records in TFRecord files, from their framing (8-byte length, 4-byte CRC, data, 4-byte
    CRC), without TensorFlow; a file whose framing does not add up raises ValueError."""
    import struct
    total = 0
    for path in paths:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            position = 0
            while position < size:
                header = f.read(8)
                if len(header) < 8:
                    raise ValueError(f"{path}: truncated record header at byte {position}")
                length = struct.unpack("<Q", header)[0]
                position += 8 + 4 + length + 4
                f.seek(position)
                total += 1
            if position != size:
                raise ValueError(f"{path}: the last record runs past the end of the file")
    return total
