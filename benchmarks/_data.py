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
