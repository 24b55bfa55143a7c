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
# # 03 · Transfer training on a TPU, a GPU or the CPU
#
# Notebook 02 left TFRecord shards and a label map. Here you train an EfficientNet on them the way
# the seed system did: first a **new head on a frozen backbone** (fast, safe), then **fine-tuning**
# of the backbone's blocks (slower, more accurate). Every epoch is checkpointed, so a Colab
# disconnect costs you at most one epoch: run the training cell again and it resumes.
#
# At the end, the model directory holds the trained model, its label map, its configuration and
# its history: everything notebooks 04 and 05 need.
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/03_transfer_training.ipynb)
# [View on GitHub](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/03_transfer_training.ipynb)

# %% [markdown]
# ## Setup
#
# In a fresh Colab session this installs the workbook's helpers. On a **TPU runtime**, which has no
# TensorFlow since 2025, it installs TensorFlow with its TPU build as a matching pair; restart the
# session once when it asks. GPU and CPU runtimes keep their own TensorFlow.

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

import numpy as np
import pandas as pd

from effnet_helpers import models, pipeline, plots, runtime, settings, stages, storage, training

runtime.ensure_tensorflow()

plots.use_projector_style()
runtime.print_versions()

# %% [markdown]
# ## Parameters
#
# - `MODEL`: `"B0"` to `"B7"` (or `"V2B0"` to `"V2B3"`, `"V2S"`). Bigger is more accurate and
#   slower; B0 at 224 px is the usual start.
# - `IMAGE_SIZE`: `None` for the model's native size (224 for B0, 600 for B7).
# - `WEIGHTS`: `"imagenet"` (transfer learning), `None` (from scratch), or a weights file.
# - `SCHEDULE = (H, F)`: H head-only epochs, then fine-tuning up to F epochs in total (the seed
#   system's `--transfer_schedule H,F`). `(0, F)` trains everything from the start.
# - `BATCH_SIZE`: per replica. A TPU v5e-1 has one chip: global batch = per replica x replicas.
# - `RESIZE_METHOD`: `"crop"` (random crops for training, the reference recipe for photos),
#   `"resize"` (the whole image) or `"pad_and_resize"`.
# - `TPU`: `None` finds a TPU VM's chips by itself; a name or `grpc://` address for a Cloud TPU.

# %% tags=["parameters"]
DATASET = "sample"
MODEL = "B0"
IMAGE_SIZE = None
WEIGHTS = "imagenet"
SCHEDULE = (2, 10)
BATCH_SIZE = 32
RESIZE_METHOD = "crop"
AUGMENT = pipeline.Augment(flip=True, rotate90=False, zoom=0.0, randaugment=False,
                           mixup_alpha=0.0)
TPU = None

# %%
PROFILE = settings.profile()  # "cpu" and "ci" train small and from scratch, offline
if PROFILE["name"] != "full":
    MODEL, IMAGE_SIZE, WEIGHTS = PROFILE["model"], PROFILE["image_size"], PROFILE["weights"]
    SCHEDULE, BATCH_SIZE = PROFILE["schedule"], PROFILE["batch_size"]
    RESIZE_METHOD = PROFILE["resize_method"]  # small centred digits: crops would cut them apart
    AUGMENT = AUGMENT if PROFILE["augment"] else pipeline.Augment.none()  # a flipped 2 is no 2
MODEL_DIR = stages.model_dir(DATASET, MODEL)
print(f"profile {PROFILE['name']}: {MODEL}, image size {IMAGE_SIZE or 'native'}, "
      f"weights {WEIGHTS}, schedule {SCHEDULE}\nmodel directory: {MODEL_DIR}")

# %% [markdown]
# ## 1. Connect to the accelerator
#
# `runtime.connect` looks for a TPU, then GPUs, then uses the CPU, and returns a **distribution
# strategy**: the object that copies the model onto every replica (the 8 cores of a TPU v2-8, one
# chip of a v5e-1, each GPU) and splits every batch between them. Variables created inside
# `strategy.scope()` live on every replica. It also picks the number format: bfloat16 on TPUs,
# float16 on GPUs (mixed precision: twice the speed, same accuracy), float32 on the CPU.

# %%
session = runtime.connect(tpu=TPU)
GLOBAL_BATCH = session.global_batch(BATCH_SIZE)
print(f"global batch: {BATCH_SIZE} per replica x {session.replicas} = {GLOBAL_BATCH}")

# %% [markdown]
# The records of notebook 02 (converted now if this session has none):

# %%
RECORDS_DIR = stages.ensure_records(DATASET)
CLASSES = pipeline.read_classes(RECORDS_DIR)
print(f"{len(CLASSES)} classes: {CLASSES}")

# %% [markdown]
# ## 2. The input pipeline
#
# Training reads the shards in parallel, shuffles, and for every image decodes only a **random
# crop** (`tf.image.decode_and_crop_jpeg`: 8% to 100% of the area, a random aspect ratio), resized
# to the model's size. The model sees a different view of each photo every epoch. Validation uses
# one fixed centre crop. Training batches always have the same shape (`drop_remainder`): TPUs
# compile for one shape.

# %%
IMAGE_SIZE = IMAGE_SIZE or models.model_spec(MODEL).image_size
train_data = pipeline.make_dataset(RECORDS_DIR, "train", IMAGE_SIZE, GLOBAL_BATCH, augment=AUGMENT,
                                   resize_method=RESIZE_METHOD)
images, labels = next(iter(train_data))
print("one batch:", images.shape, images.dtype, "labels", labels.shape)
plots.image_grid(images[:12].numpy().astype("uint8"),
                 [CLASSES[i] for i in np.argmax(labels[:12], axis=1)], ncols=6,
                 suptitle=f"A training batch ({RESIZE_METHOD})");

# %% [markdown]
# **Augmentations** are switches of `pipeline.Augment`: flips, 90-degree rotations (insects have
# no "up"), zoom, RandAugment (random colour and geometry operations) and mixup (two images
# blended, and their labels with them). Here is what each does to the same images:

# %%
pipeline.show_augmentations(RECORDS_DIR, image_size=IMAGE_SIZE);

# %% [markdown]
# ## 3. The model: a pretrained backbone and a new head
#
# `keras.applications.EfficientNetB0` without its ImageNet classifier is the **backbone**: it turns
# an image into 1,280 features. On top we put a new **head**: average pooling, dropout and one
# dense layer with a softmax over our classes. The model takes raw 0-255 pixels: the backbone
# normalises them itself, so evaluation and inference can never preprocess differently.

# %%
with session.strategy.scope():
    model = models.build_model(MODEL, len(CLASSES), IMAGE_SIZE, weights=WEIGHTS)
backbone = models.backbone_of(model)
print(f"backbone: {backbone.count_params():,} parameters in {len(backbone.layers)} layers")
print(f"head:     {model.count_params() - backbone.count_params():,} parameters")

# %% [markdown]
# **Freezing** is one line in Keras: `layer.trainable = False` keeps a layer's weights fixed.
# Phase 1 freezes the whole backbone, so only the head learns, and the random head cannot wreck
# the pretrained features. Phase 2 unfreezes the blocks (from block `unfreeze_from` on) but keeps
# every **batch-norm** layer frozen: in Keras a frozen batch-norm layer also runs in inference
# mode, so its ImageNet statistics are not disturbed by our small batches. The stem stays frozen,
# as in the seed system. Here is the whole function:

# %%
print(inspect.getsource(models.set_trainable))

# %% [markdown]
# Freezing fixes the weights, but a layer may still behave differently while training: the
# blocks' **stochastic depth** (dropout of whole residual branches) stays on when Keras trains.
# So the head phase runs the frozen backbone in **inference mode**: it then computes for training
# exactly the features evaluation sees. keras.io writes this `base_model(x, training=False)`, but
# in Keras 3 `fit` overrides that flag inside a functional model, so the backbone is wrapped in a
# small layer that always passes `training=False`. Because the features no longer change from
# epoch to epoch, `training.train` computes them once and reuses them every head epoch when no
# augmentation is on (about 40x faster per epoch).

# %%
print(inspect.getsource(training.frozen_backbone_model))

# %%
def trainable_share(model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return f"{trainable:,} of {model.count_params():,} parameters trainable"


models.set_trainable(model, "head")
print("head phase:    ", trainable_share(model))
models.set_trainable(model, "finetune", unfreeze_from=1)
print("fine-tuning:   ", trainable_share(model))

# %% [markdown]
# ## 4. Train: head first, then fine-tuning
#
# `training.train` runs the schedule. The learning rate warms up, then follows a cosine decay,
# and is scaled with the global batch (a batch of 1,024 on a TPU learns with 4x the rate of a
# batch of 256). After every epoch it saves a checkpoint and a row of `history.csv` into the
# model directory (local, Google Drive or `gs://`).
#
# **If the session disconnects**, run this cell again: it finds the checkpoints and continues
# after the last completed epoch. Pointing it at a directory that holds a *different* run is
# refused, so an old model is never overwritten by accident (`overwrite=True` replaces it).

# %%
config = training.TrainConfig(
    model=MODEL, image_size=IMAGE_SIZE, batch_size=BATCH_SIZE, weights=WEIGHTS,
    head_epochs=SCHEDULE[0], total_epochs=SCHEDULE[1], augment=AUGMENT,
    resize_method=RESIZE_METHOD)
print(training.epochs_text(config))
model = training.train(RECORDS_DIR, MODEL_DIR, config, runtime=session)

# %%
history = pd.DataFrame(training.read_history(MODEL_DIR))
plots.plot_history(history, title=f"{MODEL} on {DATASET}");

# %% [markdown]
# The shaded epochs trained only the head. Validation accuracy above training accuracy early on is
# normal here: training sees random crops and dropout, validation the clean centre.

# %%
history.round(3)

# %% [markdown]
# Run the training again: the directory already holds this run, so nothing is redone.

# %%
model = training.train(RECORDS_DIR, MODEL_DIR, config, runtime=session)

# %% [markdown]
# ## 5. What the model directory holds

# %%
pd.DataFrame([{"file": name, "KB": round(storage.size(storage.join(MODEL_DIR, name)) / 1e3)}
              for name in storage.listdir(MODEL_DIR)
              if not storage.isdir(storage.join(MODEL_DIR, name))])

# %% [markdown]
# ## Check yourself
#
# The run's classes, its epochs and the model's input and output.

# %%
# NBVAL_CHECK_OUTPUT
saved = training.saved_config(MODEL_DIR)
print(saved["classes"])
print(len(history), "epochs:", list(history["phase"].value_counts().sort_index().items()))
print("input", model.input_shape, "output", model.output_shape)

# %% [markdown]
# ## What's next
#
# The model directory (`MODEL_DIR`, printed at the top) holds `model.keras`,
# `synset_id2label.json`, `config.json`, `history.csv`, the checkpoints and TensorBoard logs
# (`%tensorboard --logdir MODEL_DIR/logs`). Next, notebook 04 evaluates the model: accuracy,
# per-class precision and recall, and the confusion matrix.
