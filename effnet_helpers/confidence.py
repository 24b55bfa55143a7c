"""Confidence that means what it says: temperature scaling, the expected calibration error
(ECE), reliability diagrams, a confidence threshold below which a prediction goes to a person
(the risk-coverage trade-off), and the reader of MODEL_DIR/calibration.json. Plain numpy on
arrays of probabilities; `calibration.calibrate` (the stage) fits and stores them, `evaluation`,
`inference` and `export` apply them. docs/evaluation.md explains each choice.

The model's outputs are softmax probabilities; their logarithms are its logits up to a constant
per image, which softmax ignores, so scaling log p by 1/T is temperature scaling of the logits.
Dividing by T never changes which class is the most probable: accuracy stays what it was.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import settings, storage
from .backend import tensorflow

LOG_FLOOR = 1e-12                 # log(p) of a probability that float32 rounded to 0
TEMPERATURE_RANGE = (0.05, 20.0)  # the search interval; the bounds are reported when reached
THRESHOLD_GRID = tuple(round(x, 2) for x in np.arange(0.0, 1.0, 0.05)) + (0.97, 0.98, 0.99)


class CalibrationError(ValueError):
    """Calibration cannot run as asked; the message says why and what to do."""


# --- temperature scaling ----------------------------------------------------------------------

def _log_probabilities(probabilities) -> np.ndarray:
    return np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), LOG_FLOOR))


def apply_temperature(probabilities, temperature: float) -> np.ndarray:
    """softmax(log p / T) per row: T > 1 softens over-confident probabilities, T < 1 sharpens
    them, T = 1 returns them as they are. Rows of NaN (images that failed) stay NaN."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if temperature == 1.0:
        return probabilities
    scaled = _log_probabilities(probabilities) / float(temperature)
    if scaled.size:
        scaled -= np.fmax.reduce(scaled, axis=1, keepdims=True)  # NaN rows stay NaN, silently
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def tf_apply_temperature(probabilities, temperature: float):
    """apply_temperature inside a TensorFlow graph (the exports): the same formula."""
    tf = tensorflow()
    if temperature == 1.0:
        return probabilities
    logits = tf.math.log(tf.maximum(tf.cast(probabilities, tf.float32), LOG_FLOOR))
    return tf.nn.softmax(logits / float(temperature), axis=-1)


def log_loss(probabilities, labels) -> float:
    """Mean negative log-likelihood of the true classes (natural log)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    true = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(true, LOG_FLOOR)).mean())


def fit_temperature(probabilities, labels) -> float:
    """The temperature that minimises the log loss of `apply_temperature(probabilities, T)` on
    these labels (one scalar; bounded search over TEMPERATURE_RANGE). The loss is convex in 1/T,
    so the bounded Brent search finds its minimum."""
    from scipy.optimize import minimize_scalar
    labels = np.asarray(labels, dtype=int)
    logits = _log_probabilities(probabilities)
    if not len(labels):
        raise CalibrationError("No images to fit the temperature on.")
    true = logits[np.arange(len(labels)), labels]

    def loss(inverse):
        z = logits * inverse
        top = z.max(axis=1)
        return float((top + np.log(np.exp(z - top[:, None]).sum(axis=1)) - true * inverse).mean())

    low, high = TEMPERATURE_RANGE
    found = minimize_scalar(loss, bounds=(1 / high, 1 / low), method="bounded",
                            options={"xatol": 1e-6})
    return float(round(1 / found.x, 4))


# --- how well the confidence matches the accuracy ---------------------------------------------

def reliability_table(probabilities, labels, bins: int = settings.CALIBRATION_BINS) -> pd.DataFrame:
    """The data of a reliability diagram: the top-1 confidences cut into `bins` equal-width bins
    over 0..1 (each bin (lower, upper]; the first also takes 0); per bin the images, their mean
    confidence, their accuracy and the gap (confidence - accuracy: > 0 over-confident)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows = []
    for b in range(int(bins)):
        inside = index == b
        n = int(inside.sum())
        rows.append({"lower": edges[b], "upper": edges[b + 1], "images": n,
                     "confidence": float(confidence[inside].mean()) if n else np.nan,
                     "accuracy": float(correct[inside].mean()) if n else np.nan})
    table = pd.DataFrame(rows)
    table["gap"] = table["confidence"] - table["accuracy"]
    return table


def expected_calibration_error(probabilities, labels,
                               bins: int = settings.CALIBRATION_BINS) -> float:
    """ECE: the images-weighted mean of |accuracy - mean confidence| over equal-width confidence
    bins (Naeini et al. 2015; Guo et al. 2017 with 15 bins). 0 is perfectly calibrated; 0.05
    means the stated confidence is off by 5 points on average."""
    table = reliability_table(probabilities, labels, bins)
    filled = table[table["images"] > 0]
    if filled.empty:
        return float("nan")
    return float((filled["images"] * filled["gap"].abs()).sum() / filled["images"].sum())


# --- the "unknown" answer -----------------------------------------------------------------------

def risk_coverage(probabilities, labels) -> pd.DataFrame:
    """The risk-coverage curve: for each threshold t (the distinct top-1 confidences, highest
    first), accepting the images with confidence >= t. Columns: threshold, accepted,
    sent_to_person (the others), coverage (accepted share), accuracy of the accepted and risk
    (1 - accuracy)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == np.asarray(labels)).astype(float)
    order = np.argsort(-confidence, kind="stable")
    confidence, correct = confidence[order], correct[order]
    right = np.cumsum(correct)
    last = np.r_[np.flatnonzero(np.diff(confidence) != 0), len(confidence) - 1]  # end of ties
    accepted = last + 1
    table = pd.DataFrame({"threshold": confidence[last], "accepted": accepted,
                          "sent_to_person": len(confidence) - accepted,
                          "coverage": accepted / max(len(confidence), 1),
                          "accuracy": right[last] / accepted})
    table["risk"] = 1 - table["accuracy"]
    return table


def threshold_table(probabilities, labels, thresholds=THRESHOLD_GRID) -> pd.DataFrame:
    """What each threshold of a short list would do: images accepted and sent to a person,
    coverage and accuracy of the accepted (NaN when none is accepted)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    rows = []
    for t in sorted(set(float(x) for x in thresholds)):
        keep = confidence >= t
        rows.append({"threshold": t, "accepted": int(keep.sum()),
                     "sent_to_person": int((~keep).sum()),
                     "coverage": float(keep.mean()) if len(keep) else np.nan,
                     "accuracy": float(correct[keep].mean()) if keep.any() else np.nan})
    return pd.DataFrame(rows)


def _floor6(value: float) -> float:
    """Rounded down to the 6 decimals the prediction tables show, so that an image of exactly
    this confidence, shown rounded, is still accepted."""
    return math.floor(float(value) * 1e6) / 1e6


def precision_lower_bound(right, accepted,
                          confidence: float | None = settings.THRESHOLD_CONFIDENCE):
    """A one-sided lower confidence bound on the precision of images accepted: `right` of
    `accepted` were right. Clopper-Pearson (exact binomial) at `confidence`; None: the observed
    share itself. With 299 accepted and none wrong the 95% bound is 0.990: fewer images cannot
    show 99% precision, however right they all were."""
    from scipy.stats import beta
    right, accepted = np.asarray(right, dtype=float), np.asarray(accepted, dtype=float)
    share = np.divide(right, accepted, out=np.zeros_like(right), where=accepted > 0)
    if confidence is None:
        return share
    bound = beta.ppf(1 - float(confidence), np.maximum(right, 1e-12), accepted - right + 1)
    return np.where(right > 0, bound, 0.0)


def choose_threshold(probabilities, labels, target_precision: float | None = None,
                     target_coverage: float | None = None,
                     confidence: float | None = settings.THRESHOLD_CONFIDENCE) -> dict:
    """The confidence threshold for the "unknown" answer, chosen on these (validation)
    probabilities: the lowest at which the accepted images are right at least
    `target_precision` of the time (default settings.TARGET_PRECISION) with `confidence`: the
    precision's lower confidence bound (`precision_lower_bound`, 95% by default; None: the
    observed precision) must reach the target, so that a few lucky images do not set it (the
    selection-with-guaranteed-risk idea of Geifman and El-Yaniv, 2017). With `target_coverage`:
    the threshold that accepts that share of the images, the most confident first. Returns
    threshold, precision (observed, of the accepted), precision_bound, coverage, accepted,
    sent_to_person, target and reached (False when no threshold reaches the target: then the
    threshold of the best bound is given)."""
    if target_precision is not None and target_coverage is not None:
        raise CalibrationError("Give a target precision or a target coverage, not both.")
    curve = risk_coverage(probabilities, labels)
    if curve.empty:
        raise CalibrationError("No images to choose a threshold on.")
    if confidence is not None and not 0 < confidence < 1:
        raise CalibrationError(f"confidence must be between 0 and 1, not {confidence}")
    bound = precision_lower_bound(np.round(curve["accuracy"] * curve["accepted"]),
                                  curve["accepted"], confidence)
    if target_coverage is not None:
        if not 0 < target_coverage <= 1:
            raise CalibrationError(f"target coverage must be in (0, 1], not {target_coverage}")
        position = int(np.flatnonzero(curve["coverage"] >= target_coverage - 1e-12)[0])
        target, reached = {"coverage": float(target_coverage)}, True
    else:
        target_precision = settings.TARGET_PRECISION if target_precision is None \
            else float(target_precision)
        if not 0 < target_precision <= 1:
            raise CalibrationError(f"target precision must be in (0, 1], not {target_precision}")
        good = np.flatnonzero(bound >= target_precision - 1e-12)
        reached = len(good) > 0
        position = int(good[-1]) if reached else int(np.argmax(bound))
        target = {"precision": target_precision, "confidence": confidence}
    row = curve.iloc[position]
    return {"threshold": _floor6(row["threshold"]), "precision": round(float(row["accuracy"]), 6),
            "precision_bound": round(float(bound[position]), 6),
            "coverage": round(float(row["coverage"]), 6), "accepted": int(row["accepted"]),
            "sent_to_person": int(row["sent_to_person"]), "target": target,
            "reached": bool(reached)}


# --- the model directory ------------------------------------------------------------------------

def read_calibration(model_dir) -> dict | None:
    """MODEL_DIR/calibration.json ({"temperature", "threshold", ...}), or None when the model
    was never calibrated. Read as JSON data only."""
    path = storage.join(model_dir, settings.CALIBRATION_FILE)
    if not storage.exists(path):
        return None
    try:
        record = storage.read_json(path)
        float(record["temperature"])
    except (ValueError, KeyError, TypeError) as error:
        raise CalibrationError(f"{path} is not a calibration this workbook wrote ({error}): "
                               "delete it and run `effnet calibrate` again.") from None
    return record


def temperature_of(model_dir) -> float:
    """The model directory's temperature, 1.0 (probabilities as they are) when uncalibrated."""
    record = read_calibration(model_dir)
    return float(record["temperature"]) if record else 1.0


def threshold_of(model_dir) -> float | None:
    """The stored "unknown" threshold, or None when the model was never calibrated."""
    record = read_calibration(model_dir)
    return None if not record or record.get("threshold") is None else float(record["threshold"])


# --- pictures -----------------------------------------------------------------------------------

def plot_reliability_diagram(tables: dict, title: str = "Reliability diagram"):
    """Accuracy against confidence per bin for one or more `reliability_table`s ({"before": t1,
    "after": t2}), with the diagonal of perfect calibration and each curve's ECE in the legend."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    for name, table in tables.items():
        filled = table[table["images"] > 0]
        ece = float((filled["images"] * filled["gap"].abs()).sum() / max(filled["images"].sum(), 1))
        ax.plot(filled["confidence"], filled["accuracy"], "-o", markersize=6,
                label=f"{name} (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (mean top-1 probability in the bin)")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=11)
    return fig


def plot_risk_coverage(curve: pd.DataFrame, threshold: float | None = None,
                       title: str = "Accuracy against coverage"):
    """The accuracy of the accepted images against the share accepted (coverage), as the
    threshold rises; the chosen threshold marked."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.plot(curve["coverage"], curve["accuracy"], "-", linewidth=2.5)
    if threshold is not None:
        row = curve[curve["threshold"] >= threshold].iloc[-1] if (
            curve["threshold"] >= threshold).any() else curve.iloc[0]
        ax.plot([row["coverage"]], [row["accuracy"]], "o", markersize=11, color="#d62728",
                label=f"threshold {threshold:.3f}: {row['coverage']:.0%} named, "
                      f"{int(row['sent_to_person'])} to a person")
        ax.legend(loc="lower left", fontsize=11)
    ax.set_xlim(0, 1.02)
    low = float(np.nanmin(curve["accuracy"])) if len(curve) else 0.0
    ax.set_ylim(max(0.0, low - 0.05), 1.005)
    ax.set_xlabel("coverage (share of images the model names)")
    ax.set_ylabel("accuracy of the named images")
    ax.set_title(title)
    return fig
