"""Where each stage's outputs live, and how a notebook recreates the earlier stages' outputs.

Every notebook runs on its own in a fresh session: notebook 04 needs a trained model, which needs
records, which need a dataset. These functions find each one under the work directory
(`settings.work_dir()`) and make it, with the active profile's settings, only when it is missing.
"""
from __future__ import annotations

from . import datasets, models, pipeline, records, settings, storage

RECORDS_FOLDER = "records"
MODELS_FOLDER = "models"
DATASETS_FOLDER = "datasets"
CARVED = ("sample", "flowers")  # datasets the workbook ships or splits: they get a test split


def _slug(dataset: str) -> str:
    """A folder name for a dataset name or path: "sample", "gs://b/pests" -> "gs:_b_pests"."""
    return str(dataset).strip("/").replace("/", "_")


def records_dir(dataset: str = "sample") -> str:
    """The TFRecords of `dataset` (notebook 02's output)."""
    return str(settings.work_dir() / RECORDS_FOLDER / _slug(dataset))


def model_dir(dataset: str = "sample", model: str = "B0") -> str:
    """The model directory of `model` trained on `dataset` (notebook 03's output)."""
    return str(settings.work_dir() / MODELS_FOLDER / f"{_slug(dataset)}-{model}")


def dataset_dir(dataset: str = "sample") -> str:
    """The dataset folder notebooks 02 to 05 use. For "sample" and "flowers", which come with
    train/ and validation/ only, a copy with a test split carved off the training images
    (`layout.carve_test_split`, settings.SAMPLE_TEST_FRACTION of each class; validation as it
    is), made now when missing (notebook 01's work) under WORK_DIR/datasets/. A folder of your
    own is used as it is: give it a test/ folder to have a test split."""
    import os

    from . import layout
    source = datasets.get_dataset(dataset)
    if dataset not in CARVED or storage.isdir(storage.join(source, "test")):
        return source
    target = settings.work_dir() / DATASETS_FOLDER / _slug(dataset)
    if not target.is_dir():
        staging = target.with_name(target.name + ".incomplete")
        for mode in ("hardlink", "copy"):  # links cost nothing where both share a disk
            storage.remove_tree(str(staging))
            try:
                layout.carve_test_split(source, staging, settings.SAMPLE_TEST_FRACTION,
                                        mode=mode)
                break
            except OSError:
                continue
        os.replace(staging, target)
    return str(target)


def ensure_records(dataset: str = "sample") -> str:
    """The records of `dataset` (of `dataset_dir`: with its test split), converted now when this
    session has none (notebook 02)."""
    out = records_dir(dataset)
    if not storage.exists(storage.join(out, settings.MANIFEST_FILE)):
        print(f"No records in {out} yet: converting {dataset} (notebook 02's work).")
        records.convert_dataset(dataset_dir(dataset), out)
    return out


def profile_train_config(model: str | None = None, profile: str | None = None,
                         baseline: bool = False):
    """The training configuration notebook 03 uses in the active profile (or the one named), the
    one place where a profile becomes a TrainConfig. `baseline=True`: the profile's from-scratch
    run to compare it with (`baseline_config`)."""
    from . import training
    values = settings.profile(profile)
    head, total = values["schedule"]
    config = training.TrainConfig(
        model=model or values["model"], image_size=values["image_size"],
        weights=values["weights"], head_epochs=head, total_epochs=total,
        batch_size=values["batch_size"], unfreeze_from=values["unfreeze_from"],
        learning_rate=values["learning_rate"],
        finetune_learning_rate=values["finetune_learning_rate"],
        resize_method=values["resize_method"],
        augment=pipeline.Augment(flip=True) if values["augment"] else pipeline.Augment.none())
    return baseline_config(config, values["name"]) if baseline else config


def baseline_config(config, profile: str | None = None):
    """The from-scratch run to set beside CONFIG: the same epochs and data, random weights,
    everything trainable from the first epoch. The profile's "baseline" may choose a smaller
    model or image size (training every layer costs far more on a CPU than transfer does)."""
    import dataclasses
    smaller = settings.profile(profile)["baseline"]
    return dataclasses.replace(
        config, weights=None, head_epochs=0, warm_start=None, hub_handle=None,
        model=smaller["model"] or config.model, image_size=smaller["image_size"] or config.image_size)


def baseline_model_dir(dataset: str = "sample", model: str | None = None) -> str:
    """Where the profile's from-scratch baseline is trained (notebook 03)."""
    return model_dir(dataset, f"{models.canonical_name(model or settings.profile()['model'])}"
                              "-scratch")


def ensure_model(dataset: str = "sample", model: str | None = None) -> str:
    """The model directory of notebook 03, trained now (profile settings) when it holds no
    finished model; an interrupted run is resumed. It says so first, with a rough estimate of
    how long that takes on this runtime, and shows each epoch as it ends. Returns the
    directory."""
    import keras

    from . import runtime, training
    model = models.canonical_name(model or settings.profile()["model"])
    out = model_dir(dataset, model)
    if not storage.exists(storage.join(out, training.MODEL_FILE)):
        config = profile_train_config(model)
        records_dir = ensure_records(dataset)
        policy = keras.mixed_precision.global_policy()
        session = runtime.connect(verbose=True)
        images = [int(pipeline.class_counts(records_dir, split, config.class_mapping).sum())
                  for split in ("train", "validation")]
        seconds = estimate_training_seconds(config, images[0], images[1], kind=session.kind)
        print(f"No trained model in {out} yet: training {model} first (notebook 03's work: "
              f"{training.epochs_text(config)}, {images[0]:,} training images), about "
              f"{_duration(seconds)} on this {session.kind} (a rough estimate).")
        try:
            training.train(records_dir, out, config, runtime=session, verbose=2)
        finally:  # this notebook's own models compute in float32 again
            keras.mixed_precision.set_global_policy(policy)
    return out


def estimate_training_seconds(config, train_images: int, validation_images: int, kind: str,
                              cores: int | None = None) -> float:
    """A rough duration of the training run CONFIG on a device of KIND ("TPU", "GPU", "CPU"),
    from settings.TRAIN_IMAGES_PER_SECOND (B0 at 224 px; speed taken to grow as the pixels shrink;
    CPU: per core, `cores` default all of this machine's). A planning figure for B0-sized
    models, not a measurement; the epochs' own times show the real pace."""
    import os
    full = settings.TRAIN_IMAGES_PER_SECOND[kind] * (224 / config.image_size) ** 2
    if kind == "CPU":
        full *= cores or os.cpu_count() or 1
    frozen = full * settings.FROZEN_SPEEDUP  # a frozen backbone, and evaluation
    head, rest = config.head_epochs, config.total_epochs - config.head_epochs
    validation = validation_images / frozen
    if head and config.caches_features():  # the backbone once, then the head alone
        head_seconds = (train_images + validation_images) / frozen
    else:
        head_seconds = head * (train_images / frozen + validation)
    phases = (head > 0) + (rest > 0)
    return (settings.STARTUP_SECONDS[kind] * phases + head_seconds
            + rest * (train_images / full + validation))


def _duration(seconds: float) -> str:
    """"40 seconds", "3 minutes", "1.5 hours"."""
    if seconds < 90:
        return f"{max(10, round(seconds, -1)):.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
