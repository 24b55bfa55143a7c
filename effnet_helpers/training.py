"""Stage 3, training: the transfer schedule of the original system (a new head on a frozen backbone
first, then fine-tuning up to a total epoch count), checkpoints every epoch, and runs that resume.

A model directory after training holds everything evaluation and inference need:
    model.keras              the trained model (takes 0-255 images, carries its preprocessing;
                             no optimizer state)
    synset_id2label.json     0-based label map of the model's outputs
    config.json              the training configuration (model, image size, classes, ...)
    history.csv              one row per epoch, with an `epoch` column (1-based)
    checkpoints/             epoch-NNN.keras (model and optimizer state) of the newest epochs
                             and the best one (settings.KEEP_CHECKPOINTS; all when None)
    logs/                    TensorBoard logs
Starting the same run again on its directory resumes it after its last completed epoch.
"""
from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import asdict, dataclass, field, fields

from . import layout, models, pipeline, records, settings, storage
from .backend import tensorflow
# The model directory's files and their readers live in `modeldir` (evaluation, inference and
# export read them without importing training); they stay importable from here.
from .modeldir import (CHECKPOINT_DIR, CONFIG_FILE, HISTORY_FILE, LOG_DIR,  # noqa: F401
                       MODEL_FILE, TrainingError, input_record, load_trained, read_history,
                       saved_config, write_config)
from .modeldir import checkpoint_path as _checkpoint
REFERENCE_BATCH = 256         # learning rates are given for this global batch and scaled linearly
MIN_HEAD_STEPS = 100          # the head phase takes at least this many steps (docs/transfer.md)


@dataclass
class TrainConfig:
    """Everything that defines a training run. Two runs with equal configs are the same run."""

    model: str = "B0"
    image_size: int | None = None        # None: the model's native size (224 for B0)
    batch_size: int = 32                 # per replica; the global batch is this x replicas
    weights: str | None = "imagenet"     # "imagenet", None (from scratch) or a weights file
    hub_handle: str | None = None        # a TF-Hub handle or folder instead of keras.applications
    head_epochs: int = 2                 # the original system's --transfer_schedule H,F: H ...
    total_epochs: int = 10               # ... and F (cumulative); H = 0 trains all from the start
    unfreeze_from: int = 1               # fine-tune blocks from this one on (1: all blocks)
    learning_rate: float = 0.1           # head phase, for a global batch of 256 (scaled)
    finetune_learning_rate: float = 0.0005  # docs/transfer.md: why these two
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    dropout: float | None = None         # None: the model's default
    augment: dict = field(default_factory=lambda: asdict(pipeline.Augment()))
    resize_method: str = settings.DEFAULT_RESIZE_METHOD  # one of settings.RESIZE_METHODS
    balance: str | None = None           # None, "weights" (class weights) or "sampling"
    include_validation: bool = False
    class_mapping: dict | None = None
    warm_start: str | None = None        # a previous model of this workbook (.keras file)
    steps_per_execution: int = 1
    seed: int = 0
    cache_features: bool = True          # head phase without augmentation: backbone runs once

    def caches_features(self) -> bool:
        """The head phase trains on cached backbone features when nothing random happens to the
        training images (no augmentation switch on): the frozen backbone would compute the same
        features every epoch. Training images are then seen as evaluation sees them."""
        return self.cache_features and not pipeline.Augment(**self.augment).switches()

    def __post_init__(self):
        self.model = models.canonical_name(self.model) if not self.hub_handle else self.model
        if self.image_size is None:
            self.image_size = models.model_spec(self.model).image_size
        if self.weights in ("none", "None", ""):
            self.weights = None
        if not 0 <= self.head_epochs <= self.total_epochs or self.total_epochs < 1:
            raise TrainingError(f"schedule {self.head_epochs},{self.total_epochs}: need "
                                "0 <= head epochs <= total epochs and total epochs >= 1.")
        if isinstance(self.class_mapping, str):
            self.class_mapping = layout.load_class_mapping(self.class_mapping)
        if isinstance(self.augment, pipeline.Augment):
            self.augment = asdict(self.augment)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def phase(self, epoch: int) -> str:
        """"head", "finetune" or, for the schedule 0,F, "full", for a 1-based epoch number."""
        if self.head_epochs == 0:
            return "full"
        return "head" if epoch <= self.head_epochs else "finetune"


# --- the model directory --------------------------------------------------------------------

def _write_history(model_dir, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    storage.write_atomic(storage.join(model_dir, HISTORY_FILE), buffer.getvalue())


def _run_identity(record: dict) -> dict:
    """What makes two runs the same run: the configuration and the classes, not where the records
    are (a work directory copied to Google Drive, or mounted elsewhere on a new VM, is the same
    run: its model directory and records moved together)."""
    run = {k: v for k, v in (record.get("run") or {}).items() if k != "records_dir"}
    return {**run, "classes": record.get("classes")}


def _prepare_model_dir(model_dir, record: dict, overwrite: bool) -> int:
    """Create or check the model directory; return the number of epochs already completed."""
    previous = saved_config(model_dir)
    if previous is not None and _run_identity(previous) != _run_identity(record):
        if not overwrite:
            before, now = _run_identity(previous), _run_identity(record)
            changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
            raise TrainingError(
                f"{model_dir} holds a different training run (it differs in: "
                f"{', '.join(changed)}). Choose another model directory, or pass "
                "overwrite=True (--overwrite) to replace it.")
        for name in (CONFIG_FILE, HISTORY_FILE, MODEL_FILE, settings.LABEL_MAP_FILE,
                     settings.CALIBRATION_FILE):
            storage.remove(storage.join(model_dir, name))
        storage.remove_tree(storage.join(model_dir, CHECKPOINT_DIR))
        storage.remove_tree(storage.join(model_dir, LOG_DIR))
        previous = None
    storage.makedirs(storage.join(model_dir, CHECKPOINT_DIR))
    if previous is None:
        write_config(model_dir, record)
        return 0
    done = len(read_history(model_dir))
    while done and not storage.exists(_checkpoint(model_dir, done)):
        done -= 1  # the history row was written, its checkpoint not: redo that epoch
    return done


# --- learning rates, compiling ----------------------------------------------------------------

def phase_steps(phase: str, steps_per_epoch: int, head_epochs: int) -> int:
    """Steps per epoch of a phase: one pass over the training images, except that the head
    phase takes at least MIN_HEAD_STEPS steps in all, so that on a small dataset (a few hundred
    photos: 8 steps an epoch) the new head converges before fine-tuning starts."""
    if phase != "head" or head_epochs < 1:
        return steps_per_epoch
    return max(steps_per_epoch, -(-MIN_HEAD_STEPS // head_epochs))


def scaled_learning_rate(rate: float, global_batch: int) -> float:
    """The linear scaling rule: learning rates grow with the batch (given for a batch of 256)."""
    return rate * global_batch / REFERENCE_BATCH


def _compile(model, config: TrainConfig, phase: str, global_batch: int, steps_per_epoch: int,
             jit_compile: bool | str = "auto"):
    """Compile for a phase: Adam on a cosine schedule (warm-up outside fine-tuning), label
    smoothing, accuracy. `jit_compile`: the runtime's XLA decision (runtime.plan_devices)."""
    import keras
    base = config.finetune_learning_rate if phase == "finetune" else config.learning_rate
    peak = scaled_learning_rate(base, global_batch)
    epochs = config.head_epochs if phase == "head" else config.total_epochs - config.head_epochs
    total = max(1, epochs * steps_per_epoch)
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1) if phase != "finetune" \
        else 0
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else peak, decay_steps=total - warmup,
        warmup_target=peak if warmup else None, warmup_steps=warmup)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        steps_per_execution=config.steps_per_execution, jit_compile=jit_compile)


# --- the run ----------------------------------------------------------------------------------

def save_model(model, path, optimizer: bool = True) -> None:
    """Save a .keras file atomically (under a temporary name, then renamed: an interrupted save
    never looks like a finished file), local or gs://. optimizer=False leaves the optimizer state
    out (Keras 3 ignores `include_optimizer`): a third of the size for Adam, all that evaluation,
    inference and export need."""
    partial = f"{str(path)[:-len('.keras')]}.partial.keras"  # no epoch-NNN.keras, no model.keras
    saved = {}
    if not optimizer and getattr(model, "optimizer", None) is not None:
        saved = {"optimizer": model.optimizer, "compiled": model.compiled}
        model.optimizer, model.compiled = None, False
    try:
        model.save(partial)
    finally:
        for key, value in saved.items():
            setattr(model, key, value)
    storage.rename(partial, path)


def stale_checkpoints(rows: list[dict], keep: int | None) -> list[int]:
    """The epochs (of history rows) whose checkpoints go: all but the newest KEEP and the best
    (highest val_accuracy, else lowest val_loss). None keeps all."""
    if not keep:
        return []
    epochs = [int(r["epoch"]) for r in rows]
    kept = set(epochs[-keep:])
    if any("val_accuracy" in r for r in rows):
        kept.add(int(max(rows, key=lambda r: (r.get("val_accuracy", -1.0), r["epoch"]))["epoch"]))
    elif any("val_loss" in r for r in rows):
        kept.add(int(min(rows, key=lambda r: r.get("val_loss", float("inf")))["epoch"]))
    return [e for e in epochs if e not in kept]


def _epoch_end_callback(model_dir, phase: str, rows: list, keep: int | None, full_model=None):
    """A Keras callback: after every epoch, checkpoint the model (with its optimizer state), then
    append the epoch's row to history.csv (a rerun resumes after the last row with a
    checkpoint), then remove the checkpoints beyond the newest KEEP and the best.
    `full_model`: the classifier to save when the model being fitted is only its head."""
    import keras

    class EpochEnd(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            number = epoch + 1
            seconds = round(time.time() - self.started, 2)  # the epoch, not its checkpoint
            save_model(full_model or self.model, _checkpoint(model_dir, number))
            rows.append({"epoch": number, "phase": phase,
                         **{k: round(float(v), 6) for k, v in (logs or {}).items()},
                         "seconds": seconds})
            _write_history(model_dir, rows)
            for old in stale_checkpoints(rows, keep):
                storage.remove(_checkpoint(model_dir, old))

    return EpochEnd()


def train(records_dir, model_dir, config: TrainConfig | None = None, overwrite: bool = False,
          runtime=None, keep_checkpoints: int | None = settings.KEEP_CHECKPOINTS,
          verbose: int = 2, calibrate: bool = False):
    """Train (or resume) the run described by CONFIG on RECORDS_DIR into MODEL_DIR; return the
    trained Keras model. See the module docstring for what MODEL_DIR holds afterwards.
    `runtime`: `runtime.connect()`'s result (its strategy, precision and XLA decision; found now
    when None). `keep_checkpoints`: how many of the newest epoch checkpoints to keep besides the
    best one (default settings.KEEP_CHECKPOINTS, small enough for Google Drive; None keeps all,
    so that evaluation can compare every epoch, as the original system's --eval_iterator did). The
    final model.keras is saved without optimizer state. `calibrate=True` fits the temperature
    and the "unknown" threshold on the validation split at the end (`calibration.calibrate`)."""
    import keras
    from .runtime import connect
    config = config or TrainConfig()
    runtime = runtime or connect(verbose=verbose > 0)
    classes = pipeline.read_classes(records_dir, config.class_mapping)
    done = _prepare_model_dir(model_dir, _run_record(config, records_dir, classes, runtime),
                              overwrite)
    layout.write_label_map(classes, storage.join(model_dir, settings.LABEL_MAP_FILE))
    if done >= config.total_epochs and storage.exists(storage.join(model_dir, MODEL_FILE)):
        print(f"Already trained: {model_dir} holds all {config.total_epochs} epochs.")
        _calibrate_at_end(calibrate, records_dir, model_dir, config, verbose, again=False)
        return models.load_model(storage.join(model_dir, MODEL_FILE))

    run = _Run(records_dir, model_dir, config, runtime, keep_checkpoints, verbose,
               global_batch=runtime.global_batch(config.batch_size))
    train_data, val_data = _datasets(run)
    keras.utils.set_random_seed(config.seed)
    with runtime.strategy.scope():
        if done:
            model = models.load_model(_checkpoint(model_dir, done))
            print(f"Resuming {model_dir} after epoch {done} of {config.total_epochs}.")
        else:
            model = _new_model(config, len(classes))
    run.rows = read_history(model_dir)[:done]
    callbacks = [keras.callbacks.TensorBoard(storage.join(model_dir, LOG_DIR))]
    for phase, first, last in (("head", 1, config.head_epochs),
                               (config.phase(config.total_epochs), config.head_epochs + 1,
                                config.total_epochs)):
        if last < first or done >= last:
            continue
        if phase == "head" and config.caches_features():
            _fit_head_on_features(model, run, done)
        else:
            _fit_phase(model, run, phase, first, last, done, train_data, val_data, callbacks)
        done = last
    save_model(model, storage.join(model_dir, MODEL_FILE), optimizer=False)
    _calibrate_at_end(calibrate, records_dir, model_dir, config, verbose)
    return model


@dataclass
class _Run:
    """What the phases of one training run share."""

    records_dir: object
    model_dir: object
    config: TrainConfig
    runtime: object                   # runtime.connect()'s result
    keep_checkpoints: int | None
    verbose: int
    global_batch: int = 1             # the batch over all replicas
    steps_per_epoch: int = 1          # one pass over the training images
    class_weight: dict | None = None  # config.balance == "weights"
    rows: list = field(default_factory=list)  # history.csv's rows so far

    def epoch_end(self, phase: str, full_model=None):
        return _epoch_end_callback(self.model_dir, phase, self.rows, self.keep_checkpoints,
                                   full_model)


def _run_record(config: TrainConfig, records_dir, classes: list, runtime) -> dict:
    """config.json of a run: the configuration, the classes and what the model takes."""
    return {"run": {**asdict(config), "records_dir": str(records_dir)},
            "model": config.model, "image_size": config.image_size, "classes": classes,
            "input": input_record(config.resize_method, records.pre_shrink(records_dir)),
            "precision": runtime.precision}  # of the first session; models.load_model(float32)


def _datasets(run: _Run):
    """(training, validation) datasets of a run; sets its steps per epoch and class weights."""
    config, records_dir = run.config, run.records_dir
    train_data = pipeline.make_dataset(
        records_dir, "train", config.image_size, run.global_batch, training=True,
        augment=pipeline.Augment(**config.augment), resize_method=config.resize_method,
        class_mapping=config.class_mapping, include_validation=config.include_validation,
        balance="sampling" if config.balance == "sampling" else None, seed=config.seed,
        repeat=True)
    counts = pipeline.class_counts(records_dir, "train", config.class_mapping)
    if config.include_validation:
        counts = counts + pipeline.class_counts(records_dir, "validation", config.class_mapping)
    run.steps_per_epoch = max(1, int(counts.sum()) // run.global_batch)
    val_data = pipeline.make_dataset(
        records_dir, "validation", config.image_size, run.global_batch, training=False,
        resize_method=config.resize_method, class_mapping=config.class_mapping)
    run.class_weight = pipeline.class_weights(counts) if config.balance == "weights" else None
    return train_data, val_data


def _fit_phase(model, run: _Run, phase: str, first: int, last: int, done: int, train_data,
               val_data, callbacks) -> None:
    """Epochs FIRST..LAST of one phase on the image pipeline (after DONE epochs)."""
    config = run.config
    with run.runtime.strategy.scope():
        # the head phase trains the classifier with its frozen backbone in inference mode
        fitted = frozen_backbone_model(model) if phase == "head" else model
        steps = phase_steps(phase, run.steps_per_epoch, config.head_epochs)
        if done < first or not getattr(fitted, "optimizer", None):  # a fresh phase
            models.set_trainable(model, phase, config.unfreeze_from)
            _compile(fitted, config, phase, run.global_batch, steps,
                     getattr(run.runtime, "jit_compile", "auto"))
            _continue_schedule(fitted, (done - first + 1) * steps)
    fitted.fit(train_data, validation_data=val_data, epochs=last, initial_epoch=done,
               steps_per_epoch=steps, class_weight=run.class_weight, verbose=run.verbose,
               shuffle=False,  # the tf.data pipeline shuffles
               callbacks=callbacks + [run.epoch_end(phase, model if fitted is not model
                                                     else None)])


def _calibrate_at_end(wanted: bool, records_dir, model_dir, config, verbose, again=True) -> None:
    """train(calibrate=True): fit the temperature and threshold on validation, unless the run
    trained on validation (then it says why not); `again=False` keeps an existing calibration."""
    if not wanted or (not again and storage.exists(storage.join(model_dir,
                                                                 settings.CALIBRATION_FILE))):
        return
    if config.include_validation:
        print("Not calibrated: this run trained on the validation images, which a temperature "
              "fitted on them could not judge.")
        return
    from . import calibration
    result = calibration.calibrate(model_dir, records_dir, class_mapping=config.class_mapping,
                                   progress=verbose > 0)
    print(calibration.summary_text(result.calibration))


def frozen_backbone_model(model):
    """The classifier with its backbone always run in inference mode, sharing every layer with
    MODEL: what the head phase trains. A frozen backbone then computes exactly the features it
    computes for evaluation (batch norm on its moving averages, and the blocks' stochastic depth
    off), so the head phase learns the same whether the features are cached or not. Why a
    wrapper layer and not keras.io's `base_model(x, training=False)`: docs/DESIGN.md, section
    "Keras 3: training=False inside a functional model"."""
    import keras

    class InferenceMode(keras.layers.Layer):
        """Calls the wrapped layer with training=False, whatever the caller's training flag."""

        def __init__(self, inner, **kwargs):
            super().__init__(name=f"{inner.name}_inference_mode", **kwargs)
            self.inner = inner

        def call(self, inputs):
            return self.inner(inputs, training=False)

        def get_config(self):  # for TensorBoard's graph; the classifier itself is what is saved
            return {**super().get_config(),
                    "inner": keras.saving.serialize_keras_object(self.inner)}

    features = InferenceMode(models.backbone_of(model))(model.input)
    for name in models.HEAD_NAMES:
        if any(layer.name == name for layer in model.layers):
            features = model.get_layer(name)(features)
    return keras.Model(model.input, features, name="head_phase")


def _continue_schedule(model, steps_done: int) -> None:
    """Resuming inside a phase whose optimizer state was not saved (the head phase checkpoints
    the classifier, not the head-phase model): start the learning-rate schedule where it was."""
    if steps_done > 0:
        model.optimizer.build(model.trainable_variables)
        model.optimizer.iterations.assign(steps_done)


def backbone_features(model, records_dir, split: str, config: TrainConfig, global_batch: int,
                      include_validation: bool = False):
    """Pooled backbone features (float32) and one-hot labels of every image of a split, row for
    row, computed once with the evaluation view of the images (numpy arrays)."""
    import keras
    import numpy as np
    pool = model.get_layer(models.HEAD_NAMES[0])
    extractor = keras.Model(model.input, pool.output)
    data = pipeline.make_dataset(records_dir, split, config.image_size, global_batch,
                                 training=False, resize_method=config.resize_method,
                                 class_mapping=config.class_mapping,
                                 include_validation=include_validation)
    features, labels = [], []
    for images, onehot in data:
        features.append(models.predict_rows(extractor, images, global_batch))
        labels.append(onehot.numpy())
    return np.concatenate(features), np.concatenate(labels)


def _fit_head_on_features(model, run: _Run, done: int) -> None:
    """The head phase on cached features: the frozen backbone runs once over the data, then only
    dropout and the dense layer (the classifier's own layers, shared) train for the head epochs
    (after DONE of them)."""
    import keras
    tf = tensorflow()
    config, runtime, global_batch = run.config, run.runtime, run.global_batch
    started = time.time()
    with runtime.strategy.scope():
        models.set_trainable(model, "head")
        x, y = backbone_features(model, run.records_dir, "train", config, global_batch,
                                 config.include_validation)
        val = backbone_features(model, run.records_dir, "validation", config, global_batch)
        head = keras.Sequential([keras.Input(x.shape[1:]), model.get_layer(models.HEAD_NAMES[1]),
                                 model.get_layer(models.HEAD_NAMES[2])], name="head")
        steps = phase_steps("head", max(1, len(x) // global_batch), config.head_epochs)
        _compile(head, config, "head", global_batch, steps,
                 getattr(runtime, "jit_compile", "auto"))
        _continue_schedule(head, done * steps)
    if run.verbose:
        print(f"Head phase on cached features: {len(x):,} training and {len(val[0]):,} "
              f"validation images through the backbone once ({time.time() - started:.0f} s).")
    train_data = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=config.seed)
                  .batch(global_batch, drop_remainder=True).repeat())
    val_data = tf.data.Dataset.from_tensor_slices(val).batch(global_batch)
    head.fit(train_data, validation_data=val_data, epochs=config.head_epochs, initial_epoch=done,
             steps_per_epoch=steps, class_weight=run.class_weight, verbose=run.verbose,
             shuffle=False, callbacks=[run.epoch_end("head", model)])


def _new_model(config: TrainConfig, num_classes: int):
    """The classifier CONFIG describes (keras or TF-Hub backbone), warm-started if asked."""
    model = models.build_model(config.model, num_classes, config.image_size, config.weights,
                               config.dropout, hub_handle=config.hub_handle)
    if config.warm_start:
        copied = models.warm_start(model, config.warm_start)
        print(f"Warm start: {copied} backbone weight tensors from {config.warm_start}.")
    return model


def parse_schedule(text: str) -> tuple[int, int]:
    """"H,F" (head epochs, total epochs), the original system's --transfer_schedule."""
    match = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*", text)
    if not match:
        raise TrainingError(f"--schedule takes H,F (head epochs, total epochs), not {text!r}")
    return int(match.group(1)), int(match.group(2))


def epochs_text(config: TrainConfig) -> str:
    head, total = config.head_epochs, config.total_epochs
    return (f"{head} head epoch{'s' * (head != 1)} then {total - head} fine-tuning "
            f"(total {total})" if head else f"{total} epochs, everything trainable")



def describe(config: TrainConfig) -> str:
    """One line on a run: model, size, starting weights, schedule and what changes each epoch."""
    augment = pipeline.Augment(**config.augment).switches()
    return (f"{config.model} at {config.image_size} px from {config.weights or 'random'} weights, "
            f"{epochs_text(config)}"
            + (f", fine-tuning from block {config.unfreeze_from}" if config.head_epochs else "")
            + f", {config.resize_method}, augmentation {', '.join(augment) or 'none'}"
            + (f", balance {config.balance}" if config.balance else ""))


def history_summary(history) -> str:
    """The validation accuracy a run reached at the end of each phase (rows of read_history)."""
    rows = list(history.to_dict("records") if hasattr(history, "to_dict") else history)
    names = {"head": "head phase (feature extraction)", "finetune": "fine-tuning phase",
             "full": "training of every layer"}
    ends = {}
    for row in rows:
        ends[row["phase"]] = row
    return "; ".join(f"after the {names.get(phase, phase)}, epoch {row['epoch']}: validation "
                     f"accuracy {row['val_accuracy']:.3f}" for phase, row in ends.items())


def smoothed_targets(label_smoothing: float, num_classes: int) -> tuple[float, float]:
    """The label-smoothed target of the true class and of each other class: 1 - e + e/K and e/K
    (Keras' CategoricalCrossentropy(label_smoothing=e) over K classes)."""
    other = label_smoothing / num_classes
    return 1 - label_smoothing + other, other


def smoothed_loss_floor(label_smoothing: float, num_classes: int) -> float:
    """The lowest cross-entropy a model can reach against label-smoothed targets (the entropy of
    the smoothed target, `smoothed_targets`)."""
    import math
    if not label_smoothing:
        return 0.0
    true, other = smoothed_targets(label_smoothing, num_classes)
    return -(true * math.log(true) + (num_classes - 1) * other * math.log(other))
