"""A run survives a recycled Colab VM: interrupted after its first epoch, its work directory
(records and model directory, as Google Drive keeps them) copied to another place and everything
else deleted (the dataset it came from, the old location: a new VM with a new checkout), the same
call resumes it there after that epoch and finishes it."""
from __future__ import annotations

import shutil

import pytest

from tests.conftest import make_dataset
from effnet_helpers import records, training

NO_AUGMENT = {"flip": False, "rotate90": False, "zoom": 0.0, "randaugment": False,
              "mixup_alpha": 0.0}


def test_a_run_resumes_from_its_work_directory_alone(tmp_path, monkeypatch, capsys):
    old_vm, new_vm = tmp_path / "vm1", tmp_path / "vm2"
    data = make_dataset(old_vm / "content" / "photos",
                        {"train": {"a": 8, "b": 8}, "validation": {"a": 3, "b": 3}})
    work = old_vm / "drive" / "effnet_work"
    records.convert_dataset(data, work / "records", progress=False, log=lambda *a: None)
    config = training.TrainConfig(model="B0", image_size=32, weights=None, batch_size=8,
                                  head_epochs=2, total_epochs=2, augment=NO_AUGMENT,
                                  resize_method="resize")

    write_history = training._write_history

    def disconnect_after_one_epoch(model_dir, rows):
        write_history(model_dir, rows)
        if len(rows) == 1:
            raise KeyboardInterrupt("the VM goes away")

    monkeypatch.setattr(training, "_write_history", disconnect_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        training.train(work / "records", work / "models" / "run", config, verbose=0)
    monkeypatch.setattr(training, "_write_history", write_history)
    before = training.read_history(work / "models" / "run")
    assert [r["epoch"] for r in before] == [1]
    assert not (work / "models" / "run" / training.MODEL_FILE).exists()

    moved = new_vm / "drive" / "effnet_work"
    shutil.copytree(work, moved)
    shutil.rmtree(old_vm)  # the dataset, the old VM's files: gone
    capsys.readouterr()
    training.train(moved / "records", moved / "models" / "run", config, verbose=0)
    assert "Resuming" in capsys.readouterr().out
    after = training.read_history(moved / "models" / "run")
    assert [r["epoch"] for r in after] == [1, 2]
    assert after[0] == before[0]  # the first epoch was not trained again
    model, classes, saved = training.load_trained(moved / "models" / "run")
    assert classes == ["a", "b"] and model.output_shape == (None, 2)
