# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · TFRecord conversion: thousands of photos in a few big files
#
# Notebook 01 left a checked folder of images and a label map. Here you pack those images into
# **TFRecord** files: a handful of large, sharded files that TensorFlow reads quickly and in
# parallel, from a local disk, Google Drive or a Cloud Storage bucket that a TPU reads.
#
# At the end you will have `train-*-of-*` and `validation-*-of-*` shards (and `test-*-of-*` when the
# dataset has a test split, as the sample data has from notebook 01 on) in the format of the
# tensorflow/tpu EfficientNet converter, with a label map, a manifest and a report of skipped files.
# New words here (TFRecord, shard, synset, the tensorflow/tpu converter) are in notebook 01's
# [Words used here](01_dataset_layout.ipynb#words-used-here).
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/02_tfrecord_conversion.ipynb)
# [View on GitHub](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/02_tfrecord_conversion.ipynb)

# %% [markdown]
# ## Setup
#
# Works in a checkout and in a fresh Colab session (it installs the workbook's release `RELEASE`
# when its helpers are missing, and never replaces the session's TensorFlow).
# On a **TPU runtime**, which has no TensorFlow since 2025, `runtime.ensure_tensorflow()`
# installs TensorFlow with its TPU build, then stops and asks you to restart the session once.
#
# In Colab the outputs go to **Google Drive** (`MyDrive/effnet_work`; Colab asks once for
# permission to mount it), so a recycled VM loses nothing, checkpoints included; set
# `KEEP_ON_DRIVE = False` to keep them in the VM. Data in a `gs://` bucket: in Colab, run
# `from google.colab import auth; auth.authenticate_user()` once first, so that TensorFlow may
# read it.

# %%
import importlib.util
import os
import subprocess
import sys

REPO_URL = "https://github.com/effnet-workbook/effnet-workbook"  # or your fork
RELEASE = "v0.1.0"  # the workbook release these notebooks were written for
if importlib.util.find_spec("effnet_helpers") is None:
    if not os.path.isdir("effnet-workbook"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", RELEASE, REPO_URL,
                        "effnet-workbook"], check=True)
    sys.path.insert(0, "effnet-workbook")
    from effnet_helpers import runtime
    runtime.install_workbook("effnet-workbook")  # never replaces the session's TensorFlow

# %%
import inspect
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from effnet_helpers import datasets, images, layout, plots, records, runtime, settings, storage

runtime.ensure_tensorflow()
import tensorflow as tf

plots.use_projector_style()
runtime.print_versions()

# %%
KEEP_ON_DRIVE = True  # in Colab: outputs on Google Drive, which a recycled VM does not lose
print(f"outputs go to {settings.work_dir(drive=KEEP_ON_DRIVE)}")

# %% [markdown]
# ## Parameters
#
# - `DATASET`: as in notebook 01: `"sample"`, `"flowers"` or your own folder.
# - `SHARD_SIZE_MB`: the target size of one shard. About 100 MB suits a TPU reading from a bucket:
#   big enough for fast sequential reads, enough files for parallel reads.
# - `MAX_SIDE`: shrink photos whose longer side is larger (for example `640` for training at 224 to
#   380 px). Phone photos are 4,000 px wide: decoding them every epoch is wasted time.
# - `RECORDS_BUCKET`: a `gs://` folder to copy the records to, for a Cloud TPU (empty: no copy).

# %% tags=["parameters"]
DATASET = "sample"
SHARD_SIZE_MB = 100
MAX_SIDE = None
RECORDS_BUCKET = ""

# %%
PROFILE = settings.profile()  # the cpu and ci profiles shrink shards, so the sample gets several
SHARD_SIZE_MB = min(SHARD_SIZE_MB, PROFILE["shard_size_mb"])
from effnet_helpers import stages  # noqa: E402

DATA_DIR = stages.dataset_dir(DATASET)  # with notebook 01's test split; downloads "flowers"
RECORDS_DIR = settings.work_dir() / "records" / DATASET.strip("/").replace("/", "_")
print(f"profile: {PROFILE['name']} (shards of about {SHARD_SIZE_MB} MB each)\ndata:    {DATA_DIR}\n"
      f"records: {RECORDS_DIR}")

# %% [markdown]
# ## 1. One record by hand
#
# A TFRecord file is a sequence of serialized `tf.train.Example` messages. An `Example` is a
# dictionary of named **features**, each a list of bytes, integers or floats. We use the keys of the
# tensorflow/tpu EfficientNet converter, so the records work with its trainer and ours alike:
#
# | key | what |
# |---|---|
# | `image/encoded` | the JPEG file's bytes, not decoded pixels (several times smaller: printed below) |
# | `image/class/label` | the class number, **counted from 1** in this format |
# | `image/class/synset` | the class folder name |
# | `image/filename`, `image/height`, `image/width`, ... | facts about the image |
#
# Let's build one for the first training image. `images.prepare_image` gives the bytes to store:
# the file's own bytes when it is a sound JPEG, else a JPEG made from it (section 2 says when).

# %%
table = layout.scan_dataset(DATA_DIR)
classes = layout.class_names(table)
first = layout.candidates(table).query("split == 'train'").iloc[0]
prepared = images.prepare_image(storage.read_bytes(first["path"]))
image_bytes = prepared.data
height, width, _ = tf.io.extract_jpeg_shape(image_bytes).numpy()  # reads the header only
print(first["class"], first["filename"], f"{height}x{width}", f"{len(image_bytes):,} bytes",
      "(converted to JPEG)" if prepared.converted else "(the file's own bytes)")
print(f"decoded, the same image is {height * width * 3:,} bytes of pixels, "
      f"{height * width * 3 / len(image_bytes):.0f}x more")

# %%
def bytes_feature(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def int_feature(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


# %%
example = tf.train.Example(features=tf.train.Features(feature={
    "image/encoded": bytes_feature(image_bytes),
    "image/class/label": int_feature(classes.index(first["class"]) + 1),  # 1-based!
    "image/class/synset": bytes_feature(first["class"].encode("utf-8")),
    "image/filename": bytes_feature(first["filename"].encode("utf-8")),
    "image/height": int_feature(int(height)),
    "image/width": int_feature(int(width)),
    "image/channels": int_feature(3),
    "image/colorspace": bytes_feature(b"RGB"),
    "image/format": bytes_feature(b"JPEG"),
}))
serialized = example.SerializeToString(deterministic=True)  # why "deterministic": below
print(f"one serialized Example: {len(serialized):,} bytes")

# %% [markdown]
# Reading it back is the reverse: `tf.io.parse_single_example` with a description of the features
# we want. Training reads just the image bytes and the label, and subtracts 1 from the label:

# %%
parsed = records.parse_record(serialized)
print("label (0-based):", int(parsed["label"]), "=", classes[int(parsed["label"])])
print("decoded image:", tf.io.decode_jpeg(parsed["image"]).shape)

# %% [markdown]
# The helper `records.build_example` does exactly this. Same inputs, same bytes, with one
# condition: the features are a *map* (name -> values), and protocol buffers, the format an
# `Example` is written in, may write a map's entries in any order. `deterministic=True` writes
# them sorted by name; the converter writes every record that way, so a conversion repeated on
# the same files writes the same bytes.

# %%
print(inspect.getsource(records.build_example))
rebuilt = records.build_example(image_bytes, classes.index(first["class"]) + 1, first["class"],
                                first["filename"], int(height), int(width))
print("identical to the hand-built record:",
      rebuilt.SerializeToString(deterministic=True) == serialized)
print("the same Example, as a message:", rebuilt == example)

# %% [markdown]
# ## 2. Convert the whole dataset
#
# `records.convert_dataset` does this for every image, and the things a real dataset needs:
#
# - **Checks every image** with TensorFlow's own JPEG decoder, the one training uses. JPEGs that are
#   fine are stored byte for byte. Anything else that decodes (PNG, GIF, BMP, WebP, CMYK or
#   greyscale JPEG, transparent PNG, 16-bit PNG) is converted to an RGB JPEG; phone photos are
#   turned upright by their EXIF orientation. Files that cannot be used are **skipped and reported
#   with the reason**, never silently dropped: found = written + skipped.
# - **Shards**: training shards hold shuffled images (so every shard has every class), validation
#   and test shards keep sorted order. The number of shards follows `SHARD_SIZE_MB`. Training
#   reads only the train and validation shards; the test shards wait for notebook 04's last
#   section.
# - **Parallel**: images are checked on all CPU cores, with a progress bar.
# - **Safe to interrupt**: each shard is written under a temporary name in `.incomplete/` and
#   renamed when complete; run the same cell again after a disconnect and it carries on from the
#   shards already done. Final names appear only when everything is done.

# %%
manifest = records.convert_dataset(DATA_DIR, RECORDS_DIR, shard_size_mb=SHARD_SIZE_MB,
                                   max_side=MAX_SIDE)

# %%
pd.DataFrame([{"file": name, "MB": round(storage.size(RECORDS_DIR / name) / 1e6, 2)}
              for name in storage.listdir(RECORDS_DIR)])

# %% [markdown]
# **What is in each shard.** The labels read back from every shard file (from the files, not
# from the manifest) show the two orders: training shards hold shuffled images, so each gets a
# mix of every class (a class of very few images can miss one), while validation and test
# shards keep the sorted order, so with several shards each holds a run of classes.

# %%
LABEL_ONLY = {"image/class/label": tf.io.FixedLenFeature([], tf.int64)}


def classes_per_shard(records_dir):
    """Records per class (columns) in every shard file (rows), counted from the files."""
    counts = {}
    for split in settings.SPLITS:
        for path in records.shard_files(records_dir, split):
            batches = tf.data.TFRecordDataset(path).batch(4096).map(
                lambda s: tf.io.parse_example(s, LABEL_ONLY)["image/class/label"])
            labels = np.concatenate([b.numpy() for b in batches]) - 1  # 1-based in the file
            counts[os.path.basename(path)] = np.bincount(labels, minlength=len(classes))
    return pd.DataFrame(counts, index=classes).T


per_shard = classes_per_shard(RECORDS_DIR)

# %%
fig, ax = plt.subplots(figsize=(max(9, 0.9 * len(classes) + 4), 0.55 * len(per_shard) + 2.5))
heat = ax.imshow(per_shard.to_numpy(), cmap="viridis", vmin=0, aspect="auto")
for (row, column), n in np.ndenumerate(per_shard.to_numpy()):
    ax.text(column, row, n, ha="center", va="center", fontsize=11,
            color="white" if n < per_shard.to_numpy().max() / 2 else "black")
ax.grid(False)
ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
ax.set_yticks(range(len(per_shard)), per_shard.index)
ax.set(title="Records per class in each shard file", xlabel="class", ylabel="shard file")
fig.colorbar(heat, ax=ax, label="records");

# %%
train_shards = per_shard[per_shard.index.str.startswith("train-")]
print(f"{len(train_shards)} train shards; every one holds every class:",
      bool((train_shards > 0).all(axis=None)))
for name, row in per_shard.drop(train_shards.index).iterrows():
    held = [c for c in classes if row[c] > 0]
    print(f"{name}: {len(held)} of {len(classes)} classes, {held[0]} to {held[-1]}")

# %% [markdown]
# Beside the shards:
# - `synset_id2label.json`: the 0-based label map (the format the original system, NARO's insect
#   classifier of notebook 01, reads);
# - `manifest.json`: counts per split, class and shard, written last, so its presence means
#   "complete";
# - `skipped.csv`: every file that was not written, with the reason.

# %%
pd.DataFrame({split: {k: v for k, v in info.items() if k in ("found", "written", "skipped")}
              for split, info in manifest["splits"].items()})

# %% [markdown]
# Running the conversion again is safe: it sees that the folder already holds this exact
# conversion and does nothing.

# %%
records.convert_dataset(DATA_DIR, RECORDS_DIR, shard_size_mb=SHARD_SIZE_MB, max_side=MAX_SIDE);

# %% [markdown]
# ## 3. What happens to bad files
#
# The messy copy from notebook 01 (a text file, an empty and a truncated JPEG, a PNG named
# `.jpg`, ...) shows what the converter does with each: the PNG is converted to JPEG, files that
# are no usable image are skipped and listed in `skipped.csv` with the reason. The leaked copy
# and the validation-only class are sound images, so they are written: the converter checks
# files, not the dataset's design. That is the check of notebook 01; run it before converting.

# %%
messy = datasets.make_messy_dataset(DATA_DIR, settings.work_dir() / "02_messy")
messy_records = settings.work_dir() / "02_messy_records"
messy_manifest = records.convert_dataset(messy, messy_records, overwrite=True)
skipped = records.read_skipped(messy_records)
skipped.assign(path=skipped["path"].str.replace(messy + "/", ""))

# %% [markdown]
# ## 4. Read the records back and look at them
#
# Always check what went in. The first training records, decoded, with the label each one carries
# as training reads it (the file's 1-based label less 1, so it matches the label map):

# %%
items = records.take_examples(RECORDS_DIR, "train", count=12)
plots.image_grid([i["image"] for i in items], [f"{i['label']}: {i['class']}" for i in items],
                 ncols=6, suptitle="Training records (0-based label: class)");

# %% [markdown]
# Counting every record per split and class is the final reconciliation: it must match the
# folder counts of notebook 01, less the files that `skipped.csv` lists. `records.inspect_records`
# reads the shards themselves (the manifest is only used to cross-check), so it also works on
# TFRecords written by the tensorflow/tpu converter (the one the original system's users ran),
# which have no manifest: the class names then come from the `image/class/synset` feature or a
# `synset_id2label.json` beside them.

# %%
counts = records.inspect_records(RECORDS_DIR)
per_class = counts.pivot_table(index="class", columns="split", values="records", aggfunc="sum")
per_class.loc["total"] = per_class.sum()
per_class

# %%
folders = layout.class_counts(table)
print("records read:              ", per_class.loc["total"].astype(int).to_dict())
print("image files in the folders:", folders.loc["total"].drop("total").to_dict())
print("files in skipped.csv:      ", {s: i["skipped"] for s, i in manifest["splits"].items()})

# %% [markdown]
# ## 5. Records for a Cloud TPU: copy them to a bucket
#
# Colab's TPU runtimes read local files, so this is optional there. A Cloud TPU VM of your own
# reads from Google Cloud Storage: set `RECORDS_BUCKET = "gs://your-bucket/records"`. Every path
# in the workbook goes through `tf.io.gfile`, so `gs://` paths work wherever a folder does; you can
# even convert straight into a bucket (`records.convert_dataset(DATA_DIR, "gs://...")`).
# From a terminal, `gsutil -m cp -r RECORDS_DIR gs://your-bucket/records` does the same copy.

# %%
if RECORDS_BUCKET:
    if runtime.in_colab():
        from google.colab import auth
        auth.authenticate_user()
    copied = storage.copy_tree(RECORDS_DIR, RECORDS_BUCKET)
    print(f"copied {copied} files to {RECORDS_BUCKET}")
else:
    print("RECORDS_BUCKET is empty: records stay in", RECORDS_DIR)

# %% [markdown]
# The same conversion from a terminal (handy for big datasets or a scheduled job):
#
# ```bash
# effnet convert data/sample outputs/records/sample --shard-size-mb 100 --max-side 640
# effnet inspect outputs/records/sample
# ```

# %% [markdown]
# ## Check yourself
#
# Counts per split, the classes, and the keys each record carries. Found = written + skipped.

# %%
# NBVAL_CHECK_OUTPUT
if DATASET == "sample":
    for split, info in manifest["splits"].items():
        print(split, info["found"], "=", info["written"], "+", info["skipped"])
    print(manifest["classes"])
    print(sorted(tf.train.Example.FromString(serialized).features.feature))
    print("messy copy, files skipped:", {s: i["skipped"] for s, i in messy_manifest["splits"].items()})

# %% [markdown]
# ## What's next
#
# The records are in `RECORDS_DIR` (printed at the top) with `synset_id2label.json`,
# `manifest.json` and `skipped.csv` beside them. Next, [03 · Transfer
# training](03_transfer_training.ipynb) trains an EfficientNet on them: first a new head on a
# frozen backbone, then fine-tuning, on a TPU, a GPU or the CPU.
