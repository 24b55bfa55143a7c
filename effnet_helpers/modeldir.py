"""A model directory, as training writes it and evaluation, calibration, inference and export
read it: its file names, and the one reader of each of its files.

    model.keras              the trained model (MODEL_FILE)
    synset_id2label.json     0-based label map of the model's outputs (`read_classes`)
    config.json              the run and what the model takes (`saved_config`, `input_record`,
                             `resize_method`, `max_side`)
    history.csv              one row per epoch (`read_history`)
    checkpoints/epoch-NNN.keras, logs/

Training writes these; every later stage reads them from here, so no stage imports `training`
(docs/DESIGN.md, section "Module structure").
"""
from __future__ import annotations

import csv
import io
import json

from . import layout, models, settings, storage

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.keras"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"


class TrainingError(ValueError):
    """A training run that cannot start as asked, or a model directory without a finished one;
    the message says what to do. (`training.TrainingError` is this class.)"""


def input_record(resize_method: str, max_side: int | None = None) -> dict:
    """config.json's "input": what a model of this workbook takes (0-255 RGB float32, its
    preprocessing inside), how images were resized for it, and the records' pre-shrink."""
    return {"dtype": "float32", "range": [0, 255], "channels": "RGB",
            "resize_method": resize_method, "preprocessing": "inside the model",
            "max_side": max_side}


def resize_method(config: dict) -> str:
    """How a model's images are resized (config.json's input record; "crop" when not recorded)."""
    return (config.get("input") or {}).get("resize_method", settings.DEFAULT_RESIZE_METHOD)


def max_side(config: dict) -> int | None:
    """The pre-shrink of the records a model was trained on (`effnet convert --max-side`)."""
    return (config.get("input") or {}).get("max_side")


def write_config(model_dir, record: dict) -> None:
    """Write config.json (UTF-8: class names stay readable), atomically."""
    storage.write_atomic(storage.join(model_dir, CONFIG_FILE),
                         json.dumps(record, ensure_ascii=False, indent=2) + "\n")


def saved_config(model_dir) -> dict | None:
    """config.json of a model directory, or None when there is none."""
    path = storage.join(model_dir, CONFIG_FILE)
    return storage.read_json(path) if storage.exists(path) else None


def read_classes(model_dir) -> list[str]:
    """The class names of a model's outputs, in output order (its label map)."""
    return layout.read_label_map(storage.join(model_dir, settings.LABEL_MAP_FILE))


def read_history(model_dir) -> list[dict]:
    """history.csv's rows (epoch an int, phase a string, the rest floats); [] before training."""
    path = storage.join(model_dir, HISTORY_FILE)
    if not storage.exists(path):
        return []
    text = storage.read_bytes(path).decode("utf-8")

    def value(key, text):
        return text if key == "phase" else int(text) if key == "epoch" else float(text)
    return [{k: value(k, v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def checkpoint_path(model_dir, epoch: int) -> str:
    return storage.join(model_dir, CHECKPOINT_DIR, f"epoch-{epoch:03d}.keras")


def load_trained(model_dir, float32: bool = True):
    """The trained model, its class names and its config, from a model directory alone. The
    model computes in float32 (`models.load_model`), also when it was trained under mixed
    precision on a GPU or TPU, as evaluation, inference and every export need."""
    path = storage.join(model_dir, MODEL_FILE)
    if not storage.exists(path):
        raise TrainingError(f"No {MODEL_FILE} in {model_dir}: train first (notebook 03 or "
                            "`effnet train RECORDS_DIR MODEL_DIR`).")
    model = models.load_model(path, float32=float32)
    return model, read_classes(model_dir), saved_config(model_dir)
