"""One place for the workbook's constants, its run profile and where its outputs go.

The notebooks and the CLI read every default from here, so a number is changed once.
"""
from __future__ import annotations

import os
from pathlib import Path

# Where the workbook lives (used for "Open in Colab" links and the Colab install cell).
REPO_URL = "https://github.com/effnet-workbook/effnet-workbook"
REPO_BRANCH = "main"

# The dataset layout: DATA_DIR/<split>/<class>/<image>. test/ is optional everywhere: a dataset
# without it works as with two splits (docs/evaluation.md).
SPLITS = ("train", "validation", "test")
OPTIONAL_SPLITS = ("test",)

# Files written beside the TFRecords.
LABEL_MAP_FILE = "synset_id2label.json"  # {"0": "class", ...}, 0-based, as the original system reads it
MANIFEST_FILE = "manifest.json"          # counts per split/class and per shard; written last
SKIPPED_FILE = "skipped.csv"             # every file that was found but not written, with its reason
STAGING_DIR = ".incomplete"              # unfinished conversion state; never looks like a result

# Conversion defaults.
DEFAULT_SHARD_SIZE_MB = 100   # the original system's users sized shards by hand to about 100 MB
JPEG_QUALITY = 95             # when an image has to be re-encoded (PNG, CMYK, rotated, shrunk...)
MAX_PIXELS = 89_478_485       # Pillow's decompression-bomb threshold (about 9,459 x 9,459)
TRAIN_SHUFFLE_SEED = 0        # training shards hold shuffled files (seed 0), as the reference converter
VALIDATION_FRACTION = 0.2     # for splitting a flat <class>/<image> folder
SPLIT_SEED = 42

# Held-out test split, group-keeping splits, near-duplicates, calibration and the "unknown"
# answer (docs/evaluation.md says why each number is what it is).
TEST_FRACTION = 0.0           # `effnet split`: no test split unless asked for
SAMPLE_TEST_FRACTION = 0.15   # the share of each class of the sample's train/ that notebook 01
                              # moves to test/ (in the work directory; data/sample stays as it is)
NEAR_DUPLICATE_BITS = 18      # perceptual hashes (256 bits) this close count as the same photo
CALIBRATION_FILE = "calibration.json"   # temperature and threshold, in the model directory
CALIBRATION_BINS = 15         # equal-width confidence bins of the ECE (Guo et al. 2017 use 15)
TARGET_PRECISION = 0.99       # the "unknown" threshold: named classes right this often on validation,
THRESHOLD_CONFIDENCE = 0.95   # as a one-sided 95% lower confidence bound (Clopper-Pearson), not luck
UNKNOWN_LABEL = "unknown"     # what `predict --reject-below` answers below the threshold

# What image files are. A file is a JPEG by its first bytes (its "magic number"), whatever its
# name says; the extensions say what a folder search picks up and what a name promises.
JPEG_MAGIC = b"\xff\xd8\xff"
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})
IMAGE_EXTENSIONS = JPEG_EXTENSIONS | {".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
SPLIT_MODES = ("copy", "symlink", "hardlink")   # how `effnet split` places files

# Training, evaluation and prediction choices that the stages and the CLI share.
RESIZE_METHODS = ("crop", "resize", "pad_and_resize")
DEFAULT_RESIZE_METHOD = "crop"   # the tensorflow/tpu crops (random when training, centre else)
BALANCE_METHODS = ("weights", "sampling")
AUGMENTATIONS = ("flip", "rotate90", "zoom", "randaugment")   # `effnet train --augment`
DEFAULT_ZOOM = 0.2               # `--augment zoom`: up to 20% of the side
DEFAULT_TOP_K = 5                # top-k accuracy and the classes shown per image
EVALUATION_BATCH_SIZE = 64       # evaluation and calibration (no gradients: larger batches)
PREDICTION_BATCH_SIZE = 32       # inference on files and the exports' comparisons

# Files that operating systems leave in folders: found, reported, never images.
SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", "icon\r"})

# The public flowers dataset (5 classes, about 3,670 photos, flat <class>/<image> layout).
FLOWERS_URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"

# Run profiles. Every notebook reads one, so the whole workbook runs at the scale of its machine:
# "full" suits a real Colab session (B0 with Keras' ImageNet weights at its native 224 px);
# "cpu" (`make workbook`) transfers EfficientNet-Lite0's packaged ImageNet weights, offline, at a
# size a 2-core CPU trains in about a minute; "ci" (`make test`) keeps the same two phases as small
# as possible. Each profile names the run notebook 03 makes (`stages.profile_train_config`) and a
# from-scratch "baseline" over the same epochs, which the lesson sets beside it.
PROFILE_ENV = "EFFNET_PROFILE"
WORK_DIR_ENV = "EFFNET_WORK_DIR"
CACHE_DIR_ENV = "EFFNET_CACHE_DIR"  # converted pretrained weights (default ~/.cache/effnet-workbook)
PROFILES = {
    "full": {"grid_per_class": 6, "shard_size_mb": DEFAULT_SHARD_SIZE_MB, "model": "B0",
             "image_size": None, "batch_size": 32, "schedule": (2, 10), "weights": "imagenet",
             "unfreeze_from": 1, "learning_rate": 0.01, "finetune_learning_rate": 0.001,
             "resize_method": "crop", "augment": True,
             "baseline": {"model": None, "image_size": None}},
    # Lite0 at 96 px: docs/transfer.md compares the sizes (0.98 here, about the same at 224 for
    # 5x the time). Head at 0.02 and fine-tuning at 0.002 (for a batch of 256, scaled).
    "cpu": {"grid_per_class": 6, "shard_size_mb": 0.5, "model": "lite0", "image_size": 96,
            "batch_size": 32, "schedule": (3, 6), "weights": "imagenet", "unfreeze_from": 4,
            "learning_rate": 0.02, "finetune_learning_rate": 0.002, "resize_method": "resize",
            "augment": False, "baseline": {"model": "lite0", "image_size": 32}},
    "ci": {"grid_per_class": 3, "shard_size_mb": 0.5, "model": "lite0", "image_size": 64,
           "batch_size": 32, "schedule": (1, 2), "weights": "imagenet", "unfreeze_from": 6,
           "learning_rate": 0.02, "finetune_learning_rate": 0.002, "resize_method": "resize",
           "augment": False, "baseline": {"model": "lite0", "image_size": 32}},
}


def profile_name() -> str:
    """The active profile: the EFFNET_PROFILE environment variable, "full" when unset."""
    name = os.environ.get(PROFILE_ENV, "full").strip().lower() or "full"
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={name!r} is not a profile; use one of {sorted(PROFILES)}.")
    return name


def profile(name: str | None = None) -> dict:
    """The settings of the profile NAME (default: the active one), as a fresh dict the caller
    may change."""
    name = name or profile_name()
    return dict(PROFILES[name], name=name)


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


# --- Colab: the release the notebooks install, outputs that outlive the VM, checkpoints -------
# (docs/colab.md). The setup cell of every notebook clones this tag (a test checks that it
# matches the package version): a notebook opened from GitHub runs the code it was written for.
RELEASE_TAG = "v0.1.0"
# Colab recycles idle VMs and /content goes with them: in Colab, outputs go to Google Drive
# (mounted on first use) unless this variable is "0" (`work_dir(drive=False)` sets it).
DRIVE_ENV = "EFFNET_DRIVE"
DRIVE_MOUNT = "/content/drive"
DRIVE_WORK_FOLDER = "effnet_work"  # MyDrive/effnet_work
# Epoch checkpoints training keeps (the newest ones and the best one), so that a run's folder
# stays small enough for Google Drive; None keeps every epoch's.
KEEP_CHECKPOINTS = 3
# Rough training speed, for the time estimate of a model trained on demand (stages.ensure_model):
# images per second of B0 at 224 px, fully trainable, per device. CPU: per core (8.6 measured on
# 2 cores); GPU: Colab's T4, taken as an eighth of NVIDIA's published A100 figure (3,454, mixed
# precision, XLA); TPU: a guess for one v5e chip, not measured. The head phase on a frozen
# backbone and evaluation run about 4.7x faster (CPU: 379 against 81 images/s at 64 px), and the
# speed grows as the pixels shrink. An estimate to plan a session by, not a measurement.
TRAIN_IMAGES_PER_SECOND = {"TPU": 1000.0, "GPU": 400.0, "CPU": 4.3}
FROZEN_SPEEDUP = 4.7
# Building and compiling, per phase (CPU: Lite0 at 64 px on 2 cores; GPU, TPU with XLA: guesses).
STARTUP_SECONDS = {"TPU": 90.0, "GPU": 60.0, "CPU": 10.0}


def _drive_work_dir() -> Path | None:
    """MyDrive/effnet_work in Colab when Drive is wanted and can be mounted, else None."""
    from . import runtime
    if not runtime.in_colab() or os.environ.get(DRIVE_ENV, "1").strip() == "0":
        return None
    my_drive = runtime.mount_drive(DRIVE_MOUNT)
    if my_drive is None:  # refused or failed: say so once, and stop asking in this session
        os.environ[DRIVE_ENV] = "0"
        print("Outputs stay in this Colab VM, which loses them when it is recycled. Run "
              "settings.work_dir(drive=True) to try Google Drive again.")
        return None
    return Path(my_drive) / DRIVE_WORK_FOLDER


def work_dir(drive: bool | None = None) -> Path:
    """Where notebooks write their outputs: $EFFNET_WORK_DIR; else, in Colab, MyDrive/effnet_work
    on Google Drive (mounted now if needed), which survives a recycled VM; else outputs/ in the
    checkout, else ./effnet_work. `drive=False` keeps Colab's outputs in the VM instead (and
    `drive=True` goes back to Drive); the choice holds for the session ($EFFNET_DRIVE)."""
    if drive is not None:
        os.environ[DRIVE_ENV] = "1" if drive else "0"
    if os.environ.get(WORK_DIR_ENV):
        path = Path(os.environ[WORK_DIR_ENV])
    elif (on_drive := _drive_work_dir()) is not None:
        path = on_drive
    elif repo_root() is not None:
        path = repo_root() / "outputs"
    else:
        path = Path.cwd() / "effnet_work"
    path.mkdir(parents=True, exist_ok=True)
    return path
