"""Evaluation: the figures are scikit-learn's on the same predictions, every validation image is
counted once whatever the batch size, labels line up with the records, checkpoints are evaluated
like the seed system's --eval_iterator, and wrong data is refused with a message that names it."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import classification_report, confusion_matrix

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


def test_figures_equal_scikit_learn(result):
    labels, predictions = result.labels, result.predictions
    ids = list(range(len(result.classes)))
    assert (result.confusion.to_numpy() == confusion_matrix(labels, predictions, labels=ids)).all()
    assert list(result.confusion.index) == list(result.confusion.columns) == result.classes
    report = classification_report(labels, predictions, labels=ids, target_names=result.classes,
                                   output_dict=True, zero_division=0)
    for name, row in result.per_class.iterrows():
        expected = report[name]
        assert row["precision"] == pytest.approx(expected["precision"])
        assert row["recall"] == pytest.approx(expected["recall"])
        assert row["f1"] == pytest.approx(expected["f1-score"])
        assert row["support"] == expected["support"]
    assert result.metrics["accuracy"] == pytest.approx(report["accuracy"], abs=1e-6)
    assert result.metrics["macro_f1"] == pytest.approx(report["macro avg"]["f1-score"], abs=1e-6)


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
