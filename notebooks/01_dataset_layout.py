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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/01_dataset_layout.ipynb)
# [View on GitHub](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/01_dataset_layout.ipynb)

# %% [markdown]
# ## Setup
#
# This cell works both in a checkout of the repository and in a fresh Colab session: when the
# workbook's helper package `effnet_helpers` is missing it fetches the repository and installs it.
# TensorFlow is never replaced when the session already has it.

# %%
import importlib.util
import subprocess
import sys

REPO_URL = "https://github.com/effnet-workbook/effnet-workbook"  # or your fork
if importlib.util.find_spec("effnet_helpers") is None:
    subprocess.run(["git", "clone", "-q", "--depth", "1", REPO_URL, "effnet-workbook"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "effnet-workbook"],
                   check=True)
    sys.path.insert(0, "effnet-workbook")

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
# ## 1. The layout: `train/` and `validation/`, one folder per class
#
# ```
# DATA_DIR/
# ├── train/                 images the model learns from
# │   ├── aphid/
# │   │   ├── IMG_0001.jpg
# │   │   └── ...
# │   └── whitefly/
# └── validation/            images kept apart to measure the model honestly
#     ├── aphid/
#     └── whitefly/
# ```
#
# The **folder name is the label**: there is no spreadsheet of labels to keep in sync. Both splits
# hold the same class folders. Here is the top of our dataset:

# %%
for split in settings.SPLITS:
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
plots.plot_class_counts(counts, title=f"Images per class ({DATASET})");

# %% [markdown]
# **Class imbalance.** When one class has many more photos than another, a model can score well by
# mostly predicting the big class. The ratio between the largest and smallest training class tells
# you whether to worry (above about 3x, use class weights or balanced sampling in notebook 03):

# %%
ratio = layout.imbalance(counts)
print(f"largest / smallest training class: {ratio:.1f}x")
print("balanced enough" if ratio <= 3 else "imbalanced: plan class weights in notebook 03")

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
# everything else worth knowing: empty or one-split classes, duplicate images across train and
# validation (a **leak**: the model is tested on photos it learned from, and validation accuracy
# looks better than it is), files whose name lies about their format, confusable class names.

# %%
checked = layout.check_images(table)
problems = layout.find_problems(checked)
problems.to_csv(OUTPUT_DIR / "problems.csv", index=False)
print(f"{len(problems)} problems in {DATASET}")
problems.head(10)

# %% [markdown]
# The sample data is clean. Real folders rarely are, so let's make a small copy with one of each
# kind of mess that real photo folders have. Read the helper: each line makes one problem.

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

# %% [markdown]
# ## 5. Splitting a flat folder into train and validation
#
# Many datasets come as one folder per class with no split, like the flowers download
# (`flower_photos/daisy/*.jpg`). `layout.split_dataset` puts a share of **each class** in
# validation (stratified), with a fixed seed so the split is the same every time. Links instead of
# copies save disk space. We demonstrate on a flat copy of the sample training images:

# %%
flat = OUTPUT_DIR / "flat"
shutil.rmtree(flat, ignore_errors=True)
for path in layout.candidates(table).query("split == 'train'")["path"]:
    (flat / Path(path).parent.name).mkdir(parents=True, exist_ok=True)
    (flat / Path(path).parent.name / Path(path).name).symlink_to(Path(path).resolve())

split_dir = OUTPUT_DIR / "split_demo"
shutil.rmtree(split_dir, ignore_errors=True)
plan = layout.split_dataset(flat, split_dir, validation_fraction=0.2, seed=42, mode="symlink")
pd.crosstab(plan["class"], plan["split"], margins=True)

# %% [markdown]
# Each class sends about 20% of its images to validation. Run it again with the same seed and you
# get the same files in the same split; that is what makes results comparable between runs.

# %% [markdown]
# ## 6. Merging classes
#
# Sometimes two classes cannot be told apart from photos, or one has too few images to learn. The
# seed system merged classes with a JSON mapping (`--translate_classes`): `{"old": "new"}`; classes
# not named keep their names. Say "one" and "seven" are too alike in our handwriting:

# %%
mapping = {"one": "one-or-seven", "seven": "one-or-seven"}
mapping_file = OUTPUT_DIR / "merge_classes.json"
mapping_file.write_text(json.dumps(mapping, ensure_ascii=False, indent=2), encoding="utf-8")
merged = layout.apply_class_mapping(table, mapping_file)
layout.class_counts(merged)

# %% [markdown]
# The same file works in every later step: `effnet convert --merge-classes merge_classes.json`
# writes merged records, and training can merge at read time.

# %% [markdown]
# ## 7. The label map: which class is number 0?
#
# A model outputs numbers; the label map turns them back into names. Classes are numbered in the
# **sorted order of their folder names**, the rule of the tensorflow/tpu converter this workbook is
# compatible with. Sorted means alphabetical, not by meaning: in the sample data, label 0 is
# "eight", not "zero".

# %%
classes = layout.class_names(table)
layout.write_label_map(classes, OUTPUT_DIR / settings.LABEL_MAP_FILE)
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

# %% [markdown]
# ## What's next
#
# Your outputs are in `OUTPUT_DIR` (printed at the top): `class_counts.csv`, `problems.csv`,
# `synset_id2label.json` and `merge_classes.json`. Next, [02 · TFRecord
# conversion](02_tfrecord_conversion.ipynb) packs the images into sharded TFRecord files that a
# TPU can read fast.
