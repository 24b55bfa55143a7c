"""One place for the workbook's constants, its run profile and where its outputs go.

The notebooks and the CLI read every default from here, so a number is changed once.
"""
from __future__ import annotations

import os
from pathlib import Path

# Where the workbook lives (used for "Open in Colab" links and the Colab install cell).
REPO_URL = "https://github.com/effnet-workbook/effnet-workbook"
REPO_BRANCH = "main"

# The dataset layout: DATA_DIR/<split>/<class>/<image>.
SPLITS = ("train", "validation")

# Files written beside the TFRecords.
LABEL_MAP_FILE = "synset_id2label.json"  # {"0": "class", ...}, 0-based, as the seed system reads it
MANIFEST_FILE = "manifest.json"          # counts per split/class and per shard; written last
SKIPPED_FILE = "skipped.csv"             # every file that was found but not written, with its reason
STAGING_DIR = ".incomplete"              # unfinished conversion state; never looks like a result

# Conversion defaults.
DEFAULT_SHARD_SIZE_MB = 100   # the seed system's users sized shards by hand to about 100 MB
JPEG_QUALITY = 95             # when an image has to be re-encoded (PNG, CMYK, rotated, shrunk...)
MAX_PIXELS = 89_478_485       # Pillow's decompression-bomb threshold (about 9,459 x 9,459)
TRAIN_SHUFFLE_SEED = 0        # training shards hold shuffled files (seed 0), as the reference converter
VALIDATION_FRACTION = 0.2     # for splitting a flat <class>/<image> folder
SPLIT_SEED = 42

# Files that operating systems leave in folders: found, reported, never images.
SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", "icon\r"})

# The public flowers dataset (5 classes, about 3,670 photos, flat <class>/<image> layout).
FLOWERS_URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"

# Run profiles: "full" suits a real Colab session (ImageNet weights, native resolution); "cpu" and
# "ci" train from scratch at a small size, offline; "ci" keeps every notebook small and fast.
PROFILE_ENV = "EFFNET_PROFILE"
WORK_DIR_ENV = "EFFNET_WORK_DIR"
# "cpu" runs the whole workbook offline on a laptop or CI machine in minutes (`make workbook`).
PROFILES = {
    "full": {"grid_per_class": 6, "shard_size_mb": DEFAULT_SHARD_SIZE_MB, "model": "B0",
             "image_size": None, "batch_size": 32, "schedule": (2, 10), "weights": "imagenet",
             "resize_method": "crop", "augment": True},
    "cpu": {"grid_per_class": 6, "shard_size_mb": DEFAULT_SHARD_SIZE_MB, "model": "B0",
            "image_size": 32, "batch_size": 32, "schedule": (0, 12), "weights": None,
            "resize_method": "resize", "augment": False},
    "ci": {"grid_per_class": 3, "shard_size_mb": 1, "model": "B0", "image_size": 32,
           "batch_size": 32, "schedule": (1, 2), "weights": None, "resize_method": "resize",
           "augment": False},
}


def profile_name() -> str:
    """The active profile: the EFFNET_PROFILE environment variable, "full" when unset."""
    name = os.environ.get(PROFILE_ENV, "full").strip().lower() or "full"
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={name!r} is not a profile; use one of {sorted(PROFILES)}.")
    return name


def profile() -> dict:
    """The settings of the active profile, as a fresh dict the caller may change."""
    return dict(PROFILES[profile_name()], name=profile_name())


def repo_root() -> Path | None:
    """The checkout this package was imported from, or None when installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").exists() else None


def sample_data_dir() -> Path:
    """The small sample dataset shipped in the repository (data/sample)."""
    root = repo_root()
    if root is None:
        raise FileNotFoundError(
            "The sample data lives in the repository's data/sample folder, which this install "
            f"does not have. Clone {REPO_URL} and install it with `pip install -e .`.")
    return root / "data" / "sample"


def work_dir() -> Path:
    """Where notebooks write their outputs: $EFFNET_WORK_DIR, else outputs/ in the checkout,
    else ./effnet_work (for example /content/effnet_work on Colab)."""
    if os.environ.get(WORK_DIR_ENV):
        path = Path(os.environ[WORK_DIR_ENV])
    elif repo_root() is not None:
        path = repo_root() / "outputs"
    else:
        path = Path.cwd() / "effnet_work"
    path.mkdir(parents=True, exist_ok=True)
    return path
