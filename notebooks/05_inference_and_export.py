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
# # 05 · Inference, explanations and export
#
# Notebooks 03 and 04 left a trained and evaluated model directory. Here you **use** it: predict
# new photos of any kind with the model directory alone, see **what the model looks at**
# (Grad-CAM), and **export** it: TensorFlow Lite files for phones (checked against the Keras model
# on every validation image) and a SavedModel that TensorFlow Serving runs on encoded images. A
# word you do not know is in notebook 01's [words used here](01_dataset_layout.ipynb#words-used-here).
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/05_inference_and_export.ipynb)
# [View on GitHub](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/05_inference_and_export.ipynb)

# %% [markdown]
# ## Setup
#
# In a fresh Colab session this installs the workbook's helpers (its release `RELEASE`; on a TPU
# runtime also TensorFlow with its TPU build, then it asks for one restart of the session).
# Prediction and export run on the CPU of any runtime.
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

import numpy as np

from effnet_helpers import datasets, evaluation, explain, export, inference, plots, runtime
from effnet_helpers import models, settings, stages, storage, training

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
# - `DATASET` and `MODEL`: the same as in notebook 03 (they name the model directory).
# - `PHOTOS`: a folder (or file) of your own new photos; `None` makes a demo folder from the
#   validation images in the forms phones and scanners produce.
# - `TOP_K`: how many classes to list per photo.
# - `QUANTIZATIONS`: the TensorFlow Lite variants to export and check.

# %% tags=["parameters"]
DATASET = "sample"
MODEL = "B0"
PHOTOS = None
TOP_K = 3
QUANTIZATIONS = ("none", "float16", "int8")

# %% [markdown]
# The model of notebook 03 and the records of notebook 02 (made now when this session has none):

# %%
PROFILE = settings.profile()
if PROFILE["name"] != "full":
    MODEL = PROFILE["model"]
RECORDS_DIR = stages.ensure_records(DATASET)
MODEL_DIR = stages.ensure_model(DATASET, MODEL)
DATA_DIR = datasets.get_dataset(DATASET)
print(f"profile {PROFILE['name']}\nmodel: {MODEL_DIR}")

# %% [markdown]
# ## 1. One photo, step by step
#
# The model directory holds everything needed: the model (`model.keras`, which normalises pixels
# itself), the class names (`synset_id2label.json`) and how images were cut to size
# (`config.json`). A photo then takes five steps:
#
# 1. read its bytes;
# 2. `inference.prepare`: any format (PNG, CMYK, 16-bit, a phone's EXIF rotation) becomes an
#    upright RGB JPEG, exactly as the converter of notebook 02 stored the training images;
# 3. `predictor.preprocess`: the evaluation view of notebook 03 (centre crop or whole image),
#    resized to the model's size;
# 4. the model: one probability per class;
# 5. the temperature of notebook 04 (`calibration.json`), which makes those probabilities honest
#    without changing which class is first. When this session has no calibration, it is fitted
#    now on the validation images, as notebook 04 does.

# %%
from effnet_helpers import calibration

if calibration.read_calibration(MODEL_DIR) is None:
    print(calibration.summary_text(calibration.calibrate(MODEL_DIR, RECORDS_DIR).calibration))

# %%
predictor = inference.load_predictor(MODEL_DIR)
CLASSES = predictor.classes
path = sorted(storage.glob(os.path.join(DATA_DIR, "validation", CLASSES[-1], "*")))[0]

jpeg = inference.prepare(storage.read_bytes(path))          # 2. any image -> upright RGB JPEG
image = predictor.preprocess(jpeg)                          # 3. crop and resize: float32 0..255
probabilities = predictor.model.predict(image[np.newaxis], verbose=0)[0]   # 4. [classes]
probabilities = calibration.apply_temperature(probabilities[None], predictor.temperature)[0]  # 5.
for i in np.argsort(-probabilities)[:TOP_K]:
    print(f"{CLASSES[i]:>10}  {probabilities[i]:.1%}")

# %% [markdown]
# `inference.show_prediction` does the same and draws it:

# %%
inference.show_prediction(predictor, path, top_k=TOP_K);

# %% [markdown]
# ## 2. A folder of new photos
#
# Real new photos come in every form. The demo folder holds one validation image per class and
# the awkward cases: a PNG, a CMYK JPEG, a portrait stored on its side with an EXIF tag, a large
# photo, a greyscale one, and a broken download.

# %%
DATASET_PHOTOS_MADE = PHOTOS is None  # the demo folder, whose classes are known
if PHOTOS is None:
    PHOTOS = datasets.make_new_photos(DATA_DIR, os.path.join(settings.work_dir(), "new_photos"))
shown = [p for p in inference.find_images(PHOTOS) if "broken" not in p][:12]
plots.image_grid([plots.load_for_display(p, 160) for p in shown],
                 [os.path.basename(p)[:16] for p in shown], ncols=6, size=2.0,
                 suptitle="New photos (as the model will see them: upright)");

# %% [markdown]
# `predictor.predict` reads the folder, prepares the images in threads while the model works on
# the previous batch, and returns one row per file. The broken file gets its reason in the
# `error` column; every other file is still predicted. The CSV is what
# `effnet predict MODEL_DIR PHOTOS --output predictions.csv` writes.

# %%
predictions = predictor.predict([PHOTOS], top_k=TOP_K)
predictions_csv = os.path.join(settings.work_dir(), "new_photos_predictions.csv")
storage.write_atomic(predictions_csv, predictions.to_csv(index=False))
expected = datasets.new_photo_classes(DATA_DIR, PHOTOS) if DATASET_PHOTOS_MADE else {}
table = predictions.assign(path=predictions["path"].map(os.path.basename))
table.insert(1, "expected", table["path"].map(expected))
table.round(3)

# %% [markdown]
# The `expected` column is the class each made photo shows. The awkward cases are the lesson. Each
# is prepared as the converter prepared the training images (made upright, RGB, JPEG), so the
# model sees what it was trained on. `large.jpg` is a 2000 px photo: shrinking it to the model's
# size averages the pixels each output pixel covers (antialiasing); shrunk without that, keeping
# one pixel in about twenty, its strokes turned into aliasing patterns and the model misread it.

# %%
for name in ("greyscale.jpg", "large.jpg", "phone_rotated.jpg", "print_cmyk.jpg", "scan.png"):
    row = table[table["path"] == name]
    if len(row) and name in expected:
        said = row.iloc[0].get("label")
        verdict = ("right" if said == expected[name] else "unsure: sent to a person"
                   if said == settings.UNKNOWN_LABEL else "WRONG")
        print(f"{name:18} shows {expected[name]:8} the model says {said}: {verdict}")

# %% [markdown]
# ## 3. The same answer as evaluation
#
# Prediction from files and evaluation from records must agree, or the figures of notebook 04
# would not describe what users get. Predict every validation file, and compare with the
# evaluation's prediction for the same image:

# %%
from_files = predictor.predict([os.path.join(DATA_DIR, "validation")], top_k=1)
from_records = evaluation.evaluate(MODEL_DIR, records_dir=RECORDS_DIR, write=False)
by_name = dict(zip(from_records.names, (CLASSES[i] for i in from_records.predictions)))
agree = np.mean([by_name[os.path.basename(p)] == label
                 for p, label in zip(from_files["path"], from_files["label"])])
print(f"{len(from_files)} files; top-1 equal to the records' evaluation for {agree:.1%}")

# %% [markdown]
# ## 4. "Unknown": photos that belong to no class
#
# A classifier always names one of its classes, even for a photo of something else: a pest
# model shown a leaf, a digit model shown a letter. Notebook 04 chose a confidence threshold on
# the validation images; below it the answer is `unknown` and the image goes to a person, its
# best guess and top-k still in the table (`effnet predict --reject-below auto`). Does it catch
# images of no class? We draw letters the way the digits are drawn (dark ink on light paper) and
# cut small photos from scikit-learn's two sample pictures, and ask the model.

# %%
from PIL import Image, ImageDraw, ImageFont
from sklearn.datasets import load_sample_images

NO_CLASS = os.path.join(settings.work_dir(), "no_class")
os.makedirs(NO_CLASS, exist_ok=True)
font = ImageFont.load_default(size=44)
for letter in "ACEFHKLMPRUXY":
    paper = Image.new("RGB", (64, 64), (244, 240, 228))
    ImageDraw.Draw(paper).text((32, 32), letter, fill=(28, 40, 90), font=font, anchor="mm")
    paper.save(os.path.join(NO_CLASS, f"letter_{letter}.jpg"), quality=90)
for i, photo in enumerate(load_sample_images().images):  # a temple and a flower
    for j, (y, x) in enumerate([(0, 0), (150, 250), (200, 400)]):
        tile = Image.fromarray(photo[y:y + 220, x:x + 220]).resize((64, 64))
        tile.save(os.path.join(NO_CLASS, f"photo_{i}{j}.jpg"), quality=90)

# %%
no_class = predictor.predict([NO_CLASS], top_k=TOP_K, reject_below="auto")
kind = no_class["path"].map(lambda p: os.path.basename(p).split("_")[0])  # letter or photo
said_unknown = no_class["label"] == settings.UNKNOWN_LABEL
print(f"threshold (chosen on validation): {predictor.threshold:.4f}")
for name in ("letter", "photo"):
    print(f"{name}s answered unknown: {said_unknown[kind == name].sum()} of {(kind == name).sum()}")
digits = inference.reject_unknown(from_files, predictor.threshold)  # section 3's predictions
sent = digits["label"] == settings.UNKNOWN_LABEL
print(f"validation digits answered unknown (sent to a person): {sent.sum()} of {len(digits)}")

# %%
plots.image_grid([plots.load_for_display(p, 64) for p in no_class["path"]],
                 [f"{r.label}\n{r.best_guess} {r.probability:.0%}" for r in no_class.itertuples()],
                 ncols=7, size=1.9, suptitle="Images of no class: answer, then best guess");

# %% [markdown]
# Read the numbers above with this in mind: a confidence threshold catches an unfamiliar image
# only when the model is unsure of it. The maximum softmax probability is the simplest
# out-of-distribution detector there is (Hendrycks and Gimpel, 2017), and a model can be
# confidently wrong on something it has never seen, so an image of no class that passes the
# threshold gets a class name. Raising the threshold catches more of them at the price of sending
# more real digits to a person; the table of notebook 04 (section 9) says how many. Photos of
# what users really send that belong to no class, kept as a folder and predicted like this, are
# the honest test.

# %% [markdown]
# ## 5. What the model looks at: Grad-CAM
#
# A model can be right for the wrong reason: the original system's pest classifier (NARO's,
# notebook 01) learned leaves and trap backgrounds until its authors removed the backgrounds.
# **Grad-CAM** shows which part of the image drove a prediction: take the last convolutional
# feature maps of the backbone, weigh each map by how much the class score grows with it (the
# gradient, averaged over the map), add them up and keep the positive part. Here is the code:

# %%
print(inspect.getsource(explain.grad_cams))

# %% [markdown]
# Which feature maps? The backbone's last activation, `top_activation`, is 7x7 for a 224 px
# image, but it shrinks with the image: each side is the input's divided by 32. A map only two or
# three cells wide cannot say *where* much, so `explain.cam_layer` then takes the deepest
# activation that is still at least `explain.MIN_CAM_SIDE` cells wide: a little earlier in the
# network, a little less abstract, a finer grid. The cell prints the choice for this model:

# %%
layer = explain.cam_layer(predictor.model)
size = predictor.image_size
grid = tuple(layer.output.shape[1:3])
top = models.backbone_of(predictor.model).get_layer(explain.TOP_LAYER)
top_grid = tuple(top.output.shape[1:3])
print(f"input {size}x{size} px: {explain.TOP_LAYER!r} is {top_grid[0]}x{top_grid[1]}")
if layer.name == explain.TOP_LAYER:
    print(f"Grad-CAM uses {layer.name!r}, the backbone's last activation")
else:
    print(f"under {explain.MIN_CAM_SIDE} cells wide, so Grad-CAM uses {layer.name!r}: "
          f"{grid[0]}x{grid[1]}, each cell {size / grid[0]:.0f} px of the image")

# %% [markdown]
# Bright (yellow) is where the evidence for the predicted class is, dark where there is none: the
# colour bar gives the scale. On a good model it sits on the digit's strokes; on a model that has
# learned a shortcut it sits on the background or the edges. The cell after the pictures
# measures that for each panel: the share of its heat on the ink (the pixels darker than halfway
# between paper and ink, widened by a quarter of a grid cell, since the map is coarse), against
# the share of the image that ink covers. Heat spread evenly would give the two the same value.

# %%
picked = list(from_files["path"])[::60][:6]  # six validation photos, one every 60
sample = np.stack([predictor.preprocess(inference.prepare(storage.read_bytes(p))) for p in picked])
truth = [os.path.basename(os.path.dirname(p)) for p in picked]  # the class folder
explain.show_grad_cam(predictor.model, sample, CLASSES, labels=truth);

# %%
from scipy import ndimage

heat = explain.grad_cams(predictor.model, sample)
grey = sample.mean(axis=-1)                                   # [n, height, width]
paper, darkest = grey.max(axis=(1, 2), keepdims=True), grey.min(axis=(1, 2), keepdims=True)
margin = max(1, round(size / grid[0] / 4))                    # a quarter of a grid cell, in px
ink = np.stack([ndimage.binary_dilation(dark, iterations=margin)
                for dark in grey < (paper + darkest) / 2])
for panel, (path, cam, strokes) in enumerate(zip(picked, heat, ink), start=1):
    on_ink, area = cam[strokes].sum() / max(cam.sum(), 1e-9), strokes.mean()
    verdict = "drawn to the digit" if on_ink > area else "no more on the digit than chance: a shortcut?"
    print(f"panel {panel} ({truth[panel - 1]:>5}, {os.path.basename(path)}): heat on the ink "
          f"{on_ink:4.0%}, ink {area:4.0%} of the image: {verdict}")

# %% [markdown]
# A panel marked "a shortcut?" is a question, not a verdict: one picture proves little, and at
# this small size each cell of the map spans many pixels. Ask it of many images of a class; if
# the heat keeps landing on the paper, the corners or the same background, the model has learned
# something about the photos rather than the digits, and the fix is in the data (more varied
# backgrounds, crops that remove them), as the original system's authors did.

# %% [markdown]
# ## 6. TensorFlow Lite for phones and small devices
#
# TensorFlow Lite files hold the model alone: the app decodes, crops and resizes the photo as step
# 3 above did, then passes float32 pixels in 0..255. The temperature of `calibration.json` is
# inside the file (and inside the SavedModel below), so an app gets the calibrated probabilities
# and can apply the threshold itself. Three variants trade size for exactness:
#
# | quantize | weights | size |
# |---|---|---|
# | `none` | float32 | the reference |
# | `float16` | float16 | about half |
# | `int8` | int8 (dynamic range), activations float | about a quarter |
#
# `export.parity_table` exports each one and runs it on **every** validation image: a variant is
# good when its top-1 agrees with the Keras model's on at least 99% of them.

# %%
parity = export.parity_table(MODEL_DIR, RECORDS_DIR, formats=QUANTIZATIONS)
parity.drop(columns=["file"]).round(3)

# %% [markdown]
# One photo through a `.tflite` file, as an app would run it:

# %%
tflite_file = parity.loc["tflite-int8", "file"]  # written by parity_table
print(os.path.basename(tflite_file), "->",
      CLASSES[int(np.argmax(export.tflite_predict(tflite_file, image)))], "| Keras ->",
      CLASSES[int(np.argmax(probabilities))])

# %% [markdown]
# **Why EfficientNet-Lite exists.** Phones and edge accelerators compute fastest in 8-bit
# integers. Lite0 is B0 made for that: ReLU6 (bounded, so activations quantise into a known
# range) instead of swish, and no squeeze-and-excitation (its global pooling and sigmoid are slow
# on such chips). Below, this notebook's model beside the other family's smallest member (B0 for
# a Lite model, Lite0 for a B model) at the same input size, float32 and int8, each as a
# `.tflite` file, one image per call as an app runs it. The other model has random weights: size
# and speed do not depend on the weights' values, only its predictions would mean nothing (and
# none are shown).

# %%
config = training.saved_config(MODEL_DIR)
OTHER = "B0" if models.is_lite(config["model"]) else "lite0"
other_dir = export.untrained_model_dir(stages.model_dir(DATASET, f"{OTHER}-untrained"), OTHER,
                                       config["image_size"], CLASSES,
                                       config["input"]["resize_method"])
footprint = export.footprint_table({config["model"]: MODEL_DIR, OTHER: other_dir},
                                   quantizations=("none", "int8"), image=image)
footprint.round(2)

# %%
ours, other = footprint.loc[config["model"]], footprint.loc[OTHER]
for weights in ours.index:
    print(f"{weights}: {config['model']} {ours.loc[weights, 'size_mb']:.1f} MB, "
          f"{ours.loc[weights, 'latency_ms']:.1f} ms | {OTHER} "
          f"{other.loc[weights, 'size_mb']:.1f} MB, {other.loc[weights, 'latency_ms']:.1f} ms "
          "per image")
print(f"{config['model']} int8 agrees with Keras on "
      f"{parity.loc['tflite-int8', 'top1_agreement']:.1%} of the validation images")
speed = ours.loc["int8 weights", "latency_ms"] / ours.loc["float32 weights", "latency_ms"]
print(f"on this machine, {config['model']}'s int8 file takes {speed:.1f}x the time of its float32 "
      f"file and {ours.loc['int8 weights', 'size_mb'] / ours.loc['float32 weights', 'size_mb']:.0%}"
      " of its size")
print("int8 is", "slower" if speed > 1 else "faster", "than float32 here")

# %% [markdown]
# Read the int8 rows with care: these files use *dynamic-range* quantisation, which stores the
# weights in 8 bits (a quarter of the size) but still computes in float, converting on the fly;
# on a desktop CPU, whose float kernels are highly tuned, that can cost time rather than save it
# (the last line says which it was here). The speed-up of int8 comes with *full-integer* quantisation (weights
# and activations, calibrated on a few hundred images) on the phones' and edge chips' integer
# units, and that is where Lite's ReLU6 and missing squeeze-and-excitation pay off.

# %% [markdown]
# ## 7. A SavedModel for TensorFlow Serving
#
# A server receives encoded photos, not pixels. The exported SavedModel's `serving_default`
# signature takes a batch of image **bytes** (JPEG or PNG) and runs the evaluation preprocessing
# inside, then returns the probabilities and the class index and name. A second signature,
# `serving_images`, takes prepared float images.

# %%
saved_model_dir = export.export_saved_model(MODEL_DIR)
served = tf.saved_model.load(saved_model_dir)
serve = served.signatures["serving_default"]
print(serve.structured_input_signature)
files = list(from_files["path"])[:4]
answer = serve(tf.constant([storage.read_bytes(p) for p in files]))
for p, name in zip(files, answer["class_name"].numpy()):
    print(os.path.basename(p), "->", name.decode())

# %% [markdown]
# With TensorFlow Serving running this folder as model `digits`, a client sends base64-encoded
# bytes over REST:
#
# ```bash
# curl -d '{"instances": [{"b64": "'$(base64 -w0 photo.jpg)'"}]}' \
#      http://localhost:8501/v1/models/digits:predict
# ```

# %% [markdown]
# ## Check yourself
#
# Every file of the folder has a row, only the broken one has an error, files and records agree,
# and every TFLite variant agrees with Keras on at least 99% of the validation images.

# %%
# NBVAL_CHECK_OUTPUT
print("rows:", len(predictions), "| errors:",
      [os.path.basename(p) for p in predictions.loc[predictions["error"] != "", "path"]])
print("files = records:", agree == 1.0, "| validation files:", len(from_files))
print("top-1 agreement >= 99%:", (parity["top1_agreement"] >= 0.99).to_dict())
print("export:", sorted(storage.listdir(os.path.join(MODEL_DIR, export.EXPORT_DIR))))
print("serving input:", serve.structured_input_signature[1])

# %% [markdown]
# ## What's next
#
# `MODEL_DIR/export/` holds the TensorFlow Lite files and the SavedModel; the predictions of the
# new photos are in `new_photos_predictions.csv` in the work directory. From a terminal:
# `effnet predict MODEL_DIR photos/ --output predictions.csv` and
# `effnet export MODEL_DIR --format tflite --quantize float16`. To see how EfficientNet is built
# inside, and why B0 to B7 differ, go on to notebook 06.
