"""A model trained under mixed precision (as on a GPU or TPU) comes back computing in float32 for
evaluation, inference and export: trained with `--precision mixed_bfloat16` on the CPU, it exports
to TensorFlow Lite and evaluates. Also: files saved atomically, the final model without optimizer
state, and which checkpoints training keeps."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from tests.conftest import make_dataset
from effnet_helpers import cli, export, models, pipeline, records, training

SIZE = 32


@pytest.fixture(scope="module")
def tiny_records(tmp_path_factory):
    """3 classes, 8 training and 3 validation images each, 32 px."""
    root = make_dataset(tmp_path_factory.mktemp("tiny") / "data",
                        {"train": {"a": 8, "b": 8, "c": 8},
                         "validation": {"a": 3, "b": 3, "c": 3}})
    out = tmp_path_factory.mktemp("tiny_records")
    records.convert_dataset(root, out, progress=False, log=lambda *a: None)
    return out


def _policies(model) -> set[str]:
    return {layer.dtype_policy.name for layer in models.backbone_of(model).layers}


def test_float32_config_replaces_only_mixed_policies():
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}
    config = {"layers": [{"config": {"dtype": policy, "name": "conv"}},
                         {"config": {"dtype": {**policy, "config": {"name": "float32"}}}},
                         {"config": {"dtype": "mixed_bfloat16", "units": 3}},
                         {"config": {"dtype": "int32"}}]}
    result = models.float32_config(config)
    assert [layer["config"]["dtype"] for layer in result["layers"]] == [
        {**policy, "config": {"name": "float32"}}, {**policy, "config": {"name": "float32"}},
        "float32", "int32"]
    assert result["layers"][0]["config"]["name"] == "conv"
    assert config["layers"][0]["config"]["dtype"]["config"]["name"] == "mixed_float16"  # a copy


def test_a_mixed_bfloat16_model_exports_to_tflite_and_evaluates(tiny_records, tmp_path):
    import keras
    model_dir = tmp_path / "model"
    try:
        assert cli.main(["train", str(tiny_records), str(model_dir), "--model", "B0",
                         "--weights", "none", "--image-size", str(SIZE), "--schedule", "1,1",
                         "--augment", "none", "--resize-method", "resize", "--batch-size", "8",
                         "--precision", "mixed_bfloat16"]) == 0
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert json.loads((model_dir / "config.json").read_text())["precision"] == "mixed_bfloat16"
    as_saved = models.load_model(model_dir / training.MODEL_FILE)
    assert "mixed_bfloat16" in _policies(as_saved)  # what made the TFLite converter fail
    model, _, _ = training.load_trained(model_dir)
    assert _policies(model) == {"float32"}
    images, _ = next(iter(pipeline.make_dataset(tiny_records, "validation", SIZE, 9,
                                                training=False, resize_method="resize")))
    reference = model.predict_on_batch(images)
    np.testing.assert_allclose(reference, as_saved.predict_on_batch(images), atol=0.02)

    assert cli.main(["export", str(model_dir), "--format", "tflite"]) == 0
    tflite = export.default_path(model_dir, "tflite", "none")
    np.testing.assert_allclose(export.tflite_predict(tflite, images.numpy()), reference,
                               atol=1e-4)
    assert cli.main(["evaluate", str(model_dir), str(tiny_records), "--top-k", "2"]) == 0
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["images"] == 9


def test_the_final_model_is_saved_without_optimizer_state(tmp_path, tf):
    import keras
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    model.fit(np.ones((4, 4)), np.eye(3)[[0, 1, 2, 0]], verbose=0)
    optimizer = model.optimizer
    training.save_model(model, str(tmp_path / "with.keras"))
    training.save_model(model, str(tmp_path / "without.keras"), optimizer=False)
    assert model.optimizer is optimizer and model.compiled  # the model itself is unchanged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["with.keras", "without.keras"]

    def weight_groups(name):
        import h5py
        with zipfile.ZipFile(tmp_path / name) as archive:
            archive.extract("model.weights.h5", tmp_path / name.split(".")[0])
        with h5py.File(tmp_path / name.split(".")[0] / "model.weights.h5") as weights:
            return set(weights.keys())
    assert "optimizer" in weight_groups("with.keras")
    assert "optimizer" not in weight_groups("without.keras")
    reloaded = models.load_model(tmp_path / "without.keras")
    np.testing.assert_allclose(reloaded.predict_on_batch(np.ones((2, 4))),
                               model.predict_on_batch(np.ones((2, 4))), atol=1e-6)


def test_training_keeps_the_newest_checkpoints_and_the_best():
    rows = [{"epoch": e, "val_accuracy": a} for e, a in
            enumerate([0.2, 0.9, 0.5, 0.6, 0.7, 0.8], start=1)]
    assert training.stale_checkpoints(rows, 3) == [1, 3]  # 2 is the best; 4-6 the newest
    assert training.stale_checkpoints(rows, None) == []
    assert training.stale_checkpoints(rows, 6) == []
    by_loss = [{"epoch": e, "val_loss": v} for e, v in enumerate([0.5, 0.1, 0.4, 0.3], start=1)]
    assert training.stale_checkpoints(by_loss, 1) == [1, 3]
