"""Training: learning works from scratch on the sample data, a killed run resumes without
repeating epochs, the model directory holds what evaluation needs, the distribution path runs
under MirroredStrategy, and records of the tensorflow/tpu converter train as they are."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from effnet_helpers import pipeline, records, settings, training

ROOT = Path(__file__).resolve().parent.parent
NO_AUGMENT = {"flip": False, "rotate90": False, "zoom": 0.0, "randaugment": False,
              "mixup_alpha": 0.0}


@pytest.fixture(scope="module")
def sample_records(sample_records_dir):
    """The sample data's records, converted once for the whole test run (conftest)."""
    return sample_records_dir


def tiny_config(**overrides) -> training.TrainConfig:
    values = dict(model="B0", image_size=32, weights=None, batch_size=32, head_epochs=1,
                  total_epochs=2, augment=NO_AUGMENT, resize_method="resize")
    return training.TrainConfig(**{**values, **overrides})


def run_python(code: str, timeout: int = 600, **kwargs):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout, **kwargs)


def test_schedule_and_config():
    assert training.parse_schedule("2, 10") == (2, 10)
    with pytest.raises(training.TrainingError):
        training.parse_schedule("10")
    with pytest.raises(training.TrainingError, match="head epochs <= total"):
        training.TrainConfig(head_epochs=5, total_epochs=3)
    config = training.TrainConfig(model="efficientnetb3", weights="none")
    assert (config.model, config.image_size, config.weights) == ("B3", 300, None)
    assert [config.phase(e) for e in (1, 2, 3)] == ["head", "head", "finetune"]
    assert training.TrainConfig(head_epochs=0, total_epochs=3).phase(1) == "full"
    assert training.scaled_learning_rate(0.01, 1024) == pytest.approx(0.04)


def test_model_directory_holds_everything_and_a_rerun_does_nothing(sample_records, tmp_path,
                                                                   capsys):
    model_dir = tmp_path / "model"
    model = training.train(sample_records, model_dir, tiny_config(), verbose=0)
    names = set(os.listdir(model_dir))
    assert {training.MODEL_FILE, settings.LABEL_MAP_FILE, training.CONFIG_FILE,
            training.HISTORY_FILE, training.CHECKPOINT_DIR, training.LOG_DIR} <= names
    history = training.read_history(model_dir)
    assert [(int(r["epoch"]), r["phase"]) for r in history] == [(1, "head"), (2, "finetune")]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[0])
    saved = json.loads((model_dir / training.CONFIG_FILE).read_text())
    label_map = json.loads((model_dir / settings.LABEL_MAP_FILE).read_text(encoding="utf-8"))
    assert saved["classes"] == [label_map[str(i)] for i in range(10)]
    assert saved["classes"] == records.record_classes(sample_records)
    assert saved["classes"][0] == "eight" and saved["image_size"] == 32
    assert saved["input"]["range"] == [0, 255]
    loaded, classes, config = training.load_trained(model_dir)
    assert classes == saved["classes"] and loaded.output_shape == (None, 10)
    assert model.output_shape == (None, 10)
    capsys.readouterr()
    training.train(sample_records, model_dir, tiny_config(), verbose=0)
    assert "Already trained" in capsys.readouterr().out


def test_a_directory_with_another_run_is_refused(sample_records, tmp_path):
    model_dir = tmp_path / "model"
    training.train(sample_records, model_dir, tiny_config(total_epochs=1, head_epochs=1),
                   verbose=0)
    with pytest.raises(training.TrainingError, match="different training run.*image_size"):
        training.train(sample_records, model_dir, tiny_config(image_size=48, total_epochs=1,
                                                              head_epochs=1), verbose=0)
    training.train(sample_records, model_dir, tiny_config(image_size=48, total_epochs=1,
                                                          head_epochs=1), overwrite=True,
                   verbose=0)
    assert training.saved_config(model_dir)["image_size"] == 48


def test_a_killed_run_resumes_after_its_last_epoch(sample_records, tmp_path):
    """Killed after its second epoch, restarted: it finishes the configured epochs and does not
    repeat the completed ones (their history rows and checkpoints stay as they were)."""
    model_dir = tmp_path / "model"
    code = f"""
        from effnet_helpers import training
        config = training.TrainConfig(model="B0", image_size=32, weights=None, batch_size=32,
                                      head_epochs=1, total_epochs=4, augment={NO_AUGMENT!r},
                                      resize_method="resize")
        training.train({str(sample_records)!r}, {str(model_dir)!r}, config, verbose=0)
    """
    code = textwrap.dedent(code)
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 400
    while time.time() < deadline and len(training.read_history(model_dir)) < 2:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = training.read_history(model_dir)
    assert 2 <= len(before) < 4, "the run was not stopped mid-way"
    stamps = {p.name: p.stat().st_mtime_ns for p in (model_dir / "checkpoints").iterdir()}
    result = run_python(code + "print('resumed run finished')\n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming" in result.stdout and "resumed run finished" in result.stdout
    after = training.read_history(model_dir)
    assert [int(r["epoch"]) for r in after] == [1, 2, 3, 4]
    assert after[:len(before)] == before  # completed epochs were not trained again
    for name, stamp in stamps.items():
        if (model_dir / "checkpoints" / name).exists():
            assert (model_dir / "checkpoints" / name).stat().st_mtime_ns == stamp
    assert (model_dir / training.MODEL_FILE).exists()


def test_learning_works_from_scratch_on_the_sample_data(scratch_model_dir):
    """The CPU profile's baseline: Lite0 from random weights (weights=None, everything trainable
    from the first epoch) on the 10-class digits, over the profile's epochs, must learn:
    validation accuracy at least 0.5 (5x chance) at the end."""
    history = training.read_history(scratch_model_dir)
    config = training.saved_config(scratch_model_dir)["run"]
    assert config["weights"] is None and config["head_epochs"] == 0
    assert len(history) == settings.PROFILES["cpu"]["schedule"][1]
    assert {r["phase"] for r in history} == {"full"}
    best = max(r["val_accuracy"] for r in history)
    last = history[-1]["val_accuracy"]
    assert last >= 0.5, f"validation accuracy {last:.3f} (best {best:.3f})"


def test_transfer_from_imagenet_reaches_095_on_the_sample_data(trained_model_dir,
                                                               scratch_model_dir):
    """The CPU profile's run: Lite0 from its ImageNet weights, a head phase on the frozen
    backbone, then fine-tuning; validation accuracy at least 0.95, and above the baseline's."""
    history = training.read_history(trained_model_dir)
    config = training.saved_config(trained_model_dir)["run"]
    assert config["model"] == "lite0" and config["weights"] == "imagenet"
    head, total = settings.PROFILES["cpu"]["schedule"]
    assert [r["phase"] for r in history] == ["head"] * head + ["finetune"] * (total - head)
    last = history[-1]["val_accuracy"]
    assert last >= 0.95, f"validation accuracy {last:.3f}"
    assert last > training.read_history(scratch_model_dir)[-1]["val_accuracy"]


def test_distribution_under_mirrored_strategy_over_two_cpus(sample_records, tmp_path):
    """The TPU-shaped path on two logical CPU devices: global batch = per replica x 2, static
    training batch shapes, a short fit."""
    code = f"""
        from effnet_helpers import pipeline, training
        from effnet_helpers.runtime import connect
        session = connect(cpu_replicas=2)
        assert session.replicas == 2 and session.global_batch(16) == 32, session
        data = pipeline.make_dataset({str(sample_records)!r}, "train", 32, 32, training=True)
        spec = data.element_spec[0]
        assert spec.shape.as_list() == [32, 32, 32, 3], spec.shape
        config = training.TrainConfig(model="B0", image_size=32, weights=None, batch_size=16,
                                      head_epochs=1, total_epochs=1, resize_method="resize")
        training.train({str(sample_records)!r}, {str(tmp_path / 'model')!r}, config,
                       runtime=session, verbose=0)
        print("replicas", session.replicas)
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout
    assert len(training.read_history(tmp_path / "model")) == 1


def test_records_of_the_reference_converter_train_as_they_are(sample_records, tmp_path):
    """Shards in the tensorflow/tpu converter's schema: 1-based labels, no manifest, no label map
    (the class names come from image/class/synset)."""
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for name in os.listdir(sample_records):
        if records.SHARD_PATTERN.match(name):
            os.link(sample_records / name, legacy / name)
    training.train(legacy, tmp_path / "model", tiny_config(total_epochs=1, head_epochs=1),
                   verbose=0)
    saved = training.saved_config(tmp_path / "model")
    assert saved["classes"] == records.record_classes(sample_records)
    # the 1-based labels were shifted: the labels training read from the legacy shards are the
    # records' own classes, one-hot (a label left 1-based would be off by one, and the last
    # class all zeros), exactly as from this workbook's records with their label map
    synset = {r["filename"].numpy().decode(): r["synset"].numpy().decode()
              for r in records.load_split(legacy, "validation")}  # image/class/synset
    stored = [synset[name] for name in pipeline.record_filenames(legacy, "validation")]
    onehot = np.concatenate([y.numpy() for _, y in pipeline.make_dataset(
        legacy, "validation", 32, 64, training=False, resize_method="resize")])
    assert (onehot.sum(axis=1) == 1).all()
    assert [saved["classes"][i] for i in onehot.argmax(axis=1)] == stored


def test_the_head_phase_sees_the_frozen_backbone_in_inference_mode(trained_model_dir, tf):
    """Frozen is not enough: the blocks' stochastic depth still drops branches when Keras
    trains. The head-phase model computes, while training, the features evaluation sees (so the
    cached-feature head phase learns the same); and a resumed phase continues its schedule."""
    from effnet_helpers import models
    model, _, _ = training.load_trained(trained_model_dir)
    model.get_layer(models.HEAD_NAMES[1]).rate = 0.0  # leave only the backbone's randomness
    models.set_trainable(model, "head")
    fitted = training.frozen_backbone_model(model)
    assert {w.path for w in fitted.trainable_weights} == {w.path for w in model.trainable_weights}
    images = tf.random.uniform([8, *model.input_shape[1:]], 0, 255, seed=1)
    reference = model(images, training=False).numpy()
    np.testing.assert_allclose(fitted(images, training=True).numpy(), reference, atol=1e-5)
    # the plain classifier in training mode drops residual branches of the frozen backbone
    assert max(np.abs(model(images, training=True).numpy() - reference).max()
               for _ in range(3)) > 0.05
    config = tiny_config()
    training._compile(fitted, config, "head", 32, steps_per_epoch=10)
    training._continue_schedule(fitted, 25)
    assert int(fitted.optimizer.iterations.numpy()) == 25
    schedule = fitted.optimizer._learning_rate
    assert float(fitted.optimizer.learning_rate.numpy()) == pytest.approx(float(schedule(25)))


def test_notebook_03_parameters_are_the_full_profile():
    """Notebook 03's parameters cell (what a Colab user runs) and stages.profile_train_config
    (what notebooks 04 and 05 train when run alone) describe the same run: no drift."""
    import dataclasses

    import jupytext

    from effnet_helpers import pipeline, stages
    notebook = jupytext.read(settings.repo_root() / "notebooks" / "03_transfer_training.py")
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    values = {"pipeline": pipeline}
    exec(cell.source, values)
    from_notebook = training.TrainConfig(
        model=values["MODEL"], image_size=values["IMAGE_SIZE"], weights=values["WEIGHTS"],
        head_epochs=values["SCHEDULE"][0], total_epochs=values["SCHEDULE"][1],
        unfreeze_from=values["UNFREEZE_FROM"], learning_rate=values["LEARNING_RATE"],
        finetune_learning_rate=values["FINETUNE_LEARNING_RATE"], batch_size=values["BATCH_SIZE"],
        resize_method=values["RESIZE_METHOD"], augment=values["AUGMENT"])
    assert dataclasses.asdict(from_notebook) == dataclasses.asdict(
        stages.profile_train_config(profile="full"))
