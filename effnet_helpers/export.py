"""Stage 5, export: a trained model directory to a SavedModel for TensorFlow Serving and to
TensorFlow Lite files, and a check that every exported file predicts what the Keras model does.

    path = export.export_saved_model(MODEL_DIR)            # MODEL_DIR/export/saved_model
    path = export.export_tflite(MODEL_DIR, "float16")      # MODEL_DIR/export/model-float16.tflite
    table = export.parity_table(MODEL_DIR, RECORDS_DIR)    # size, agreement, accuracy per format
    path = export.export(MODEL_DIR, format="tflite", quantize="int8")   # what the CLI calls

The SavedModel's `serving_default` signature takes a batch of ENCODED image files (JPEG or PNG
bytes, tf.string [None]) and runs `pipeline.preprocess(..., training=False)` on each, with the
resize method the model was trained with (config.json), so a server decodes and crops exactly as
evaluation does. It returns `probabilities` [None, classes], `class_index` [None] (int32) and
`class_name` [None] (the class names are stored in the SavedModel). A second signature,
`serving_images`, takes float32 images [None, size, size, 3] in 0..255 that are already prepared.
Records converted with a pre-shrink (`max_side`, noted in config.json as input.max_side) hold
smaller re-encoded JPEGs; for the very same result, send what `inference.prepare(data, max_side)`
makes of a photo, not the photo itself (the difference is only the resampling).

TensorFlow Lite files take float32 images [1, size, size, 3] in 0..255 (the batch can be resized)
and return the probabilities. A calibrated model directory (calibration.json) exports calibrated
probabilities in both formats: the temperature is part of the graph. The decoding, the crop and
the resize happen OUTSIDE the file: on a phone, do what `pipeline.preprocess(image_bytes, size, training=False, resize_method=...)` does;
in Python, call it. Quantisations:
    "none"     float32 weights (the reference; about the size of the weights)
    "float16"  float16 weights, about half the size; computes in float32
    "int8"     dynamic-range quantisation: int8 weights, about a quarter of the size; activations
               stay float, so no calibration images are needed
"""
from __future__ import annotations

import os
import tempfile
import uuid
import warnings

import numpy as np

from . import confidence, modeldir, pipeline, runtime, settings, storage
from .backend import tensorflow

FORMATS = ("saved_model", "tflite")
QUANTIZATIONS = ("none", "float16", "int8")
EXPORT_DIR = "export"                    # inside the model directory
SAVED_MODEL_DIR = "saved_model"
TFLITE_STEM = "model"                    # model.tflite, model-float16.tflite, model-int8.tflite
BYTES_SIGNATURE = "serving_default"      # encoded image bytes in (what TF Serving calls)
IMAGES_SIGNATURE = "serving_images"      # prepared float images in
INCOMPLETE_SUFFIX = ".incomplete"        # an export being built; never looks like a result
QUANTIZATION_NOTES = {"none": "float32 weights", "float16": "float16 weights",
                      "int8": "int8 weights, float activations (dynamic range)"}


class ExportError(ValueError):
    """A wrong export call (format, quantisation, missing model); the message says what to do."""


# --- paths and checks -------------------------------------------------------------------------

def default_path(model_dir, format: str = "tflite", quantize: str = "none") -> str:
    """Where an export goes by default: MODEL_DIR/export/saved_model, MODEL_DIR/export/model.tflite,
    MODEL_DIR/export/model-float16.tflite or MODEL_DIR/export/model-int8.tflite."""
    _check_choice(format, quantize)
    if format == "saved_model":
        return storage.join(model_dir, EXPORT_DIR, SAVED_MODEL_DIR)
    suffix = "" if quantize == "none" else f"-{quantize}"
    return storage.join(model_dir, EXPORT_DIR, f"{TFLITE_STEM}{suffix}.tflite")


def _check_choice(format: str, quantize: str) -> None:
    if format not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, not {format!r}.")
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, not "
                          f"{quantize!r}.")
    if format == "saved_model" and quantize != "none":
        raise ExportError(f"quantize={quantize!r} applies to TensorFlow Lite only; a SavedModel "
                          "keeps the float32 weights. Use format='tflite' to quantise, or "
                          "quantize='none' for the SavedModel.")


def _check_model_dir(model_dir) -> None:
    """Fail fast, before TensorFlow is imported, when MODEL_DIR holds no trained model."""
    if not storage.isdir(model_dir):
        raise ExportError(f"No model directory at {model_dir}: give the folder that training "
                          "wrote (notebook 03 or `effnet train RECORDS_DIR MODEL_DIR`).")
    for name in (modeldir.MODEL_FILE, modeldir.CONFIG_FILE):
        if not storage.exists(storage.join(model_dir, name)):
            raise ExportError(f"No {name} in {model_dir}: it is not a finished training run. "
                              "Train first (notebook 03 or `effnet train RECORDS_DIR MODEL_DIR`), "
                              "or run the training again to complete it.")


def _load(model_dir):
    """(model, classes, image size, resize method) of a model directory."""
    _check_model_dir(model_dir)
    model, classes, config = modeldir.load_trained(model_dir)
    size = int(config.get("image_size") or model.input_shape[1])
    method = modeldir.resize_method(config)
    return model, classes, size, method


# --- the SavedModel -------------------------------------------------------------------------

def serving_functions(model, classes: list[str], image_size: int, resize_method: str,
                      temperature: float = 1.0):
    """The two functions the SavedModel serves: (from encoded image bytes, from float images).
    Each returns {"probabilities", "class_index", "class_name"}; the probabilities are
    calibrated with `temperature` (calibration.json's; 1: as the model gives them)."""
    tf = tensorflow()
    names = tf.constant(list(classes), tf.string)
    image_spec = tf.TensorSpec([image_size, image_size, 3], tf.float32)

    def from_images(images):
        probabilities = confidence.tf_apply_temperature(
            tf.cast(model(images, training=False), tf.float32), temperature)
        index = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"probabilities": probabilities, "class_index": index,
                "class_name": tf.gather(names, index)}

    def from_bytes(image_bytes):
        images = tf.map_fn(
            lambda one: pipeline.preprocess(one, image_size, training=False,
                                            resize_method=resize_method),
            image_bytes, fn_output_signature=image_spec)
        return from_images(images)

    return from_bytes, from_images


def export_saved_model(model_dir, out_dir=None) -> str:
    """Export MODEL_DIR's model as a SavedModel for TensorFlow Serving; return its folder.

    Signatures: `serving_default` (encoded image bytes in; the evaluation preprocessing inside)
    and `serving_images` (float32 [None, size, size, 3] 0..255 in); see the module docstring.
    Default `out_dir`: MODEL_DIR/export/saved_model. TF Serving expects a numbered version folder
    (MODEL_BASE/1/saved_model.pb): copy or export into such a folder for it.

    Written atomically: the SavedModel is built in a sibling folder named `*.incomplete` and
    renamed into place at the end, so a failed or interrupted export never leaves a folder that
    looks complete, and an older export stays as it was until the new one is whole. On gs://
    (no folder renames there) it is built locally and then uploaded with saved_model.pb last, so
    it cannot be loaded before every file is there.
    """
    out_dir = str(out_dir or default_path(model_dir, "saved_model"))
    model, classes, size, method = _load(model_dir)
    import keras
    tf = tensorflow()
    from_bytes, from_images = serving_functions(model, classes, size, method,
                                                _temperature(model_dir))
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(BYTES_SIGNATURE, from_bytes,
                         input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    archive.add_endpoint(IMAGES_SIGNATURE, from_images, input_signature=[
        tf.TensorSpec([None, size, size, 3], tf.float32, name="images")])
    if storage.is_url(out_dir):
        with tempfile.TemporaryDirectory() as local:
            _write_saved_model(archive, local)
            _upload_dir(local, out_dir)
        return out_dir
    staging = out_dir.rstrip("/\\") + INCOMPLETE_SUFFIX
    storage.remove_tree(staging)  # what an interrupted earlier export left
    os.makedirs(storage.parent(out_dir), exist_ok=True)
    try:
        _write_saved_model(archive, staging)
        _replace_dir(staging, out_dir)
    finally:
        storage.remove_tree(staging)
    return out_dir


def _write_saved_model(archive, folder) -> None:
    """Write a keras.export.ExportArchive as a SavedModel into FOLDER (without TensorFlow's
    "Assets written to ..." log lines, which tell a learner nothing to act on)."""
    logger = tensorflow().get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        archive.write_out(str(folder), verbose=False)
    finally:
        logger.setLevel(level)


def _replace_dir(new, target) -> None:
    """Put folder NEW at TARGET, replacing what is there; TARGET is never half written."""
    old = None
    if os.path.exists(target):
        old = f"{target}.old-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if old:
            os.rename(old, target)  # put the previous export back
        raise
    if old:
        storage.remove_tree(old)


def _upload_dir(local, target) -> None:
    """Copy a local SavedModel to a URL, saved_model.pb last (readers look for it first)."""
    tf = tensorflow()
    storage.remove_tree(target)
    files = storage.walk_files(local)
    files.sort(key=lambda rel: rel == "saved_model.pb")
    for rel in files:
        destination = storage.join(target, *rel.split("/"))
        storage.makedirs(storage.parent(destination))
        tf.io.gfile.copy(os.path.join(local, *rel.split("/")), destination, overwrite=True)


# --- TensorFlow Lite ------------------------------------------------------------------------

def _tflite_bytes(model, image_size: int, quantizations,
                  temperature: float = 1.0) -> dict[str, bytes]:
    """{quantize: TFLite flatbuffer} for the model. The Keras model is exported once to a temporary
    SavedModel (Keras 3's own route to TFLite; converting a concrete function directly loses the
    weights), then converted once per quantisation, with the built-in TFLite ops only. The
    probabilities are calibrated with `temperature` inside the file (1: as the model gives)."""
    import keras

    tf = tensorflow()
    result = {}
    with tempfile.TemporaryDirectory() as folder:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", lambda images: confidence.tf_apply_temperature(
                                 model(images, training=False), temperature),
                             input_signature=[tf.TensorSpec([None, image_size, image_size, 3],
                                                            tf.float32, name="images")])
        _write_saved_model(archive, folder)
        for quantize in quantizations:
            converter = tf.lite.TFLiteConverter.from_saved_model(folder)
            if quantize in ("float16", "int8"):
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantize == "float16":
                converter.target_spec.supported_types = [tf.float16]
            result[quantize] = converter.convert()
    return result


def _write_file(path, data: bytes) -> None:
    """storage.write_atomic into PATH's folder, created if needed."""
    storage.makedirs(storage.parent(path))
    storage.write_atomic(path, data)


def export_tflite(model_dir, quantize: str = "none", out=None) -> str:
    """Convert MODEL_DIR's model to a TensorFlow Lite file; return its path.

    `quantize`: "none" (float32), "float16" (about half the size) or "int8" (dynamic range, about
    a quarter). Default `out`: MODEL_DIR/export/model.tflite, model-float16.tflite or
    model-int8.tflite. The file takes float32 images [1, size, size, 3] in 0..255, prepared as
    `pipeline.preprocess(image_bytes, size, training=False, resize_method=...)` prepares them
    (size and resize method: config.json); `tflite_predict` runs it. Written atomically.
    """
    _check_choice("tflite", quantize)
    out = str(out or default_path(model_dir, "tflite", quantize))
    model, _, size, _ = _load(model_dir)
    _write_file(out, _tflite_bytes(model, size, [quantize], **_calibrated(model_dir))[quantize])
    return out


def _interpreter_class():
    """The TFLite interpreter: LiteRT's (ai_edge_litert) when installed, else tf.lite's, which
    TF 2.21 still ships but marks deprecated (its warning is silenced: nothing to act on here)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter
    except ImportError:
        return tensorflow().lite.Interpreter


class TFLiteRunner:
    """A loaded TensorFlow Lite file that predicts batches of float32 0..255 images."""

    def __init__(self, path, num_threads: int | None = None):
        interpreter_class = _interpreter_class()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.interpreter = interpreter_class(model_content=storage.read_bytes(path),
                                                 num_threads=num_threads or os.cpu_count() or 1)
        self.input = self.interpreter.get_input_details()[0]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        signature = self.input.get("shape_signature", self.input["shape"])
        self.resizable = int(signature[0]) == -1
        self.image_shape = tuple(int(n) for n in self.input["shape"][1:])
        self.batch = None

    def __call__(self, images) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[None]
        if images.shape[1:] != self.image_shape:
            raise ValueError(
                f"This TFLite model takes images of shape {self.image_shape}, not "
                f"{images.shape[1:]}: prepare them with pipeline.preprocess(image_bytes, "
                f"{self.image_shape[0]}, training=False, resize_method=...).")
        if not self.resizable and len(images) != int(self.input["shape"][0]):
            return np.concatenate([self(image[None]) for image in images])
        if len(images) != self.batch:
            self.interpreter.resize_tensor_input(self.input["index"], [len(images),
                                                                       *self.image_shape])
            with runtime.quiet_native_logs():  # the first one logs "Created ... XNNPACK delegate"
                self.interpreter.allocate_tensors()
            self.batch = len(images)
        self.interpreter.set_tensor(self.input["index"], images)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self.output_index))


def tflite_predict(path, images, batch_size: int = settings.PREDICTION_BATCH_SIZE,
                   num_threads: int | None = None) -> np.ndarray:
    """Class probabilities [n, classes] of a TFLite file for float32 images [n, size, size, 3]
    (or one image [size, size, 3]) in 0..255, `batch_size` images per call. `num_threads`:
    None uses every core."""
    runner = TFLiteRunner(path, num_threads)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if not len(images):
        raise ValueError("tflite_predict: no images given.")
    step = max(1, int(batch_size))
    return np.concatenate([runner(images[i:i + step]) for i in range(0, len(images), step)])


# --- parity ---------------------------------------------------------------------------------

def _fresh(path, model_dir) -> bool:
    """An export at PATH that is newer than the model it came from (and than its calibration,
    whose temperature is inside the file)."""
    if not storage.exists(path) or storage.is_url(path):
        return False
    sources = [storage.join(model_dir, modeldir.MODEL_FILE),
               storage.join(model_dir, settings.CALIBRATION_FILE)]
    return all(os.path.getmtime(path) >= os.path.getmtime(source) for source in sources
               if os.path.exists(source))


def parity_table(model_dir, records_dir, formats=QUANTIZATIONS,
                 batch_size: int = settings.PREDICTION_BATCH_SIZE,
                 progress: bool = True, reuse: bool = True):
    """How the TFLite exports compare with the Keras model on EVERY validation image.

    One row per TFLite quantisation in `formats`, after the Keras model's row (the baseline):
    file size in MB, top-1 agreement with the Keras model (the fraction of images where both pick
    the same class) and accuracy against the true labels. Missing exports are written to their
    default paths first (`reuse=True` keeps those newer than model.keras). The Keras row's size
    is model.keras, which also holds the optimizer state (about 3x the weights)."""
    import pandas as pd
    from .progress import tqdm
    formats = list(formats)
    for quantize in formats:
        _check_choice("tflite", quantize)
    _check_model_dir(model_dir)
    paths = {q: default_path(model_dir, "tflite", q) for q in formats}
    model, classes, size, method = _load(model_dir)
    missing = [q for q in formats if not (reuse and _fresh(paths[q], model_dir))]
    if missing:
        for quantize, data in _tflite_bytes(model, size, missing,
                                            **_calibrated(model_dir)).items():
            _write_file(paths[quantize], data)
    runners = {q: TFLiteRunner(paths[q]) for q in formats}

    config = modeldir.saved_config(model_dir) or {}
    mapping = (config.get("run") or {}).get("class_mapping")
    data = pipeline.make_dataset(records_dir, "validation", size, batch_size, training=False,
                                 resize_method=method, class_mapping=mapping)
    if list(data.class_names) != list(classes):
        raise ExportError(f"The records in {records_dir} have the classes {data.class_names}, "
                          f"the model {classes}: compare on the records it was trained with.")
    total = pipeline.known_total(records_dir, "validation")
    truth, keras_top, tflite_top = [], [], {q: [] for q in formats}
    with tqdm(total=total, unit="image", desc="Comparing exports", disable=not progress) as bar:
        for images, onehot in data:
            truth.append(np.argmax(onehot.numpy(), axis=1))
            keras_top.append(np.argmax(np.asarray(model.predict_on_batch(images)), axis=1))
            array = images.numpy()
            for quantize, runner in runners.items():
                tflite_top[quantize].append(np.argmax(runner(array), axis=1))
            bar.update(len(array))
    if not truth:
        raise ExportError(f"{records_dir} has no validation records to compare on.")
    truth, keras_top = np.concatenate(truth), np.concatenate(keras_top)
    model_file = storage.join(model_dir, modeldir.MODEL_FILE)
    rows = [{"export": "keras", "file": model_file, "size_mb": storage.size(model_file) / 1e6,
             "top1_agreement": 1.0, "accuracy": float(np.mean(keras_top == truth)),
             "images": len(truth), "note": "model.keras, with the optimizer state"}]
    for quantize in formats:
        top = np.concatenate(tflite_top[quantize])
        rows.append({"export": "tflite" if quantize == "none" else f"tflite-{quantize}",
                     "file": paths[quantize], "size_mb": storage.size(paths[quantize]) / 1e6,
                     "top1_agreement": float(np.mean(top == keras_top)),
                     "accuracy": float(np.mean(top == truth)), "images": len(truth),
                     "note": QUANTIZATION_NOTES[quantize]})
    return pd.DataFrame(rows).set_index("export")


# --- size and speed ---------------------------------------------------------------------------

LATENCY_RUNS = 30      # timed single-image calls per file (the median is reported)
LATENCY_WARMUP = 3


def untrained_model_dir(folder, model: str = "B0", image_size: int = 224, classes=None,
                        resize_method: str = settings.DEFAULT_RESIZE_METHOD) -> str:
    """A model directory as training leaves it (model.keras, config.json, label map) for MODEL
    with random weights: to compare exports' size and speed, which do not depend on the weights'
    values (their predictions mean nothing)."""
    from . import layout, models
    classes = list(classes or [f"class_{i}" for i in range(10)])
    storage.makedirs(folder)
    built = models.build_model(model, len(classes), image_size, weights=None)
    built.save(storage.join(folder, modeldir.MODEL_FILE))
    config = {"model": models.canonical_name(model), "image_size": image_size, "classes": classes,
              "input": modeldir.input_record(resize_method)}
    modeldir.write_config(folder, config)
    layout.write_label_map(classes, storage.join(folder, settings.LABEL_MAP_FILE))
    return str(folder)


def latency_ms(path, image, runs: int = LATENCY_RUNS, warmup: int = LATENCY_WARMUP,
               num_threads: int | None = None) -> float:
    """The median milliseconds of one prepared image (float32 [size, size, 3], 0..255) through a
    TFLite file, as an app calls it: one image per call, after `warmup` untimed calls."""
    import statistics
    import time
    runner = TFLiteRunner(path, num_threads)
    batch = np.asarray(image, dtype=np.float32)[None]
    for _ in range(warmup):
        runner(batch)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        runner(batch)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def footprint_table(model_dirs: dict, quantizations=("none", "int8"), image=None,
                    runs: int = LATENCY_RUNS):
    """File size and single-image latency of each model directory's TFLite exports (exported
    when missing or older than the model), one row per model and quantisation. `image`: one
    prepared image; default, mid-grey at each model's size."""
    import pandas as pd
    rows = []
    for name, model_dir in model_dirs.items():
        size = int(modeldir.saved_config(model_dir)["image_size"])
        pixels = np.full((size, size, 3), 127.0, np.float32) if image is None else image
        for quantize in quantizations:
            path = default_path(model_dir, "tflite", quantize)
            if not _fresh(path, model_dir):
                path = export_tflite(model_dir, quantize)
            rows.append({"model": name, "weights": QUANTIZATION_NOTES[quantize].split(",")[0],
                         "size_mb": storage.size(path) / 1e6,
                         "latency_ms": latency_ms(path, pixels, runs)})
    return pd.DataFrame(rows).set_index(["model", "weights"])


# --- one entry for the command line ---------------------------------------------------------

def export(model_dir, format: str = "tflite", quantize: str = "none", out=None) -> str:
    """Export MODEL_DIR's model as `format` ("tflite" or "saved_model") and return the path.
    `quantize` ("none", "float16", "int8") applies to TFLite only. Raises ExportError for a wrong
    combination or a missing model directory, before any work is done."""
    _check_choice(format, quantize)
    _check_model_dir(model_dir)
    if format == "saved_model":
        return export_saved_model(model_dir, out)
    return export_tflite(model_dir, quantize, out)


def _temperature(model_dir) -> float:
    """The calibrated temperature of MODEL_DIR (calibration.json), 1.0 when uncalibrated."""
    try:
        return confidence.temperature_of(model_dir)
    except confidence.CalibrationError as error:
        raise ExportError(str(error)) from None


def _calibrated(model_dir) -> dict:
    """{"temperature": T} for a calibrated model directory, {} otherwise (the graph as before)."""
    temperature = _temperature(model_dir)
    return {} if temperature == 1.0 else {"temperature": temperature}
