"""Stage 4: judge a trained model honestly on every validation image.

    result = evaluation.evaluate(MODEL_DIR, records_dir=RECORDS_DIR)    # or data_dir=a folder
    result.metrics            # accuracy, top-k, balanced accuracy, macro/weighted P/R/F1, loss
    result.per_class          # precision, recall, F1, support per class (+ macro, weighted rows)
    result.confusion          # rows: true class, columns: predicted class
    result.reliability()      # the reliability diagram's bins (ECE is in result.metrics)
    result.risk_coverage()    # accuracy of the accepted images against coverage, per threshold

The figures are scikit-learn's (`confusion_matrix`, `precision_recall_fscore_support`, ...) on
the model's top-1 predictions. `evaluate` writes metrics.json, per_class.csv,
confusion_matrix.csv and the pictures into the model directory; `evaluate_checkpoints` does what
the original system's `--eval_iterator` did: evaluates the checkpoints of every epoch (or the latest,
or those from epoch N) and writes checkpoint_metrics.csv.

A calibrated model (MODEL_DIR/calibration.json, `calibration.calibrate`) is evaluated with its
temperature applied: metrics.json then holds the log loss and ECE before and after, and the
threshold's coverage. Splits other than validation (`split="test"`) write their files into
MODEL_DIR/evaluation-<split>/, so the test figures never overwrite the validation ones.
"""
from __future__ import annotations

import heapq
import io
import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import confidence, inference, layout, modeldir, models, pipeline, settings, storage

METRICS_FILE = "metrics.json"
PER_CLASS_FILE = "per_class.csv"
CONFUSION_FILE = "confusion_matrix.csv"
PREDICTIONS_FILE = "predictions.csv"
CONFUSION_PLOT = "confusion_matrix.png"
CONFUSION_NORMALIZED_PLOT = "confusion_matrix_normalized.png"
MISTAKES_PLOT = "mistakes.png"
CHECKPOINT_METRICS_FILE = "checkpoint_metrics.csv"
CHECKPOINT_METRICS_PLOT = "checkpoint_metrics.png"
RELIABILITY_FILE = "reliability.csv"
RELIABILITY_PLOT = "reliability_diagram.png"
RISK_COVERAGE_FILE = "risk_coverage.csv"       # what each threshold of a short list would do
RISK_COVERAGE_PLOT = "risk_coverage.png"
SPLIT_RESULTS_DIR = "evaluation-{split}"       # where splits other than validation are written
CHOSEN_DIR = "chosen-epoch-{epoch:03d}"         # a checkpoint chosen on validation, as a model
DEFAULT_MISTAKES = 12
ANNOTATE_UP_TO = 25      # confusion matrices with more classes than this show colours only
CHECKPOINT_RE = re.compile(r"^epoch-(\d+)\.keras$")


class EvaluationError(ValueError):
    """Evaluation cannot run as asked (wrong data for this model, nothing to evaluate); the
    message says what was wrong and what to do."""


@dataclass
class Evaluation:
    """What one evaluation found. `labels` and `probabilities` are in data order."""

    classes: list
    labels: np.ndarray
    probabilities: np.ndarray
    metrics: dict
    per_class: pd.DataFrame
    confusion: pd.DataFrame
    names: list = field(default_factory=list)      # each image's file name (records) or path
    mistakes: list = field(default_factory=list)   # the most confident mistakes, most first
    skipped: dict = field(default_factory=dict)    # {path: reason} of unreadable image files
    temperature: float = 1.0                        # applied to `probabilities` (calibration)
    raw_probabilities: np.ndarray | None = None     # the model's own, when a temperature applies
    threshold: float | None = None                  # the stored "unknown" threshold, if any
    bins: int = settings.CALIBRATION_BINS
    calibration: dict = field(default_factory=dict)  # what `calibration.calibrate` stored

    @property
    def predictions(self) -> np.ndarray:
        return np.argmax(self.probabilities, axis=1)

    def reliability(self, calibrated: bool = True) -> pd.DataFrame:
        """The reliability diagram's bins (confidence.reliability_table); calibrated=False:
        of the model's probabilities before the temperature."""
        probabilities = self.probabilities if calibrated or self.raw_probabilities is None \
            else self.raw_probabilities
        return confidence.reliability_table(probabilities, self.labels, self.bins)

    def risk_coverage(self) -> pd.DataFrame:
        """Accuracy of the accepted images against coverage, for every threshold."""
        return confidence.risk_coverage(self.probabilities, self.labels)

    def thresholds(self) -> pd.DataFrame:
        """What each threshold of a short list (and the stored one) would do: images accepted
        and sent to a person, coverage, accuracy of the accepted."""
        grid = confidence.THRESHOLD_GRID + ((self.threshold,) if self.threshold else ())
        return confidence.threshold_table(self.probabilities, self.labels, grid)

    def table(self) -> pd.DataFrame:
        """One row per image: its name, true and predicted class, the probability given to the
        prediction and whether it was right (predictions.csv)."""
        predicted = self.predictions
        return pd.DataFrame({
            "image": self.names or range(len(self.labels)),
            "true": [self.classes[i] for i in self.labels],
            "predicted": [self.classes[i] for i in predicted],
            "probability": self.probabilities[np.arange(len(predicted)), predicted].round(6),
            "correct": predicted == self.labels})


# --- the figures ------------------------------------------------------------------------------

def check_classes(model_classes: list, data_classes: list, class_mapping=None) -> None:
    """Refuse data whose label map is not the model's: class ids would not line up."""
    model_classes, data_classes = list(model_classes), list(data_classes)
    if model_classes == data_classes:
        return
    only_model = [c for c in model_classes if c not in data_classes]
    only_data = [c for c in data_classes if c not in model_classes]
    if only_model or only_data:
        hint = ("" if class_mapping else " If the model was trained with merged classes, pass "
                "the same mapping (class_mapping=, or --merge-classes FILE).")
        raise EvaluationError(
            "The model's classes and the data's classes differ: only in the model: "
            f"{only_model or 'none'}; only in the data: {only_data or 'none'}. Evaluate the model "
            f"on data with its classes.{hint}")
    raise EvaluationError(
        "The model and the data have the same classes in a different order, so their class ids "
        f"do not line up (model: {model_classes}; data: {data_classes}). Convert the data again "
        "with this workbook (ids follow the sorted class names) or retrain the model.")


def summary_metrics(labels, probabilities, classes: list, top_k: int = settings.DEFAULT_TOP_K,
                    bins: int = settings.CALIBRATION_BINS) -> dict:
    """Accuracy, top-k accuracy, balanced accuracy, macro and weighted precision, recall and F1,
    the log loss and the expected calibration error (`bins` equal-width bins), from true labels
    [n] and probabilities [n, classes]."""
    from sklearn import metrics as sk
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predictions = probabilities.argmax(axis=1)
    ids = list(range(len(classes)))
    k = min(int(top_k), len(classes))
    result = {"images": int(len(labels)), "classes": len(classes),
              "accuracy": sk.accuracy_score(labels, predictions)}
    if k < len(classes):
        result[f"top_{k}_accuracy"] = sk.top_k_accuracy_score(labels, probabilities, k=k,
                                                              labels=ids)
    present = np.isin(ids, labels)  # balanced accuracy averages recall over classes present
    recall = sk.recall_score(labels, predictions, labels=ids, average=None, zero_division=0)
    result["balanced_accuracy"] = float(recall[present].mean())
    for average in ("macro", "weighted"):
        p, r, f, _ = sk.precision_recall_fscore_support(labels, predictions, labels=ids,
                                                        average=average, zero_division=0)
        result.update({f"{average}_precision": p, f"{average}_recall": r, f"{average}_f1": f})
    clipped = np.clip(probabilities, 1e-7, 1.0)
    result["loss"] = sk.log_loss(labels, clipped / clipped.sum(axis=1, keepdims=True), labels=ids)
    result["ece"] = confidence.expected_calibration_error(probabilities, labels, bins)
    return {key: (round(float(v), 6) if isinstance(v, (float, np.floating)) else v)
            for key, v in result.items()}


def per_class_table(labels, predictions, classes: list) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, then "macro avg" and "weighted avg" rows
    (scikit-learn's classification_report as a table)."""
    from sklearn import metrics as sk
    ids = list(range(len(classes)))
    p, r, f, s = sk.precision_recall_fscore_support(labels, predictions, labels=ids,
                                                    zero_division=0)
    table = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s},
                         index=pd.Index(classes, name="class"))
    for average in ("macro", "weighted"):
        ap, ar, af, _ = sk.precision_recall_fscore_support(labels, predictions, labels=ids,
                                                           average=average, zero_division=0)
        table.loc[f"{average} avg"] = [ap, ar, af, s.sum()]
    table["support"] = table["support"].astype(int)
    return table


def confusion_table(labels, predictions, classes: list) -> pd.DataFrame:
    """The confusion matrix: row = true class, column = predicted class, counts."""
    from sklearn.metrics import confusion_matrix
    counts = confusion_matrix(labels, predictions, labels=list(range(len(classes))))
    return pd.DataFrame(counts, index=pd.Index(classes, name="true"),
                        columns=pd.Index(classes, name="predicted"))


def read_confusion(path) -> pd.DataFrame:
    """A confusion_matrix.csv back as the table confusion_table made."""
    table = pd.read_csv(io.BytesIO(storage.read_bytes(path)), index_col=0, encoding="utf-8")
    table.columns.name = "predicted"
    return table


# --- predicting the evaluation data -----------------------------------------------------------

class _Mistakes:
    """Keeps the n most confident wrong predictions seen so far, most confident first (memory
    stays bounded while a split streams by): `heapq.nlargest` over those kept and the new one,
    which keeps the earlier of two equally confident mistakes."""

    def __init__(self, n: int):
        self.n, self.items = n, []

    def add(self, index: int, true: int, probabilities: np.ndarray, image=None, path=None,
            name=None):
        predicted = int(np.argmax(probabilities))
        if self.n <= 0 or predicted == true:
            return
        item = {"index": index, "true": true, "predicted": predicted,
                "probability": float(probabilities[predicted]), "image": image, "path": path,
                "name": name or path}
        self.items = heapq.nlargest(self.n, self.items + [item], key=lambda m: m["probability"])


def predict_records(model, records_dir, image_size: int, resize_method: str, split="validation",
                    class_mapping=None, batch_size: int = settings.EVALUATION_BATCH_SIZE,
                    mistakes: int = DEFAULT_MISTAKES, progress: bool = True):
    """Probabilities [n, classes], true labels [n] and file names [n] for every image of a split
    of the records (the last partial batch included), and the most confident mistakes with their
    images."""
    from .progress import tqdm
    data = pipeline.make_dataset(records_dir, split, image_size, batch_size, training=False,
                                 resize_method=resize_method, class_mapping=class_mapping)
    names = pipeline.record_filenames(records_dir, split)
    probabilities, labels, worst, seen = [], [], _Mistakes(mistakes), 0
    with tqdm(total=pipeline.known_total(records_dir, split), unit="image", desc="Evaluating",
              disable=not progress) as bar:
        for images, onehot in data:
            out = models.predict_rows(model, images, batch_size)
            true = np.argmax(onehot.numpy(), axis=1)
            for i in np.flatnonzero(out.argmax(axis=1) != true):
                worst.add(seen + i, int(true[i]), out[i], name=names[seen + i],
                          image=np.clip(images[i].numpy(), 0, 255).astype("uint8"))
            probabilities.append(out)
            labels.append(true)
            seen += len(true)
            bar.update(len(true))
    if not seen:
        raise EvaluationError(f"{records_dir} has no {split} records to evaluate.")
    return np.concatenate(probabilities), np.concatenate(labels), names, worst.items


def _result(classes, labels, probabilities, top_k, names, mistakes, skipped=None) -> Evaluation:
    predictions = np.argmax(probabilities, axis=1)
    return Evaluation(classes=list(classes), labels=labels, probabilities=probabilities,
                      metrics=summary_metrics(labels, probabilities, classes, top_k),
                      per_class=per_class_table(labels, predictions, classes),
                      confusion=confusion_table(labels, predictions, classes),
                      names=list(names), mistakes=mistakes, skipped=skipped or {})


def with_calibration(result: Evaluation, temperature: float = 1.0, threshold: float | None = None,
                     bins: int = settings.CALIBRATION_BINS) -> Evaluation:
    """The evaluation with the temperature applied to its probabilities (the model's own are
    kept as `raw_probabilities`) and the threshold's effect: metrics gain "calibration" (log
    loss and ECE before and after) and "unknown" (coverage, accuracy of the accepted, images
    sent to a person). Predictions, accuracy and the confusion matrix do not change."""
    raw = result.raw_probabilities if result.raw_probabilities is not None \
        else result.probabilities
    probabilities = confidence.apply_temperature(raw, temperature)
    top_k = next((int(m.group(1)) for key in result.metrics
                  if (m := re.fullmatch(r"top_(\d+)_accuracy", key))), settings.DEFAULT_TOP_K)
    metrics = summary_metrics(result.labels, probabilities, result.classes, top_k, bins)
    if temperature != 1.0:
        before = summary_metrics(result.labels, raw, result.classes, top_k, bins)
        metrics["calibration"] = {"temperature": float(temperature),
                                  "loss_before": before["loss"], "loss_after": metrics["loss"],
                                  "ece_before": before["ece"], "ece_after": metrics["ece"]}
    if threshold is not None:
        table = confidence.threshold_table(probabilities, result.labels, [threshold])
        row = table.iloc[0]
        metrics["unknown"] = {"threshold": float(threshold),
                              "coverage": round(float(row["coverage"]), 6),
                              "accuracy_accepted": None if np.isnan(row["accuracy"])
                              else round(float(row["accuracy"]), 6),
                              "sent_to_person": int(row["sent_to_person"])}
    mistakes = [dict(m, probability=float(probabilities[m["index"], m["predicted"]]))
                for m in result.mistakes]
    mistakes.sort(key=lambda m: -m["probability"])
    return Evaluation(classes=result.classes, labels=result.labels, probabilities=probabilities,
                      metrics=metrics, per_class=result.per_class, confusion=result.confusion,
                      names=result.names, mistakes=mistakes, skipped=result.skipped,
                      temperature=float(temperature),
                      raw_probabilities=raw if temperature != 1.0 else None,
                      threshold=threshold, bins=bins)


def results_dir(model_dir, split: str = "validation") -> str:
    """Where an evaluation of SPLIT is written: the model directory for validation,
    MODEL_DIR/evaluation-<split>/ for the others (the test figures stay apart)."""
    return str(model_dir) if split == "validation" else storage.join(
        model_dir, SPLIT_RESULTS_DIR.format(split=split))


def evaluate_model(model, classes, config, records_dir=None, data_dir=None, split="validation",
                   class_mapping=None, top_k: int = settings.DEFAULT_TOP_K,
                   batch_size: int = settings.EVALUATION_BATCH_SIZE,
                   mistakes: int = DEFAULT_MISTAKES,
                   progress: bool = True) -> Evaluation:
    """Evaluate a loaded model (classes and config from its model directory) on the records of
    notebook 02 (`records_dir`) or on a dataset folder of notebook 01 (`data_dir`)."""
    if (records_dir is None) == (data_dir is None):
        raise EvaluationError("Give the data to evaluate on: records_dir (TFRecords of notebook "
                              "02) or data_dir (a folder with validation/<class>/ images).")
    if class_mapping is not None:
        class_mapping = layout.load_class_mapping(class_mapping)
    image_size = int(config["image_size"])
    resize_method = modeldir.resize_method(config)
    if records_dir is not None:
        if not storage.exists(records_dir):
            raise EvaluationError(f"{records_dir} does not exist: give the records folder that "
                                  "notebook 02 (or `effnet convert`) wrote.")
        check_classes(classes, pipeline.read_classes(records_dir, class_mapping), class_mapping)
        probabilities, labels, names, worst = predict_records(
            model, records_dir, image_size, resize_method, split, class_mapping, batch_size,
            mistakes, progress)
        return _result(classes, labels, probabilities, top_k, names, worst)
    predictor = inference.Predictor(model, list(classes), config)
    probabilities, labels, paths, skipped, data_classes = inference.predict_folder_split(
        predictor, data_dir, split, class_mapping, batch_size, progress)
    check_classes(classes, data_classes, class_mapping)
    if not len(labels):
        raise EvaluationError(f"No image of {data_dir}/{split} could be read: {skipped}")
    worst = _Mistakes(mistakes)
    for i in range(len(labels)):
        worst.add(i, int(labels[i]), probabilities[i], path=paths[i])
    return _result(classes, labels, probabilities, top_k, paths, worst.items, skipped)


def evaluate(model_dir, records_dir=None, data_dir=None, split="validation", class_mapping=None,
             top_k: int = settings.DEFAULT_TOP_K, batch_size: int = settings.EVALUATION_BATCH_SIZE,
             mistakes: int = DEFAULT_MISTAKES, write: bool = True,
             progress: bool = True) -> Evaluation:
    """Evaluate the trained model of a model directory on every image of a split, and (write)
    save metrics.json, per_class.csv, confusion_matrix.csv and the pictures beside it (for a
    split other than validation: in MODEL_DIR/evaluation-<split>/, `results_dir`). A calibrated
    model's temperature and threshold are applied (`with_calibration`)."""
    try:
        predictor = inference.load_predictor(model_dir)
    except (inference.InferenceError, confidence.CalibrationError) as error:
        raise EvaluationError(str(error)) from None
    result = evaluate_model(predictor.model, predictor.classes, predictor.config, records_dir,
                            data_dir, split, class_mapping, top_k, batch_size, mistakes, progress)
    if predictor.temperature != 1.0 or predictor.threshold is not None:
        result = with_calibration(result, predictor.temperature, predictor.threshold)
    result.metrics.update({"split": split, "data": str(records_dir or data_dir),
                           "model": predictor.config.get("model"),
                           "image_size": predictor.image_size, "skipped": len(result.skipped)})
    if write:
        out = results_dir(model_dir, split)
        storage.makedirs(out)
        write_results(result, out)
    return result


def write_results(result: Evaluation, out_dir) -> list[str]:
    """metrics.json, per_class.csv, confusion_matrix.csv, predictions.csv (UTF-8) and the
    pictures; returns the paths. Each file is written whole or not at all."""
    written = []

    def put(name, data):
        path = storage.join(out_dir, name)
        storage.write_atomic(path, data)
        written.append(path)

    put(METRICS_FILE, json.dumps(result.metrics, indent=2, ensure_ascii=False) + "\n")
    put(PER_CLASS_FILE, result.per_class.round(6).to_csv())
    put(CONFUSION_FILE, result.confusion.to_csv())
    put(PREDICTIONS_FILE, result.table().to_csv(index=False))
    put(RELIABILITY_FILE, result.reliability().round(6).to_csv(index=False))
    put(RISK_COVERAGE_FILE, result.thresholds().round(6).to_csv(index=False))
    diagrams = {"calibrated" if result.raw_probabilities is not None else "model":
                result.reliability()}
    if result.raw_probabilities is not None:
        diagrams = {"before (T = 1)": result.reliability(calibrated=False),
                    f"after (T = {result.temperature:.2f})": diagrams["calibrated"]}
    split = result.metrics.get("split", "validation")
    figures = [(CONFUSION_PLOT, plot_confusion_matrix(result.confusion)),
               (CONFUSION_NORMALIZED_PLOT, plot_confusion_matrix(result.confusion, True)),
               (RELIABILITY_PLOT, confidence.plot_reliability_diagram(
                   diagrams, title=f"Reliability diagram ({split})")),
               (RISK_COVERAGE_PLOT, confidence.plot_risk_coverage(
                   result.risk_coverage(), result.threshold,
                   title=f"Accuracy against coverage ({split})"))]
    if result.mistakes:
        figures.append((MISTAKES_PLOT, plot_mistakes(result)))
    for name, figure in figures:
        path = storage.join(out_dir, name)
        storage.save_figure(figure, path)
        written.append(path)
    return written


# --- checkpoints (the original system's --eval_iterator) ----------------------------------------

def checkpoint_paths(model_dir, which="latest") -> list[tuple[int, str]]:
    """[(epoch, path)] of the checkpoints to evaluate: "latest", "all", or an epoch number N
    (every checkpoint from epoch N on)."""
    folder = storage.join(model_dir, modeldir.CHECKPOINT_DIR)
    found = sorted((int(m.group(1)), storage.join(folder, name))
                   for name in (storage.listdir(folder) if storage.isdir(folder) else [])
                   if (m := CHECKPOINT_RE.match(name)))
    if not found:
        raise EvaluationError(f"{model_dir} has no checkpoints ({modeldir.CHECKPOINT_DIR}/"
                              "epoch-NNN.keras): training writes one per epoch.")
    text = str(which).strip().lower()
    if text == "latest":
        return found[-1:]
    if text == "all":
        return found
    if text.isdigit():
        chosen = [(e, p) for e, p in found if e >= int(text)]
        if not chosen:
            raise EvaluationError(f"No checkpoint from epoch {text} on; the last is epoch "
                                  f"{found[-1][0]}.")
        return chosen
    raise EvaluationError(f'checkpoints: "latest", "all" or an epoch number, not {which!r}.')


def evaluate_checkpoints(model_dir, records_dir=None, data_dir=None, which="all",
                         split="validation", class_mapping=None,
                         top_k: int = settings.DEFAULT_TOP_K,
                         batch_size: int = settings.EVALUATION_BATCH_SIZE, write: bool = True,
                         progress: bool = True) -> pd.DataFrame:
    """Metrics of each chosen checkpoint, a row per epoch; written as checkpoint_metrics.csv
    (and its plot) into the model directory when several were evaluated."""
    from .progress import tqdm
    predictor = inference.load_predictor(model_dir, load_model=False)  # each checkpoint's instead
    phases = {row["epoch"]: row.get("phase", "") for row in modeldir.read_history(model_dir)}
    rows = []
    chosen = checkpoint_paths(model_dir, which)
    for epoch, path in tqdm(chosen, unit="checkpoint", desc="Checkpoints",
                            disable=not progress or len(chosen) < 2):
        model = models.load_model(path, float32=True)  # mixed-precision runs compute in float32
        result = evaluate_model(model, predictor.classes, predictor.config, records_dir,
                                data_dir, split, class_mapping, top_k, batch_size, mistakes=0,
                                progress=False)
        rows.append({"epoch": epoch, "phase": phases.get(epoch, ""),
                     "checkpoint": storage.basename(path),
                     **{k: v for k, v in result.metrics.items() if k not in ("images", "classes")},
                     "images": result.metrics["images"]})
    table = pd.DataFrame(rows)
    if write and len(table) > 1:
        storage.write_atomic(storage.join(model_dir, CHECKPOINT_METRICS_FILE),
                             table.to_csv(index=False))
        storage.save_figure(plot_checkpoint_metrics(table),
                            storage.join(model_dir, CHECKPOINT_METRICS_PLOT))
    return table


def best_checkpoint(table: pd.DataFrame, metric: str = "accuracy") -> int:
    """The epoch to keep, chosen on the table of `evaluate_checkpoints` (validation): the highest
    `metric`, ties to the lower loss, then to the later epoch."""
    if table.empty:
        raise EvaluationError("No checkpoint was evaluated: nothing to choose from.")
    ranked = table.sort_values([metric, "loss", "epoch"], ascending=[False, True, False])
    return int(ranked["epoch"].iloc[0])


def checkpoint_model_dir(model_dir, epoch: int) -> str:
    """A model directory whose model is the checkpoint of EPOCH, to calibrate, test, predict and
    export as the chosen model: MODEL_DIR itself when EPOCH is its last (model.keras is that
    checkpoint), else MODEL_DIR/chosen-epoch-NNN/ (config, label map and the checkpoint as
    model.keras, copied once)."""
    found = dict(checkpoint_paths(model_dir, "all"))
    if epoch not in found:
        raise EvaluationError(f"{model_dir} has no checkpoint of epoch {epoch}; it has "
                              f"{sorted(found)}.")
    history = modeldir.read_history(model_dir)
    if history and epoch == int(history[-1]["epoch"]):
        return str(model_dir)
    out = storage.join(model_dir, CHOSEN_DIR.format(epoch=epoch))
    if not storage.exists(storage.join(out, modeldir.MODEL_FILE)):
        storage.makedirs(out)
        for name in (modeldir.CONFIG_FILE, settings.LABEL_MAP_FILE):
            storage.write_atomic(storage.join(out, name),
                                 storage.read_bytes(storage.join(model_dir, name)))
        storage.write_atomic(storage.join(out, modeldir.MODEL_FILE),
                             storage.read_bytes(found[epoch]))  # written last: marks it complete
    return out


# --- pictures ---------------------------------------------------------------------------------

def plot_confusion_matrix(table: pd.DataFrame, normalize: bool = False, title: str | None = None):
    """A heatmap of the confusion matrix (rows true, columns predicted). normalize: each row as
    percentages of its class (recall on the diagonal). Counts are written in the cells up to
    25 classes; beyond, the size and the labels' font adapt (100 classes stay readable)."""
    import matplotlib.pyplot as plt

    from . import plots  # noqa: F401  (registers the Japanese font for class names)
    counts = table.to_numpy(dtype=float)
    n = len(table)
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) * 100 if normalize \
        else counts
    side = float(np.clip(0.55 * n + 3.5, 7, 30))
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=100 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03,
                 label="% of the true class" if normalize else "images")
    font = 13 if n <= 12 else max(5, int(14 - n / 9))
    ax.set_xticks(range(n), [str(c) for c in table.columns], rotation=90, fontsize=font)
    ax.set_yticks(range(n), [str(c) for c in table.index], fontsize=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.grid(False)
    if n <= ANNOTATE_UP_TO:
        top = values.max() or 1
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    text = f"{values[i, j]:.0f}" if normalize else f"{int(counts[i, j])}"
                    ax.text(j, i, text, ha="center", va="center", fontsize=max(8, font - 2),
                            color="white" if values[i, j] > top * 0.6 else "black")
    ax.set_title(title or ("Confusion matrix, % of each true class" if normalize
                           else "Confusion matrix (images)"))
    return fig


def plot_mistakes(result: Evaluation, ncols: int = 6):
    """The most confident mistakes: each image with its true and predicted class."""
    from . import plots
    pictures, titles = [], []
    for m in result.mistakes:
        pictures.append(m["image"] if m.get("image") is not None
                        else plots.load_for_display(m["path"]))
        titles.append(f"{storage.basename(m['name'] or '')[:18]}\n"
                      f"true: {result.classes[m['true']]}\n"
                      f"said: {result.classes[m['predicted']]} {m['probability']:.0%}")
    return plots.image_grid(pictures, titles, ncols=min(ncols, max(len(pictures), 1)),
                            suptitle="The most confident mistakes")


def plot_checkpoint_metrics(table: pd.DataFrame):
    """Validation accuracy (and top-k, balanced accuracy, macro F1) per checkpoint epoch."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    fig, ax = plt.subplots(figsize=(10, 4.5))
    columns = [c for c in table.columns if c.endswith("accuracy") or c == "macro_f1"]
    # Close metrics lie on top of each other: each its own marker and dash, so all stay visible.
    styles = [("o", "-", 9), ("s", "--", 8), ("^", ":", 7), ("D", "-.", 6)]
    for column, (marker, dash, size) in zip(columns, styles * len(columns)):
        ax.plot(table["epoch"], table[column], marker=marker, linestyle=dash, markersize=size,
                linewidth=2, label=column.replace("_", " "))
    ax.set_xlabel("checkpoint (epoch)")
    ax.set_ylabel("on the validation images")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    lowest = float(np.nanmin(table[columns].to_numpy())) if columns else 0.0
    ax.set_ylim(max(0.0, lowest - 0.1 * (1.0 - lowest) - 0.02), 1.005)  # zoomed on the values
    ax.set_title("Validation metrics per checkpoint")
    ax.legend(fontsize=11, loc="lower right")
    return fig
