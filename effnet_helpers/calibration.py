"""Calibrated confidence and an "unknown" answer: temperature scaling, the expected calibration
error (ECE), reliability diagrams, and a confidence threshold below which a prediction goes to a
person (the risk-coverage trade-off). docs/evaluation.md explains each choice.

    result = calibration.calibrate(MODEL_DIR, RECORDS_DIR)    # fits on validation, writes
    calibration.read_calibration(MODEL_DIR)           # {"temperature": 1.7, "threshold": ...}

`calibrate` (this module: the stage) predicts every validation image once, fits ONE number, the
temperature T, that minimises the log loss of softmax(log p / T) (Guo et al. 2017), chooses the
threshold on the calibrated probabilities (the lowest confidence at which the accepted images are
right at least `target_precision` of the time, as a 95% lower confidence bound, or the one that
accepts `target_coverage` of them), and stores both in MODEL_DIR/calibration.json. From then on every probability the workbook shows is
calibrated: `inference` (predict), `evaluation`, and the SavedModel and TFLite exports.
The arithmetic and the reader of calibration.json are in `confidence` (which those stages
import); their names are importable from here too, as notebook 04 uses them.
"""
from __future__ import annotations

import json

from . import evaluation, inference, modeldir, settings, storage
from .confidence import (  # noqa: F401  (the lessons call them as calibration.<name>)
    CalibrationError,
    LOG_FLOOR,
    TEMPERATURE_RANGE,
    THRESHOLD_GRID,
    apply_temperature,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    log_loss,
    plot_reliability_diagram,
    plot_risk_coverage,
    precision_lower_bound,
    read_calibration,
    reliability_table,
    risk_coverage,
    temperature_of,
    tf_apply_temperature,
    threshold_of,
    threshold_table,
)


def calibrate(model_dir, records_dir=None, data_dir=None, split: str = "validation",
              target_precision: float | None = None, target_coverage: float | None = None,
              class_mapping=None, batch_size: int = settings.EVALUATION_BATCH_SIZE,
              bins: int = settings.CALIBRATION_BINS,
              progress: bool = True, write: bool = True,
              confidence: float | None = settings.THRESHOLD_CONFIDENCE):
    """Fit the temperature and choose the "unknown" threshold on the validation split (records
    of notebook 02, or a folder's validation/ images), store them in MODEL_DIR/calibration.json,
    and write the validation evaluation with calibrated probabilities (metrics.json holds the
    log loss and ECE before and after). Returns that evaluation (`evaluation.Evaluation`), with
    the stored record as its `calibration`.

    Never on the test split: a test figure stays honest only if nothing was chosen on it."""
    if split != "validation":
        raise CalibrationError(f"Calibrate on the validation split, not {split!r}: the "
                               "temperature and threshold are choices, and the test split must "
                               "not take part in any choice (docs/evaluation.md).")
    try:
        predictor = inference.load_predictor(model_dir)
    except inference.InferenceError as error:
        raise CalibrationError(str(error)) from None
    run = (modeldir.saved_config(model_dir) or {}).get("run", {})
    if run.get("include_validation"):
        raise CalibrationError(f"{model_dir} was trained on the validation images too "
                               "(--include-validation): fitted on them, the temperature would "
                               "only measure memory. Calibrate a model trained without them.")
    raw = evaluation.evaluate_model(predictor.model, predictor.classes, predictor.config,
                                    records_dir, data_dir, split, class_mapping,
                                    batch_size=batch_size, progress=progress)
    temperature = fit_temperature(raw.probabilities, raw.labels)
    calibrated = apply_temperature(raw.probabilities, temperature)
    choice = choose_threshold(calibrated, raw.labels, target_precision, target_coverage,
                              confidence)
    low, high = TEMPERATURE_RANGE
    record = {
        "temperature": temperature, "threshold": choice["threshold"],
        "target": choice["target"], "reached": choice["reached"],
        "at_threshold": {k: choice[k] for k in ("precision", "precision_bound", "coverage",
                                                "accepted", "sent_to_person")},
        "at_bound": not low * 1.01 < temperature < high * 0.99,
        "fitted_on": {"split": split, "data": str(records_dir or data_dir),
                      "images": int(len(raw.labels))},
        "bins": int(bins),
        "before": {"loss": round(log_loss(raw.probabilities, raw.labels), 6),
                   "ece": round(expected_calibration_error(raw.probabilities, raw.labels,
                                                           bins), 6)},
        "after": {"loss": round(log_loss(calibrated, raw.labels), 6),
                  "ece": round(expected_calibration_error(calibrated, raw.labels, bins), 6)},
    }
    result = evaluation.with_calibration(raw, temperature, choice["threshold"], bins)
    result.calibration = record
    result.metrics.update({"split": split, "data": str(records_dir or data_dir),
                           "model": predictor.config.get("model"),
                           "image_size": predictor.image_size, "skipped": len(result.skipped)})
    if write:
        storage.write_atomic(storage.join(model_dir, settings.CALIBRATION_FILE),
                             json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        evaluation.write_results(result, model_dir)
    return result


def summary_text(record: dict) -> str:
    """Two or three lines a person reads after calibrating."""
    target = record["target"]
    wanted = (f"precision {target['precision']:.1%}" + (
        f" (at {target['confidence']:.0%} confidence)" if target.get("confidence") else "")
        if "precision" in target else f"coverage {target['coverage']:.0%}")
    at = record["at_threshold"]
    fitted = record["fitted_on"]
    lines = [f"Temperature {record['temperature']:.3f} (fitted on {fitted['images']:,} "
             f"{fitted['split']} images): log loss {record['before']['loss']:.4f} -> "
             f"{record['after']['loss']:.4f}, ECE {record['before']['ece']:.4f} -> "
             f"{record['after']['ece']:.4f}.",
             f"Threshold {record['threshold']:.6f} for {wanted}: {at['accepted']:,} images "
             f"named, {at['precision']:.1%} of them right (lower bound "
             f"{at.get('precision_bound', at['precision']):.1%}), {at['sent_to_person']:,} sent "
             f"to a person (coverage {at['coverage']:.1%})."]
    if not record["reached"]:
        lines.append("The target precision was not reached at any threshold (too few "
                     "validation images, or too many confident mistakes): the threshold of the "
                     "best lower bound is stored instead.")
    if record.get("at_bound"):
        lines.append("The temperature reached the end of its search range: the validation "
                     "images may be too few, or all predicted right.")
    return "\n".join(lines)
