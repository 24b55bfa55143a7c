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
# # 01 · Dataset layout: one folder per class
#
# Every image classifier starts with a folder of photos. In this notebook you will lay your photos
# out the way the whole workbook expects, count them, look at them, and catch the problems that
# would otherwise surface hours later as a crashed training run or a suspiciously good accuracy.
#
# At the end you will have a checked dataset, a report of its problems and the **label map**
# (which class gets which number) that every later notebook uses.
#
# The workbook grows from a real system, called **the original system** below: the insect
# classifier of NARO's AI pest-diagnosis system (NARO is Japan's National Agriculture and Food
# Research Organization; the photos are published in its pest-damage image database). It was a
# fork of the tensorflow/tpu EfficientNet trainer, whose converter, training schedule and flags
# this workbook keeps, so records and habits carry over.
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/01_dataset_layout.ipynb)
# [View on GitHub](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/01_dataset_layout.ipynb)

# %% [markdown]
# <a id="words-used-here"></a>
# ## Words used here
#
# The words the six notebooks use, each in a line; skip this now and come back when one is new.
# The later notebooks link here.
#
# | word | meaning | more in |
# |---|---|---|
# | **class**, **label** | a kind of thing the model tells apart (here: a folder name), and its number: 0, 1, 2, ... in the sorted order of the class names | section 8 |
# | **label map** | the file `synset_id2label.json` that turns label numbers back into class names | section 8 |
# | **train / validation / test split** | the images the model learns from / the images you choose settings by / the images measured once, at the end | sections 1, 6 |
# | **ImageNet** | a public collection of 1.28 million photos in 1,000 everyday classes (the ILSVRC-2012 benchmark); "ImageNet weights" are a network's weights after learning it | 03 |
# | **synset** | ImageNet's word for a class (a WordNet "synonym set"); the records keep the class name under `image/class/synset` | 02 |
# | **TFRecord** | TensorFlow's file format for a long sequence of records, here one per image (its JPEG bytes, label and name), fast to read in order and in parallel | 02 |
# | **shard** | one of the several files a split's records are spread over (`train-00000-of-00002`, ...), so that several readers work at once | 02 |
# | **the tensorflow/tpu converter** | `imagenet_to_gcs.py` in Google's tensorflow/tpu repository, which writes ImageNet as TFRecords for EfficientNet's reference trainer; notebook 02 writes its format | 02 |
# | **the original system** | the insect classifier of NARO's AI pest-diagnosis system, a fork of the tensorflow/tpu EfficientNet trainer (see the top of this notebook) | |
# | **backbone** | the pretrained network without its classifier: it turns an image into features | 03 |
# | **stem** | the backbone's first convolution, which takes the image | 03, 06 |
# | **block** | the unit the backbone repeats (an MBConv block); B0 has 16 in 7 stages, named `block1` to `block7` | 03, 06 |
# | **top**, **head** | top: the backbone's last 1x1 convolution; head: what follows it, pooling and the classifier with one output per class, new for your classes | 03, 06 |
# | **batch norm** | batch normalisation: after each convolution, each channel rescaled by the mean and variance of the current batch while training, by running averages of them at inference | 03, 06 |
# | **stochastic depth** | whole blocks skipped at random while training, a regulariser like dropout; nothing is skipped at inference | 03, 06 |
# | **transfer learning** | reusing a backbone trained on another task (ImageNet) and training only the new head for your classes | 03 |
# | **frozen**, **fine-tuning** | frozen weights do not change in training; fine-tuning then trains (part of) the backbone too, with a small learning rate | 03 |
# | **epoch** | one pass of training over every training image (on a few hundred images, a head-phase epoch is longer: the head phase takes at least 100 steps) | 03 |
# | **profile** | the size of the whole run: `full` (a Colab GPU or TPU), `cpu` (a laptop), `ci` (the tests); `EFFNET_PROFILE` chooses | the README |

# %% [markdown]
# ## Setup
#
# This cell works both in a checkout of the repository and in a fresh Colab session: when the
# workbook's helper package `effnet_helpers` is missing it clones the workbook's release `RELEASE`
# and installs it. TensorFlow is never replaced when the session already has it.
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
import json
import shutil
from pathlib import Path

import pandas as pd
from effnet_helpers import datasets, layout, plots, runtime, settings

runtime.ensure_tensorflow()
plots.use_projector_style()
runtime.print_versions()

# %%
KEEP_ON_DRIVE = True  # in Colab: outputs on Google Drive, which a recycled VM does not lose
print(f"outputs go to {settings.work_dir(drive=KEEP_ON_DRIVE)}")

# %% [markdown]
# ## Parameters
#
# `DATASET` chooses the photos:
# - `"sample"`: 1,797 small handwritten digits shipped in `data/sample` (works offline);
# - `"flowers"`: TensorFlow's 3,670 flower photos in 5 classes, downloaded and split on first use;
# - a folder of your own, for example on Google Drive after
#   `from google.colab import drive; drive.mount("/content/drive")`:
#   `"/content/drive/MyDrive/pests"`, or a bucket: `"gs://my-bucket/pests"`.

# %% tags=["parameters"]
DATASET = "sample"
GRID_PER_CLASS = 6  # sample images shown per class

# %%
PROFILE = settings.profile()  # EFFNET_PROFILE=ci (set by the tests) makes every notebook small
GRID_PER_CLASS = min(GRID_PER_CLASS, PROFILE["grid_per_class"])
OUTPUT_DIR = settings.work_dir() / "01_layout"
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
DATA_DIR = datasets.get_dataset(DATASET)
print(f"profile: {PROFILE['name']}\ndata:    {DATA_DIR}\noutputs: {OUTPUT_DIR}")

# %% [markdown]
# ## 1. The layout: `train/`, `validation/` and `test/`, one folder per class
#
# ```
# DATA_DIR/
# ├── train/                 images the model learns from
# │   ├── aphid/
# │   │   ├── IMG_0001.jpg
# │   │   └── ...
# │   └── whitefly/
# ├── validation/            images kept apart to choose by: epochs, settings, thresholds
# │   ├── aphid/
# │   └── whitefly/
# └── test/                  (optional) images kept apart to measure the final model once
#     ├── aphid/
#     └── whitefly/
# ```
#
# The **folder name is the label**: there is no spreadsheet of labels to keep in sync. Every split
# holds the same class folders. `test/` is optional: everything works with two splits, and section
# 6 explains why a third one is worth its images. Here is the top of our dataset:

# %%
for split in [s for s in settings.SPLITS if (Path(DATA_DIR) / s).is_dir()]:
    classes = sorted(p.name for p in (Path(DATA_DIR) / split).iterdir() if p.is_dir())
    print(f"{split}/  {len(classes)} class folders: {', '.join(classes)}")
    first = sorted((Path(DATA_DIR) / split / classes[0]).iterdir())[:3]
    print(f"  {classes[0]}/  " + ", ".join(p.name for p in first) + ", ...")

# %% [markdown]
# ## 2. Scan the folders into a table
#
# `layout.scan_dataset` walks both splits and returns one row per file it finds: nothing is
# silently ignored. The `kind` column says whether a file will be treated as an image
# (`candidate`) or why not (`hidden`, `system` such as `.DS_Store`, `outside class folder`).

# %%
table = layout.scan_dataset(DATA_DIR)
table[["split", "class", "filename", "bytes", "kind"]].head()

# %% [markdown]
# Counting images per class and split is one `crosstab` away. The helper adds totals:

# %%
counts = layout.class_counts(table)
counts.to_csv(OUTPUT_DIR / "class_counts.csv")
counts

# %%
plots.plot_class_counts(counts, title=f"Images per class ({Path(DATASET).name})");

# %% [markdown]
# **Class imbalance.** When one class has many more photos than another, a model can score well by
# mostly predicting the big class. The ratio between the largest and smallest training class tells
# you whether to worry (above about 3x, set `BALANCE` in notebook 03's parameters: `"weights"` gives
# rare classes more weight in the loss, `"sampling"` draws their images more often):

# %%
ratio = layout.imbalance(counts)
print(f"largest / smallest training class: {ratio:.1f}x")
print("balanced enough" if ratio <= 3 else "imbalanced: set BALANCE in notebook 03")

# %% [markdown]
# ## 3. Look at the images
#
# Numbers hide a lot: blurry photos, wrong crops, a class that is really two. Always look.

# %%
plots.sample_grid(table, per_class=GRID_PER_CLASS, split="train");

# %% [markdown]
# ## 4. Find the problems before training does
#
# `layout.check_images` opens every image with the same rules the TFRecord converter of notebook 02
# uses, so what it reports is exactly what would be skipped. `layout.find_problems` then collects
# everything else worth knowing: empty or one-split classes, duplicate images across splits
# (a **leak**: the model is tested on photos it learned from, and validation accuracy looks better
# than it is), files whose name lies about their format, confusable class names.

# %%
checked = layout.check_images(table)
problems = layout.find_problems(checked)
problems.to_csv(OUTPUT_DIR / "problems.csv", index=False)
print(f"{len(problems)} problems in {DATASET}")
problems.head(10)

# %% [markdown]
# **Near-duplicates.** A leaked photo is rarely the same file: it was resized for an e-mail,
# cropped, saved again. Identical bytes cannot see that, so `check_images` also computes a
# *perceptual hash* of each image: 256 bits that describe its coarse shapes (the signs of its
# lowest-frequency cosine components, the pHash of the `imagehash` library), for the whole image
# and for 72 light crops of it. Two images whose hashes differ in at most
# `settings.NEAR_DUPLICATE_BITS` bits are reported as near-duplicates. Let's re-save a training
# image the way copies are made and compare it with the original and with another image:

# %%
import io

from PIL import Image

from effnet_helpers import storage


def re_saved(data: bytes, crop=0.05, size=96, quality=60) -> bytes:
    """The photo cropped by 5% on each side, resized and saved again, as copies often are."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    image = image.crop((round(crop * w), round(crop * h), w - round(crop * w), h - round(crop * h)))
    buffer = io.BytesIO()
    image.resize((size, size)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


# %%
first, other = (storage.read_bytes(p) for p in layout.candidates(table)["path"].iloc[:2])
original = layout.perceptual_hashes(first)
for name, data in {"re-saved copy": re_saved(first), "another image": other}.items():
    bits = layout.hash_distance(original, layout.perceptual_hashes(data))
    verdict = "near-duplicate" if bits <= settings.NEAR_DUPLICATE_BITS else "a different image"
    print(f"{name:>14}: {bits:3d} of 256 bits from the original -> {verdict}")
near = problems[problems["problem"].str.startswith("near-duplicate")]
print(f"near-duplicate pairs across the splits of {DATASET}: {len(near)}")

# %% [markdown]
# docs/evaluation.md says how the threshold was chosen: re-encoded, resized and lightly cropped
# copies (up to 8% off one side, two sides or all four) stay within it, while no two distinct
# digits of the sample data come that close; they look more alike than most photos do.
#
# Real folders are rarely clean, so let's make a small copy of two of this dataset's classes with
# one of each kind of mess that real photo folders have. Read the helper: each line from
# `notes.txt` on makes one problem.

# %%
print(inspect.getsource(datasets.make_messy_dataset))

# %%
messy = Path(datasets.make_messy_dataset(DATA_DIR, OUTPUT_DIR / "messy"))

# %%
messy_problems = layout.find_problems(layout.check_images(layout.scan_dataset(messy)))
messy_problems.assign(file=messy_problems["path"].str.replace(str(messy) + "/", ""))[
    ["severity", "problem", "split", "class", "file", "detail"]]

# %% [markdown]
# Errors need fixing before training (delete the leaked copy, remove broken files); warnings are
# worth a look; infos are files that are reported and left out. Nothing disappears silently.
# One mess can fill several rows: the photo copied to `validation/` is also the photo that
# `really_a_png.jpg` holds as a PNG, so the PNG is reported as the near-duplicate of each copy
# (its bytes differ, its picture does not).

# %% [markdown]
# ## 5. Splitting a flat folder into train, validation and test
#
# Many datasets come as one folder per class with no split, like the flowers download
# (`flower_photos/daisy/*.jpg`). `layout.split_dataset` puts a share of **each class** in
# validation and, with `test_fraction`, in test (stratified), with a fixed seed so the split is the
# same every time. Links instead of copies save disk space. We demonstrate on a flat copy of the
# sample training images:

# %%
flat = OUTPUT_DIR / "flat"
shutil.rmtree(flat, ignore_errors=True)
for path in layout.candidates(table).query("split == 'train'")["path"]:
    (flat / Path(path).parent.name).mkdir(parents=True, exist_ok=True)
    (flat / Path(path).parent.name / Path(path).name).symlink_to(Path(path).resolve())

split_dir = OUTPUT_DIR / "split_demo"
shutil.rmtree(split_dir, ignore_errors=True)
plan = layout.split_dataset(flat, split_dir, validation_fraction=0.2, test_fraction=0.15,
                            seed=42, mode="symlink")
pd.crosstab(plan["class"], plan["split"], margins=True)[["train", "validation", "test", "All"]]

# %% [markdown]
# Each class sends about 20% of its images to validation and 15% to test. Run it again with the
# same seed and you get the same files in the same split; that is what makes results comparable
# between runs.
#
# **Photos of one specimen belong together.** The pest photos of the original system (NARO's insect
# classifier, at the top of this notebook) are named
# like `100000_20201231123456_01.JPG`: specimen, time, shot. Several shots of one insect are
# nearly the same picture, so a random split that puts shot 1 in train and shot 2 in validation
# leaks, in a way no duplicate check can prove. `group_by`, a regular expression whose first group
# names the specimen, keeps each group in one split. Our images have no specimens, so we pretend:
# every three consecutive images of a class become three "shots" of one "specimen", named
# `<class>-<specimen>_<shot>.jpg`.

# %%
specimens = OUTPUT_DIR / "specimens"
shutil.rmtree(specimens, ignore_errors=True)
for name, files in layout.candidates(table).query("split == 'train'").groupby("class"):
    (specimens / name).mkdir(parents=True)
    stem = name.replace("_", "-")  # "_" ends the specimen's name
    for i, path in enumerate(sorted(files["path"])):
        shot = specimens / name / f"{stem}-{i // 3:03d}_{i % 3 + 1:02d}.jpg"  # e.g. one-007_02.jpg
        shot.symlink_to(Path(path).resolve())
GROUP_BY = r"^([^_]+)_"  # the specimen: everything before the first "_"
names = [*sorted(p.name for p in sorted(specimens.iterdir())[0].iterdir())[:4],
         "100000_20201231123456_01.JPG"]
for file, specimen in zip(names, layout.group_keys(names, GROUP_BY)):
    print(f"{file:30} -> specimen {specimen}")

# %%
for name, group_by in (("random", None), ("grouped", GROUP_BY)):
    out = OUTPUT_DIR / f"split_{name}"
    shutil.rmtree(out, ignore_errors=True)
    grouped_plan = layout.split_dataset(specimens, out, validation_fraction=0.2, seed=42,
                                        mode="symlink", test_fraction=0.15, group_by=group_by)
    found = layout.find_problems(layout.scan_dataset(out), group_by=GROUP_BY)
    spanning = found[found["problem"].str.startswith("group in")]
    print(f"{name:>8} split: {len(spanning):3d} specimens with photos in two splits")

# %% [markdown]
# How close the grouped split came to the fractions: whole groups move, so each class's shares
# can only approach 65 / 20 / 15.

# %%
shares, report = layout.split_report(grouped_plan)
print(report)
shares.tail(4)

# %% [markdown]
# ## 6. A test split, kept for the very end
#
# Validation is where you **choose**: the best epoch (notebook 04), the temperature that makes
# the confidence honest, the threshold below which the model answers "unknown". Every choice fits
# the validation images a little, so the validation figure of the chosen model is optimistic: it
# is the best of several tries on the same images. The test split takes part in no choice; it is
# measured once, at the end, and that figure is the one to report.
#
# The sample data ships with `train/` and `validation/` only (that is what its tests and the
# benchmarks measure). For the rest of the workbook, `stages.dataset_dir` gives a copy with a test
# split carved off its **training** images: 15% of each class moves to `test/`, validation stays
# exactly as it is. For a folder of your own, make a `test/` folder (or split with
# `test_fraction`); a dataset without one works as before.

# %%
from effnet_helpers import stages

WORKBOOK_DATA = stages.dataset_dir(DATASET)  # made once, under the work directory
workbook_counts = layout.class_counts(layout.scan_dataset(WORKBOOK_DATA))
print(f"notebooks 02-05 use {WORKBOOK_DATA}")
workbook_counts.tail(3)

# %% [markdown]
# ## 7. Merging classes
#
# Sometimes two classes cannot be told apart from photos, or one has too few images to learn. The
# original system merged classes with a JSON mapping (`--translate_classes`): `{"old": "new"}`;
# classes not named keep their names. Say two classes are too alike (in the sample data: "one" and
# "seven", in our handwriting):

# %%
alike = ["one", "seven"] if DATASET == "sample" else layout.class_names(table)[:2]
mapping = {name: "-or-".join(alike) for name in alike}
print(mapping)
mapping_file = OUTPUT_DIR / "merge_classes.json"
mapping_file.write_text(json.dumps(mapping, ensure_ascii=False, indent=2), encoding="utf-8")
merged = layout.apply_class_mapping(table, mapping_file)
layout.class_counts(merged)

# %% [markdown]
# The same file works in every later step: `effnet convert --merge-classes merge_classes.json`
# writes merged records, and notebook 03's `MERGE_CLASSES` parameter takes the same mapping (or the
# file) and merges while the records are read, leaving folders and records as they are.

# %% [markdown]
# ## 8. The label map: which class is number 0?
#
# A model outputs numbers; the label map turns them back into names. Classes are numbered in the
# **sorted order of their folder names**, the rule of the tensorflow/tpu converter this workbook is
# compatible with. Sorted means by the characters' code points, not by meaning: in the sample
# data, label 0 is "eight", not "zero"; Japanese names sort by their kana and kanji codes.

# %%
classes = layout.class_names(table)
layout.write_label_map(classes, OUTPUT_DIR / settings.LABEL_MAP_FILE)
print(f"label 0 is {classes[0]!r}, label {len(classes) - 1} is {classes[-1]!r}")
print((OUTPUT_DIR / settings.LABEL_MAP_FILE).read_text(encoding="utf-8"))

# %% [markdown]
# The file is UTF-8 JSON written with `ensure_ascii=False`, so class names in any language stay
# readable. With Python's default they would survive but turn into escapes nobody can read:

# %%
print(json.dumps({"0": "アブラムシ", "1": "white fly"}))
print(json.dumps({"0": "アブラムシ", "1": "white fly"}, ensure_ascii=False))

# %% [markdown]
# ## Check yourself
#
# The classes, their order and the counts of the sample data. If this cell's output changes, the
# lesson's story changed too.

# %%
# NBVAL_CHECK_OUTPUT
if DATASET == "sample":
    print(dict(enumerate(classes)))
    print(counts.loc["total"].to_dict())
    print(sorted(set(messy_problems["problem"])))
    print("with the test split:", workbook_counts.loc["total"].to_dict())

# %% [markdown]
# ## What's next
#
# Your outputs are in `OUTPUT_DIR` (printed at the top): `class_counts.csv`, `problems.csv`,
# `synset_id2label.json` and `merge_classes.json`. Next, [02 · TFRecord
# conversion](02_tfrecord_conversion.ipynb) packs the images into sharded TFRecord files that a
# TPU can read fast.
