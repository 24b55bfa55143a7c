"""Evaluation: the figures equal a count by hand of the same predictions, every validation image is
counted once whatever the batch size, labels line up with the records, checkpoints are evaluated
like the original system's --eval_iterator, and wrong data is refused with a message that names it.
Calibration fits on validation and reports before and after; a flat folder split three ways by
specimen goes through conversion, training, calibration, the test split and "unknown" answers."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from effnet_helpers import evaluation, layout, records, settings
from tests.conftest import kept_epochs

VALIDATION_IMAGES = 359


@pytest.fixture(scope="module")
def model_dir(trained_model_dir, tmp_path_factory):
    """A private copy of the trained model directory (evaluation writes into it)."""
    copy = tmp_path_factory.mktemp("evaluated") / "model"
    shutil.copytree(trained_model_dir, copy)
    return copy


@pytest.fixture(scope="module")
def result(model_dir, sample_records_dir):
    return evaluation.evaluate(model_dir, records_dir=sample_records_dir, progress=False)


def test_figures_equal_a_count_by_hand(result):
    """The figures (computed with scikit-learn) equal those counted here from the labels and
    predictions alone, with numpy: the confusion matrix, then each class's precision, recall
    and F1 from its row and column, accuracy and macro F1."""
    labels, predictions = result.labels, result.predictions
    n = len(result.classes)
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (labels, predictions), 1)
    assert (result.confusion.to_numpy() == counts).all()
    assert list(result.confusion.index) == list(result.confusion.columns) == result.classes
    right = np.diag(counts)
    predicted, support = counts.sum(axis=0), counts.sum(axis=1)
    precision = np.where(predicted > 0, right / np.maximum(predicted, 1), 0.0)
    recall = np.where(support > 0, right / np.maximum(support, 1), 0.0)
    f1 = np.where(precision + recall > 0,
                  2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    table = result.per_class.loc[result.classes]
    np.testing.assert_allclose(table["precision"], precision, atol=1e-9)
    np.testing.assert_allclose(table["recall"], recall, atol=1e-9)
    np.testing.assert_allclose(table["f1"], f1, atol=1e-9)
    assert (table["support"].to_numpy() == support).all()
    assert result.metrics["accuracy"] == pytest.approx(right.sum() / counts.sum(), abs=1e-6)
    assert result.metrics["macro_f1"] == pytest.approx(f1.mean(), abs=1e-6)


def test_counts_add_up_and_labels_line_up_with_the_records(result, sample_records_dir):
    manifest = json.loads((sample_records_dir / settings.MANIFEST_FILE).read_text())
    assert result.metrics["images"] == result.confusion.to_numpy().sum() == VALIDATION_IMAGES
    # every class's row of the confusion matrix holds exactly that class's records
    assert result.confusion.sum(axis=1).to_dict() == manifest["splits"]["validation"]["classes"]
    # and the records' own labels, read in the same order, equal the evaluated labels
    names = [r["filename"].numpy().decode() for r in records.load_split(sample_records_dir,
                                                                        "validation")]
    assert sorted(names) == sorted(result.names)
    assert (np.diag(result.confusion).sum() / VALIDATION_IMAGES
            == pytest.approx(result.metrics["accuracy"], abs=1e-6))
    assert result.metrics["accuracy"] > 0.8  # the CPU profile's model


def test_every_image_is_evaluated_whatever_the_batch(model_dir, sample_records_dir, result):
    assert VALIDATION_IMAGES % 64 and VALIDATION_IMAGES % 50
    other = evaluation.evaluate(model_dir, records_dir=sample_records_dir, batch_size=50,
                                write=False, progress=False)
    assert len(other.labels) == VALIDATION_IMAGES
    assert (other.labels == result.labels).all() and other.names == result.names
    assert (other.predictions == result.predictions).all()


def test_the_model_directory_gets_the_reports(result, model_dir):
    for name in (evaluation.METRICS_FILE, evaluation.PER_CLASS_FILE, evaluation.CONFUSION_FILE,
                 evaluation.PREDICTIONS_FILE, evaluation.CONFUSION_PLOT,
                 evaluation.CONFUSION_NORMALIZED_PLOT, evaluation.MISTAKES_PLOT):
        assert (model_dir / name).stat().st_size > 0, name
    assert json.loads((model_dir / evaluation.METRICS_FILE).read_text()) == result.metrics
    assert evaluation.read_confusion(model_dir / evaluation.CONFUSION_FILE).equals(result.confusion)
    table = pd.read_csv(model_dir / evaluation.PREDICTIONS_FILE)
    assert len(table) == VALIDATION_IMAGES and table["correct"].mean() == pytest.approx(
        result.metrics["accuracy"], abs=1e-6)
    mistakes = result.mistakes
    assert mistakes and all(m["true"] != m["predicted"] for m in mistakes)
    assert [m["probability"] for m in mistakes] == sorted((m["probability"] for m in mistakes),
                                                          reverse=True)
    wrong = result.probabilities.max(axis=1)[result.predictions != result.labels]
    assert mistakes[0]["probability"] == pytest.approx(wrong.max())


def test_a_folder_gives_the_records_figures(model_dir, result, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(settings.sample_data_dir(), data)
    (data / "validation" / "one" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    folder = evaluation.evaluate(model_dir, data_dir=data, write=False, progress=False)
    assert list(folder.skipped) == [str(data / "validation" / "one" / "broken.jpg")]
    assert "broken.jpg" in next(iter(folder.skipped)) and folder.metrics["images"] == 359
    assert folder.metrics["accuracy"] == result.metrics["accuracy"]
    assert folder.confusion.equals(result.confusion)


def test_a_different_label_map_is_refused_with_the_classes_named(model_dir, sample_records_dir):
    with pytest.raises(evaluation.EvaluationError, match=r"only in the model: \['one'\]"):
        evaluation.evaluate(model_dir, records_dir=sample_records_dir,
                            class_mapping={"one": "seven"}, write=False, progress=False)
    with pytest.raises(evaluation.EvaluationError, match="only in the data: \\['cat'\\]"):
        evaluation.check_classes(["a", "b"], ["a", "b", "cat"])
    with pytest.raises(evaluation.EvaluationError, match="different order"):
        evaluation.check_classes(["a", "b"], ["b", "a"])
    evaluation.check_classes(["a", "b"], ["a", "b"])


def test_merged_classes_are_applied_on_the_data_side(model_dir, sample_records_dir, tmp_path):
    """A model trained on merged classes: rename its label map as the merge would (a model of
    9 classes cannot be made from one of 10, so the head is kept and one class never appears)."""
    merged = tmp_path / "merged"
    shutil.copytree(model_dir, merged)
    classes = layout.read_label_map(merged / settings.LABEL_MAP_FILE)
    mapping = {"zero": "zilch"}  # the last class keeps its place when renamed
    renamed = [mapping.get(c, c) for c in classes]
    assert sorted(renamed) == renamed
    layout.write_label_map(renamed, merged / settings.LABEL_MAP_FILE)
    with pytest.raises(evaluation.EvaluationError, match="pass the same mapping"):
        evaluation.evaluate(merged, records_dir=sample_records_dir, write=False, progress=False)
    done = evaluation.evaluate(merged, records_dir=sample_records_dir, class_mapping=mapping,
                               write=False, progress=False)
    assert done.classes == renamed and done.metrics["images"] == VALIDATION_IMAGES


def test_missing_inputs_give_clear_errors(model_dir, tmp_path, sample_records_dir):
    with pytest.raises(evaluation.EvaluationError, match="holds no trained model"):
        evaluation.evaluate(tmp_path / "nothing", records_dir=sample_records_dir)
    with pytest.raises(evaluation.EvaluationError, match="does not exist"):
        evaluation.evaluate(model_dir, records_dir=tmp_path / "no-records")
    with pytest.raises(evaluation.EvaluationError, match="records_dir .* or data_dir"):
        evaluation.evaluate(model_dir)


def test_checkpoints_like_the_eval_iterator(model_dir, sample_records_dir, result):
    kept = kept_epochs(model_dir)
    assert len(kept) >= 2
    assert [e for e, _ in evaluation.checkpoint_paths(model_dir, "all")] == kept
    assert [e for e, _ in evaluation.checkpoint_paths(model_dir, str(kept[-2]))] == kept[-2:]
    with pytest.raises(evaluation.EvaluationError, match="latest"):
        evaluation.checkpoint_paths(model_dir, "best")
    with pytest.raises(evaluation.EvaluationError, match=f"the last is epoch {kept[-1]}"):
        evaluation.checkpoint_paths(model_dir, kept[-1] + 1)
    table = evaluation.evaluate_checkpoints(model_dir, sample_records_dir, which=str(kept[-2]),
                                            progress=False)
    assert list(table["epoch"]) == kept[-2:] and set(table["images"]) == {VALIDATION_IMAGES}
    # the last checkpoint is the final model
    assert table["accuracy"].iloc[-1] == pytest.approx(result.metrics["accuracy"])
    written = pd.read_csv(model_dir / evaluation.CHECKPOINT_METRICS_FILE)
    assert list(written["epoch"]) == kept[-2:] and (model_dir / evaluation.CHECKPOINT_METRICS_PLOT
                                                    ).exists()


def test_the_confusion_picture_reads_with_100_classes():
    classes = [f"class {i:03d}" for i in range(100)]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 100, 3000)
    predictions = np.where(rng.random(3000) < 0.7, labels, rng.integers(0, 100, 3000))
    table = evaluation.confusion_table(labels, predictions, classes)
    figure = evaluation.plot_confusion_matrix(table, normalize=True)
    ax = figure.axes[0]
    assert len(ax.get_xticklabels()) == len(ax.get_yticklabels()) == 100
    assert not ax.texts  # no unreadable numbers in 10,000 cells
    assert ax.get_xticklabels()[0].get_fontsize() >= 5
    small = evaluation.plot_confusion_matrix(table.iloc[:5, :5])
    assert small.axes[0].texts  # a small matrix shows its counts


# --- calibration and the test split -----------------------------------------------------------

@pytest.fixture(scope="module")
def calibrated(trained_model_dir, sample_records_dir, tmp_path_factory):
    """A copy of the trained model, calibrated on the validation records."""
    from effnet_helpers import calibration
    copy = tmp_path_factory.mktemp("calibrated") / "model"
    shutil.copytree(trained_model_dir, copy)
    result = calibration.calibrate(copy, sample_records_dir, progress=False)
    return copy, result


def test_calibration_fits_on_validation_and_reports_before_and_after(calibrated, result):
    from effnet_helpers import calibration
    model_dir, fitted = calibrated
    record = json.loads((model_dir / settings.CALIBRATION_FILE).read_text())
    assert record == fitted.calibration
    assert record["fitted_on"] == {"split": "validation", "data": record["fitted_on"]["data"],
                                   "images": VALIDATION_IMAGES}
    assert 0.05 < record["temperature"] < 20 and record["threshold"] is not None
    assert record["after"]["loss"] <= record["before"]["loss"] + 1e-6
    # the temperature is the one that minimises the log loss of these very probabilities
    raw = result.probabilities
    assert record["temperature"] == pytest.approx(
        calibration.fit_temperature(raw, result.labels), rel=1e-3)
    metrics = json.loads((model_dir / evaluation.METRICS_FILE).read_text())
    assert metrics["calibration"]["loss_before"] == pytest.approx(result.metrics["loss"], abs=1e-5)
    assert metrics["calibration"]["ece_before"] == pytest.approx(result.metrics["ece"], abs=1e-6)
    assert metrics["ece"] == metrics["calibration"]["ece_after"] == pytest.approx(
        record["after"]["ece"], abs=1e-6)
    assert metrics["accuracy"] == result.metrics["accuracy"]     # T never changes a prediction
    assert metrics["unknown"]["sent_to_person"] == record["at_threshold"]["sent_to_person"]
    for name in (evaluation.RELIABILITY_FILE, evaluation.RELIABILITY_PLOT,
                 evaluation.RISK_COVERAGE_FILE, evaluation.RISK_COVERAGE_PLOT):
        assert (model_dir / name).stat().st_size > 0, name
    bins = pd.read_csv(model_dir / evaluation.RELIABILITY_FILE)
    assert bins["images"].sum() == VALIDATION_IMAGES
    thresholds = pd.read_csv(model_dir / evaluation.RISK_COVERAGE_FILE)
    assert (thresholds["accepted"] + thresholds["sent_to_person"] == VALIDATION_IMAGES).all()


def test_a_calibrated_model_is_evaluated_with_its_temperature(calibrated, result,
                                                             sample_records_dir):
    from effnet_helpers import calibration
    model_dir, fitted = calibrated
    again = evaluation.evaluate(model_dir, records_dir=sample_records_dir, write=False,
                                progress=False)
    assert again.temperature == fitted.calibration["temperature"]
    np.testing.assert_allclose(again.probabilities, calibration.apply_temperature(
        result.probabilities, again.temperature), atol=1e-5)
    assert (again.predictions == result.predictions).all()
    assert again.metrics["calibration"]["temperature"] == again.temperature
    mistakes = again.mistakes
    assert mistakes[0]["probability"] == pytest.approx(
        again.probabilities[mistakes[0]["index"], mistakes[0]["predicted"]])


def test_calibration_refuses_the_test_split_and_records_without_one(calibrated,
                                                                    sample_records_dir):
    from effnet_helpers import calibration
    model_dir, _ = calibrated
    with pytest.raises(calibration.CalibrationError, match="validation split"):
        calibration.calibrate(model_dir, sample_records_dir, split="test", write=False)
    with pytest.raises(layout.DatasetError, match="no test split"):
        evaluation.evaluate(model_dir, records_dir=sample_records_dir, split="test", write=False,
                            progress=False)


def test_a_flat_folder_split_three_ways_is_trained_calibrated_and_tested(tmp_path, capsys):
    """As a user would: a flat folder of specimens (several shots each) split three ways with a
    group pattern, converted with its test shards, trained (a small model; the trainer reads
    train and validation only), calibrated at the end of training, evaluated once on the test
    split, and predicted with an "unknown" threshold."""
    from effnet_helpers import cli
    from tests.test_layout import SPECIMEN, make_specimens
    flat = make_specimens(tmp_path / "flat", {"aphid": 8, "fly": 8, "mite": 8}, shots=3)
    data, records_dir, model = tmp_path / "data", tmp_path / "records", tmp_path / "model"
    assert cli.main(["split", str(flat), str(data), "--validation-fraction", "0.25",
                     "--test-fraction", "0.25", "--group-by", SPECIMEN]) == 0
    placed = sorted(p.name for p in data.rglob("*.JPG"))
    assert placed == sorted(p.name for p in flat.rglob("*.JPG"))        # each file once
    split_of = {p.name.split("_")[0]: set() for p in data.rglob("*.JPG")}
    for p in data.rglob("*.JPG"):
        split_of[p.name.split("_")[0]].add(p.parts[-3])
    assert all(len(s) == 1 for s in split_of.values())                  # no specimen in two
    assert cli.main(["convert", str(data), str(records_dir), "--no-progress"]) == 0
    manifest = json.loads((records_dir / settings.MANIFEST_FILE).read_text())
    tests = len(list((data / "test").rglob("*.JPG")))
    assert manifest["splits"]["test"]["written"] == tests > 0
    assert (records_dir / "test-00000-of-00001").exists()
    capsys.readouterr()
    assert cli.main(["inspect", str(records_dir)]) == 0
    assert "test" in capsys.readouterr().out
    assert cli.main(["train", str(records_dir), str(model), "--model", "lite0", "--weights", "none",
                     "--image-size", "32", "--schedule", "0,1", "--augment", "none",
                     "--calibrate"]) == 0
    assert (model / settings.CALIBRATION_FILE).exists()
    assert cli.main(["evaluate", str(model), str(records_dir), "--split", "test"]) == 0
    metrics = json.loads((model / "evaluation-test" / evaluation.METRICS_FILE).read_text())
    assert metrics["split"] == "test" and metrics["images"] == tests
    assert {"ece_before", "ece_after", "loss_before", "loss_after"} <= set(metrics["calibration"])
    assert json.loads((model / evaluation.METRICS_FILE).read_text())["split"] == "validation"
    evaluated = pd.read_csv(model / "evaluation-test" / evaluation.PREDICTIONS_FILE)
    cut = float(np.median(evaluated["probability"]))  # some images above it, some below
    out = tmp_path / "predictions.csv"
    assert cli.main(["predict", str(model), str(data / "test"), "--top-k", "2",
                     "--reject-below", str(cut), "--output", str(out)]) == 0
    written = pd.read_csv(out, keep_default_na=False)
    assert len(written) == tests
    unknown = written["label"] == settings.UNKNOWN_LABEL
    assert (unknown == (written["probability"] < cut)).all()
    assert (written["best_guess"] != settings.UNKNOWN_LABEL).all()
    with pytest.raises(SystemExit) as wrong:
        cli.main(["predict", str(model), str(data / "test"), "--reject-below", "2"])
    assert wrong.value.code == 2 and "from 0 to 1" in capsys.readouterr().err


def test_the_checkpoint_chosen_on_validation_becomes_a_model_directory(model_dir,
                                                                        sample_records_dir):
    table = pd.DataFrame({"epoch": [1, 2, 3, 4], "accuracy": [0.5, 0.9, 0.9, 0.8],
                          "loss": [2.0, 0.7, 0.6, 0.9]})
    assert evaluation.best_checkpoint(table) == 3                     # a tie goes to lower loss
    assert evaluation.best_checkpoint(table.assign(loss=0.6)) == 3    # then to the later epoch
    epochs = [e for e, _ in evaluation.checkpoint_paths(model_dir, "all")]
    assert evaluation.checkpoint_model_dir(model_dir, epochs[-1]) == str(model_dir)
    earlier = evaluation.checkpoint_model_dir(model_dir, epochs[0])
    assert earlier.endswith(f"chosen-epoch-{epochs[0]:03d}")
    checkpoint = dict(evaluation.checkpoint_paths(model_dir, "all"))[epochs[0]]
    assert (Path(earlier) / "model.keras").read_bytes() == Path(checkpoint).read_bytes()
    chosen = evaluation.evaluate(earlier, records_dir=sample_records_dir, progress=False)
    assert chosen.metrics["images"] == VALIDATION_IMAGES
    assert (Path(earlier) / evaluation.METRICS_FILE).exists()          # its own reports
    with pytest.raises(evaluation.EvaluationError, match="no checkpoint of epoch 999"):
        evaluation.checkpoint_model_dir(model_dir, 999)
