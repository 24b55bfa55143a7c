"""Where each stage's outputs live, and how a notebook recreates the earlier stages' outputs.

Every notebook runs on its own in a fresh session: notebook 04 needs a trained model, which needs
records, which need a dataset. These functions find each one under the work directory
(`settings.work_dir()`) and make it, with the active profile's settings, only when it is missing.
"""
from __future__ import annotations

from . import datasets, models, pipeline, records, settings, storage

RECORDS_FOLDER = "records"
MODELS_FOLDER = "models"


def _slug(dataset: str) -> str:
    """A folder name for a dataset name or path: "sample", "gs://b/pests" -> "gs:_b_pests"."""
    return str(dataset).strip("/").replace("/", "_")


def records_dir(dataset: str = "sample") -> str:
    """The TFRecords of `dataset` (notebook 02's output)."""
    return str(settings.work_dir() / RECORDS_FOLDER / _slug(dataset))


def model_dir(dataset: str = "sample", model: str = "B0") -> str:
    """The model directory of `model` trained on `dataset` (notebook 03's output)."""
    return str(settings.work_dir() / MODELS_FOLDER / f"{_slug(dataset)}-{model}")


def ensure_records(dataset: str = "sample") -> str:
    """The records of `dataset`, converted now when this session has none (notebook 02)."""
    out = records_dir(dataset)
    if not storage.exists(storage.join(out, settings.MANIFEST_FILE)):
        print(f"No records in {out} yet: converting {dataset} (notebook 02's work).")
        records.convert_dataset(datasets.get_dataset(dataset), out)
    return out


def profile_train_config(model: str | None = None):
    """The training configuration notebook 03 uses in the active profile."""
    from . import training
    profile = settings.profile()
    model = model or profile["model"]
    head, total = profile["schedule"]
    return training.TrainConfig(
        model=model, image_size=profile["image_size"], batch_size=profile["batch_size"],
        weights=profile["weights"], head_epochs=head, total_epochs=total,
        resize_method=profile["resize_method"],
        augment=pipeline.Augment(flip=True) if profile["augment"] else pipeline.Augment.none())


def ensure_model(dataset: str = "sample", model: str | None = None) -> str:
    """The model directory of notebook 03, trained now (profile settings) when it holds no
    finished model; an interrupted run is resumed. Returns the directory."""
    from . import training
    model = models.canonical_name(model or settings.profile()["model"])
    out = model_dir(dataset, model)
    if not storage.exists(storage.join(out, training.MODEL_FILE)):
        config = profile_train_config(model)
        print(f"No trained model in {out} yet: training {model} ({training.epochs_text(config)}), "
              "notebook 03's work.")
        training.train(ensure_records(dataset), out, config, verbose=0)
    return out
