"""storage: the JSON reader, the parent of a path, atomic writes that clean up after a failure,
and atomic figure saving (local files; gs:// paths take the same code through tf.io.gfile)."""
from __future__ import annotations

import json
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from effnet_helpers import storage  # noqa: E402


def test_read_json_reads_what_json_wrote(tmp_path):
    value = {"0": "ア", "1": [1, 2.5, None], "nested": {"ok": True}}
    path = tmp_path / "value.json"
    path.write_bytes(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    assert storage.read_json(path) == value
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(value).encode("utf-8"))  # a Windows BOM
    assert storage.read_json(str(path)) == value
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(json.JSONDecodeError):
        storage.read_json(path)


def test_parent_of_urls_and_local_paths(tmp_path, monkeypatch):
    assert storage.parent("gs://bucket/run/model.keras") == "gs://bucket/run"
    assert storage.parent("gs://bucket/run/") == "gs://bucket"
    assert storage.parent(tmp_path / "a" / "b.txt") == str(tmp_path / "a")
    monkeypatch.chdir(tmp_path)
    assert storage.parent("b.txt") == str(tmp_path)  # never "": makedirs takes it
    storage.makedirs(storage.parent("new/folder/file.txt"))
    assert (tmp_path / "new" / "folder").is_dir()


def test_write_atomic_writes_whole_files(tmp_path):
    path = tmp_path / "out.txt"
    storage.write_atomic(path, "first")
    storage.write_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_write_atomic_failure_keeps_the_old_file_and_leaves_no_tmp(tmp_path, monkeypatch):
    path = tmp_path / "out.txt"
    path.write_text("old")

    def interrupted(_):
        raise KeyboardInterrupt  # Ctrl-C (or a full disk) halfway through the write

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        storage.write_atomic(path, "new " * 1000)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_write_atomic_failed_rename_leaves_no_tmp(tmp_path):
    target = tmp_path / "a_folder"
    (target / "inside").mkdir(parents=True)  # a non-empty folder: the rename cannot replace it
    with pytest.raises(OSError):
        storage.write_atomic(target, b"data")
    assert sorted(os.listdir(tmp_path)) == ["a_folder"]


def test_save_figure_writes_the_format_of_the_extension_and_closes(tmp_path):
    figure, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    ax.set_title("a line")
    storage.save_figure(figure, tmp_path / "line.png")
    assert (tmp_path / "line.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert not plt.fignum_exists(figure.number)
    figure, _ = plt.subplots()
    storage.save_figure(figure, tmp_path / "line.svg", close=False)
    assert b"<svg" in (tmp_path / "line.svg").read_bytes()[:500]
    assert plt.fignum_exists(figure.number)
    plt.close(figure)
    assert sorted(os.listdir(tmp_path)) == ["line.png", "line.svg"]
