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
# # 04 · Evaluation: accuracy, per-class figures and the confusion matrix
#
# Notebook 03 left a model directory. Here you judge that model **honestly**: on every validation
# image, class by class, and you look at where it goes wrong. At the end the model directory also
# holds `metrics.json`, `per_class.csv`, `confusion_matrix.csv` and the pictures, the files the
# seed system's evaluation wrote.
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/04_evaluation.ipynb)
# [View on GitHub](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/04_evaluation.ipynb)

# %% [markdown]
# ## Setup
#
# In a fresh Colab session this installs the workbook's helpers (on a TPU runtime, TensorFlow with
# its TPU build). Evaluation is light work: any runtime will do.

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
import numpy as np
import pandas as pd

from effnet_helpers import evaluation, plots, runtime, settings, stages, storage

runtime.ensure_tensorflow()
plots.use_projector_style()
runtime.print_versions()

# %% [markdown]
# ## Parameters
#
# - `DATASET` and `MODEL`: the same as in notebook 03 (they name the records and the model
#   directory).
# - `TOP_K`: a prediction counts as "top-k correct" when the true class is among the k most
#   probable ones.
# - `CHECKPOINTS`: which epochs' checkpoints to evaluate too: `"latest"`, `"all"`, or a number N
#   (every checkpoint from epoch N on), as the seed system's `--eval_iterator`.
# - `MERGE_CLASSES`: the JSON mapping of notebook 01 when the model was trained on merged classes.

# %% tags=["parameters"]
DATASET = "sample"
MODEL = "B0"
TOP_K = 3
CHECKPOINTS = "all"
MERGE_CLASSES = None

# %% [markdown]
# The records of notebook 02 and the model of notebook 03. When this session has neither, they are
# made now with the profile's settings (minutes on a CPU in the `cpu` profile).

# %%
PROFILE = settings.profile()
if PROFILE["name"] != "full":
    MODEL = PROFILE["model"]
RECORDS_DIR = stages.ensure_records(DATASET)
MODEL_DIR = stages.ensure_model(DATASET, MODEL)
print(f"profile {PROFILE['name']}\nrecords: {RECORDS_DIR}\nmodel:   {MODEL_DIR}")

# %% [markdown]
# ## 1. Predict every validation image
#
# Training's validation accuracy is a running average that Keras computes batch by batch. For the
# final figures we want more: the **prediction for each image**, so we can count per class and look
# at the mistakes. `evaluation.evaluate` reads the validation records in order, with exactly the
# preprocessing of training's validation (the model directory's `config.json` says which), and
# keeps the last, partial batch: every image is evaluated once.

# %%
result = evaluation.evaluate(MODEL_DIR, records_dir=RECORDS_DIR, top_k=TOP_K,
                             class_mapping=MERGE_CLASSES)
CLASSES = result.classes
pd.Series(result.metrics, name="value").to_frame()

# %% [markdown]
# Each row of `result.table()` is one image: what it is, what the model said, and how sure it was.
# Everything below is counted from these two columns.

# %%
result.table().head(8)

# %% [markdown]
# ## 2. The confusion matrix, by hand
#
# A confusion matrix counts the pairs (true class, predicted class): row `i`, column `j` holds the
# images of class `i` that the model called `j`. The diagonal holds the correct ones. It is three
# lines of numpy, and scikit-learn's `confusion_matrix` gives the same:

# %%
from sklearn.metrics import confusion_matrix

counts = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
np.add.at(counts, (result.labels, result.predictions), 1)  # one count per (true, predicted) pair
print("same as scikit-learn:", (counts == confusion_matrix(result.labels, result.predictions)).all())
print("accuracy = diagonal / total =", counts.trace(), "/", counts.sum(),
      f"= {counts.trace() / counts.sum():.3f}")

# %% [markdown]
# As a picture, counts first. A good model has a dark diagonal; a dark cell off the diagonal is a
# pair of classes the model confuses.

# %%
evaluation.plot_confusion_matrix(result.confusion);

# %% [markdown]
# With unequal classes, counts mislead: 20 mistakes in a class of 500 are few, in a class of 25
# they are most. **Row-normalised**, each row shows what happened to 100% of a true class: the
# diagonal is then each class's recall.

# %%
evaluation.plot_confusion_matrix(result.confusion, normalize=True);

# %% [markdown]
# The same matrix is saved as `confusion_matrix.csv`, rows true and columns predicted, class names
# as header and index, so a spreadsheet opens it as it is:

# %%
print(storage.read_bytes(storage.join(MODEL_DIR, evaluation.CONFUSION_FILE)).decode()[:400])

# %% [markdown]
# ## 3. Precision, recall and F1 per class
#
# For one class, say "seven":
#
# - **precision**: of the images the model *called* "seven", the share that are sevens (a column
#   of the matrix). Low precision: the model says "seven" too easily.
# - **recall**: of the *real* sevens, the share the model found (a row). Low recall: sevens get
#   missed.
# - **F1**: their harmonic mean, high only when both are. **Support**: the number of real sevens.
#
# The **macro** average weighs every class the same; the **weighted** one weighs them by support.
# With imbalanced classes, macro figures and the **balanced accuracy** (the mean recall) tell you
# how the rare classes fare, which plain accuracy hides.

# %%
result.per_class.round(3)

# %% [markdown]
# The weakest classes first, by F1:

# %%
result.per_class.drop(index=["macro avg", "weighted avg"]).sort_values("f1").head(3).round(3)

# %% [markdown]
# ## 4. The most confident mistakes
#
# Wrong predictions that the model was *sure* of are the most instructive: a mislabelled image,
# two classes that really look alike, or a background the model learned instead of the object.

# %%
evaluation.plot_mistakes(result);

# %% [markdown]
# ## 5. Every checkpoint, as the seed system's `--eval_iterator`
#
# Training saved a checkpoint after every epoch. Evaluating them all shows whether the last epoch
# is the best one, or whether the model started to overfit and an earlier checkpoint should be
# kept. The table is also written as `checkpoint_metrics.csv`.

# %%
per_checkpoint = evaluation.evaluate_checkpoints(MODEL_DIR, RECORDS_DIR, which=CHECKPOINTS,
                                                 top_k=TOP_K, class_mapping=MERGE_CLASSES)
per_checkpoint[["epoch", "phase", "accuracy", f"top_{TOP_K}_accuracy", "balanced_accuracy",
                "macro_f1", "loss"]].round(3)

# %%
evaluation.plot_checkpoint_metrics(per_checkpoint);

# %% [markdown]
# ## 6. Evaluate a folder of images instead of records
#
# Photos that never went through notebook 02, in the layout of notebook 01
# (`DATA_DIR/validation/<class>/`), are evaluated from their files. They go through the same
# steps as the records' images (`inference` module), so the figures are the same:

# %%
from effnet_helpers import datasets

from_folder = evaluation.evaluate(MODEL_DIR, data_dir=datasets.get_dataset(DATASET), top_k=TOP_K,
                                  class_mapping=MERGE_CLASSES, write=False)
print("same confusion matrix as from the records:", from_folder.confusion.equals(result.confusion))

# %% [markdown]
# ## 7. The wrong data is refused
#
# Class ids only mean something with their label map. Evaluating a model on data whose classes
# differ (another dataset, classes merged on one side only) would produce figures that look fine
# and mean nothing. It is refused, and the message names the classes:

# %%
try:
    evaluation.evaluate(MODEL_DIR, records_dir=RECORDS_DIR, class_mapping={CLASSES[0]: CLASSES[1]},
                        write=False)
except evaluation.EvaluationError as error:
    print("EvaluationError:", error)

# %% [markdown]
# ## Check yourself
#
# Every validation image is counted once, in a matrix with a row and a column per class.

# %%
# NBVAL_CHECK_OUTPUT
written = sorted(name for name in storage.listdir(MODEL_DIR)
                 if name.endswith((".json", ".csv", ".png")))
print("images evaluated:", result.metrics["images"], "= matrix total", result.confusion.values.sum())
print("matrix:", result.confusion.shape, "rows = columns = classes:",
      list(result.confusion.index) == list(result.confusion.columns) == CLASSES)
print("per-class rows:", list(result.per_class.index[-2:]), "support", result.per_class["support"].iloc[-1])
print("written:", written)

# %% [markdown]
# ## What's next
#
# The model directory (`MODEL_DIR`) now also holds `metrics.json`, `per_class.csv`,
# `confusion_matrix.csv`, `predictions.csv`, `checkpoint_metrics.csv` and the pictures. The same
# from a terminal: `effnet evaluate MODEL_DIR RECORDS_DIR --checkpoints all`. Next, notebook 05
# predicts new photos, shows what the model looks at, and exports it for servers and phones.
