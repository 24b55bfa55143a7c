"""Stage 2, TFRecords (effnet_helpers.records): conversion of messy folders, the record schema of
the tensorflow/tpu converter, sharding, reading that converter's records, and resuming."""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import (assert_conversion_consistent, bomb_png_bytes, encode, exif_rotated_jpeg,
                      jpeg_bytes, make_dataset, png16_bytes, png_bytes, read_records,
                      shard_names, skipped_rows, smooth_array, solid, write)
from effnet_helpers import images, layout, records, settings
from effnet_helpers.layout import DatasetError

# The tensorflow/tpu converter's features (docs/DESIGN.md, "The TFRecord schema of tensorflow/tpu"): key -> (list kind, value).
REFERENCE_SCHEMA = {
    "image/encoded": "bytes_list",
    "image/class/label": "int64_list",
    "image/class/synset": "bytes_list",
    "image/filename": "bytes_list",
    "image/height": "int64_list",
    "image/width": "int64_list",
    "image/channels": "int64_list",
    "image/colorspace": "bytes_list",
    "image/format": "bytes_list",
}


@pytest.fixture(autouse=True)
def _tf(tf):
    return tf


def convert(data, out, **options) -> dict:
    """convert_dataset, quiet; every finished conversion is checked for what must always hold
    (found = written + skipped, skipped.csv reasons, complete N-of-N shards, no leftovers)."""
    options.setdefault("workers", 2)
    options.setdefault("progress", False)
    options.setdefault("log", lambda message: None)
    manifest = records.convert_dataset(data, out, **options)
    assert_conversion_consistent(out, manifest)
    return manifest


def value(example, key):
    """The single value of a feature (bytes decoded as UTF-8 except the image)."""
    feature = example.features.feature[key]
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value)
    assert len(values) == 1, (key, values)
    item = values[0]
    return item.decode("utf-8") if kind == "bytes_list" and key != "image/encoded" else item


def all_examples(out, split) -> list:
    return [e for name in shard_names(out, split) for e in read_records(Path(out) / name)]


def check_schema(example, classes) -> None:
    """Exactly the reference keys and kinds, a 1-based label that names the synset, and JPEG
    bytes that both TensorFlow JPEG decoders read at the stated size."""
    import tensorflow as tf
    features = example.features.feature
    assert {k: features[k].WhichOneof("kind") for k in features} == REFERENCE_SCHEMA
    synset = value(example, "image/class/synset")
    assert value(example, "image/class/label") == classes.index(synset) + 1
    assert value(example, "image/channels") == 3
    assert value(example, "image/colorspace") == "RGB"
    assert value(example, "image/format") == "JPEG"
    data = value(example, "image/encoded")
    height, width = value(example, "image/height"), value(example, "image/width")
    assert tuple(tf.io.decode_jpeg(data, channels=3).shape) == (height, width, 3)
    crop = tf.image.decode_and_crop_jpeg(data, [0, 0, height, width], channels=3)
    assert tuple(crop.shape) == (height, width, 3)


# --- a messy folder, converted once ------------------------------------------------------------

TRAIN_A = "アブラムシ"
TRAIN_B = "white fly"
GOOD_IN_A = {"写真 1.jpg", "exif6.jpg", "cmyk.jpg", "grey.jpg", "png_named.jpg", "rgba.png",
             "grey16.png", "anim.gif", "pic.bmp", "pic.webp"}
SKIPPED_IN_A = {"zero.jpg": "empty file", "truncated.jpg": "truncated or corrupt",
                "notes.txt": "not an image", ".DS_Store": "system file",
                "Thumbs.db": "system file", ".hidden.jpg": "hidden file",
                "bomb.png": "too many pixels"}


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    root = tmp_path_factory.mktemp("messy") / "data"
    a = root / "train" / TRAIN_A
    photo = jpeg_bytes(11, (40, 28))
    write(a / "写真 1.jpg", photo)
    write(a / "exif6.jpg", exif_rotated_jpeg((60, 30), 6))
    write(a / "cmyk.jpg", encode(solid("CMYK", (0, 255, 255, 0)), "JPEG"))
    write(a / "grey.jpg", encode(solid("L", 90), "JPEG"))
    write(a / "png_named.jpg", png_bytes(12))
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    rgba.paste((0, 200, 0, 255), (0, 0, 10, 20))
    write(a / "rgba.png", encode(rgba, "PNG"))
    write(a / "grey16.png", png16_bytes(32768))
    frames = [solid("RGB", (200, 10, 10)), solid("RGB", (10, 10, 200))]
    write(a / "anim.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    write(a / "pic.bmp", encode(solid("RGB", (10, 100, 200)), "BMP"))
    write(a / "pic.webp", encode(Image.fromarray(smooth_array(3, (24, 24))), "WEBP"))
    write(a / "zero.jpg", b"")
    write(a / "truncated.jpg", jpeg_bytes(13, (64, 64))[:1500])
    write(a / "notes.txt", "写真のメモ\n")
    write(a / ".DS_Store", b"\x00\x00\x00\x01Bud1" + b"\x00" * 40)
    write(a / "Thumbs.db", b"\xd0\xcf\x11\xe0" + b"\x00" * 40)
    write(a / ".hidden.jpg", jpeg_bytes(14))
    write(a / "bomb.png", bomb_png_bytes())
    b = root / "train" / TRAIN_B
    write(b / "fly 1.jpg", jpeg_bytes(15))
    write(b / "fly 2.jpg", jpeg_bytes(16))
    (root / "train" / "empty class").mkdir()
    write(root / "train" / "stray.jpg", jpeg_bytes(17))        # outside any class folder
    write(root / "validation" / TRAIN_A / "v 1.jpg", jpeg_bytes(18))
    write(root / "validation" / TRAIN_B / "v 2.jpg", jpeg_bytes(19))
    write(root / "validation" / TRAIN_B / "broken.jpg", jpeg_bytes(20, (64, 64))[:700])
    write(root / "validation" / "val only" / "v 3.jpg", jpeg_bytes(21))
    out = root.parent / "records"
    manifest = convert(root, out, shards=2)
    return {"data": root, "out": out, "manifest": manifest, "photo": photo}


def test_messy_folder_counts_add_up_and_nothing_is_lost(messy):
    manifest = assert_conversion_consistent(messy["out"], messy["manifest"])
    train, validation = manifest["splits"]["train"], manifest["splits"]["validation"]
    n_train_files = len(GOOD_IN_A) + len(SKIPPED_IN_A) + 2 + 1
    assert (train["found"], train["written"], train["skipped"]) == (n_train_files, 12,
                                                                    len(SKIPPED_IN_A) + 1)
    assert (validation["found"], validation["written"], validation["skipped"]) == (4, 3, 1)
    assert train["classes"] == {"val only": 0, TRAIN_B: 2, TRAIN_A: len(GOOD_IN_A)}
    # Every file is either in a record or in skipped.csv, with its reason.
    skipped = skipped_rows(messy["out"])
    for name, reason in SKIPPED_IN_A.items():
        assert reason in skipped[name], (name, skipped[name])
    assert "outside class folder" in skipped["stray.jpg"]
    assert "truncated or corrupt" in skipped["broken.jpg"]
    assert set(skipped) == set(SKIPPED_IN_A) | {"stray.jpg", "broken.jpg"}
    written = {value(e, "image/filename") for s in settings.SPLITS
               for e in all_examples(messy["out"], s)}
    assert written == GOOD_IN_A | {"fly 1.jpg", "fly 2.jpg", "v 1.jpg", "v 2.jpg", "v 3.jpg"}


def test_files_that_are_no_jpeg_never_reach_tensorflows_jpeg_decoder(tmp_path, capfd, tf):
    """Bytes without the JPEG marker go to the careful path (Pillow) without TensorFlow's JPEG
    decoder, whose libjpeg prints "Not a JPEG file: starts with 0x.. 0x.." on stderr, which
    students read as an error; each file is still written or reported with its reason."""
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.extract_jpeg_shape(png_bytes(1))
    assert "Not a JPEG file" in capfd.readouterr().err  # what the decoder prints, caught here
    data = tmp_path / "data"
    write(data / "train" / "a" / "photo.jpg", jpeg_bytes(2))
    write(data / "train" / "a" / "png_named.jpg", png_bytes(3))
    write(data / "train" / "a" / "pic.bmp", encode(solid("RGB", (10, 100, 200)), "BMP"))
    write(data / "train" / "a" / "notes.jpg", "a note, not a photo\n")
    write(data / "validation" / "a" / "v.jpg", jpeg_bytes(4))
    manifest = convert(data, tmp_path / "out")
    assert "Not a JPEG file" not in capfd.readouterr().err
    assert manifest["splits"]["train"]["written"] == 3
    assert "not an image" in skipped_rows(tmp_path / "out")["notes.jpg"]


def test_classes_labels_and_label_map(messy):
    # Sorted folder names with files, from both splits: the empty folder is left out, the class
    # that only validation has is in.
    classes = ["val only", TRAIN_B, TRAIN_A]
    assert messy["manifest"]["classes"] == classes
    text = (messy["out"] / settings.LABEL_MAP_FILE).read_text(encoding="utf-8")
    assert json.loads(text) == {"0": "val only", "1": TRAIN_B, "2": TRAIN_A}
    assert TRAIN_A in text and "\\u" not in text            # readable UTF-8, not escaped
    for split in settings.SPLITS:
        for example in all_examples(messy["out"], split):
            check_schema(example, classes)


def test_stored_images_are_proper_jpegs(messy, tf):
    examples = {value(e, "image/filename"): e for e in all_examples(messy["out"], "train")}
    # an already fine JPEG is stored byte for byte
    assert value(examples["写真 1.jpg"], "image/encoded") == messy["photo"]
    # the EXIF-rotated photo is stored upright: 30 wide, 60 high, red corner at the top right
    rotated = examples["exif6.jpg"]
    assert (value(rotated, "image/width"), value(rotated, "image/height")) == (30, 60)
    pixels = tf.io.decode_jpeg(value(rotated, "image/encoded")).numpy().astype(int)
    assert np.abs(pixels[3, 26] - (255, 0, 0)).max() < 40
    assert np.abs(pixels[3, 3] - (0, 0, 255)).max() < 40
    # 16-bit mid-grey stays mid-grey
    grey = tf.io.decode_jpeg(value(examples["grey16.png"], "image/encoded")).numpy()
    assert abs(int(grey.mean()) - 128) <= 2
    # CMYK (magenta + yellow ink) becomes red in RGB
    red = tf.io.decode_jpeg(value(examples["cmyk.jpg"], "image/encoded")).numpy()
    assert np.abs(red.reshape(-1, 3).mean(0) - (255, 0, 0)).max() < 6
    # what was re-encoded is counted
    assert messy["manifest"]["splits"]["train"]["converted"] == len(GOOD_IN_A) - 1


def test_inspect_and_load_split_read_the_conversion(messy, tf):
    table = records.inspect_records(messy["out"])
    got = {(r.split, r.label, r["class"]): r.records for _, r in table.iterrows()}
    assert got == {("train", 1, TRAIN_B): 2, ("train", 2, TRAIN_A): len(GOOD_IN_A),
                   ("validation", 0, "val only"): 1, ("validation", 1, TRAIN_B): 1,
                   ("validation", 2, TRAIN_A): 1}
    parsed = list(records.load_split(messy["out"], "validation"))
    assert [int(r["label"]) for r in parsed] == [0, 1, 2]
    assert [r["synset"].numpy().decode() for r in parsed] == ["val only", TRAIN_B, TRAIN_A]
    shown = records.take_examples(messy["out"], "validation", count=3)
    assert [item["class"] for item in shown] == ["val only", TRAIN_B, TRAIN_A]
    assert all(item["image"].shape[2] == 3 for item in shown)
    assert records.read_skipped(messy["out"]).shape == (len(SKIPPED_IN_A) + 2, 4)


def test_max_pixels_below_a_real_image_skips_it_with_the_reason(tmp_path):
    data = make_dataset(tmp_path / "d", {"train": {"a": 2}}, size=(32, 32))
    write(data / "train" / "a" / "big.jpg", jpeg_bytes(99, (64, 64)))
    convert(data, tmp_path / "out", max_pixels=32 * 32)
    manifest = assert_conversion_consistent(tmp_path / "out")
    assert manifest["splits"]["train"]["written"] == 2
    assert "too many pixels" in skipped_rows(tmp_path / "out")["big.jpg"]


# --- order, shards and sizes --------------------------------------------------------------------

@pytest.fixture(scope="module")
def ordered(tmp_path_factory):
    data = make_dataset(tmp_path_factory.mktemp("ordered") / "d",
                        {"train": {"a": 10, "b": 10, "c": 10}, "validation": {"a": 4, "b": 4}})
    out = data.parent / "out"
    return {"data": data, "out": out, "manifest": convert(data, out, shards=3)}


def relpaths(out, split):
    return [f"{value(e, 'image/class/synset')}/{value(e, 'image/filename')}"
            for e in all_examples(out, split)]


def test_shard_names_and_order(ordered):
    out = ordered["out"]
    assert_conversion_consistent(out, ordered["manifest"])
    assert shard_names(out) == [f"train-0000{i}-of-00003" for i in range(3)] + [
        f"validation-0000{i}-of-00003" for i in range(3)]
    train, validation = relpaths(out, "train"), relpaths(out, "validation")
    assert validation == sorted(validation)                   # validation in sorted order
    assert sorted(train) == sorted(str(p.relative_to(ordered["data"] / "train"))
                                   for p in (ordered["data"] / "train").rglob("*.jpg"))
    assert train != sorted(train)                              # training shards shuffled ...
    # ... across shards (not only within one): every shard mixes classes
    for name in shard_names(out, "train"):
        assert len({value(e, "image/class/synset") for e in read_records(out / name)}) > 1


def test_conversion_is_deterministic(ordered, tmp_path):
    again = convert(ordered["data"], tmp_path / "again", shards=3, workers=1)
    for name in shard_names(ordered["out"]):
        assert (tmp_path / "again" / name).read_bytes() == (ordered["out"] / name).read_bytes()
    assert {k: v for k, v in again.items() if k != "seconds"} == {
        k: v for k, v in ordered["manifest"].items() if k != "seconds"}


def test_shard_count_from_shard_size(ordered, tmp_path):
    total = sum(p.stat().st_size for p in (ordered["data"] / "train").rglob("*.jpg"))
    target_mb = total / 3.5 / 1e6                # 3.5 shards' worth of input bytes: 4 shards
    manifest = convert(ordered["data"], tmp_path / "out", shard_size_mb=target_mb)
    assert_conversion_consistent(tmp_path / "out", manifest)
    assert len(manifest["splits"]["train"]["shards"]) == 4
    val_total = sum(p.stat().st_size for p in (ordered["data"] / "validation").rglob("*.jpg"))
    assert len(manifest["splits"]["validation"]["shards"]) == math.ceil(val_total / total * 3.5)
    assert records.shard_count(10, 5, 100, None) == 1         # tiny split: still one shard
    assert records.shard_count(0, 5, None, 50) == 5          # never more shards than files


def test_shards_option_is_capped_by_the_files_and_default_size_gives_one(ordered, tmp_path):
    manifest = convert(ordered["data"], tmp_path / "many", shards=50)
    assert_conversion_consistent(tmp_path / "many", manifest)
    assert [len(manifest["splits"][s]["shards"]) for s in ("train", "validation")] == [30, 8]
    manifest = convert(ordered["data"], tmp_path / "default")
    assert [len(manifest["splits"][s]["shards"]) for s in ("train", "validation")] == [1, 1]
    with pytest.raises(DatasetError, match="at least 1"):
        convert(ordered["data"], tmp_path / "zero", shards=0)


def test_max_side_shrinks_every_image(ordered, tmp_path):
    manifest = convert(ordered["data"], tmp_path / "small", shards=1, max_side=16)
    assert_conversion_consistent(tmp_path / "small", manifest)
    assert manifest["splits"]["train"]["converted"] == 30
    for split in settings.SPLITS:
        for example in all_examples(tmp_path / "small", split):
            check_schema(example, manifest["classes"])
            assert (value(example, "image/width"), value(example, "image/height")) == (16, 16)


def test_the_fast_pipeline_proves_plain_jpegs_and_leaves_the_rest_to_the_careful_path(tmp_path):
    files = {"plain.jpg": jpeg_bytes(1, (40, 30)), "big.jpg": jpeg_bytes(2, (80, 60)),
             "png.jpg": png_bytes(3), "cut.jpg": jpeg_bytes(4, (64, 64))[:300],
             "rotated.jpg": exif_rotated_jpeg()}
    paths = [str(write(tmp_path / name, data)) for name, data in files.items()]
    got = {index: rest for index, *rest in
           records._fast_checks(paths, 2, max_side=64, max_pixels=settings.MAX_PIXELS, batch=2)}
    assert got[0] == [files["plain.jpg"], True, 30, 40]
    assert got[1] == [b"", False, 60, 80]   # over max_side: not decoded here, bytes not carried
    assert got[2] == [b"", False, 0, 0]     # no JPEG marker: never decoded, for the careful path
    assert sorted(got) == [0, 1, 2, 4]      # a cut JPEG fails to decode: left out for it too
    assert got[4][1] is True                # TensorFlow decodes it, but it is stored sideways:
    assert images.store_unchanged(got[4][0], got[4][1:]) is None   # the careful path rotates it


def test_a_shard_of_bad_images_leaves_no_file_and_names_stay_consistent(tmp_path):
    data = make_dataset(tmp_path / "d", {"train": {"a": 3}, "validation": {"a": 2, "b": 2}})
    for name in ("c1.jpg", "c2.jpg"):                 # validation, sorted last: the third shard
        write(data / "validation" / "c" / name, b"")
    manifest = convert(data, tmp_path / "out", shards=3)
    assert_conversion_consistent(tmp_path / "out", manifest)
    assert shard_names(tmp_path / "out", "validation") == [
        "validation-00000-of-00002", "validation-00001-of-00002"]
    assert manifest["splits"]["validation"]["skipped"] == 2
    assert records.shard_files(tmp_path / "out", "validation")   # a complete set


def test_a_split_of_bad_images_only_has_no_shards(tmp_path):
    data = make_dataset(tmp_path / "d", {"train": {"a": 2}})
    write(data / "validation" / "a" / "x.jpg", b"")
    manifest = convert(data, tmp_path / "out")
    assert_conversion_consistent(tmp_path / "out", manifest)
    assert manifest["splits"]["validation"]["shards"] == []
    with pytest.raises(DatasetError, match="No validation-NNNNN-of-NNNNN shards"):
        records.load_split(tmp_path / "out", "validation")


def test_conversion_with_class_mapping_merges_labels(tmp_path):
    data = make_dataset(tmp_path / "d", {"train": {"aphid": 2, TRAIN_A: 1, "fly": 1},
                                         "validation": {"aphid": 1, "fly": 1}})
    manifest = convert(data, tmp_path / "out", class_mapping={"aphid": TRAIN_A})
    assert_conversion_consistent(tmp_path / "out", manifest)
    assert manifest["classes"] == ["fly", TRAIN_A]
    assert json.loads((tmp_path / "out" / settings.LABEL_MAP_FILE).read_text("utf-8")) == {
        "0": "fly", "1": TRAIN_A}
    assert manifest["splits"]["train"]["classes"] == {"fly": 1, TRAIN_A: 3}
    labels = sorted((value(e, "image/class/synset"), value(e, "image/class/label"))
                    for e in all_examples(tmp_path / "out", "train"))
    assert labels == [("fly", 1), (TRAIN_A, 2), (TRAIN_A, 2), (TRAIN_A, 2)]
    with pytest.raises(DatasetError, match="does not have"):
        convert(data, tmp_path / "out2", class_mapping={"nope": "fly"})


def test_conversion_of_a_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="No folder at"):
        convert(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no train/ or validation/"):
        convert(tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_inspect_notices_a_changed_folder(ordered, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(ordered["out"], copy)
    assert records.inspect_records(copy)["records"].sum() == 38
    (copy / "train-00001-of-00003").write_bytes(b"")           # a shard emptied after conversion
    with pytest.raises(DatasetError, match="manifest says 30"):
        records.inspect_records(copy)
    os.remove(copy / "train-00001-of-00003")                   # a shard missing
    with pytest.raises(DatasetError, match="not a complete set"):
        records.inspect_records(copy)


# --- records written by the tensorflow/tpu converter ----------------------------------------

def write_reference_shards(folder, label_map: dict | None, keys: str = "all") -> dict:
    """Shards as imagenet_to_gcs.py writes them: 1-based labels, synsets, no manifest."""
    import tensorflow as tf
    folder = Path(folder)
    folder.mkdir(parents=True)
    synsets = ["n01", "n02", TRAIN_A]
    layout_ = {"train-00000-of-00002": [1, 2, 3, 3], "train-00001-of-00002": [2, 2, 1],
               "validation-00000-of-00001": [3, 1]}
    images = {}
    seed = 1000
    for name, labels in layout_.items():
        with tf.io.TFRecordWriter(str(folder / name)) as writer:
            for i, label in enumerate(labels):
                seed += 1
                data = jpeg_bytes(seed, (20, 16))
                feature = {
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
                    "image/class/label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[label]))}
                if keys == "all":
                    text = {"image/class/synset": synsets[label - 1], "image/filename":
                            f"{name}_{i}.JPEG", "image/colorspace": "RGB", "image/format": "JPEG"}
                    for key, item in text.items():
                        feature[key] = tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[item.encode("utf-8")]))
                    for key, item in (("image/height", 16), ("image/width", 20),
                                      ("image/channels", 3)):
                        feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[item]))
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
                images.setdefault(name.split("-")[0], []).append((label - 1, data))
    if label_map is not None:
        write(folder / settings.LABEL_MAP_FILE, json.dumps(label_map, ensure_ascii=False))
    return images


def test_reference_records_without_a_label_map(tmp_path):
    expected = write_reference_shards(tmp_path / "ref", None)
    table = records.inspect_records(tmp_path / "ref")
    got = {(r.split, r.label, r["class"]): r.records for _, r in table.iterrows()}
    assert got == {("train", 0, "n01"): 2, ("train", 1, "n02"): 3, ("train", 2, TRAIN_A): 2,
                   ("validation", 0, "n01"): 1, ("validation", 2, TRAIN_A): 1}
    parsed = [(int(r["label"]), r["image"].numpy()) for r in records.load_split(tmp_path / "ref",
                                                                               "train")]
    assert parsed == expected["train"]
    assert records.record_classes(tmp_path / "ref") is None


def test_reference_records_with_a_label_map(tmp_path):
    names = {"0": "n01", "1": "n02", "2": TRAIN_A}
    expected = write_reference_shards(tmp_path / "ref", names)
    table = records.inspect_records(tmp_path / "ref")
    assert list(table.loc[table["split"] == "validation", "class"]) == ["n01", TRAIN_A]
    parsed = [(int(r["label"]), r["image"].numpy())
              for r in records.load_split(tmp_path / "ref", "validation")]
    assert parsed == expected["validation"]
    shown = records.take_examples(tmp_path / "ref", "validation", count=2)
    assert [s["class"] for s in shown] == [TRAIN_A, "n01"]


def test_reference_records_with_only_image_and_label(tmp_path):
    write_reference_shards(tmp_path / "ref", {"0": "a", "1": "b", "2": "c"}, keys="minimal")
    table = records.inspect_records(tmp_path / "ref")
    assert table.groupby("class")["records"].sum().to_dict() == {"a": 3, "b": 3, "c": 3}
    labels = [int(r["label"]) for r in records.load_split(tmp_path / "ref", "train")]
    assert labels == [0, 1, 2, 2, 1, 1, 0]


def test_label_map_that_contradicts_the_records_is_refused(tmp_path):
    write_reference_shards(tmp_path / "ref", {"0": "n02", "1": "n01", "2": TRAIN_A})
    with pytest.raises(DatasetError, match="label map"):
        records.inspect_records(tmp_path / "ref")


# --- reruns, overwrites and resuming ----------------------------------------------------------

def test_a_finished_conversion_is_not_redone(ordered, capsys):
    before = {n: (ordered["out"] / n).stat().st_ino for n in shard_names(ordered["out"])}
    manifest = records.convert_dataset(ordered["data"], ordered["out"], shards=3, progress=False)
    assert "Already complete" in capsys.readouterr().out
    assert manifest == ordered["manifest"]
    assert {n: (ordered["out"] / n).stat().st_ino for n in shard_names(ordered["out"])} == before


def test_a_different_conversion_into_the_same_folder_needs_overwrite(tmp_path):
    data = make_dataset(tmp_path / "d", {"train": {"a": 4, "b": 4}, "validation": {"a": 2}})
    out = tmp_path / "out"
    convert(data, out, shards=3)
    write(out / "notes.md", "my notes")
    with pytest.raises(DatasetError, match="different conversion.*overwrite"):
        convert(data, out, shards=2)
    assert len(shard_names(out, "train")) == 3                  # untouched
    write(data / "train" / "b" / "new.jpg", jpeg_bytes(555))    # other files: also different
    with pytest.raises(DatasetError, match="different conversion"):
        convert(data, out, shards=3)
    manifest = convert(data, out, shards=2, overwrite=True)
    assert_conversion_consistent(out, manifest)
    assert shard_names(out, "train") == ["train-00000-of-00002", "train-00001-of-00002"]
    assert manifest["splits"]["train"]["written"] == 9
    assert (out / "notes.md").read_text() == "my notes"          # not ours: kept


def test_shards_of_another_tool_are_not_overwritten_silently(tmp_path):
    write_reference_shards(tmp_path / "out", None)
    data = make_dataset(tmp_path / "d", {"train": {"a": 2}})
    with pytest.raises(DatasetError, match="another tool"):
        convert(data, tmp_path / "out")
    assert (tmp_path / "out" / "train-00001-of-00002").exists()


def test_a_stale_incomplete_folder_from_other_inputs_is_discarded(tmp_path):
    data = make_dataset(tmp_path / "d", {"train": {"a": 3, "b": 3}, "validation": {"a": 1}})
    out = tmp_path / "out"
    staging = out / settings.STAGING_DIR
    write(staging / "plan.json", json.dumps({"fingerprint": "another conversion"}))
    write(staging / "train-00000.json", json.dumps({
        "stem": "train-00000", "split": "train", "records": 1, "bytes": 3, "converted": 0,
        "classes": {"a": 1}, "skipped": []}))
    write(staging / "train-00000.tfrecord", b"garbage")
    messages = []
    manifest = convert(data, out, shards=2, log=messages.append)
    assert any("starting anew" in m for m in messages)
    assert not any(m.startswith("Resuming") for m in messages)
    assert_conversion_consistent(out, manifest)
    assert manifest["splits"]["train"]["written"] == 6


def test_a_conversion_stopped_while_finishing_resumes(tmp_path, monkeypatch):
    # Stopped after the shards got their final names but before the manifest (on gs:// those
    # renames are copies and take long): the rerun must finish the job, not refuse it.
    data = make_dataset(tmp_path / "d", {"train": {"a": 4, "b": 4}, "validation": {"a": 2}})
    out = tmp_path / "out"

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(records, "write_label_map", stop)
    with pytest.raises(KeyboardInterrupt):
        convert(data, out, shards=2)
    monkeypatch.undo()
    assert shard_names(out) and not (out / settings.MANIFEST_FILE).exists()
    inodes = {name: (out / name).stat().st_ino for name in shard_names(out)}
    manifest = convert(data, out, shards=2)
    assert_conversion_consistent(out, manifest)
    # shards that already had their final names were kept, not written again
    assert {name: (out / name).stat().st_ino for name in shard_names(out)} == inodes
    clean = convert(data, tmp_path / "clean", shards=2)
    for name in shard_names(tmp_path / "clean"):
        assert (out / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()
    assert manifest["fingerprint"] == clean["fingerprint"]


def make_slow_dataset(root, train: int, validation: int) -> Path:
    """PNG photos (200 px) that all need re-encoding (1-3 ms each on one thread); 23 distinct
    pictures, repeated under distinct names (23 and the 4 classes share no factor, so every class
    gets every picture), keep building it fast."""
    base = smooth_array(0, (200, 200))
    variants = [encode(Image.fromarray(np.roll(base, 9 * i, axis=1) // (1 + i % 3)), "PNG",
                       compress_level=1) for i in range(23)]
    for split, count in (("train", train), ("validation", validation)):
        for i in range(count):
            write(root / split / f"class {i % 4}" / f"photo {i:04d}.png", variants[i % 23])
    return root


def test_a_killed_conversion_resumes(tmp_path, capsys):
    from effnet_helpers import cli
    data = make_slow_dataset(tmp_path / "data", train=1440, validation=240)
    out = tmp_path / "out"
    args = ["convert", str(data), str(out), "--shards", "12", "--workers", "1", "--no-progress"]
    staging = out / settings.STAGING_DIR
    with open(tmp_path / "log.txt", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "effnet_helpers", *args],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                states = ([p for p in staging.glob("*.json") if p.name != "plan.json"]
                          if staging.is_dir() else [])
                if len(states) >= 2:
                    break
                assert process.poll() is None, (tmp_path / "log.txt").read_text()
                assert time.monotonic() < deadline, "no shard finished in 120 s"
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert shard_names(out) == [], "final-named shards before the end"
    assert not (out / settings.MANIFEST_FILE).exists()
    # Shards that were finished (state written) before the kill, and their inode numbers.
    finished = {p.stem: p.stat().st_ino for p in staging.glob("*.tfrecord")
                if (staging / f"{p.stem}.json").exists()}
    assert len(finished) >= 2 and all(s.startswith("train-") for s in finished)

    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "Resuming:" in printed and "of 24 shards were already written" in printed
    manifest = assert_conversion_consistent(out)
    assert not staging.exists()
    for stem, inode in finished.items():
        split, index = stem.split("-")
        final = out / f"{split}-{index}-of-00012"
        assert final.stat().st_ino == inode, f"{stem} was written again"

    clean = convert(data, tmp_path / "clean", shards=12)
    assert shard_names(out) == shard_names(tmp_path / "clean")
    for name in shard_names(out):
        # Same records in the same order (compared parsed: protobuf writes a map's entries in an
        # order that differs between processes, so the bytes of two runs may differ).
        assert read_records(out / name) == read_records(tmp_path / "clean" / name), name
    for name in (settings.LABEL_MAP_FILE, settings.SKIPPED_FILE):
        assert (out / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()
    assert {k: v for k, v in manifest.items() if k != "seconds"} == {
        k: v for k, v in clean.items() if k != "seconds"}


def test_fingerprint_does_not_depend_on_where_the_data_is(tmp_path):
    data = make_dataset(tmp_path / "here", {"train": {"a": 3, "b": 2}, "validation": {"a": 1}})
    write(data / "train" / "a" / "notes.txt", "not an image")  # skipped files are in the plan
    write(data / "train" / ".DS_Store", b"x")
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    assert (records.plan_conversion(data)["fingerprint"]
            == records.plan_conversion(moved)["fingerprint"])


def test_broken_links_are_reported_not_fatal(tmp_path):
    data = make_dataset(tmp_path / "d", {"train": {"a": 3}, "validation": {"a": 1}})
    (data / "train" / "a" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    table = layout.scan_dataset(data)
    assert table.set_index("filename").loc["gone.jpg", "kind"] == "unreadable"
    manifest = convert(data, tmp_path / "out")
    assert_conversion_consistent(tmp_path / "out", manifest)
    assert manifest["splits"]["train"]["skipped"] == 1
    assert "unreadable" in skipped_rows(tmp_path / "out")["gone.jpg"]


def test_an_output_path_that_is_a_file_is_a_clear_error(tmp_path):
    data = make_dataset(tmp_path / "d", {"train": {"a": 2}})
    write(tmp_path / "out", "a file")
    with pytest.raises(DatasetError, match="is a file"):
        convert(data, tmp_path / "out")
