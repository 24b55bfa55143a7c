"""Several replicas, as on a multi-core TPU, tried on the CPU split into 2 logical devices
(`--cpu-replicas 2`): the cached head phase trains, and the cached features line up one to one
with the labels and with the features of each image computed alone. In a fresh interpreter:
TensorFlow's logical devices must be configured before it initialises them."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import make_dataset
from effnet_helpers import records, training

ROOT = Path(__file__).resolve().parent.parent


def test_cached_head_phase_under_two_replicas(tmp_path):
    data = make_dataset(tmp_path / "data", {"train": {"a": 6, "b": 6, "c": 6},
                                            "validation": {"a": 3, "b": 3, "c": 3}})
    records_dir, model_dir = tmp_path / "records", tmp_path / "model"
    records.convert_dataset(data, records_dir, progress=False, log=lambda *a: None)
    code = f"""
        import numpy as np
        import keras
        from effnet_helpers import cli, models, pipeline, training
        from effnet_helpers.runtime import connect
        assert cli.main(["train", {str(records_dir)!r}, {str(model_dir)!r}, "--model", "B0",
                         "--weights", "none", "--image-size", "32", "--schedule", "1,1",
                         "--augment", "none", "--resize-method", "resize", "--batch-size", "4",
                         "--cpu-replicas", "2"]) == 0
        session = connect(cpu_replicas=2, verbose=False)
        assert session.replicas == 2
        with session.strategy.scope():
            model = models.build_model("B0", 3, 32, weights=None)
        config = training.TrainConfig(model="B0", image_size=32, weights=None, batch_size=4,
                                      resize_method="resize")
        # as the head phase calls it, inside the scope (where predict_on_batch returns N times
        # the rows); 9 images in global batches of 8: a full batch and a partial one
        with session.strategy.scope():
            x, y = training.backbone_features(model, {str(records_dir)!r}, "validation",
                                              config, session.global_batch(4))
        alone = keras.Model(model.input, model.get_layer(models.HEAD_NAMES[0]).output)
        features, labels = [], []
        for image, onehot in pipeline.make_dataset({str(records_dir)!r}, "validation", 32, 1,
                                                   training=False, resize_method="resize"):
            features.append(alone.predict_on_batch(image))
            labels.append(onehot.numpy())
        assert x.shape == (9, 1280) and y.shape == (9, 3), (x.shape, y.shape)
        np.testing.assert_array_equal(y, np.concatenate(labels))
        np.testing.assert_allclose(x, np.concatenate(features), atol=1e-4)
        print("aligned")
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, text=True,
                            capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Running on CPU with 2 replicas" in result.stdout
    assert "Head phase on cached features: 18 training and 9 validation images" in result.stdout
    assert "aligned" in result.stdout
    assert [r["phase"] for r in training.read_history(model_dir)] == ["head"]
