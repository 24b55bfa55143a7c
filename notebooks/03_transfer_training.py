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
# Notebook 02 left TFRecord shards and a label map. Here you train an EfficientNet on them by
# **transfer learning**, as the insect classifier this workbook grew from did (notebook 01 tells
# its story): start from a network already trained on ImageNet, put a **new head on its frozen
# backbone** (fast, safe), then **fine-tune** the backbone's later blocks (slower, more
# accurate). You will see what the pretrained backbone knows before any training, write the
# recipe in a few lines of Keras, then run it for real with checkpoints, and compare it with the
# same epochs from random weights. Every epoch is checkpointed, so a Colab disconnect costs you
# at most one epoch: run the training cell again and it resumes.
#
# At the end, the model directory holds the trained model, its label map, its configuration and
# its history: everything notebooks 04 and 05 need. A word you do not know (backbone, block,
# batch norm, epoch, ...) is in notebook 01's [words used here](01_dataset_layout.ipynb#words-used-here).
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/03_transfer_training.ipynb)
# [View on GitHub](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/03_transfer_training.ipynb)

# %% [markdown]
# ## Setup
#
# In a fresh Colab session this installs the workbook's helpers (its release `RELEASE`). On a
# **TPU runtime**, which has no TensorFlow since 2025, it installs TensorFlow with its TPU build
# as a matching pair, then stops and asks you to restart the session once. GPU and CPU runtimes
# keep their own TensorFlow.
#
# In Colab the outputs go to **Google Drive** (`MyDrive/effnet_work`; Colab asks once for
# permission to mount it), so a recycled VM loses nothing: a run resumes from its checkpoints on
# a new VM. Set `KEEP_ON_DRIVE = False` to keep them in the VM. Data in a `gs://` bucket: in
# Colab, run `from google.colab import auth; auth.authenticate_user()` once first, so that
# TensorFlow may read it.

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

import numpy as np
import pandas as pd

from effnet_helpers import models, pipeline, plots, runtime, settings, stages, storage, training

runtime.ensure_tensorflow()

plots.use_projector_style()
runtime.print_versions()

# %%
KEEP_ON_DRIVE = True  # in Colab: outputs on Google Drive, which a recycled VM does not lose
print(f"outputs go to {settings.work_dir(drive=KEEP_ON_DRIVE)}")

# %% [markdown]
# ## Parameters
#
# - `MODEL`: `"B0"` to `"B7"`, `"lite0"` to `"lite4"` (EfficientNet-Lite, made for phones), or
#   `"V2B0"` to `"V2B3"`, `"V2S"`. Bigger is more accurate and slower; B0 at 224 px is the usual
#   start.
# - `IMAGE_SIZE`: `None` for the model's native size (224 for B0 and Lite0, 600 for B7).
# - `WEIGHTS`: `"imagenet"` (transfer learning), `None` (from scratch), or a weights file.
# - `SCHEDULE = (H, F)`: H head-only epochs, then fine-tuning up to F epochs in total (the
#   original system's `--transfer_schedule H,F`, see notebook 01). `(0, F)` trains everything
#   from the start.
# - `UNFREEZE_FROM`: fine-tuning trains the blocks from this one on (1: every block).
# - `LEARNING_RATE`, `FINETUNE_LEARNING_RATE`: for the head phase and for fine-tuning, given for
#   a batch of 256 images and scaled to yours.
# - `BATCH_SIZE`: per replica. A TPU v5e-1 has one chip: global batch = per replica x replicas.
# - `RESIZE_METHOD`: `"crop"` (random crops for training, the reference recipe for photos),
#   `"resize"` (the whole image) or `"pad_and_resize"`.
# - `BALANCE`: `None`, `"weights"` (class weights in the loss) or `"sampling"` (rare classes
#   drawn more often), for the imbalance notebook 01 measures.
# - `MERGE_CLASSES`: `None`, or `{"old class": "new class"}` (or a JSON file of it): classes
#   merged while the records are read, the files untouched.
# - `COMPARE_FROM_SCRATCH`: also train the same epochs from random weights, to see what
#   pretraining gives.
# - `TPU`: `None` finds a TPU VM's chips by itself; a name or `grpc://` address for a Cloud TPU.

# %% tags=["parameters"]
DATASET = "sample"
MODEL = "B0"
IMAGE_SIZE = None
WEIGHTS = "imagenet"
SCHEDULE = (2, 10)
UNFREEZE_FROM = 1
LEARNING_RATE = 0.01
FINETUNE_LEARNING_RATE = 0.001
BATCH_SIZE = 32
RESIZE_METHOD = "crop"
AUGMENT = pipeline.Augment(flip=True)
BALANCE = None
MERGE_CLASSES = None
COMPARE_FROM_SCRATCH = True
TPU = None

# %% [markdown]
# All of it becomes one `TrainConfig`, the complete description of the run. The offline profiles
# (`EFFNET_PROFILE=cpu` for `make workbook`, `ci` for the tests) replace the model, size and
# schedule with their own, small enough for a laptop's CPU (`settings.PROFILES`).

# %%
import dataclasses

config = training.TrainConfig(
    model=MODEL, image_size=IMAGE_SIZE, weights=WEIGHTS, head_epochs=SCHEDULE[0],
    total_epochs=SCHEDULE[1], unfreeze_from=UNFREEZE_FROM, learning_rate=LEARNING_RATE,
    finetune_learning_rate=FINETUNE_LEARNING_RATE, batch_size=BATCH_SIZE,
    resize_method=RESIZE_METHOD, augment=AUGMENT, balance=BALANCE, class_mapping=MERGE_CLASSES)
PROFILE = settings.profile()
if PROFILE["name"] != "full":
    config = dataclasses.replace(stages.profile_train_config(), balance=BALANCE,
                                 class_mapping=MERGE_CLASSES)
MODEL_DIR = stages.model_dir(DATASET, config.model)
print(f"profile {PROFILE['name']}: {training.describe(config)}\nmodel directory: {MODEL_DIR}")

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
GLOBAL_BATCH = session.global_batch(config.batch_size)
print(f"global batch: {config.batch_size} per replica x {session.replicas} = {GLOBAL_BATCH}")

# %% [markdown]
# ## 2. What a pretrained backbone brings
#
# **ImageNet** is a collection of 1.28 million photos in 1,000 everyday classes (dogs, cups,
# cars, ...), the ILSVRC-2012 benchmark. A network trained to tell those classes apart learns, on
# the way, features that help with almost any photo: edges and colours in its first layers,
# textures and parts further in, whole objects at the end. Everything but its last, 1,000-class
# layer is the **backbone**; *transfer learning* reuses it and trains only what is new.
#
# **The anatomy of an EfficientNet** (notebook 06 builds one from scratch):
#
# | part | what it does | in B0 / Lite0 |
# |---|---|---|
# | stem | one 3x3 convolution, stride 2: the image at half size, 32 channels | `stem_*` layers |
# | blocks | 16 MBConv **blocks** in 7 stages (`block1a` ... `block7a`): each widens the channels with a 1x1 convolution, filters each channel with a 3x3 or 5x5 one, narrows them again, and adds its input back where the shape allows | `block*` layers |
# | top | a 1x1 convolution to 1,280 channels | `top_*` layers |
# | head | average over the image, dropout, one dense layer with a softmax over the classes | ours, new |
#
# After every convolution sits a **batch normalisation** (batch norm) layer: while training it
# rescales each channel with the mean and variance of the current batch, and keeps running
# averages of them, which it uses at inference. **Stochastic depth** skips whole blocks at random
# while training (a regulariser, like dropout). EfficientNet-**Lite** is the family's mobile
# member: the same blocks without squeeze-and-excitation, with ReLU6 instead of swish, which
# quantises well for phones (notebook 05).

# %% [markdown]
# Before any training, here is what the backbone makes of our images. Each image becomes the
# backbone's 1,280 numbers (its last feature map averaged over the image). Two measures, for the
# ImageNet weights and for the same network with random weights:
#
# - a **linear read-out**: a logistic regression fitted on the training images' features and
#   scored on the validation images. That is exactly what the head phase below will train;
# - a **picture**: the validation images' features squeezed into two dimensions with t-SNE
#   (points close together have similar features), coloured by class.

# %%
RECORDS_DIR = stages.ensure_records(DATASET)
CLASSES = pipeline.read_classes(RECORDS_DIR, config.class_mapping)
print(f"{len(CLASSES)} classes: {CLASSES}")


def pooled_features(backbone, split):
    """Every image of a split through the backbone, averaged over the image."""
    data = pipeline.make_dataset(RECORDS_DIR, split, config.image_size, 64, training=False,
                                 resize_method=config.resize_method,
                                 class_mapping=config.class_mapping)
    pairs = [(backbone(x, training=False).numpy().mean(axis=(1, 2)), y.numpy().argmax(1))
             for x, y in data]
    return np.concatenate([f for f, _ in pairs]), np.concatenate([y for _, y in pairs])


# %%
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE

views, readout = {}, {}
for name, weights in (("ImageNet weights", config.weights), ("random weights", None)):
    backbone = models.build_backbone(config.model, config.image_size, weights)
    (x_train, y_train), (x_val, labels) = (pooled_features(backbone, split)
                                           for split in ("train", "validation"))
    probe = LogisticRegression(max_iter=3000).fit(x_train, y_train)
    readout[name] = probe.score(x_val, labels)
    views[f"{name}: read-out {readout[name]:.3f}"] = TSNE(random_state=0,
                                                          init="pca").fit_transform(x_val)
plots.plot_feature_maps(views, labels, CLASSES,
                        title=f"{config.model} features of {len(labels)} validation images, "
                              "before any training");

# %%
gain = readout["ImageNet weights"] - readout["random weights"]
print(f"linear read-out on validation: ImageNet {readout['ImageNet weights']:.3f}, random "
      f"{readout['random weights']:.3f}: ImageNet features are "
      f"{abs(gain) * 100:.1f} points {'better' if gain > 0 else 'worse'}")

# %% [markdown]
# The backbone never saw these images or our labels, and a straight line through its features
# already tells most classes apart. Random convolutions are not useless either: on small, clean
# digits they pass on much of the pixels themselves, which is why the two pictures both show
# some order. What ImageNet adds is features a head can read more easily, and, larger, a network
# that trains fast from there: section 5 sets the two side by side over the same epochs (on
# photos the gap is much wider: keras.io's Stanford Dogs example gets about 0.75 from the head
# alone and about 0.2 from scratch).
#
# Training only a new head on frozen features is **feature extraction**; also adjusting the
# backbone's own weights, a little, is **fine-tuning**. The recipe below does the first, then
# the second.

# %% [markdown]
# ## 3. The input pipeline
#
# Training reads the record **shards** (the files of notebook 02) in parallel and shuffles. With
# `RESIZE_METHOD = "crop"` every training image is a **random crop** (8% to 100% of the area, a
# random aspect ratio, decoded alone with `tf.image.decode_and_crop_jpeg`), so the model sees a
# different view of each photo every epoch, and validation sees one fixed centre crop. With
# `"resize"` both see the whole image. Training batches always have the same shape
# (`drop_remainder`): TPUs compile for one shape.

# %%
train_data = pipeline.make_dataset(RECORDS_DIR, "train", config.image_size, GLOBAL_BATCH,
                                   augment=pipeline.Augment(**config.augment),
                                   resize_method=config.resize_method,
                                   class_mapping=config.class_mapping)
images, labels = next(iter(train_data))
print("one batch:", images.shape, images.dtype, "labels", labels.shape,
      f"\nthis run: resize method {config.resize_method!r}")
plots.image_grid(images[:12].numpy().astype("uint8"),
                 [CLASSES[i] for i in np.argmax(labels[:12], axis=1)], ncols=6,
                 suptitle=f"A training batch ({config.resize_method}, {config.image_size} px)");

# %% [markdown]
# **Augmentations** are switches of `pipeline.Augment`: flips, 90-degree rotations (insects have
# no "up"), zoom, RandAugment (random colour and geometry operations) and mixup (two images
# blended, and their labels with them). Which are on in this run, and what they do:

# %%
switches = pipeline.Augment(**config.augment).switches()
print("augmentation switches on:", ", ".join(switches) if switches else
      "none (digits: a flipped 2 is no 2, a rotated 6 a 9)")
if switches:
    pipeline.show_augmentations(RECORDS_DIR, pipeline.Augment(**config.augment),
                                image_size=config.image_size, resize_method=config.resize_method);

# %% [markdown]
# ## 4. The recipe, in plain Keras
#
# Transfer learning is four moves. Here they are on the real data, short: one epoch per phase.
#
# **Move 1: a new head on a frozen backbone.** `backbone.trainable = False` fixes all of its
# weights; only the new dense layer learns. A frozen batch-norm layer also runs in inference
# mode in Keras (its ImageNet averages stay as they are).

# %%
import keras

with session.strategy.scope():
    backbone = models.build_backbone(config.model, config.image_size, config.weights)
    inputs = keras.Input((config.image_size, config.image_size, 3))
    x = keras.layers.GlobalAveragePooling2D()(backbone(inputs, training=False))
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax", dtype="float32")(x)
    recipe = keras.Model(inputs, outputs)
    backbone.trainable = False

# %% [markdown]
# **Move 2: compile with the head's learning rate, and fit.** The head starts random, so it may
# take big steps; the backbone cannot be harmed, it is frozen.

# %%
val_data = pipeline.make_dataset(RECORDS_DIR, "validation", config.image_size, GLOBAL_BATCH,
                                 training=False, resize_method=config.resize_method,
                                 class_mapping=config.class_mapping)
steps = max(1, pipeline.known_total(RECORDS_DIR, "train") // GLOBAL_BATCH)
HEAD_RATE = 1e-3
with session.strategy.scope():
    recipe.compile(keras.optimizers.Adam(HEAD_RATE), "categorical_crossentropy",
                   metrics=["accuracy"])
head_fit = recipe.fit(train_data.repeat(), epochs=1, steps_per_epoch=steps,
                      validation_data=val_data, verbose=0, shuffle=False)  # data is shuffled

# %% [markdown]
# **Move 3: unfreeze the blocks from `UNFREEZE_FROM` on, batch norm kept frozen.** Frozen batch
# norm keeps its ImageNet statistics and stays in inference mode: small batches of new images
# would otherwise replace them with noisy ones.

# %%
backbone.trainable = True
for layer in backbone.layers:
    block = models.block_number(layer.name)
    frozen = (isinstance(layer, keras.layers.BatchNormalization)
              or layer.name.startswith("stem_")
              or (block is not None and block < config.unfreeze_from))
    layer.trainable = not frozen

# %% [markdown]
# **Move 4: recompile with a learning rate about 10x lower, and fit again.** Lower, because the
# backbone's weights are already good: large steps would destroy what ImageNet taught them
# before the head's gradients settle. Recompiled, because Keras reads which weights are trainable
# when `compile` is called: a change of `trainable` takes effect only after compiling again
# (which also brings a fresh optimizer with the new rate).

# %%
with session.strategy.scope():
    recipe.compile(keras.optimizers.Adam(HEAD_RATE / 10), "categorical_crossentropy",
                   metrics=["accuracy"])
fine_fit = recipe.fit(train_data.repeat(), epochs=2, initial_epoch=1, steps_per_epoch=steps,
                      validation_data=val_data, verbose=0, shuffle=False)
print(f"validation accuracy after the head epoch {head_fit.history['val_accuracy'][-1]:.3f}, "
      f"after the fine-tuning epoch {fine_fit.history['val_accuracy'][-1]:.3f}")

# %% [markdown]
# What each phase trains, counted from the weights themselves:

# %%
def trainable_row(phase, model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = model.count_params()
    return {"phase": phase, "trained": trainable, "not trained": total - trainable,
            "trained %": round(100 * trainable / total, 1)}


rows = [trainable_row(f"2: fine-tuning from block {config.unfreeze_from}", recipe)]
backbone.trainable = False
rows.insert(0, trainable_row("1: head only (backbone frozen)", recipe))
backbone.trainable = True
rows.append(trainable_row("from scratch: everything", recipe))
averages = sum(int(np.prod(w.shape)) for layer in backbone.layers
               if isinstance(layer, keras.layers.BatchNormalization)
               for w in layer.non_trainable_weights)
print(f"never trained by gradients, in every phase: {averages:,} batch-norm moving averages")
pd.DataFrame(rows).set_index("phase")

# %% [markdown]
# ## 5. The same recipe for real: `training.train`
#
# `training.train` runs these four moves with what a real run needs:
#
# - **the schedule**: `SCHEDULE = (H, F)` head epochs, then fine-tuning up to F in total;
# - **checkpoints and resume**: after every epoch a checkpoint and a row of `history.csv` go
#   into the model directory (local, Google Drive or `gs://`), and of the checkpoints the newest
#   3 and the best (by validation accuracy) are kept; a disconnected run continues after its
#   last epoch;
# - **enough head steps**: the head phase takes at least 100 optimizer steps in all, so on a
#   few hundred photos (8 steps a pass) its epochs go over the images several times; the new
#   head has then converged before fine-tuning starts;
# - **warm-up and cosine decay**: the head phase's rate rises over its first epoch, then both
#   phases' rates fall along a cosine to zero;
# - **rates scaled with the batch**: a batch of 1,024 on a TPU learns with 4x the rate of 256;
# - **label smoothing** (0.1): with 10 classes the targets are 0.91 for the true class and 0.01
#   for each other instead of 1 and 0, so the model is not pushed to ever more extreme
#   confidence. The loss it reports therefore cannot reach 0 (see below);
# - **cached features**: with no augmentation the frozen backbone computes the same features
#   every head epoch, so they are computed once;
# - **the frozen backbone in inference mode**: a frozen layer may still behave differently while
#   training; stochastic depth does. keras.io writes `base_model(x, training=False)` as above,
#   but in Keras 3 `fit` overrides that flag inside a functional model, so the head phase wraps
#   the backbone in a layer that always passes `training=False`:

# %%
print(inspect.getsource(training.frozen_backbone_model))

# %% [markdown]
# and the freezing of each phase, the recipe's move 3 as a function:

# %%
print(inspect.getsource(models.set_trainable))

# %% [markdown]
# If the session disconnects, run the next cell again: it finds the checkpoints and continues.
# Pointing it at a directory that holds a *different* run is refused, so an old model is never
# overwritten by accident (`overwrite=True` replaces it).

# %%
print(training.epochs_text(config))
model = training.train(RECORDS_DIR, MODEL_DIR, config, runtime=session)
history = pd.DataFrame(training.read_history(MODEL_DIR))

# %% [markdown]
# The same epochs from random weights, the baseline (in the offline profiles a smaller image
# size, since training every layer costs far more than transfer does):

# %%
if COMPARE_FROM_SCRATCH:
    scratch_config = stages.baseline_config(config)
    print(f"from scratch: {training.describe(scratch_config)}")
    training.train(RECORDS_DIR, stages.baseline_model_dir(DATASET, config.model), scratch_config,
                   runtime=session, verbose=0)
    scratch = pd.DataFrame(training.read_history(stages.baseline_model_dir(DATASET,
                                                                           config.model)))

# %%
plots.plot_history(history, title=f"{config.model} on {DATASET}",
                   baseline=scratch if COMPARE_FROM_SCRATCH else None,
                   baseline_label=(f"from scratch at {scratch_config.image_size} px"
                                   if COMPARE_FROM_SCRATCH else ""));

# %%
print(training.history_summary(history))
head_end = history[history["phase"] == "head"]["val_accuracy"]
if len(head_end):
    final, probe = history["val_accuracy"].iloc[-1], readout["ImageNet weights"]
    print(f"the head phase ends at {head_end.iloc[-1]:.3f}; the linear read-out of section 2 (the "
          f"same head fitted to convergence) reached {probe:.3f}; after fine-tuning {final:.3f}: "
          f"{'past' if final > probe else 'not past'} the read-out")
if COMPARE_FROM_SCRATCH:
    print(f"from scratch, the same {len(scratch)} epochs: validation accuracy "
          f"{scratch['val_accuracy'].iloc[-1]:.3f}")
print(f"label smoothing {config.label_smoothing}: the lowest loss possible with "
      f"{len(CLASSES)} classes is {training.smoothed_loss_floor(config.label_smoothing, len(CLASSES)):.3f}")
if {"head", "finetune"} <= set(history["phase"]):
    last_head = history[history["phase"] == "head"].iloc[-1]
    first_fine = history[history["phase"] == "finetune"].iloc[0]
    print(f"first fine-tuning epoch: training accuracy {last_head['accuracy']:.3f} -> "
          f"{first_fine['accuracy']:.3f} "
          f"({'down' if first_fine['accuracy'] < last_head['accuracy'] else 'up'}), validation "
          f"{last_head['val_accuracy']:.3f} -> {first_fine['val_accuracy']:.3f} "
          f"({'down' if first_fine['val_accuracy'] < last_head['val_accuracy'] else 'up'})")

# %% [markdown]
# The head phase is a few epochs of small steps, so it can stop short of the read-out, which fits
# the same linear head to convergence. Fine-tuning also adapts the backbone's later blocks to
# these images, which no linear head can do: the line above says whether that took it past the
# read-out in this run.
#
# The two accuracies need not move together when fine-tuning starts (the last line). Training
# accuracy is the average over the epoch's batches, in training mode, while the weights move:
# in the head phase the backbone only served its cached features, in fine-tuning its blocks are
# trained, with stochastic depth skipping some of them. Validation accuracy is measured after
# the epoch, in inference mode, nothing skipped. A first fine-tuning epoch whose training accuracy
# falls while validation rises is this, not a failure.
#
# Because of label smoothing, `loss` and `val_loss` here are measured against the smoothed
# targets and cannot fall below that floor; notebook 04 reports the plain log loss against the
# true labels, which is lower for the same model. Compare accuracies, not these two losses.

# %%
history.round(3)

# %% [markdown]
# Run the training again: the directory already holds this run, so nothing is redone.

# %%
model = training.train(RECORDS_DIR, MODEL_DIR, config, runtime=session)

# %% [markdown]
# ## 6. What the model directory holds

# %%
def entry_row(name):
    """A file of the model directory, or a folder with its files counted."""
    path = storage.join(MODEL_DIR, name)
    folder = storage.isdir(path)
    inside = [storage.join(path, f) for f in storage.walk_files(path)] if folder else [path]
    return {"entry": name + ("/" if folder else ""), "files": len(inside),
            "KB": round(sum(storage.size(f) for f in inside) / 1e3, 1)}


pd.DataFrame([entry_row(name) for name in storage.listdir(MODEL_DIR)]).set_index("entry")

# %% [markdown]
# ## Check yourself
#
# The run's classes, its epochs per phase, its starting weights and the model's input and output.

# %%
# NBVAL_CHECK_OUTPUT
saved = training.saved_config(MODEL_DIR)
print(saved["classes"])
print(len(history), "epochs:", list(history["phase"].value_counts().sort_index().items()))
print("model", saved["model"], "weights", saved["run"]["weights"])
print("input", model.input_shape, "output", model.output_shape)

# %% [markdown]
# ## What's next
#
# The model directory (`MODEL_DIR`, printed at the top) holds `model.keras`,
# `synset_id2label.json`, `config.json`, `history.csv`, the checkpoints and TensorBoard logs
# (`%tensorboard --logdir MODEL_DIR/logs`). Next, notebook 04 evaluates the model: accuracy,
# per-class precision and recall, and the confusion matrix.
