"""The head phase takes at least training.MIN_HEAD_STEPS steps, also on a few dozen images (a new
head needs more than a handful of steps to converge); fine-tuning keeps one pass an epoch."""
import keras
import pytest

from effnet_helpers import records, training
from tests.conftest import make_dataset

NO_AUGMENT = {"flip": False, "rotate90": False, "zoom": 0.0, "randaugment": False,
              "mixup_alpha": 0.0}


def test_phase_steps():
    assert training.MIN_HEAD_STEPS == 100
    assert training.phase_steps("head", 8, 2) == 50         # 280 photos at a batch of 32
    assert training.phase_steps("head", 8, 3) == 34         # rounded up: 102 steps in all
    assert training.phase_steps("head", 200, 2) == 200      # big datasets: one pass an epoch
    assert training.phase_steps("finetune", 8, 2) == 8
    assert training.phase_steps("full", 8, 0) == 8


@pytest.mark.parametrize("augment", [NO_AUGMENT, {**NO_AUGMENT, "flip": True}],
                         ids=["cached-features", "augmented"])
def test_train_gives_a_small_head_phase_its_minimum_steps(tmp_path, monkeypatch, augment):
    """Both head-phase paths (cached features, and the frozen backbone under augmentation) fit
    for 50 steps an epoch over 2 x 8 images at a batch of 8 (2 steps a pass); fine-tuning 2."""
    data = make_dataset(tmp_path / "photos", {"train": {"a": 8, "b": 8},
                                              "validation": {"a": 2, "b": 2}})
    records.convert_dataset(data, tmp_path / "records", progress=False, log=lambda *a: None)
    calls = []
    fit = keras.Model.fit

    def recording_fit(self, *args, **kwargs):
        calls.append((kwargs.get("initial_epoch"), kwargs.get("epochs"),
                      kwargs.get("steps_per_epoch")))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    config = training.TrainConfig(model="B0", image_size=32, weights=None, batch_size=8,
                                  head_epochs=2, total_epochs=3, augment=augment,
                                  resize_method="resize")
    training.train(tmp_path / "records", tmp_path / "model", config, verbose=0)
    assert calls == [(0, 2, 50), (2, 3, 2)]
    assert [row["phase"] for row in training.read_history(tmp_path / "model")] == \
        ["head", "head", "finetune"]
