"""Inference: a file is predicted exactly as evaluation sees its record, any image a phone or a
scanner makes is read (PNG, CMYK, 16-bit, EXIF-rotated, big), and a broken file is reported while
the others are still predicted. A calibrated model predicts calibrated probabilities and answers
"unknown" below its threshold, its top-k kept."""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from effnet_helpers import evaluation, inference, settings
from tests.conftest import encode, exif_rotated_jpeg, png16_bytes, write


@pytest.fixture(scope="module")
def predictor(trained_model_dir):
    return inference.load_predictor(trained_model_dir)


def digit(name="one", index=0) -> Image.Image:
    path = sorted((settings.sample_data_dir() / "validation" / name).glob("*.jpg"))[index]
    return Image.open(path).convert("RGB")


def test_files_predict_as_their_records_evaluate(predictor, trained_model_dir,
                                                 sample_records_dir):
    """The top-1 of every validation file equals the evaluation's from the records."""
    table = predictor.predict([settings.sample_data_dir() / "validation"], top_k=3,
                              progress=False)
    assert len(table) == 359 and (table["error"] == "").all()
    result = evaluation.evaluate(trained_model_dir, records_dir=sample_records_dir, write=False,
                                 progress=False)
    from_records = dict(zip(result.names, (result.classes[i] for i in result.predictions)))
    from_files = dict(zip(table["path"].map(lambda p: p.rsplit("/", 1)[-1]), table["label"]))
    assert len(from_records) == len(from_files) == 359
    assert from_files == from_records
    # top-k columns are sorted and the probabilities are a distribution's
    assert (table["probability"] >= table["probability_2"]).all()
    assert (table["probability_2"] >= table["probability_3"]).all()


def test_any_image_is_read(predictor, tmp_path):
    upright = digit("seven")
    rotated = upright.rotate(90, expand=True)  # stored on its side, EXIF says "turn it back"
    exif = Image.Exif()
    exif[0x0112] = 6  # display: rotate 90 clockwise
    files = {
        "upright.jpg": encode(upright, "JPEG", quality=95),
        "exif.jpg": encode(rotated, "JPEG", quality=95, exif=exif.tobytes()),
        "png.png": encode(upright, "PNG"),
        "cmyk.jpg": encode(upright.convert("CMYK"), "JPEG", quality=95),
        "big.jpg": encode(upright.resize((1600, 1600)), "JPEG", quality=90),
        "grey16.png": png16_bytes(40000, (40, 30)),
        "rotated-tag.jpg": exif_rotated_jpeg(),
    }
    for name, data in files.items():
        write(tmp_path / name, data)
    table = predictor.predict([tmp_path], progress=False)
    table.index = [p.rsplit("/", 1)[-1] for p in table["path"]]
    assert (table["error"] == "").all(), table["error"]
    assert set(table.index) == set(files)
    # the EXIF-rotated file is turned upright: it is predicted like the upright one
    assert table.loc["exif.jpg", "label"] == table.loc["upright.jpg", "label"]
    assert table.loc["exif.jpg", "probability"] == pytest.approx(
        table.loc["upright.jpg", "probability"], abs=0.05)


def test_a_broken_file_is_reported_and_the_others_predicted(predictor, tmp_path, trained_model_dir):
    write(tmp_path / "a.jpg", encode(digit("one"), "JPEG"))
    write(tmp_path / "b.jpg", b"\xff\xd8\xff\xe0 truncated")
    write(tmp_path / "c.png", encode(digit("two"), "PNG"))
    whole = encode(digit("three").resize((256, 256)), "JPEG", quality=95)
    write(tmp_path / "d-cut.jpg", whole[:len(whole) // 2])  # a header that reads, data cut off
    write(tmp_path / "e.jpg", encode(digit("four"), "JPEG"))
    write(tmp_path / "notes.txt", "not an image")
    write(tmp_path / ".hidden.jpg", encode(digit("one"), "JPEG"))
    out = tmp_path / "out" / "predictions.csv"
    (tmp_path / "out").mkdir()
    table = inference.predict(trained_model_dir, [tmp_path], top_k=2, output=out, progress=False)
    assert [p.rsplit("/", 1)[-1] for p in table["path"]] == ["a.jpg", "b.jpg", "c.png",
                                                             "d-cut.jpg", "e.jpg"]
    for broken in (1, 3):
        assert table.loc[broken, "label"] == "" and np.isnan(table.loc[broken, "probability"])
        assert re.search("corrupt|truncated|decode", table.loc[broken, "error"], re.IGNORECASE)
    good = [0, 2, 4]
    assert (table.loc[good, "error"] == "").all()
    assert set(table.loc[good, "label"]) <= set(predictor.classes)
    # the good ones are predicted as they are alone (a failure does not shift the rows)
    alone = predictor.predict([tmp_path / "e.jpg"], top_k=2, progress=False)
    assert alone.loc[0, "label"] == table.loc[4, "label"]
    assert alone.loc[0, "probability"] == pytest.approx(table.loc[4, "probability"], abs=1e-5)
    written = pd.read_csv(out, keep_default_na=False)
    assert list(written.columns[:3]) == ["path", "label", "probability"]
    assert len(written) == 5 and written.loc[0, "label"] == table.loc[0, "label"]


def test_clear_errors_for_a_wrong_call(tmp_path, trained_model_dir):
    with pytest.raises(inference.InferenceError, match="holds no trained model"):
        inference.load_predictor(tmp_path)
    with pytest.raises(inference.InferenceError, match="does not exist"):
        inference.predict(trained_model_dir, [tmp_path / "missing.jpg"], progress=False)


def test_top_k_table():
    probabilities = np.array([[0.1, 0.7, 0.2], [np.nan, np.nan, np.nan]])
    table = inference.top_k_table(probabilities, ["a", "b", "c"], k=5, paths=["x", "y"])
    assert list(table.columns) == ["path", "label", "probability", "label_2", "probability_2",
                                   "label_3", "probability_3"]
    assert list(table.loc[0, ["label", "label_2", "label_3"]]) == ["b", "c", "a"]
    assert table.loc[1, "label"] == "" and np.isnan(table.loc[1, "probability"])


def test_the_picture_of_a_prediction(predictor, tmp_path):
    path = write(tmp_path / "seven.png", encode(digit("seven"), "PNG"))
    figure = inference.show_prediction(predictor, path, top_k=3)
    bars = figure.axes[1].patches
    assert len(bars) == 3 and bars[0].get_width() >= bars[1].get_width()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


# --- calibrated probabilities and the "unknown" answer ---------------------------------------

@pytest.fixture(scope="module")
def calibrated_dir(trained_model_dir, tmp_path_factory):
    """A copy of the trained model with a calibration file (temperature 2, threshold 0.9;
    the rejection test sets its own threshold)."""
    import json
    import shutil
    copy = tmp_path_factory.mktemp("calibrated") / "model"
    shutil.copytree(trained_model_dir, copy)
    (copy / settings.CALIBRATION_FILE).write_text(json.dumps({"temperature": 2.0,
                                                              "threshold": 0.9}))
    return copy


def test_a_calibrated_model_predicts_calibrated_probabilities(predictor, calibrated_dir):
    from effnet_helpers import calibration
    files = sorted((settings.sample_data_dir() / "validation" / "one").glob("*.jpg"))[:8]
    raw, _ = predictor.probabilities(files, progress=False)
    hot = inference.load_predictor(calibrated_dir)
    assert (hot.temperature, hot.threshold) == (2.0, 0.9)
    warm, _ = hot.probabilities(files, progress=False)
    np.testing.assert_allclose(warm, calibration.apply_temperature(raw, 2.0), atol=1e-5)
    assert (warm.argmax(axis=1) == raw.argmax(axis=1)).all()


def test_unknown_below_the_threshold_keeping_the_top_k(calibrated_dir, tmp_path):
    write(tmp_path / "noise.png", encode(Image.fromarray(
        np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)), "PNG"))
    write(tmp_path / "broken.jpg", b"\xff\xd8\xff\xe0 truncated")
    paths = [settings.sample_data_dir() / "validation", tmp_path]
    import json
    plain = inference.predict(calibrated_dir, paths, top_k=3, progress=False)
    cut = float(plain["probability"].median())
    (calibrated_dir / settings.CALIBRATION_FILE).write_text(json.dumps({"temperature": 2.0,
                                                                        "threshold": cut}))
    table = inference.predict(calibrated_dir, paths, top_k=3, progress=False, reject_below="auto")
    assert list(table.columns[:5]) == ["path", "label", "probability", "best_guess", "label_2"]
    assert table.attrs["threshold"] == cut
    ok = table["error"] == ""
    unknown = table["label"] == settings.UNKNOWN_LABEL
    assert (unknown == (ok & (table["probability"] < cut))).all()
    assert 0 < unknown.sum() < ok.sum()
    assert (table.loc[ok, "best_guess"] == plain.loc[ok, "label"]).all()
    assert (table["probability"].fillna(-1) == plain["probability"].fillna(-1)).all()
    assert table.loc[~ok, "label"].tolist() == [""]     # a broken file is no "unknown"
    fixed = inference.predict(calibrated_dir, paths, top_k=1, progress=False, reject_below=0.5)
    assert ((fixed["label"] == settings.UNKNOWN_LABEL)
            == (fixed["error"].eq("") & (fixed["probability"] < 0.5))).all()


def test_reject_below_needs_a_calibration_or_a_probability(trained_model_dir, calibrated_dir):
    with pytest.raises(inference.InferenceError, match="effnet calibrate"):
        inference.predict(trained_model_dir, [settings.sample_data_dir() / "validation" / "one"],
                          reject_below="auto", progress=False)
    for wrong in (1.5, "often", -0.1):
        with pytest.raises(inference.InferenceError, match="auto or a probability"):
            inference.predict(calibrated_dir, [], reject_below=wrong, progress=False)
