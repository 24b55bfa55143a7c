"""The `effnet` command (effnet_helpers.cli): run in-process with cli.main where possible, and in a
subprocess for what only a real process shows (`python -m effnet_helpers`, exit status, stderr)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import assert_conversion_consistent, make_dataset, make_flat, shard_names, write
from effnet_helpers import cli, settings

COMMANDS = ["layout", "split", "convert", "inspect"]


def run_module(*args, timeout=120):
    """`python -m effnet_helpers ARGS` in a subprocess; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "effnet_helpers", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})


def exit_code(argv) -> int:
    """cli.main's exit status, also when argparse exits (--help, a wrong call)."""
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return stop.code


def row(text: str, *cells) -> bool:
    """True when a printed table has a line with exactly these cells (separated by spaces)."""
    pattern = r"^\s*" + r"\s+".join(re.escape(str(c)) for c in cells) + r"\s*$"
    return re.search(pattern, text, re.MULTILINE) is not None


@pytest.fixture
def data(tmp_path):
    root = make_dataset(tmp_path / "data", {"train": {"a": 3, "b": 2},
                                            "validation": {"a": 1, "b": 1}})
    write(root / "train" / "a" / "bad.jpg", b"")
    return root


# --- calling it -------------------------------------------------------------------------------

def test_python_m_effnet_helpers_help():
    result = run_module("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: effnet")
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command(command, capsys):
    assert exit_code([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: effnet {command}")


@pytest.mark.parametrize("argv, message", [
    ([], "required: COMMAND"),
    (["nonsense"], "invalid choice"),
    (["layout"], "required: data_dir"),
    (["convert", "in"], "required: output_dir"),
    (["layout", "x", "--bogus"], "unrecognized arguments: --bogus"),
    (["convert", "in", "out", "--shards", "0"], "argument --shards: must be at least 1"),
    (["convert", "in", "out", "--workers", "0"], "argument --workers: must be at least 1"),
    (["convert", "in", "out", "--shard-size-mb", "-1"], "argument --shard-size-mb: must be more"),
    (["split", "in", "out", "--mode", "move"], "invalid choice"),
])
def test_wrong_calls_exit_2_with_a_message(argv, message, capsys):
    assert exit_code(argv) == 2
    assert message in capsys.readouterr().err


def test_missing_input_folder_exits_2_with_a_message_on_stderr(tmp_path):
    result = run_module("layout", tmp_path / "nowhere")
    assert result.returncode == 2
    assert "No folder at" in result.stderr and "nowhere" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_missing_folder(command, tmp_path, capsys):
    argv = [command, str(tmp_path / "nowhere")] + (
        [str(tmp_path / "out")] if command in ("split", "convert") else [])
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"effnet {command}: ") and "nowhere" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["layout", "convert"])
def test_an_empty_data_folder_exits_2(command, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = [command, str(tmp_path / "empty")] + ([str(tmp_path / "out")] if command == "convert"
                                                 else [])
    assert exit_code(argv) == 2
    assert "no train/ or validation/ folder" in capsys.readouterr().err


# --- the commands on small data ---------------------------------------------------------------

def test_layout_prints_counts_and_problems(data, tmp_path, capsys):
    label_map = tmp_path / "labels.json"
    problems = tmp_path / "problems.csv"
    assert cli.main(["layout", str(data), "--label-map", str(label_map),
                     "--problems-csv", str(problems), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert row(out, "a", 4, 1, 5) and row(out, "b", 2, 1, 3) and row(out, "total", 6, 2, 8)
    assert "Imbalance (largest / smallest training class): 2.0x" in out
    assert "not a usable image" in out and "bad.jpg" in out
    assert json.loads(label_map.read_text("utf-8")) == {"0": "a", "1": "b"}
    assert "empty file" in problems.read_text("utf-8")


def test_layout_without_checks_and_with_merged_classes(data, tmp_path, capsys):
    merge = write(tmp_path / "merge.json", json.dumps({"b": "a"}))
    assert cli.main(["layout", str(data), "--no-check", "--merge-classes", str(merge)]) == 0
    out = capsys.readouterr().out
    assert row(out, "a", 6, 2, 8) and not row(out, "b", 2, 1, 3)
    assert "not a usable image" not in out          # files were not opened


def test_split_prints_the_counts(tmp_path, capsys):
    source = make_flat(tmp_path / "flat", {"x": 5, "y": 4})
    write(source / "x" / ".DS_Store", b"x")
    assert cli.main(["split", str(source), str(tmp_path / "out"), "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert row(out, "x", 4, 1) and row(out, "y", 3, 1)
    assert "not copied: " in out and ".DS_Store" in out
    assert f"Split 9 files into {tmp_path / 'out'} (1 not copied)." in out
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == 9
    # a second split into the same folder is refused, not mixed
    assert cli.main(["split", str(source), str(tmp_path / "out")]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_convert_then_inspect(data, tmp_path, capsys):
    out_dir = tmp_path / "records"
    assert cli.main(["convert", str(data), str(out_dir), "--shards", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"train\s+found\s+6\s+written\s+5\s+skipped\s+1\s+shards\s+2", out)
    assert re.search(r"validation\s+found\s+2\s+written\s+2\s+skipped\s+0\s+shards\s+2", out)
    assert f"see {settings.SKIPPED_FILE}" in out
    assert_conversion_consistent(out_dir)
    assert shard_names(out_dir, "train") == ["train-00000-of-00002", "train-00001-of-00002"]

    assert cli.main(["inspect", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert row(out, 0, "a", 3, 1) and row(out, 1, "b", 2, 1) and row(out, "total", 5, 2)

    # the same call again does nothing; another conversion into the folder is refused
    assert cli.main(["convert", str(data), str(out_dir), "--shards", "2", "--no-progress"]) == 0
    assert "Already complete" in capsys.readouterr().out
    assert cli.main(["convert", str(data), str(out_dir), "--shards", "1", "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["convert", str(data), str(out_dir), "--shards", "1", "--no-progress",
                     "--overwrite"]) == 0
    assert shard_names(out_dir, "train") == ["train-00000-of-00001"]


def test_convert_with_merged_classes_max_side_and_shard_size(data, tmp_path, capsys):
    merge = write(tmp_path / "merge.json", json.dumps({"a": "b"}))
    out_dir = tmp_path / "records"
    assert cli.main(["convert", str(data), str(out_dir), "--merge-classes", str(merge),
                     "--max-side", "16", "--shard-size-mb", "0.000001", "--no-progress"]) == 0
    manifest = assert_conversion_consistent(out_dir)
    assert manifest["classes"] == ["b"] and manifest["options"]["max_side"] == 16
    assert manifest["splits"]["train"]["converted"] == 5
    # shards of about 1 byte: as many shards as files
    assert [len(manifest["splits"][s]["shards"]) for s in ("train", "validation")] == [5, 2]
    assert "test" not in manifest["splits"]  # no test/ folder: the manifest is as before
    assert "Converted 1 class in" in capsys.readouterr().out


def test_inspect_of_a_folder_without_records_exits_2(tmp_path, capsys):
    (tmp_path / "nothing").mkdir()
    assert cli.main(["inspect", str(tmp_path / "nothing")]) == 2
    assert "No train-/validation- TFRecord shards" in capsys.readouterr().err


def test_train_help_and_wrong_schedule(capsys):
    from effnet_helpers import cli
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--help"])
    assert stop.value.code == 0
    assert "--schedule" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "records", "model", "--augment", "sparkle"])
    assert stop.value.code == 2
    assert cli.main(["train", "missing-records", "model", "--schedule", "3,1"]) == 2
    assert "head epochs <= total epochs" in capsys.readouterr().err


# --- evaluate, predict, export on a trained model --------------------------------------------

@pytest.fixture(scope="module")
def model_copy(trained_model_dir, tmp_path_factory):
    import shutil
    copy = tmp_path_factory.mktemp("cli_model") / "model"
    shutil.copytree(trained_model_dir, copy)
    return copy


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_help_of_the_model_commands(command, capsys):
    assert exit_code([command, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: effnet {command}")


def test_evaluate_writes_the_reports_and_checkpoint_metrics(model_copy, sample_records_dir,
                                                            capsys):
    from tests.conftest import kept_epochs
    second_last = kept_epochs(model_copy)[-2]
    assert cli.main(["evaluate", str(model_copy), str(sample_records_dir),
                     "--checkpoints", str(second_last), "--batch-size", "100"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((model_copy / "metrics.json").read_text())
    assert metrics["images"] == 359
    assert row(out, "accuracy", metrics["accuracy"])
    assert "macro avg" in out and "weighted avg" in out
    for name in ("per_class.csv", "confusion_matrix.csv", "predictions.csv",
                 "checkpoint_metrics.csv"):
        assert (model_copy / name).exists(), name
    assert (model_copy / "checkpoint_metrics.csv").read_text().count("\n") == 3  # header + 2


def test_evaluate_refuses_what_it_cannot_do(model_copy, sample_records_dir, tmp_path, capsys):
    assert cli.main(["evaluate", str(tmp_path / "no-model"), str(sample_records_dir)]) == 2
    assert "holds no trained model" in capsys.readouterr().err
    assert cli.main(["evaluate", str(model_copy)]) == 2
    assert "give RECORDS_DIR" in capsys.readouterr().err
    assert cli.main(["evaluate", str(model_copy), str(sample_records_dir),
                     "--checkpoints", "best"]) == 2
    assert '"latest", "all" or an epoch number' in capsys.readouterr().err
    mapping = write(tmp_path / "merge.json", json.dumps({"one": "seven"}))
    assert cli.main(["evaluate", str(model_copy), str(sample_records_dir),
                     "--merge-classes", str(mapping)]) == 2
    assert "only in the model: ['one']" in capsys.readouterr().err


def test_predict_reports_a_broken_file_and_predicts_the_others(model_copy, tmp_path, capsys):
    source = settings.sample_data_dir() / "validation" / "seven"
    images = tmp_path / "photos"
    for path in sorted(source.glob("*.jpg"))[:3]:
        write(images / path.name, path.read_bytes())
    write(images / "broken.jpg", b"\xff\xd8\xff")
    csv_path = tmp_path / "predictions.csv"
    assert cli.main(["predict", str(model_copy), str(images), "--top-k", "2", "--output",
                     str(csv_path), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "3 of 4 images predicted; 1 could not be read" in captured.out
    assert "broken.jpg" in captured.err
    import pandas as pd
    table = pd.read_csv(csv_path, keep_default_na=False)
    assert len(table) == 4 and list(table.columns[:3]) == ["path", "label", "probability"]
    assert (table["label"] != "").sum() == 3
    assert cli.main(["predict", str(tmp_path / "no-model"), str(images)]) == 2
    assert "holds no trained model" in capsys.readouterr().err


def test_export_tflite_and_wrong_calls(model_copy, tmp_path, capsys):
    out = tmp_path / "model.tflite"
    assert cli.main(["export", str(model_copy), "--quantize", "float16",
                     "--output", str(out)]) == 0
    assert out.stat().st_size > 0 and str(out) in capsys.readouterr().out
    assert exit_code(["export", str(model_copy), "--format", "onnx"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path / "no-model")]) == 2
    assert capsys.readouterr().err.startswith("effnet export: ")
