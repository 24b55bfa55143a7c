"""Shared builders for the tests: small images made in memory, datasets made in tmp_path, and the
checks every conversion must pass.

Images are tiny (16-200 px) and made with Pillow and numpy, so the whole suite stays fast.
"""
from __future__ import annotations

import io
import json
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effnet_helpers import settings

SHARD_RE = re.compile(r"^(train|validation)-(\d{5})-of-(\d{5})$")


# --- images as bytes --------------------------------------------------------------------------

def noise_array(seed: int, size=(32, 32), channels: int = 3) -> np.ndarray:
    """A seeded random RGB array (height, width, 3): distinct seeds give distinct images."""
    width, height = size
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def smooth_array(seed: int = 0, size=(32, 32)) -> np.ndarray:
    """A smooth colour gradient (JPEG keeps it well, so pixels can be compared after a round
    trip); the seed shifts it, so distinct seeds give distinct images."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(x * 255 // max(width - 1, 1) + seed * 37) % 256,
                     y * 255 // max(height - 1, 1),
                     np.full_like(x, (seed * 91) % 256)], axis=-1).astype(np.uint8)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def jpeg_bytes(seed: int = 0, size=(32, 32), quality: int = 90) -> bytes:
    """A plain baseline RGB JPEG (the kind the converter stores unchanged)."""
    return encode(Image.fromarray(noise_array(seed, size)), "JPEG", quality=quality)


def png_bytes(seed: int = 0, size=(32, 32)) -> bytes:
    return encode(Image.fromarray(noise_array(seed, size)), "PNG")


def solid(mode: str, color, size=(24, 16)) -> Image.Image:
    return Image.new(mode, size, color)


def png16_bytes(value, size=(24, 16)) -> bytes:
    """A 16-bit PNG filled with one value (0..65535 per channel), written by hand so that no
    Pillow conversion is involved: an int gives greyscale, a tuple of 2, 3 or 4 values grey with
    alpha, RGB or RGBA (PNG colour types 0, 4, 2, 6; bit depth 16)."""
    width, height = size
    values = (value,) if isinstance(value, int) else tuple(value)
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[len(values)]
    row = b"\x00" + struct.pack(f">{len(values)}H", *values) * width
    return _png(width, height, bit_depth=16, color_type=color_type, raw=row * height)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, bit_depth: int, color_type: int, raw: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def bomb_png_bytes(width: int = 100_000, height: int = 100_000) -> bytes:
    """A few-hundred-byte PNG whose header (with a correct CRC) claims width x height RGB pixels:
    a decompression bomb. Its IDAT holds only one row, so a full decode would also fail."""
    return _png(width, height, bit_depth=8, color_type=2, raw=b"\x00" * (1 + 3 * min(width, 64)))


def exif_rotated_jpeg(size=(60, 30), orientation: int = 6) -> bytes:
    """A JPEG stored as `size` (width, height), blue with a red top-left 10x10 corner, whose EXIF
    orientation tag says how to turn it for display."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


# --- files and datasets -------------------------------------------------------------------

def write(path, data: bytes | str) -> Path:
    """Write bytes (or UTF-8 text) to path, creating its folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def make_dataset(root, counts: dict, size=(32, 32), seed: int = 0, fmt: str = "JPEG") -> Path:
    """Build root/<split>/<class>/img_NNN.jpg from {"train": {"cat": 3, ...}, ...}; every image
    has distinct content (distinct seeds), so no duplicates are reported by accident."""
    root = Path(root)
    n = seed * 100_000
    for split, classes in counts.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        for name, count in classes.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                n += 1
                data = jpeg_bytes(n, size) if fmt == "JPEG" else png_bytes(n, size)
                write(folder / f"img_{i:03d}.{'jpg' if fmt == 'JPEG' else 'png'}", data)
    return root


def make_flat(root, counts: dict, seed: int = 0) -> Path:
    """Build a flat root/<class>/img_NNN.jpg folder (the input of split_dataset)."""
    root = Path(root)
    n = seed * 100_000
    for name, count in counts.items():
        for i in range(count):
            n += 1
            write(root / name / f"img_{i:03d}.jpg", jpeg_bytes(n, (16, 16)))
    return root


# --- checks every conversion must pass ------------------------------------------------------

def read_records(path) -> list:
    """The tf.train.Example protos of one TFRecord file, in order."""
    from effnet_helpers.backend import tensorflow
    tf = tensorflow()
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]


def shard_names(out_dir, split: str | None = None) -> list[str]:
    return sorted(n for n in os.listdir(out_dir)
                  if (m := SHARD_RE.match(n)) and (split is None or m.group(1) == split))


def assert_conversion_consistent(out_dir, manifest: dict | None = None) -> dict:
    """What must hold after every finished conversion: found = written + skipped per split,
    each skipped file in skipped.csv with a non-empty reason, shards complete N-of-N sets of
    non-empty files whose record counts agree with the manifest, and no leftovers."""
    import csv

    out_dir = Path(out_dir)
    on_disk = json.loads((out_dir / settings.MANIFEST_FILE).read_text(encoding="utf-8"))
    if manifest is not None:
        assert manifest == on_disk
    with open(out_dir / settings.SKIPPED_FILE, encoding="utf-8", newline="") as f:
        skipped = list(csv.DictReader(f))
    assert all(row["reason"].strip() for row in skipped), skipped
    assert all(row["path"].strip() for row in skipped), skipped
    assert len({row["path"] for row in skipped}) == len(skipped), "a file is listed twice"
    for split, info in on_disk["splits"].items():
        assert info["found"] == info["written"] + info["skipped"], (split, info)
        assert info["skipped"] == sum(1 for row in skipped if row["split"] == split)
        assert info["written"] == sum(info["classes"].values())
        names = shard_names(out_dir, split)
        assert names == [s["file"] for s in info["shards"]]
        for index, name in enumerate(names):
            assert name == f"{split}-{index:05d}-of-{len(names):05d}"
        for row in info["shards"]:
            count = len(read_records(out_dir / row["file"]))
            assert count == row["records"] > 0, row
        assert sum(s["records"] for s in info["shards"]) == info["written"]
    assert set(shard_names(out_dir)) == {s["file"] for i in on_disk["splits"].values()
                                         for s in i["shards"]}
    leftovers = [n for n in os.listdir(out_dir) if n.endswith(".tmp") or n == settings.STAGING_DIR]
    assert not leftovers, leftovers
    return on_disk


def skipped_rows(out_dir) -> dict:
    """skipped.csv as {file name: reason}."""
    import csv
    with open(Path(out_dir) / settings.SKIPPED_FILE, encoding="utf-8", newline="") as f:
        return {os.path.basename(row["path"]): row["reason"] for row in csv.DictReader(f)}


def kept_epochs(model_dir) -> list[int]:
    """The epochs whose checkpoints training kept in a model directory (the newest few and the
    best), in order."""
    return sorted(int(name[len("epoch-"):-len(".keras")])
                  for name in os.listdir(Path(model_dir) / "checkpoints")
                  if name.startswith("epoch-") and name.endswith(".keras"))


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, imported once for the session (about 5 s)."""
    from effnet_helpers.backend import tensorflow
    return tensorflow()


# --- a trained model, shared by evaluation, inference and export tests -----------------------

@pytest.fixture(scope="session")
def sample_records_dir(tmp_path_factory):
    """The sample data (data/sample) converted to TFRecords once for the session."""
    from effnet_helpers import records
    out = tmp_path_factory.mktemp("sample_records")
    records.convert_dataset(settings.sample_data_dir(), out, progress=False, log=lambda *a: None)
    return out


@pytest.fixture(scope="session")
def trained_model_dir(sample_records_dir, tmp_path_factory):
    """A model directory as notebook 03 leaves it in the CPU profile (`make workbook`):
    EfficientNet-Lite0 from its packaged ImageNet weights at 96 px on the sample data, a head
    phase on cached features, then fine-tuning (about 0.98 validation accuracy, about a
    minute). test_training asserts that it transferred; evaluation, inference and export tests
    use it. Read it, never write into it: copy it first."""
    from effnet_helpers import stages, training
    config = stages.profile_train_config(profile="cpu")
    assert config.weights == "imagenet" and 0 < config.head_epochs < config.total_epochs
    assert config.caches_features()
    model_dir = tmp_path_factory.mktemp("trained") / f"sample-{config.model}"
    training.train(sample_records_dir, model_dir, config, verbose=0)
    return model_dir


@pytest.fixture(scope="session")
def scratch_model_dir(sample_records_dir, tmp_path_factory):
    """The CPU profile's from-scratch baseline (random weights, everything trainable, the same
    number of epochs), as notebook 03 trains it beside the transfer run."""
    from effnet_helpers import stages, training
    config = stages.profile_train_config(profile="cpu", baseline=True)
    assert config.weights is None and config.head_epochs == 0
    model_dir = tmp_path_factory.mktemp("scratch") / f"sample-{config.model}-scratch"
    training.train(sample_records_dir, model_dir, config, verbose=0)
    return model_dir
