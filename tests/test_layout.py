"""Stage 1, the dataset layout: scan_dataset, class_counts, the label map, find_problems,
split_dataset and class merging (effnet_helpers.layout); the optional test split, splits that keep
a specimen's photos together, and near-duplicates found by the perceptual hash."""
from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import encode, jpeg_bytes, make_dataset, make_flat, png_bytes, solid, write
from effnet_helpers import layout, settings
from effnet_helpers.layout import DatasetError


# --- scanning -------------------------------------------------------------------------------

@pytest.fixture
def small(tmp_path):
    root = make_dataset(tmp_path / "data", {"train": {"cat": 3, "dog": 2},
                                            "validation": {"cat": 1, "dog": 1}})
    write(root / "train" / "cat" / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    write(root / "train" / "Thumbs.db", b"\x00" * 10)
    write(root / "train" / "cat" / ".hidden.jpg", jpeg_bytes(900))
    write(root / "train" / ".git" / "config", "[core]\n")
    write(root / "train" / "readme.txt", "read me\n")
    write(root / "validation" / "dog" / "notes.txt", "a note\n")
    return root


def test_scan_dataset_lists_every_file_with_its_kind(small):
    table = layout.scan_dataset(small)
    assert list(table.columns) == layout.FILE_COLUMNS
    assert len(table) == 7 + 6                       # nothing dropped
    kinds = dict(zip(table["split"] + "/" + table["relpath"], table["kind"]))
    assert kinds["train/cat/.DS_Store"] == "system"
    assert kinds["train/Thumbs.db"] == "system"
    assert kinds["train/cat/.hidden.jpg"] == "hidden"
    assert kinds["train/.git/config"] == "hidden"
    assert kinds["train/readme.txt"] == "outside class folder"
    assert kinds["validation/dog/notes.txt"] == "candidate"   # tried, and refused, as an image
    assert kinds["train/cat/img_000.jpg"] == "candidate"
    row = table[table["relpath"] == "cat/img_000.jpg"].iloc[0]
    assert row["bytes"] == os.path.getsize(row["path"]) > 0
    assert row["class"] == "cat" and row["filename"] == "img_000.jpg"
    assert table.attrs["class_folders"] == {"train": ["cat", "dog"], "validation": ["cat", "dog"]}


def test_class_counts_counts_candidates_per_split_with_totals(small):
    counts = layout.class_counts(layout.scan_dataset(small))
    assert list(counts.columns) == ["train", "validation", "total"]
    assert counts.loc["cat"].tolist() == [3, 1, 4]
    assert counts.loc["dog"].tolist() == [2, 2, 4]          # notes.txt is a candidate
    assert counts.loc["total"].tolist() == [5, 3, 8]
    assert layout.imbalance(counts) == 1.5


def test_label_map_follows_sorted_folder_names_and_is_utf8(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"アブラムシ": 1, "white fly": 1, "Zebra": 1,
                                                   "ant": 1}, "validation": {"ant": 1}})
    table = layout.scan_dataset(root)
    classes = layout.class_names(table)
    assert classes == ["Zebra", "ant", "white fly", "アブラムシ"]   # Python's sorted()
    assert layout.label_map(classes) == {"0": "Zebra", "1": "ant", "2": "white fly",
                                          "3": "アブラムシ"}
    path = tmp_path / "synset_id2label.json"
    layout.write_label_map(classes, path)
    text = path.read_text(encoding="utf-8")
    assert "アブラムシ" in text and "\\u" not in text
    assert layout.read_label_map(path) == classes


def test_empty_class_folder_is_left_out_of_the_label_map(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"a": 1, "c": 1}, "validation": {"a": 1}})
    (root / "train" / "b").mkdir()
    table = layout.scan_dataset(root)
    assert layout.class_names(table) == ["a", "c"]
    assert "b" in table.attrs["class_folders"]["train"]


def test_read_label_map_refuses_gaps(tmp_path):
    path = write(tmp_path / "m.json", json.dumps({"0": "a", "2": "b"}))
    with pytest.raises(DatasetError, match="keys must be 0..1"):
        layout.read_label_map(path)


def test_missing_data_dir(tmp_path):
    with pytest.raises(DatasetError, match="No folder at"):
        layout.scan_dataset(tmp_path / "nowhere")


def test_empty_data_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no train/ or validation/ folder.*effnet split"):
        layout.scan_dataset(tmp_path / "empty")


def test_data_dir_with_empty_class_folders_only(tmp_path):
    (tmp_path / "d" / "train" / "cat").mkdir(parents=True)
    write(tmp_path / "d" / "train" / "cat" / ".DS_Store", b"x")
    with pytest.raises(DatasetError, match="No files inside class folders"):
        layout.scan_dataset(tmp_path / "d")


# --- problems -------------------------------------------------------------------------------

def problems_of(root) -> pd.DataFrame:
    table = layout.check_images(layout.scan_dataset(root), workers=2)
    return layout.find_problems(table)


def rows(problems: pd.DataFrame, text: str) -> pd.DataFrame:
    return problems[problems["problem"].str.contains(text, regex=False)]


def test_a_clean_dataset_has_no_errors_or_warnings(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"a": 2, "b": 2}, "validation": {"a": 1, "b": 1}})
    problems = problems_of(root)
    assert problems.empty, problems.to_string()


def test_find_problems_reports_leaks_duplicates_and_misnamed_files(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"cat": 3, "dog": 3},
                                         "validation": {"cat": 1, "dog": 1}})
    leak = jpeg_bytes(7001)
    write(root / "train" / "cat" / "leak_a.jpg", leak)
    write(root / "validation" / "cat" / "leak_b.jpg", leak)           # same bytes, other name
    both = jpeg_bytes(7002)
    write(root / "train" / "cat" / "both.jpg", both)
    write(root / "train" / "dog" / "both_again.jpg", both)            # same image, two classes
    twice = jpeg_bytes(7003)
    write(root / "train" / "dog" / "twice_1.jpg", twice)
    write(root / "train" / "dog" / "twice_2.jpg", twice)              # same class: info only
    write(root / "train" / "cat" / "png_as.jpg", png_bytes(7004))
    write(root / "train" / "cat" / "png_as.jpeg", png_bytes(7005))
    write(root / "train" / "dog" / "jpeg_as.png", jpeg_bytes(7006))
    write(root / "train" / "dog" / "real.png", png_bytes(7007))       # correctly named: fine
    write(root / "train" / "dog" / "broken.jpg", b"")
    problems = problems_of(root)

    leaks = rows(problems, "same image in train and validation")
    assert len(leaks) == 1 and leaks.iloc[0]["severity"] == "error"
    assert "leak_a.jpg" in leaks.iloc[0]["path"] and "leak_b.jpg" in leaks.iloc[0]["path"]

    two = rows(problems, "same image in two classes")
    assert len(two) == 1 and two.iloc[0]["class"] == "cat | dog"
    assert "both.jpg" in two.iloc[0]["path"] and "both_again.jpg" in two.iloc[0]["path"]

    within = rows(problems, "duplicate image within a class")
    assert len(within) == 1 and within.iloc[0]["severity"] == "info"

    misnamed = rows(problems, "name does not match content")
    assert sorted(os.path.basename(p) for p in misnamed["path"]) == [
        "jpeg_as.png", "png_as.jpeg", "png_as.jpg"]

    bad = rows(problems, "not a usable image")
    assert list(bad["path"].map(os.path.basename)) == ["broken.jpg"]
    assert "empty file" in bad.iloc[0]["detail"]
    # errors come first
    order = {"error": 0, "warning": 1, "info": 2}
    assert problems["severity"].map(order).is_monotonic_increasing


def test_find_problems_reports_class_folder_issues(tmp_path):
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    root = make_dataset(tmp_path / "d", {
        "train": {"Cat": 1, "cat": 1, nfc: 1, nfd: 1, "train_only": 1, "both": 1},
        "validation": {"Cat": 1, "cat": 1, nfc: 1, nfd: 1, "val_only": 1, "both": 1}})
    (root / "train" / "empty").mkdir()
    (root / "validation" / "empty").mkdir()
    (root / "validation" / "val_only").mkdir(exist_ok=True)
    problems = layout.find_problems(layout.scan_dataset(root))   # without check_images too

    same = rows(problems, "differ only by case")
    assert sorted(same["class"]) == sorted(["Cat | cat", " | ".join(sorted([nfc, nfd]))])
    assert set(same["severity"]) == {"error"}
    nfd_rows = rows(problems, "decomposed Unicode")
    assert list(nfd_rows["class"]) == [nfd]

    empty = rows(problems, "empty class folder")
    assert sorted(zip(empty["split"], empty["class"])) == [("train", "empty"),
                                                           ("validation", "empty")]
    train_only = rows(problems, "class in train only")
    assert list(train_only["class"]) == ["train_only"]
    val_only = rows(problems, "class in validation only")
    assert list(val_only["class"]) == ["val_only"]
    assert "both" not in set(problems["class"])


def test_find_problems_lists_files_that_are_not_converted(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"a": 1}, "validation": {"a": 1}})
    write(root / "train" / "a" / ".DS_Store", b"x")
    write(root / "train" / "a" / ".hidden.jpg", jpeg_bytes(5))
    problems = layout.find_problems(layout.scan_dataset(root))
    info = problems[problems["problem"].str.endswith("file, not converted")]
    assert sorted(info["problem"]) == ["hidden file, not converted", "system file, not converted"]
    assert set(info["severity"]) == {"info"}


def test_find_problems_reports_a_missing_validation_folder(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"a": 1, "b": 1}})
    problems = layout.find_problems(layout.scan_dataset(root))
    assert list(rows(problems, "no validation/ folder")["severity"]) == ["warning"]


# --- splitting a flat folder ------------------------------------------------------------------

def split_of(plan: pd.DataFrame) -> dict:
    """{(class, file name): split} of a split plan's placed files."""
    placed = plan[plan["split"] != "skipped"]
    return {(c, os.path.basename(s)): sp for c, s, sp in
            zip(placed["class"], placed["source"], placed["split"])}


def test_split_is_stratified_and_places_every_file(tmp_path):
    counts = {"a": 10, "b": 8, "c": 7, "d": 3, "e": 2, "single": 1}
    source = make_flat(tmp_path / "flat", counts)
    plan = layout.split_dataset(source, tmp_path / "out", validation_fraction=0.2, seed=1)
    for name, n in counts.items():
        mine = plan[plan["class"] == name]
        n_val = int((mine["split"] == "validation").sum())
        expected = 0 if n == 1 else min(max(round(n * 0.2), 1), n - 1)
        assert n_val == expected, name
        assert len(mine) == n
        for _, row in mine.iterrows():
            target = Path(row["target"])
            assert target.parts[-3:-1] == (row["split"], name)
            assert target.read_bytes() == Path(row["source"]).read_bytes()
            assert not target.is_symlink()
    table = layout.scan_dataset(tmp_path / "out")
    assert layout.class_counts(table).loc["total", "total"] == sum(counts.values())


def test_split_is_seeded(tmp_path):
    source = make_flat(tmp_path / "flat", {"a": 20, "b": 20})
    first = split_of(layout.split_dataset(source, tmp_path / "o1", seed=3))
    again = split_of(layout.split_dataset(source, tmp_path / "o2", seed=3))
    other = split_of(layout.split_dataset(source, tmp_path / "o3", seed=4))
    assert first == again
    assert first != other


def test_adding_a_class_does_not_change_the_split_of_the_others(tmp_path):
    source = make_flat(tmp_path / "flat", {"a": 12, "b": 9})
    before = split_of(layout.split_dataset(source, tmp_path / "o1"))
    make_flat(source, {"aa": 8}, seed=5)   # a new class, sorted between the others
    after = split_of(layout.split_dataset(source, tmp_path / "o2"))
    assert {k: v for k, v in after.items() if k[0] != "aa"} == before
    assert any(k[0] == "aa" for k in after)


def test_split_symlink_mode_links_to_the_sources(tmp_path):
    source = make_flat(tmp_path / "flat", {"a": 4})
    plan = layout.split_dataset(source, tmp_path / "out", mode="symlink")
    placed = plan[plan["split"] != "skipped"]
    assert len(placed) == 4
    for _, row in placed.iterrows():
        target = Path(row["target"])
        assert target.is_symlink()
        assert os.path.samefile(target, row["source"])
    assert layout.class_counts(layout.scan_dataset(tmp_path / "out")).loc["a", "total"] == 4


def test_split_refuses_a_non_empty_output_folder(tmp_path):
    source = make_flat(tmp_path / "flat", {"a": 4})
    write(tmp_path / "out" / "keep.txt", "mine")
    with pytest.raises(DatasetError, match="is not empty"):
        layout.split_dataset(source, tmp_path / "out")
    assert os.listdir(tmp_path / "out") == ["keep.txt"]


def test_split_reports_the_files_it_does_not_copy(tmp_path):
    source = make_flat(tmp_path / "flat", {"a": 3})
    write(source / "a" / ".DS_Store", b"x")
    write(source / "a" / ".hidden.jpg", jpeg_bytes(3))
    write(source / "Thumbs.db", b"x")
    write(source / "readme.txt", "hi")
    write(source / "a" / "notes.txt", "not a photo")  # inside a class folder, but no image
    plan = layout.split_dataset(source, tmp_path / "out")
    skipped = plan[plan["split"] == "skipped"]
    assert sorted(map(os.path.basename, skipped["source"])) == [
        ".DS_Store", ".hidden.jpg", "Thumbs.db", "notes.txt", "readme.txt"]
    assert "not an image" in skipped.set_index("source").loc[str(source / "a" / "notes.txt"),
                                                             "target"]
    assert all(t.startswith("not copied: ") for t in skipped["target"])
    copied = sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert copied == ["img_000.jpg", "img_001.jpg", "img_002.jpg"]


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "move"}, "mode must be"),
    ({"validation_fraction": 1.0}, "between 0 and 1"),
])
def test_split_refuses_bad_options(tmp_path, kwargs, message):
    source = make_flat(tmp_path / "flat", {"a": 3})
    with pytest.raises(DatasetError, match=message):
        layout.split_dataset(source, tmp_path / "out", **kwargs)


# --- merging classes ------------------------------------------------------------------------

def test_apply_class_mapping_merges_counts_and_keeps_the_original_names(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"aphid": 2, "アブラムシ": 3, "fly": 1},
                                         "validation": {"aphid": 1, "アブラムシ": 1, "fly": 1}})
    mapping_file = write(tmp_path / "merge.json",
                         json.dumps({"aphid": "アブラムシ"}, ensure_ascii=False))
    table = layout.scan_dataset(root)
    for mapping in ({"aphid": "アブラムシ"}, str(mapping_file)):
        merged = layout.apply_class_mapping(table, mapping)
        counts = layout.class_counts(merged)
        assert layout.class_names(merged) == ["fly", "アブラムシ"]
        assert counts.loc["アブラムシ"].tolist() == [5, 2, 7]
        assert counts.loc["fly"].tolist() == [1, 1, 2]
        assert set(merged.loc[merged["class"] == "アブラムシ", "original_class"]) == {
            "aphid", "アブラムシ"}
        assert merged.attrs["class_folders"]["train"] == ["fly", "アブラムシ"]
    assert layout.class_names(table) == ["aphid", "fly", "アブラムシ"]   # input unchanged


def test_class_mapping_with_an_unknown_class_is_a_clear_error(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"a": 1, "b": 1}})
    with pytest.raises(DatasetError, match=r"classes the data does not have: \['typo'\]"):
        layout.apply_class_mapping(layout.scan_dataset(root), {"typo": "a"})


@pytest.mark.parametrize("content", ['["a", "b"]', '{"a": 3}', '{"a": ""}', "not json"])
def test_malformed_class_mapping_files(tmp_path, content):
    path = write(tmp_path / "m.json", content)
    with pytest.raises(DatasetError):
        layout.load_class_mapping(str(path))


def test_solid_images_in_other_formats_count_as_candidates(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"a": 1}})
    write(root / "train" / "a" / "x.gif", encode(solid("RGB", (1, 2, 3)), "GIF"))
    checked = layout.check_images(layout.scan_dataset(root), workers=1)
    assert dict(zip(checked["filename"], checked["format"])) == {"img_000.jpg": "JPEG",
                                                                 "x.gif": "GIF"}
    assert (checked["problem"] == "").all()


def test_a_linked_class_folder_is_scanned(tmp_path):
    data = make_dataset(tmp_path / "d", {"train": {"a": 2}, "validation": {"a": 1}})
    other = make_flat(tmp_path / "elsewhere", {"b": 3})
    (data / "train" / "b").symlink_to(other / "b", target_is_directory=True)
    counts = layout.class_counts(layout.scan_dataset(data))
    assert counts.loc["b", "train"] == 3


def test_file_names_that_look_like_copies_or_hide_spaces_are_reported(tmp_path):
    data = make_dataset(tmp_path / "d", {"train": {"a": 1}, "validation": {"a": 1}})
    write(data / "train" / "a" / "IMG_0001 (1).jpg", jpeg_bytes(7))
    write(data / "train" / "a" / "写真のコピー.jpg", jpeg_bytes(8))
    write(data / "train" / "a" / "trailing space.jpg ", jpeg_bytes(9))
    problems = layout.find_problems(layout.scan_dataset(data))
    by_file = {os.path.basename(p): q for p, q in zip(problems["path"], problems["problem"])}
    assert by_file["IMG_0001 (1).jpg"] == "file name looks like a copy"
    assert by_file["写真のコピー.jpg"] == "file name looks like a copy"
    assert by_file["trailing space.jpg "] == "file name with control characters or edge spaces"
    assert not any(os.path.basename(p).startswith("img_") for p in problems["path"])


# --- an optional test split -------------------------------------------------------------------

def test_a_test_folder_is_scanned_counted_and_checked(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"a": 3, "b": 3}, "validation": {"a": 1, "b": 1},
                                         "test": {"a": 1}})
    leak = jpeg_bytes(8101)
    write(root / "validation" / "b" / "leak.jpg", leak)
    write(root / "test" / "b" / "leak.jpg", leak)
    table = layout.scan_dataset(root)
    counts = layout.class_counts(table)
    assert list(counts.columns) == ["train", "validation", "test", "total"]
    assert counts.loc["total"].tolist() == [6, 3, 2, 11]
    problems = problems_of(root)
    leaks = rows(problems, "same image in validation and test")
    assert len(leaks) == 1 and leaks.iloc[0]["severity"] == "error"
    assert list(rows(problems, "class missing from test")["class"]) == []  # b has its leak copy
    (root / "test" / "b" / "leak.jpg").unlink()
    missing = rows(problems_of(root), "class missing from test")
    assert list(missing["class"]) == ["b"] and "test figures" in missing.iloc[0]["detail"]


def test_without_a_test_folder_nothing_is_said_about_it(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"a": 2}, "validation": {"a": 1}})
    assert problems_of(root).empty
    assert "test" not in layout.class_counts(layout.scan_dataset(root)).columns


# --- near-duplicates across splits --------------------------------------------------------------

def photos(count: int = 12) -> list:
    """Distinct photo-like images: tiles of scikit-learn's two sample photos (offline)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images
    tiles = []
    for array in load_sample_images().images:
        for x in (0, 200, 400):
            for y in (0, 100, 200):
                tiles.append(Image.fromarray(array[y:y + 220, x:x + 230]))
    return tiles[:count]


def cropped(image, left=0.0, top=0.0, right=0.0, bottom=0.0):
    w, h = image.size
    return image.crop((round(left * w), round(top * h), w - round(right * w),
                       h - round(bottom * h)))


def digit_image(split="validation", name="seven", index=0):
    from PIL import Image
    path = sorted((settings.sample_data_dir() / split / name).glob("*.jpg"))[index]
    return Image.open(path).convert("RGB")


COPIES = {  # what people do to a photo before it lands in the other split by mistake
    "re-encoded at quality 40": lambda im: encode(im, "JPEG", quality=40),
    "saved as PNG": lambda im: encode(im, "PNG"),
    "half size": lambda im: encode(im.resize((im.width // 2, im.height // 2)), "JPEG", quality=85),
    "double size": lambda im: encode(im.resize((im.width * 2, im.height * 2)), "JPEG"),
    "5% off every side": lambda im: encode(cropped(im, .05, .05, .05, .05), "JPEG", quality=90),
    "7% off the left": lambda im: encode(cropped(im, left=.07), "JPEG", quality=90),
    "3% off the bottom": lambda im: encode(cropped(im, bottom=.03), "JPEG", quality=90),
    "4% off two sides": lambda im: encode(cropped(im, top=.04, right=.04), "JPEG", quality=90),
}


@pytest.mark.parametrize("change", sorted(COPIES))
def test_a_changed_copy_hashes_close_to_its_original(change):
    for original in photos(6) + [digit_image(index=i) for i in range(3)]:
        copy = layout.perceptual_hashes(COPIES[change](original))
        bits = layout.hash_distance(layout.perceptual_hashes(encode(original, "JPEG")), copy)
        assert bits <= settings.NEAR_DUPLICATE_BITS, (change, bits)


def test_distinct_images_hash_far_apart():
    hashes = [layout.perceptual_hashes(encode(p, "JPEG", quality=90)) for p in photos()]
    distances = [layout.hash_distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]]
    assert min(distances) > 3 * settings.NEAR_DUPLICATE_BITS  # overlapping tiles of a photo too
    # the hash of a blank image would match every other blank image: it is not hashed
    with pytest.raises(layout.ImageProblem, match="blank"):
        layout.perceptual_hashes(encode(solid("RGB", (200, 200, 200), (40, 40)), "PNG"))


def test_no_two_distinct_sample_digits_are_near_duplicates():
    """The sample digits are the hard case (8x8 scans drawn alike): none of the 1,438 x 359
    train/validation pairs is flagged, and the closest pair keeps a margin to the threshold."""
    table = layout.check_images(layout.scan_dataset(settings.sample_data_dir()), progress=False)
    assert (table["phash"].map(len) > 0).all()
    stacks = [np.stack([np.frombuffer(h, np.uint8).reshape(-1, 32)
                        for h in table.loc[table["split"] == s, "phash"]])
              for s in ("train", "validation")]
    close = [bits for _, _, bits in layout.near_duplicate_pairs(*stacks, 40)]
    assert close and min(close) >= settings.NEAR_DUPLICATE_BITS + 4   # 0 pairs flagged


def test_find_problems_reports_near_duplicates_in_two_splits(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"a": 2, "b": 2}, "validation": {"a": 1},
                                         "test": {"b": 1}})
    pictures = photos(4)
    write(root / "train" / "a" / "photo.jpg", encode(pictures[0], "JPEG", quality=95))
    write(root / "validation" / "a" / "photo_small.jpg", COPIES["half size"](pictures[0]))
    write(root / "train" / "b" / "other.jpg", encode(pictures[1], "JPEG", quality=95))
    write(root / "test" / "b" / "other_cropped.jpg", COPIES["7% off the left"](pictures[1]))
    write(root / "test" / "b" / "unrelated.jpg", encode(pictures[2], "JPEG"))
    problems = problems_of(root)
    near = problems[problems["problem"].str.startswith("near-duplicate")]
    found = sorted((r["problem"], tuple(sorted(map(os.path.basename, r["path"].split(" | ")))))
                   for _, r in near.iterrows())
    assert found == [("near-duplicate in train and test", ("other.jpg", "other_cropped.jpg")),
                     ("near-duplicate in train and validation", ("photo.jpg", "photo_small.jpg"))]
    assert set(near["severity"]) == {"warning"}
    assert "leak" in near.iloc[0]["detail"]


# --- groups ---------------------------------------------------------------------------------

SPECIMEN = r"^([^_]+)_"


def make_specimens(root, classes: dict, shots: int = 3, seed: int = 0) -> Path:
    """root/<class>/<specimen>_<time>_<shot>.JPG: `shots` photos of each specimen."""
    n = seed * 10_000
    for name, specimens in classes.items():
        for s in range(specimens):
            for shot in range(shots):
                n += 1
                write(Path(root) / name / f"{name[:2]}{s:04d}_2020123112{shot:04d}_{shot + 1:02d}"
                      f".JPG", jpeg_bytes(n, (16, 16)))
    return Path(root)


def test_group_keys():
    names = ["100000_20201231123456_01.JPG", "100000_20201231123457_02.JPG", "IMG_1.jpg", "x.jpg"]
    assert layout.group_keys(names, SPECIMEN) == ["100000", "100000", "IMG", None]
    assert layout.group_keys(names, r"\d{6}") == ["100000", "100000", None, None]
    with pytest.raises(DatasetError, match="not a regular expression"):
        layout.group_keys(names, "([")


def test_a_group_split_keeps_every_specimen_in_one_split(tmp_path):
    source = make_specimens(tmp_path / "flat", {"aphid": 20, "fly": 14, "mite": 9}, shots=3)
    write(source / "fly" / "loose.jpg", jpeg_bytes(99, (16, 16)))   # matches no group
    plan = layout.split_dataset(source, tmp_path / "out", validation_fraction=0.2,
                                test_fraction=0.2, group_by=SPECIMEN, seed=7)
    placed = plan[plan["split"] != "skipped"]
    assert len(placed) == (20 + 14 + 9) * 3 + 1 and placed["source"].is_unique
    assert placed.dropna(subset=["group"]).groupby("group")["split"].nunique().max() == 1
    on_disk = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*"))
    assert len(on_disk) == len(placed)
    assert {Path(p).name for p in on_disk} == {Path(p).name for p in placed["source"]}
    shares, text = layout.split_report(plan)
    assert list(shares.columns) == ["train", "validation", "test"]
    assert shares.loc["target"].tolist() == pytest.approx([60.0, 20.0, 20.0])
    classes = shares.drop(index="target")
    assert ((classes - shares.loc["target"]).abs().to_numpy().max() < 12)  # groups of 3 shots
    assert "44 groups" in text or "43 groups" in text
    assert "groups in two splits: 0" in text and "1 files matched no group" in text
    problems = layout.find_problems(layout.scan_dataset(tmp_path / "out"), group_by=SPECIMEN)
    assert rows(problems, "group in").empty
    again = layout.split_dataset(source, tmp_path / "again", validation_fraction=0.2,
                                 test_fraction=0.2, group_by=SPECIMEN, seed=7)
    assert split_of(again) == split_of(plan)


def test_a_random_split_of_specimens_leaks_and_the_report_names_the_groups(tmp_path):
    source = make_specimens(tmp_path / "flat", {"aphid": 10, "fly": 10}, shots=4)
    layout.split_dataset(source, tmp_path / "out", validation_fraction=0.3, seed=1)
    problems = layout.find_problems(layout.scan_dataset(tmp_path / "out"), group_by=SPECIMEN)
    spanning = rows(problems, "group in train and validation")
    assert len(spanning) > 5 and set(spanning["severity"]) == {"error"}
    assert "4 files" in spanning.iloc[0]["detail"]
    nothing = layout.find_problems(layout.scan_dataset(tmp_path / "out"), group_by=r"^zzz(\d)")
    assert list(rows(nothing, "matches no file name")["severity"]) == ["warning"]


def test_a_three_way_split_is_stratified_with_a_test_share(tmp_path):
    counts = {"a": 20, "b": 10, "c": 3, "d": 2, "e": 1}
    source = make_flat(tmp_path / "flat", counts)
    plan = layout.split_dataset(source, tmp_path / "out", validation_fraction=0.2,
                                test_fraction=0.1, seed=2)
    sizes = pd.crosstab(plan["class"], plan["split"]).reindex(
        columns=["train", "validation", "test"], fill_value=0)
    assert sizes.loc["a"].tolist() == [14, 4, 2]
    assert sizes.loc["b"].tolist() == [7, 2, 1]
    assert sizes.loc["c"].tolist() == [1, 1, 1]        # at least one each from three images
    assert sizes.loc["d"].tolist() == [1, 1, 0]
    assert sizes.loc["e"].tolist() == [1, 0, 0]
    # the validation part is the one a two-way split with the same seed picks
    two = layout.split_dataset(source, tmp_path / "two", validation_fraction=0.2, seed=2)
    assert ({k for k, v in split_of(plan).items() if v == "validation"}
            == {k for k, v in split_of(two).items() if v == "validation"})
    assert layout.class_counts(layout.scan_dataset(tmp_path / "out")).columns[2] == "test"


@pytest.mark.parametrize("kwargs, message", [
    ({"test_fraction": -0.1}, "test_fraction"),
    ({"validation_fraction": 0.5, "test_fraction": 0.5}, "leave images for training"),
    ({"group_by": "(unclosed"}, "not a regular expression"),
])
def test_a_three_way_split_refuses_bad_options(tmp_path, kwargs, message):
    source = make_flat(tmp_path / "flat", {"a": 3})
    with pytest.raises(DatasetError, match=message):
        layout.split_dataset(source, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_the_split_command_with_a_test_share_and_groups(tmp_path, capsys):
    from effnet_helpers import cli
    source = make_specimens(tmp_path / "flat", {"aphid": 10, "fly": 10}, shots=2)
    assert cli.main(["split", str(source), str(tmp_path / "out"), "--test-fraction", "0.2",
                     "--group-by", SPECIMEN]) == 0
    out = capsys.readouterr().out
    assert "test" in out and "20 groups" in out and "groups in two splits: 0" in out
    assert cli.main(["split", str(source), str(tmp_path / "o2"), "--group-by", "(bad"]) == 2
    assert "not a regular expression" in capsys.readouterr().err
    assert cli.main(["split", str(source), str(tmp_path / "o3"), "--test-fraction", "0.9"]) == 2
    assert cli.main(["layout", str(tmp_path / "out"), "--group-by", SPECIMEN]) == 0
    assert "No problems found" in capsys.readouterr().out


def test_carving_a_test_split_keeps_validation_as_it_is(tmp_path):
    root = make_dataset(tmp_path / "d", {"train": {"a": 20, "b": 10},
                                         "validation": {"a": 4, "b": 2}})
    plan = layout.carve_test_split(root, tmp_path / "out", test_fraction=0.2, mode="hardlink")
    counts = layout.class_counts(layout.scan_dataset(tmp_path / "out"))
    assert counts.loc["a"].tolist() == [16, 4, 4, 24] and counts.loc["b"].tolist() == [8, 2, 2, 12]
    for path in (root / "validation").rglob("*.jpg"):
        assert (tmp_path / "out" / path.relative_to(root)).read_bytes() == path.read_bytes()
    carved = {str(Path(p).relative_to(root / "train"))
              for p in plan.loc[plan["split"] == "test", "source"]}
    kept = {str(p.relative_to(tmp_path / "out" / "train"))
            for p in (tmp_path / "out" / "train").rglob("*.jpg")}
    assert len(carved) == 6 and not carved & kept
    assert carved | kept == {str(p.relative_to(root / "train"))
                             for p in (root / "train").rglob("*.jpg")}
    with pytest.raises(DatasetError, match="already has a test/ folder"):
        layout.carve_test_split(tmp_path / "out", tmp_path / "again")
