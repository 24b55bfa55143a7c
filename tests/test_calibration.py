"""Calibration on synthetic logits, where the right answer is known: temperature scaling finds the
temperature that made probabilities over-confident, the ECE measures what the reliability table
shows, and the "unknown" threshold keeps the most images at the precision asked for."""
from __future__ import annotations

import json

import numpy as np
import pytest

from effnet_helpers import calibration, settings
from effnet_helpers.calibration import CalibrationError


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def synthetic(n: int = 20_000, classes: int = 6, sharpen: float = 1.0, seed: int = 0):
    """Labels drawn from softmax(z), so softmax(z) is calibrated by construction; the returned
    probabilities are softmax(sharpen * z): over-confident for sharpen > 1 (temperature
    `sharpen` undoes it)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, (n, classes))
    true = softmax(z)
    labels = np.array([rng.choice(classes, p=p) for p in true])
    return softmax(sharpen * z), labels


def test_temperature_one_changes_nothing_and_no_temperature_changes_the_ranking():
    probabilities, _ = synthetic(500)
    assert calibration.apply_temperature(probabilities, 1.0) is not None
    np.testing.assert_allclose(calibration.apply_temperature(probabilities, 1.0), probabilities)
    for t in (0.3, 2.5, 10.0):
        scaled = calibration.apply_temperature(probabilities, t)
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0, rtol=1e-9)
        assert (np.argsort(scaled, axis=1) == np.argsort(probabilities, axis=1)).all()
    soft, sharp = (calibration.apply_temperature(probabilities, t) for t in (3.0, 0.5))
    assert (soft.max(axis=1) <= probabilities.max(axis=1) + 1e-12).all()
    assert (sharp.max(axis=1) >= probabilities.max(axis=1) - 1e-12).all()


def test_nan_rows_of_failed_images_stay_nan():
    probabilities = np.array([[0.7, 0.2, 0.1], [np.nan, np.nan, np.nan]])
    scaled = calibration.apply_temperature(probabilities, 2.0)
    assert np.isnan(scaled[1]).all() and np.isfinite(scaled[0]).all()


@pytest.mark.parametrize("sharpen", [0.5, 1.0, 2.0, 4.0])
def test_fit_temperature_recovers_the_distortion(sharpen):
    probabilities, labels = synthetic(sharpen=sharpen)
    temperature = calibration.fit_temperature(probabilities, labels)
    assert temperature == pytest.approx(sharpen, rel=0.06)
    fitted = calibration.apply_temperature(probabilities, temperature)
    before = calibration.log_loss(probabilities, labels)
    assert calibration.log_loss(fitted, labels) <= before + 1e-9


def test_ece_is_small_when_calibrated_large_when_over_confident_and_fixed_by_temperature():
    calibrated, labels = synthetic(sharpen=1.0)
    over, _ = synthetic(sharpen=3.0)
    assert calibration.expected_calibration_error(calibrated, labels) < 0.02
    before = calibration.expected_calibration_error(over, labels)
    assert before > 0.1
    after = calibration.expected_calibration_error(
        calibration.apply_temperature(over, calibration.fit_temperature(over, labels)), labels)
    assert after < 0.02 < before


def test_ece_by_hand_and_the_reliability_table():
    # 4 images: confidences 0.95, 0.95 (one right), 0.55, 0.55 (both right)
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    labels = np.array([0, 1, 0, 1])
    table = calibration.reliability_table(probabilities, labels, bins=10)
    assert len(table) == 10 and table["images"].sum() == 4
    top = table.iloc[9]
    assert (top["lower"], top["upper"], top["images"]) == (pytest.approx(0.9), 1.0, 2)
    assert top["confidence"] == pytest.approx(0.95) and top["accuracy"] == 0.5
    middle = table.iloc[5]
    assert middle["images"] == 2 and middle["accuracy"] == 1.0
    # ECE = 2/4 * |0.5 - 0.95| + 2/4 * |1.0 - 0.55|
    assert calibration.expected_calibration_error(probabilities, labels, bins=10) == \
        pytest.approx(0.5 * 0.45 + 0.5 * 0.45)
    # a confidence exactly on a bin edge belongs to the lower bin ((lower, upper])
    edge = calibration.reliability_table(np.array([[0.5, 0.5]]), np.array([0]), bins=10)
    assert edge.iloc[4]["images"] == 1


def test_risk_coverage_counts_every_image_and_groups_ties():
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 0, 0])
    curve = calibration.risk_coverage(probabilities, labels)
    assert list(curve["threshold"]) == [0.9, 0.8, 0.7, 0.6]       # the two 0.9s are one step
    assert list(curve["accepted"]) == [2, 3, 4, 5]
    assert list(curve["sent_to_person"]) == [3, 2, 1, 0]
    assert list(curve["accuracy"]) == pytest.approx([0.5, 2 / 3, 0.5, 0.6])
    assert curve["coverage"].iloc[-1] == 1.0
    assert (curve["risk"] == 1 - curve["accuracy"]).all()


def test_threshold_for_a_precision_keeps_the_most_images_that_reach_it():
    probabilities, labels = synthetic(5000, sharpen=1.0, seed=3)
    curve = calibration.risk_coverage(probabilities, labels)
    for target in (0.8, 0.9, 0.97):
        choice = calibration.choose_threshold(probabilities, labels, target_precision=target,
                                              confidence=None)
        assert choice["reached"] and choice["target"] == {"precision": target, "confidence": None}
        accepted = probabilities.max(axis=1) >= choice["threshold"]
        right = probabilities.argmax(axis=1) == labels
        assert right[accepted].mean() >= target
        assert accepted.sum() == choice["accepted"]
        assert choice["accepted"] + choice["sent_to_person"] == len(labels)
        # any lower threshold of the curve accepts more images at a precision below the target
        lower = curve[curve["threshold"] < choice["threshold"]]
        assert (lower["accuracy"] < target).all()
    loose = calibration.choose_threshold(probabilities, labels, target_precision=0.8)
    strict = calibration.choose_threshold(probabilities, labels, target_precision=0.97)
    assert strict["threshold"] > loose["threshold"] and strict["coverage"] < loose["coverage"]


def test_the_default_threshold_asks_for_a_lower_confidence_bound_not_luck():
    """A precision seen on few images is weak evidence: the default needs the 95% lower bound
    (Clopper-Pearson) of the accepted images' precision to reach the target."""
    assert calibration.precision_lower_bound([300], [300])[0] == pytest.approx(0.05 ** (1 / 300))
    assert calibration.precision_lower_bound([3], [4], None)[0] == 0.75
    probabilities, labels = synthetic(3000, sharpen=1.0, seed=5)
    observed = calibration.choose_threshold(probabilities, labels, 0.95, confidence=None)
    bounded = calibration.choose_threshold(probabilities, labels, 0.95)
    assert bounded["reached"] and bounded["precision_bound"] >= 0.95
    assert bounded["precision"] >= bounded["precision_bound"]
    assert bounded["threshold"] >= observed["threshold"]
    assert bounded["accepted"] <= observed["accepted"]
    # 20 images all right do not show 99% precision at 95% confidence
    few = np.tile([[0.9, 0.1]], (20, 1))
    assert not calibration.choose_threshold(few, np.zeros(20, int), 0.99)["reached"]
    assert calibration.choose_threshold(few, np.zeros(20, int), 0.99, confidence=None)["reached"]


def test_threshold_default_target_coverage_and_an_unreachable_target():
    probabilities, labels = synthetic(2000, seed=4)
    default = calibration.choose_threshold(probabilities, labels)
    assert default["target"] == {"precision": settings.TARGET_PRECISION,
                                 "confidence": settings.THRESHOLD_CONFIDENCE}
    half = calibration.choose_threshold(probabilities, labels, target_coverage=0.5)
    assert half["coverage"] == pytest.approx(0.5, abs=0.001)
    assert (probabilities.max(axis=1) >= half["threshold"]).mean() == pytest.approx(0.5, abs=0.001)
    always_wrong = np.array([[0.9, 0.1], [0.8, 0.2]])
    choice = calibration.choose_threshold(always_wrong, np.array([1, 1]), target_precision=0.9)
    assert not choice["reached"] and choice["precision"] == 0.0
    with pytest.raises(CalibrationError, match="not both"):
        calibration.choose_threshold(probabilities, labels, 0.9, 0.5)
    with pytest.raises(CalibrationError, match="target precision"):
        calibration.choose_threshold(probabilities, labels, target_precision=1.5)


def test_the_threshold_is_rounded_down_to_what_the_tables_show():
    probabilities = np.array([[0.87654321, 0.12345679]])
    choice = calibration.choose_threshold(probabilities, np.array([0]), target_precision=0.9)
    assert choice["threshold"] == 0.876543 <= round(0.87654321, 6)


def test_threshold_table():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    table = calibration.threshold_table(probabilities, np.array([0, 1, 1]), [0.5, 0.65, 0.95])
    assert list(table["accepted"]) == [3, 2, 0]          # 0.9 and 0.7 reach 0.65
    assert list(table["sent_to_person"]) == [0, 1, 3]
    assert table["accuracy"].iloc[0] == pytest.approx(2 / 3) and np.isnan(table["accuracy"].iloc[2])


def test_pictures(tmp_path):
    probabilities, labels = synthetic(1000, sharpen=2.0)
    tables = {"before": calibration.reliability_table(probabilities, labels),
              "after": calibration.reliability_table(
                  calibration.apply_temperature(probabilities, 2.0), labels)}
    figure = calibration.plot_reliability_diagram(tables)
    assert [t.get_text().split(" (")[0] for t in figure.axes[0].get_legend().get_texts()] == [
        "perfectly calibrated", "before", "after"]
    curve = calibration.risk_coverage(probabilities, labels)
    figure = calibration.plot_risk_coverage(curve, threshold=0.8)
    assert "threshold 0.800" in figure.axes[0].get_legend().get_texts()[0].get_text()


def test_reading_a_calibration(tmp_path):
    assert calibration.read_calibration(tmp_path) is None
    assert calibration.temperature_of(tmp_path) == 1.0
    assert calibration.threshold_of(tmp_path) is None
    (tmp_path / settings.CALIBRATION_FILE).write_text(json.dumps({"temperature": 1.5,
                                                                  "threshold": 0.7}))
    assert calibration.temperature_of(tmp_path) == 1.5 and calibration.threshold_of(tmp_path) == 0.7
    (tmp_path / settings.CALIBRATION_FILE).write_text("{not json")
    with pytest.raises(CalibrationError, match="run `effnet calibrate` again"):
        calibration.read_calibration(tmp_path)


def test_the_graph_applies_the_same_temperature(tf):
    probabilities, _ = synthetic(50)
    graph = calibration.tf_apply_temperature(tf.constant(probabilities, tf.float32), 1.7)
    np.testing.assert_allclose(graph.numpy(), calibration.apply_temperature(probabilities, 1.7),
                               atol=1e-6)


def test_the_exports_carry_the_temperature(tf, tmp_path):
    """The SavedModel's serving function and the TFLite file give calibrated probabilities (a
    tiny Keras model stands in for a trained one: the graph around it is what is tested)."""
    import keras

    from effnet_helpers import export
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 64)(inputs)))
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype(np.float32)
    raw = np.asarray(model(images))
    expected = calibration.apply_temperature(raw, 2.5)
    _, from_images = export.serving_functions(model, ["a", "b", "c"], 8, "resize", 2.5)
    served = from_images(tf.constant(images))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)
    assert (served["class_index"].numpy() == raw.argmax(axis=1)).all()
    path = tmp_path / "model.tflite"
    path.write_bytes(export._tflite_bytes(model, 8, ["none"], temperature=2.5)["none"])
    np.testing.assert_allclose(export.tflite_predict(path, images), expected, atol=1e-5)


def test_the_calibrate_command_refuses_a_wrong_call(tmp_path, capsys):
    from effnet_helpers import cli
    assert cli.main(["calibrate", str(tmp_path)]) == 2
    assert "give RECORDS_DIR" in capsys.readouterr().err
    assert cli.main(["calibrate", str(tmp_path), str(tmp_path)]) == 2
    assert "holds no trained model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["calibrate", str(tmp_path), str(tmp_path), "--target-precision", "0.9",
                  "--target-coverage", "0.5"])
    assert "not allowed with" in capsys.readouterr().err
