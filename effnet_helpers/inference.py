"""Stage 5: predict new images with a model directory alone.

An image file goes through exactly what the converter and the evaluation pipeline do to it:
`images.prepare_image` (any format, CMYK, 16-bit, EXIF rotation -> upright RGB JPEG bytes; a JPEG
that needs nothing keeps its own bytes) and then `pipeline.preprocess` (the evaluation view from
config.json: centre crop or whole image, resized). So predicting a validation image from its file
gives what evaluating it from the records gives.

    predictor = inference.load_predictor(MODEL_DIR)
    table = predictor.predict(["photo.jpg", "folder/"], top_k=3)   # one row per image

A file that cannot be read is reported in the table's `error` column; the others are predicted.

A calibrated model directory (calibration.json, `calibration.calibrate`) gives calibrated
probabilities, and `reject_below="auto"` (or a probability) answers "unknown" for an image whose
top-1 probability is below the threshold, with its top-k still in the table:

    table = predictor.predict(["photo.jpg"], top_k=3, reject_below="auto")
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import confidence, images, layout, modeldir, models, pipeline, settings, storage
from .backend import tensorflow

DECODE_FAILED = "JPEG does not decode (truncated or corrupt)"


class InferenceError(ValueError):
    """A wrong call (no such model directory or file); the message says what to do."""


def find_images(paths) -> list[str]:
    """The image files named by `paths`: files as given (whatever their extension), folders
    searched recursively for image extensions (hidden files skipped), in sorted order."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found = []
    for path in map(str, paths):
        if storage.isdir(path):
            found += [storage.join(path, f) for f in storage.walk_files(path)
                      if os.path.splitext(f)[1].lower() in settings.IMAGE_EXTENSIONS
                      and not any(part.startswith(".") for part in f.split("/"))]
        elif storage.exists(path):
            found.append(path)
        else:
            raise InferenceError(f"{path} does not exist: give image files or folders of images.")
    return found


def prepare(data: bytes, max_side: int | None = None, prove: bool = True) -> bytes:
    """Image file bytes -> the JPEG bytes the records would hold for it (converter's rules).
    prove=False skips decoding a JPEG that needs no conversion (the caller decodes it next)."""
    return images.prepare_image(data, max_side=max_side, prove=prove).data


def _read(path: str, max_side: int | None):
    """(JPEG bytes, None) for an image file, or (None, reason) when it cannot be used. A JPEG
    kept as it is is not decoded here: the batch pipeline decodes it and reports a failure."""
    try:
        return prepare(storage.read_bytes(path), max_side, prove=False), None
    except images.ImageProblem as problem:
        return None, str(problem)
    except OSError as error:
        return None, f"cannot be read: {error}"


def top_k_table(probabilities: np.ndarray, classes: list[str], k: int = settings.DEFAULT_TOP_K,
                paths=None) -> pd.DataFrame:
    """One row per image: label and probability (top 1), then label_2, probability_2, ... up to
    k. Rows of NaN probabilities (images that failed) get empty labels."""
    probabilities = np.asarray(probabilities, dtype=float)
    k = max(1, min(int(k), len(classes)))
    rows = []
    for row in probabilities:
        entry = {}
        if np.isnan(row).any():
            order = []
        else:
            order = np.argsort(-row, kind="stable")[:k]
        for rank in range(k):
            suffix = "" if rank == 0 else f"_{rank + 1}"
            entry["label" + suffix] = classes[order[rank]] if len(order) else ""
            entry["probability" + suffix] = round(float(row[order[rank]]), 6) if len(order) \
                else np.nan
        rows.append(entry)
    table = pd.DataFrame(rows)
    if paths is not None:
        table.insert(0, "path", [str(p) for p in paths])
    return table


def reject_unknown(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The table of `top_k_table` with `label` set to "unknown" where the top-1 probability, as
    the table shows it, is below `threshold`; the top-1 class stays in a `best_guess` column
    beside it (and the next ones in label_2, ...). Rows of failed images keep an empty label."""
    table = table.copy()
    table.insert(table.columns.get_loc("probability") + 1, "best_guess", table["label"])
    below = table["probability"].notna() & (table["probability"] < threshold)
    table.loc[below, "label"] = settings.UNKNOWN_LABEL
    table.attrs["threshold"] = float(threshold)
    return table


@dataclass
class Predictor:
    """A trained model with what it needs to read images: class names, its configuration and,
    when calibrated, its temperature and "unknown" threshold."""

    model: object
    classes: list
    config: dict
    temperature: float = 1.0          # applied to every probability (1: uncalibrated)
    threshold: float | None = None    # the calibrated "unknown" threshold, if any

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    @property
    def resize_method(self) -> str:
        return modeldir.resize_method(self.config)

    @property
    def max_side(self) -> int | None:
        """The pre-shrink of the training records (`effnet convert --max-side`): new photos are
        shrunk alike, so they look to the model as the records did (and decode faster)."""
        return modeldir.max_side(self.config)

    def preprocess(self, jpeg_bytes: bytes) -> np.ndarray:
        """Prepared JPEG bytes -> the model's input: float32 [size, size, 3], 0..255."""
        tf = tensorflow()
        return pipeline.preprocess(tf.constant(jpeg_bytes), self.image_size, training=False,
                                   resize_method=self.resize_method).numpy()

    def _batches(self, prepared: dict, batch_size: int):
        """(indices, images) batches from {index: JPEG bytes}, decoded in parallel; an image that
        does not decode is left out (its index is missing from every batch)."""
        tf = tensorflow()
        size, method = self.image_size, self.resize_method
        data = tf.data.Dataset.from_tensor_slices(
            (tf.constant(list(prepared), tf.int64),
             tf.constant(list(prepared.values()), dtype=tf.string)))
        data = data.map(lambda i, b: (i, pipeline.preprocess(b, size, training=False,
                                                             resize_method=method)),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return data.ignore_errors().batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def probabilities(self, paths, batch_size: int = settings.PREDICTION_BATCH_SIZE,
                      progress: bool = True,
                      max_side: int | None = None, workers: int | None = None):
        """Class probabilities for image files: (array [n, classes], {index: reason}). Rows of
        files that failed are NaN and their reasons are in the dict. `max_side`: shrink photos
        whose longer side is larger (default: as the training records were). Files are read
        and checked in threads while the model predicts the previous chunk."""
        from .progress import tqdm
        max_side = max_side or self.max_side
        paths = [str(p) for p in paths]
        result = np.full((len(paths), len(self.classes)), np.nan, dtype=np.float32)
        errors: dict[int, str] = {}
        chunk = max(batch_size * 4, 64)
        starts = list(range(0, len(paths), chunk))
        bar = tqdm(total=len(paths), unit="image", disable=not progress or len(paths) < 2,
                   desc="Predicting")
        with ThreadPoolExecutor(workers or min(4, (os.cpu_count() or 2) + 1)) as pool:
            def submit(start):
                return [pool.submit(_read, p, max_side) for p in paths[start:start + chunk]]

            pending = submit(starts[0]) if starts else []
            for number, start in enumerate(starts):
                read = [future.result() for future in pending]
                if number + 1 < len(starts):
                    pending = submit(starts[number + 1])  # read ahead while the model works
                prepared = {start + i: data for i, (data, _) in enumerate(read) if data is not None}
                errors.update({start + i: reason for i, (_, reason) in enumerate(read) if reason})
                if prepared:
                    for indices, images_ in self._batches(prepared, batch_size):
                        result[indices.numpy()] = models.predict_rows(self.model, images_,
                                                                      batch_size)
                    for index in prepared:
                        if np.isnan(result[index, 0]):
                            errors[index] = DECODE_FAILED
                bar.update(len(read))
        bar.close()
        if self.temperature != 1.0:
            result = confidence.apply_temperature(result, self.temperature).astype(np.float32)
        return result, errors

    def rejection_threshold(self, reject_below) -> float | None:
        """The threshold that `reject_below` asks for: None (no "unknown" answer), "auto" (the
        calibrated one) or a probability in [0, 1]."""
        if reject_below is None:
            return None
        if isinstance(reject_below, str) and reject_below.strip().lower() == "auto":
            if self.threshold is None:
                raise InferenceError("reject_below='auto' needs a calibrated model: run "
                                     "`effnet calibrate MODEL_DIR RECORDS_DIR` (or "
                                     "calibration.calibrate) first, or give a probability.")
            return self.threshold
        try:
            value = float(reject_below)
        except (TypeError, ValueError):
            value = float("nan")
        if not 0 <= value <= 1:
            raise InferenceError(f"reject_below takes auto or a probability from 0 to 1, not "
                                 f"{reject_below!r}.")
        return value

    def predict(self, paths, top_k: int = settings.DEFAULT_TOP_K,
                batch_size: int = settings.PREDICTION_BATCH_SIZE,
                progress: bool = True, max_side: int | None = None,
                reject_below=None) -> pd.DataFrame:
        """One row per image file (folders are searched): path, label, probability, the next
        k-1 labels and probabilities, and `error` (empty when the image was predicted).
        `reject_below` ("auto" or a probability): label "unknown" below it, the top-1 class
        kept as `best_guess` (`reject_unknown`)."""
        threshold = self.rejection_threshold(reject_below)
        files = find_images(paths)
        probabilities, errors = self.probabilities(files, batch_size, progress, max_side)
        table = top_k_table(probabilities, self.classes, top_k, paths=files)
        if threshold is not None:
            table = reject_unknown(table, threshold)
        table["error"] = [errors.get(i, "") for i in range(len(files))]
        return table


def load_predictor(model_dir, load_model: bool = True) -> Predictor:
    """The model of a model directory (notebook 03's output) ready to predict. load_model=False
    checks the directory and reads its classes and configuration only (model None), for callers
    that bring their own model, such as the evaluation of checkpoints."""
    if not storage.exists(storage.join(model_dir, modeldir.MODEL_FILE)):
        raise InferenceError(f"{model_dir} holds no trained model ({modeldir.MODEL_FILE}): give "
                             "the model directory that training wrote (notebook 03 or "
                             "`effnet train RECORDS_DIR MODEL_DIR`).")
    if load_model:
        model, classes, config = modeldir.load_trained(model_dir)
    else:
        model, config = None, modeldir.saved_config(model_dir)
        classes = modeldir.read_classes(model_dir)
    if config is None:
        raise InferenceError(f"{model_dir} has {modeldir.MODEL_FILE} but no "
                             f"{modeldir.CONFIG_FILE}: it was not written by this workbook's "
                             "training, so its image size and preprocessing are unknown.")
    try:
        record = confidence.read_calibration(model_dir) or {}
    except confidence.CalibrationError as error:
        raise InferenceError(str(error)) from None
    threshold = record.get("threshold")
    return Predictor(model, classes, config, float(record.get("temperature", 1.0)),
                     None if threshold is None else float(threshold))


def predict(model_dir, paths, top_k: int = settings.DEFAULT_TOP_K, output=None,
            batch_size: int = settings.PREDICTION_BATCH_SIZE, progress: bool = True,
            max_side: int | None = None, reject_below=None) -> pd.DataFrame:
    """Predict image files and folders with a model directory; write the table as CSV to
    `output` when given (atomically: a CSV is complete or absent). `reject_below`: "auto" (the
    calibrated threshold) or a probability: "unknown" below it (`Predictor.predict`)."""
    table = load_predictor(model_dir).predict(paths, top_k, batch_size, progress, max_side,
                                              reject_below)
    if output:
        storage.write_atomic(output, table.to_csv(index=False))
    return table


def predict_folder_split(predictor: Predictor, data_dir, split: str = "validation",
                         class_mapping=None, batch_size: int = settings.PREDICTION_BATCH_SIZE,
                         progress: bool = True):
    """Predict every image of one split of a dataset folder (notebook 01's layout):
    (probabilities [n, classes], true labels [n], paths, {path: reason} of unreadable files).
    Labels are indices into the folder's (merged) sorted class names, which must equal the
    model's; unreadable files are left out of the arrays and reported."""
    table = layout.candidates(layout.scan_dataset(data_dir))
    if class_mapping:
        table = layout.apply_class_mapping(table, class_mapping)
    classes = sorted(set(table["class"]))
    table = table[table["split"] == split].sort_values("path")
    if table.empty:
        raise InferenceError(f"{data_dir} has no images in {split}/<class>/: the layout is "
                             f"DATA_DIR/{split}/<class>/<image>.")
    labels = np.array([classes.index(c) for c in table["class"]])
    paths = list(table["path"])
    probabilities, errors = predictor.probabilities(paths, batch_size, progress)
    keep = np.array([i not in errors for i in range(len(paths))], dtype=bool)
    return (probabilities[keep], labels[keep], [p for p, k in zip(paths, keep) if k],
            {paths[i]: reason for i, reason in errors.items()}, classes)


def show_prediction(predictor: Predictor, path, top_k: int = settings.DEFAULT_TOP_K):
    """The image (upright) beside a bar chart of its top-k classes."""
    import matplotlib.pyplot as plt

    from . import plots
    table = predictor.predict([path], top_k=top_k, progress=False)
    row = table.iloc[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5),
                                      gridspec_kw={"width_ratios": [1, 1.3]})
    left.imshow(plots.load_for_display(path, max_side=512))
    left.axis("off")
    left.set_title(os.path.basename(str(path)), fontsize=13)
    if row["error"]:
        right.axis("off")
        right.text(0.0, 0.5, f"Not predicted:\n{row['error']}", fontsize=14, wrap=True)
        return fig
    k = len([c for c in table.columns if c.startswith("label")])
    labels = [row["label" + ("" if r == 0 else f"_{r + 1}")] for r in range(k)]
    values = [row["probability" + ("" if r == 0 else f"_{r + 1}")] for r in range(k)]
    right.barh(range(k), values, color=["#2ca02c"] + ["#9bbbd9"] * (k - 1))
    right.set_yticks(range(k), labels)
    right.invert_yaxis()
    right.set_xlim(0, 1)
    right.set_xlabel("probability")
    right.set_title(f"{labels[0]} ({values[0]:.0%})")
    return fig

