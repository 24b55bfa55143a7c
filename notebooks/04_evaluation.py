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
# image, class by class, and you look at where it goes wrong. Then you make three choices on the
# validation images (the checkpoint to keep, a temperature that makes its confidence honest, and
# a threshold below which it answers "unknown"), and measure the result **once** on the test
# split, which took part in none of them. At the end the model directory also holds
# `metrics.json`, `per_class.csv`, `confusion_matrix.csv` and the pictures, the files the
# original system's evaluation wrote (NARO's insect classifier, [notebook 01](01_dataset_layout.ipynb)),
# with `calibration.json` and the test figures beside them. A word you do not know is in notebook
# 01's [words used here](01_dataset_layout.ipynb#words-used-here).
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/04_evaluation.ipynb)
# [View on GitHub](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/04_evaluation.ipynb)

# %% [markdown]
# ## Setup
#
# In a fresh Colab session this installs the workbook's helpers (its release `RELEASE`; on a TPU
# runtime also TensorFlow with its TPU build, then it asks for one restart of the session).
# Evaluation is light work: any runtime will do.
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
import numpy as np
import pandas as pd

from effnet_helpers import (evaluation, modeldir, pipeline, plots, runtime, settings, stages,
                            storage)

runtime.ensure_tensorflow()
plots.use_projector_style()
runtime.print_versions()

# %%
KEEP_ON_DRIVE = True  # in Colab: outputs on Google Drive, which a recycled VM does not lose
print(f"outputs go to {settings.work_dir(drive=KEEP_ON_DRIVE)}")

# %% [markdown]
# ## Parameters
#
# - `DATASET` and `MODEL`: the same as in notebook 03 (they name the records and the model
#   directory).
# - `TOP_K`: a prediction counts as "top-k correct" when the true class is among the k most
#   probable ones.
# - `CHECKPOINTS`: which epochs' checkpoints to evaluate too: `"latest"`, `"all"`, or a number N
#   (every checkpoint from epoch N on), as the original system's `--eval_iterator`.
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
storage.remove(storage.join(MODEL_DIR, settings.CALIBRATION_FILE))  # section 8 chooses it again
result = evaluation.evaluate(MODEL_DIR, records_dir=RECORDS_DIR, top_k=TOP_K,
                             class_mapping=MERGE_CLASSES)
CLASSES = result.classes
pd.Series(result.metrics, name="value").to_frame()

# %% [markdown]
# The `loss` here is the plain **log loss** against the true labels. Notebook 03's `val_loss`, for
# the same model and the same validation images, is larger: training measures its loss against
# label-smoothed targets (a share of the target, 0.1 by default, spread evenly over all classes),
# and no prediction can bring that one down to 0. The two numbers of this model:

# %%
last_epoch = modeldir.read_history(MODEL_DIR)[-1]
smoothing = modeldir.saved_config(MODEL_DIR)["run"]["label_smoothing"]
print(f"notebook 03, epoch {last_epoch['epoch']}: val_loss {last_epoch['val_loss']:.3f} "
      f"(against targets smoothed by {smoothing})")
print(f"here: log loss {result.metrics['loss']:.3f} (against the true labels)")

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
# The wrong predictions the model gave the highest probability are the ones to look at first. In a
# real dataset they are often a mislabelled image, two classes that really look alike, or a
# background the model learned instead of the object. Look at the pictures, then at the values
# under them: how many mistakes there are, and how sure the model was of them.

# %%
evaluation.plot_mistakes(result);

# %%
shown = pd.DataFrame([{"image": storage.basename(m["name"] or ""), "true": CLASSES[m["true"]],
                       "predicted": CLASSES[m["predicted"]], "probability": m["probability"]}
                      for m in result.mistakes])
pairs = shown.groupby(["true", "predicted"]).size().sort_values(ascending=False)
wrong = int((~result.table()["correct"]).sum())
print(f"{len(result.mistakes)} mistakes shown, of {wrong} in all; "
      f"confidence {shown['probability'].min():.0%} to {shown['probability'].max():.0%}"
      if len(shown) else "no mistakes on the validation images")
print("most frequent confusions among them:",
      ", ".join(f"{t} -> {p} ({n})" for (t, p), n in pairs.head(3).items()) or "none")

# %% [markdown]
# On the sample digits these are ordinary, correctly labelled digits, so they show where this
# small model still falls short rather than a problem of the data. Is an accuracy like this one
# good? A scale helps: the simplest classifier there is, a logistic regression on
# the raw pixels of the same images (shrunk to 16x16), trained on the training split.

# %%
from sklearn.linear_model import LogisticRegression


def pixels(split):
    """Every image of a split as 16x16x3 raw pixels in a row, with its label."""
    data = pipeline.make_dataset(RECORDS_DIR, split, 16, 256, training=False,
                                 resize_method="resize", class_mapping=MERGE_CLASSES)
    rows = [(x.numpy().reshape(len(x), -1) / 255.0, y.numpy().argmax(1)) for x, y in data]
    return np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])


pixel_model = LogisticRegression(max_iter=2000).fit(*pixels("train"))
pixel_baseline = pixel_model.score(*pixels("validation"))
print(f"logistic regression on 16x16 pixels: {pixel_baseline:.3f}; "
      f"this model: {result.metrics['accuracy']:.3f}")

# %% [markdown]
# ## 5. Every checkpoint, as the original system's `--eval_iterator`
#
# Training saved a checkpoint after every epoch and kept the newest 3 and the best one (by
# validation accuracy); the table below lists the ones this model directory holds. Evaluating
# them shows whether the last epoch is the best one, or whether the model started to overfit and
# an earlier checkpoint should be kept. The table is also written as `checkpoint_metrics.csv`.

# %%
per_checkpoint = evaluation.evaluate_checkpoints(MODEL_DIR, RECORDS_DIR, which=CHECKPOINTS,
                                                 top_k=TOP_K, class_mapping=MERGE_CLASSES)
per_checkpoint[["epoch", "phase", "accuracy", f"top_{TOP_K}_accuracy", "balanced_accuracy",
                "macro_f1", "loss"]].round(3)

# %%
evaluation.plot_checkpoint_metrics(per_checkpoint);

# %% [markdown]
# Keeping a checkpoint is a **choice made on the validation images**: the one with the best
# validation accuracy (ties go to the lower loss). From here on, the chosen model is the one we
# calibrate and test; when it is the last epoch, that is the model directory itself.

# %%
CHOSEN_EPOCH = evaluation.best_checkpoint(per_checkpoint)
CHOSEN_DIR = evaluation.checkpoint_model_dir(MODEL_DIR, CHOSEN_EPOCH)
chosen_accuracy = per_checkpoint.set_index("epoch").loc[CHOSEN_EPOCH, "accuracy"]
print(f"chosen: epoch {CHOSEN_EPOCH}, validation accuracy {chosen_accuracy:.3f}, "
      f"{'the final model' if CHOSEN_DIR == str(MODEL_DIR) else 'an earlier checkpoint'}")
print("chosen model:", CHOSEN_DIR)

# %% [markdown]
# ## 6. Evaluate a folder of images instead of records
#
# Photos that never went through notebook 02, in the layout of notebook 01
# (`DATA_DIR/validation/<class>/`), are evaluated from their files. They go through the same
# steps as the records' images (`inference` module), so the figures are the same:

# %%
from_folder = evaluation.evaluate(MODEL_DIR, data_dir=stages.dataset_dir(DATASET), top_k=TOP_K,
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
# ## 8. Is the confidence honest? Calibration
#
# When the model says "seven, 80%", is it right 80% of the time? Sort the validation images into
# 15 bins by their top-1 probability (the **confidence**) and compare each bin's mean confidence
# with its accuracy: a **reliability diagram**. On the diagonal the confidence is honest; below
# it the model is over-confident, above it under-confident. The **expected calibration error**
# (ECE) sums the gaps, each weighted by its bin's share of the images:
#
# $$\mathrm{ECE} = \sum_b \frac{n_b}{n}\,\lvert \mathrm{accuracy}_b - \mathrm{confidence}_b \rvert$$
#
# **Temperature scaling** (Guo et al., 2017) repairs it with one number T: the logits are divided
# by T before the softmax. T > 1 softens over-confident probabilities, T < 1 sharpens timid ones,
# and the most probable class never changes, so the accuracy stays what it was. T is fitted on
# the validation images (the T of the lowest log loss) and stored in the model directory;
# `predict`, the evaluation and the exports then apply it. `calibrate` also chooses the
# "unknown" threshold of section 9 and writes the validation figures with both.

# %%
from effnet_helpers import calibration, confidence, training

calibrated = calibration.calibrate(CHOSEN_DIR, RECORDS_DIR, class_mapping=MERGE_CLASSES)
print(calibration.summary_text(calibrated.calibration))
T = calibrated.temperature
print("T > 1: the model was over-confident" if T > 1 else "T < 1: the model was under-confident"
      if T < 1 else "T = 1: nothing to correct")
if T < 1 and smoothing:  # the label smoothing of training (section 1)
    target, _ = training.smoothed_targets(smoothing, len(CLASSES))
    print(f"as label smoothing {smoothing} trains it to be: its target for the true class is "
          f"{target:.2f}, not 1, so its confidence stays below its accuracy "
          f"({calibrated.metrics['accuracy']:.3f})")

# %%
calibration.plot_reliability_diagram(
    {"before (T = 1)": calibrated.reliability(calibrated=False),
     f"after (T = {T:.2f})": calibrated.reliability()}, title="Reliability on validation");

# %% [markdown]
# The ECE by hand, from the bins of the diagram's "before" curve, equals the helper's:

# %%
bins = calibrated.reliability(calibrated=False)
filled = bins[bins["images"] > 0]
by_hand = (filled["images"] / filled["images"].sum() * (filled["accuracy"]
                                                         - filled["confidence"]).abs()).sum()
helper = calibration.expected_calibration_error(calibrated.raw_probabilities, calibrated.labels)
print(f"ECE by hand {by_hand:.4f}, calibration.expected_calibration_error {helper:.4f}")
filled[["lower", "upper", "images", "confidence", "accuracy"]].round(3)

# %% [markdown]
# ## 9. When to say "unknown"
#
# A pest photo the model is unsure of is better sent to a person than named wrongly. Below a
# confidence **threshold** the model answers "unknown". A higher threshold names fewer images
# (lower **coverage**) and gets more of the named ones right: the **risk-coverage** trade-off.
# `calibrate` chose the lowest threshold at which the named validation images are right at least
# `settings.TARGET_PRECISION` of the time, and not by luck: the precision's lower confidence bound
# (at `settings.THRESHOLD_CONFIDENCE`) must reach it. That needs many named images, however right
# they all are. Pass `target_precision=` or `target_coverage=` to choose otherwise;
# `effnet predict --reject-below auto` uses the stored threshold.

# %%
fewest = 1
while confidence.precision_lower_bound(fewest, fewest) < settings.TARGET_PRECISION:
    fewest += 1
print(f"target precision {settings.TARGET_PRECISION:.0%} at {settings.THRESHOLD_CONFIDENCE:.0%} "
      f"confidence: at least {fewest} named images, all of them right")

# %%
calibration.plot_risk_coverage(calibrated.risk_coverage(), calibrated.threshold,
                               title="Validation: accuracy of the named images against coverage");

# %% [markdown]
# How many validation images each threshold would send to a person:

# %%
calibrated.thresholds().round(3)

# %% [markdown]
# ## 10. The test split, once, at the end
#
# Every figure above was measured on the images we **chose by**: the checkpoint with the best
# validation accuracy, the temperature that fits the validation images best, the threshold that
# meets the target on them. Each choice bends towards the validation images' accidents, so the
# validation figures of the chosen model are optimistic: picking the best of several noisy
# scores picks some luck with it (selection bias). The test split took part in no choice, so its
# figures are an honest estimate of what new photos will see. Measure it once, after every choice;
# if you change something because of the test figures, the test split becomes a second
# validation split and a fresh one is needed.

# %%
from effnet_helpers import records

HAS_TEST = bool(records.shard_files(RECORDS_DIR, "test"))
if HAS_TEST:
    test = evaluation.evaluate(CHOSEN_DIR, records_dir=RECORDS_DIR, split="test", top_k=TOP_K,
                               class_mapping=MERGE_CLASSES)
    print(f"{test.metrics['images']} test images; files in "
          f"{evaluation.results_dir(CHOSEN_DIR, 'test')}")
else:
    print("These records have no test split: give the dataset a test/ folder (notebook 01).")


# %%
def headline(e):
    unknown = e.metrics.get("unknown", {})
    return {"images": e.metrics["images"], "accuracy": e.metrics["accuracy"],
            "macro F1": e.metrics["macro_f1"], "ECE": e.metrics["ece"],
            "coverage at the threshold": unknown.get("coverage"),
            "accuracy of the named": unknown.get("accuracy_accepted")}


if HAS_TEST:
    gap = calibrated.metrics["accuracy"] - test.metrics["accuracy"]
    print(f"validation accuracy - test accuracy = {gap:+.3f}: report the test figure")
comparison = pd.DataFrame({"validation (chose by it)": headline(calibrated),
                           "test (chose nothing)": headline(test)}).round(3) if HAS_TEST else None
comparison

# %% [markdown]
# ## Check yourself
#
# Every validation image is counted once, in a matrix with a row and a column per class, and
# every test image once too.

# %%
# NBVAL_CHECK_OUTPUT
written = sorted(name for name in storage.listdir(MODEL_DIR)
                 if name.endswith((".json", ".csv", ".png")))
print("images evaluated:", result.metrics["images"], "= matrix total", result.confusion.values.sum())
print("matrix:", result.confusion.shape, "rows = columns = classes:",
      list(result.confusion.index) == list(result.confusion.columns) == CLASSES)
print("per-class rows:", list(result.per_class.index[-2:]), "support", result.per_class["support"].iloc[-1])
print("written:", written)
test_records = records.inspect_records(RECORDS_DIR).query("split == 'test'")["records"].sum()
print("test images evaluated:", test.metrics["images"] if HAS_TEST else 0,
      "= test records", int(test_records))

# %% [markdown]
# ## What's next
#
# The model directory (`MODEL_DIR`) now also holds `metrics.json`, `per_class.csv`,
# `confusion_matrix.csv`, `predictions.csv`, `checkpoint_metrics.csv`, `reliability.csv`,
# `risk_coverage.csv` and the pictures; the chosen model (`CHOSEN_DIR`) holds `calibration.json`
# and, in `evaluation-test/`, the test figures. The same from a terminal:
#
# ```bash
# effnet evaluate MODEL_DIR RECORDS_DIR --checkpoints all
# effnet calibrate MODEL_DIR RECORDS_DIR              # temperature and threshold, on validation
# effnet evaluate MODEL_DIR RECORDS_DIR --split test  # once, at the end
# ```
#
# Next, notebook 05 predicts new photos (answering "unknown" when unsure), shows what the model
# looks at, and exports it for servers and phones.
