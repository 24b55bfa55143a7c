"""Stage 1, the dataset layout: scan DATA_DIR/<split>/<class>/ folders into a table, report what
is wrong with them, split a flat folder, merge classes and write the label map.

The splits are train/, validation/ and, optionally, test/ (a dataset without test/ works as with
two splits). The problems report finds leaks between any two splits: identical files, the same
photo re-encoded, resized or lightly cropped (a perceptual hash, `perceptual_hashes`), and, given
a group pattern, photos of one specimen on both sides (`group_keys`). docs/evaluation.md explains
the choices.

Every file found is a row of the table; nothing is silently dropped. Class ids follow the sorted
folder names (Python's `sorted`, as the tensorflow/tpu converter did), numbered from 0 in the label
map `synset_id2label.json` and from 1 inside the TFRecords.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import unicodedata
import zlib
from functools import lru_cache

import numpy as np
import pandas as pd
from tqdm.contrib.concurrent import thread_map

from . import settings, storage
from .backend import tensorflow
from .images import ImageProblem, open_image, pillow_limit_lifted, prepare_image
from .progress import tqdm

# The perceptual hash (docs/evaluation.md): the DCT hash of imagehash's `phash` at hash size 16
# (256 bits) of a 128 px greyscale thumbnail, for the whole image and for 72 crops of it (1..8% off
# all four sides, one side, or two adjacent sides), so that a lightly cropped copy is as close as a
# re-encoded one. Two images are near-duplicates when some crop of one is within
# settings.NEAR_DUPLICATE_BITS of the other whole.
HASH_SIDE = 16           # DCT coefficients per side: 16 x 16 = 256 bits
HASH_RESAMPLE = 64       # the crops are resampled to 64 x 64 before the DCT (imagehash: 4 x 16)
HASH_THUMBNAIL = 128     # the image is first shrunk to this square, greyscale
HASH_CROPS = tuple(step / 100 for step in range(1, 9))
FLAT_STD = 2.0           # a thumbnail this uniform (grey levels) is blank: it is not hashed

FILE_COLUMNS = ["split", "class", "filename", "relpath", "path", "bytes", "kind"]
PROBLEM_COLUMNS = ["severity", "problem", "split", "class", "path", "detail"]
COPY_NAME = re.compile(r"( \(\d+\)|[ _-]copy( \d+)?|のコピー| - Copy)\.[^.]+$", re.IGNORECASE)


class DatasetError(ValueError):
    """The input is not usable as given; the message says what is wrong and what to do."""


def _kind(parts: list[str]) -> str:
    """Classify one file by its place and name: candidate (tried as an image) or why not."""
    if parts[-1].lower() in settings.SYSTEM_FILES:
        return "system"
    if any(p.startswith(".") for p in parts):
        return "hidden"
    if len(parts) < 2:
        return "outside class folder"
    return "candidate"


def _size_or_none(path) -> int | None:
    """The file's size, or None when it cannot be read (a broken link, no permission)."""
    try:
        return storage.size(path)
    except OSError:
        return None


def _class_folders(split_dir) -> list[str]:
    return [name for name in storage.listdir(split_dir)
            if not name.startswith(".") and storage.isdir(storage.join(split_dir, name))]


def scan_dataset(data_dir) -> pd.DataFrame:
    """Scan DATA_DIR/{train,validation,test}/<class>/... into a table, one row per file found
(test/ is optional).

    Columns: split, class, filename, relpath (inside the split), path, bytes, and kind:
    "candidate" (will be tried as an image), "hidden", "system" (.DS_Store, Thumbs.db),
    "outside class folder" or "unreadable" (a broken link, no permission). Class folders per split, empty ones included, are in
    `table.attrs["class_folders"]`.
    """
    data_dir = str(data_dir)
    if not storage.isdir(data_dir):
        raise DatasetError(f"No folder at {data_dir!r}. Give the folder that holds train/ and "
                           "validation/, and optionally test/ (for the sample data: data/sample).")
    present = [s for s in settings.SPLITS if storage.isdir(storage.join(data_dir, s))]
    if not present:
        found = ", ".join(storage.listdir(data_dir)[:8]) or "nothing"
        raise DatasetError(
            f"{data_dir!r} has no train/ or validation/ folder (it holds: {found}). Expected "
            "DATA_DIR/train/<class>/<image> and DATA_DIR/validation/<class>/<image>. If your "
            "photos sit in <class>/ folders directly, split them first: "
            "`effnet split SOURCE_DIR OUTPUT_DIR`.")
    rows, folders = [], {}
    for split in present:
        split_dir = storage.join(data_dir, split)
        folders[split] = _class_folders(split_dir)
        for relpath in storage.walk_files(split_dir):
            parts = relpath.split("/")
            rows.append({
                "split": split, "class": parts[0] if len(parts) > 1 else "",
                "filename": parts[-1], "relpath": relpath,
                "path": storage.join(split_dir, *parts), "kind": _kind(parts),
            })
    table = pd.DataFrame(rows, columns=[c for c in FILE_COLUMNS if c != "bytes"])
    sizes = [_size_or_none(p) for p in table["path"]]
    table.insert(5, "bytes", [size or 0 for size in sizes])
    table.loc[[size is None for size in sizes], "kind"] = "unreadable"
    if not (table["kind"] == "candidate").any():
        raise DatasetError(f"No files inside class folders under {data_dir!r}: put each class's "
                           "images in DATA_DIR/train/<class>/ and DATA_DIR/validation/<class>/.")
    table.attrs.update(data_dir=data_dir, class_folders=folders)
    return table


def candidates(table: pd.DataFrame) -> pd.DataFrame:
    """The rows that are tried as images (inside a class folder, not hidden, not system files)."""
    return table[table["kind"] == "candidate"]


def class_names(table: pd.DataFrame) -> list[str]:
    """Classes in label order: sorted folder names of all splits, folders without files left out."""
    return sorted(set(candidates(table)["class"]))


def table_splits(table: pd.DataFrame) -> list[str]:
    """The splits a table shows: train and validation always, an optional split (test) when its
    folder or files are there."""
    found = set(table.attrs.get("class_folders", {})) | set(table["split"])
    return [s for s in settings.SPLITS if s not in settings.OPTIONAL_SPLITS or s in found]


def class_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Files per class and split (candidates only), with a total column and a total row. The
    test column is there when the dataset has a test/ folder."""
    rows = candidates(table)
    counts = pd.crosstab(rows["class"], rows["split"]).reindex(columns=table_splits(table),
                                                               fill_value=0)
    counts = counts.reindex(class_names(table), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    counts.loc["total"] = counts.sum()
    counts.columns.name, counts.index.name = None, "class"
    return counts


def imbalance(counts: pd.DataFrame, split: str = "train") -> float:
    """How many times larger the largest class is than the smallest in a split (inf if one is 0)."""
    column = counts.drop(index="total", errors="ignore")[split]
    return float("inf") if column.min() == 0 else float(column.max() / column.min())


def check_images(table: pd.DataFrame, workers: int | None = None,
                 max_pixels: int = settings.MAX_PIXELS, near_duplicates: bool = True,
                 progress: bool = True) -> pd.DataFrame:
    """Open every candidate with the converter's own rules; return the table with format, width,
    height, sha1 and problem (the reason it would be skipped; empty when fine, and for files that
    are not candidates) columns added, and `phash`: the perceptual hashes of each usable image
    (`perceptual_hashes` as bytes; empty when not hashed), for `find_problems` to find
    near-duplicates across splits (near_duplicates=False leaves them empty). Runs in parallel
    with a progress bar."""
    rows = candidates(table)
    tensorflow()  # import once here, not inside the worker threads

    def check(path):
        try:
            data = storage.read_bytes(path)
        except OSError as error:
            return "", 0, 0, "", f"cannot read the file: {error}", b""
        digest = hashlib.sha1(data).hexdigest()
        try:
            image = prepare_image(data, max_pixels=max_pixels)
        except ImageProblem as problem:
            return "", 0, 0, digest, str(problem), b""
        hashes = _hash_or_none(data) if near_duplicates else None
        return (image.source_format, image.width, image.height, digest, "",
                b"" if hashes is None else hashes.tobytes())

    results = thread_map(check, list(rows["path"]), max_workers=workers or os.cpu_count(),
                         desc="Checking images", unit="img", disable=not progress,
                         tqdm_class=tqdm)
    columns = ["format", "width", "height", "sha1", "problem", "phash"]
    checked = table.copy()
    checked[columns] = pd.DataFrame([("", 0, 0, "", "", b"")] * len(table), index=table.index)
    if results:
        checked.loc[rows.index, columns] = pd.DataFrame(results, index=rows.index, columns=columns)
    checked.attrs = dict(table.attrs)
    return checked


def _problem(severity, problem, split="", cls="", path="", detail=""):
    return dict(zip(PROBLEM_COLUMNS, (severity, problem, split, cls, path, detail)))


def _name_problems(table: pd.DataFrame) -> list[dict]:
    found = []
    classes = sorted({c for names in table.attrs.get("class_folders", {}).values() for c in names})
    keys: dict[str, list[str]] = {}
    for name in classes:
        keys.setdefault(unicodedata.normalize("NFC", name).strip().casefold(), []).append(name)
        if name != name.strip():
            found.append(_problem("warning", "class name with leading or trailing spaces",
                                  cls=name, detail=f"{name!r}: easy to mistype; rename the folder"))
        if unicodedata.normalize("NFC", name) != name:
            found.append(_problem("warning", "class name in decomposed Unicode (NFD)", cls=name,
                                  detail="macOS writes names this way; other systems may see a "
                                         "different class. Rename the folder on Linux or Colab."))
    for _, row in candidates(table).iterrows():
        name = row["filename"]
        if name != name.strip() or any(ord(ch) < 32 for ch in name):
            found.append(_problem("warning", "file name with control characters or edge spaces",
                                  row["split"], row["class"], row["path"],
                                  "some tools mangle such names; rename the file"))
        elif COPY_NAME.search(name):
            found.append(_problem("info", "file name looks like a copy", row["split"],
                                  row["class"], row["path"], "check it is not a duplicate"))
    for names in keys.values():
        if len(names) > 1:
            found.append(_problem("error", "class names that differ only by case, spaces or "
                                  "Unicode form", cls=" | ".join(names),
                                  detail="these become separate classes; rename them to one name"))
    return found


def find_problems(table: pd.DataFrame, group_by: str | None = None,
                  max_bits: int = settings.NEAR_DUPLICATE_BITS) -> pd.DataFrame:
    """Everything that would surprise a learner later, one row each: severity (error, warning,
    info), problem, split, class, path and detail. Pass the table of `check_images` to include
    undecodable files, duplicates, near-duplicates across splits (perceptual hashes at most
    `max_bits` apart) and misnamed formats. `group_by`: a regular expression whose first group
    names the specimen of a file name (`group_keys`); groups with files in two splits are
    reported."""
    found = []
    folders = table.attrs.get("class_folders", {})
    for split in settings.SPLITS:
        if split not in folders and split not in settings.OPTIONAL_SPLITS:
            found.append(_problem("error" if split == "train" else "warning",
                                  f"no {split}/ folder", split,
                                  detail=f"create {split}/<class>/ folders, or split a flat "
                                         "folder with `effnet split`"))
    rows = candidates(table)
    present = {split: set(rows.loc[rows["split"] == split, "class"]) for split in folders}
    for split, names in folders.items():
        for name in names:
            if name not in present[split]:
                found.append(_problem("warning", "empty class folder", split, name,
                                      detail="no files: the class is left out of the label map "
                                             "unless another split has images"))
    found += _missing_classes(present)
    for _, row in table[table["kind"] != "candidate"].iterrows():
        found.append(_problem("info", f"{row['kind']} file, not converted", row["split"],
                              row["class"], row["path"]))
    found += _name_problems(table)
    if "problem" in table:
        found += _image_problems(table)
    if "phash" in table:
        found += _near_duplicate_problems(table, max_bits)
    if group_by:
        found += _group_problems(table, group_by)
    counts = class_counts(table)
    if "train" in folders and len(counts) > 2 and 3 < imbalance(counts) < float("inf"):
        found.append(_problem("warning", "class imbalance", "train",
                              detail=f"the largest class has {imbalance(counts):.1f}x the images "
                                     "of the smallest; consider class weights in training"))
    order = {"error": 0, "warning": 1, "info": 2}
    result = pd.DataFrame(found, columns=PROBLEM_COLUMNS)
    return result.sort_values("severity", key=lambda s: s.map(order), kind="stable",
                              ignore_index=True)


def _missing_classes(present: dict[str, set]) -> list[dict]:
    """A class that some split lacks: in one split only, or missing from one of three."""
    found = []
    if len(present) < 2:
        return found
    why = {"train": "the model never sees it in training",
           "validation": "it cannot be evaluated or calibrated",
           "test": "its test figures cannot be measured"}
    for name in sorted(set().union(*present.values())):
        have = [s for s in present if name in present[s]]
        lacking = [s for s in present if name not in present[s]]
        if not lacking:
            continue
        if len(have) == 1:
            found.append(_problem("warning", f"class in {have[0]} only", have[0], name,
                                  detail=f"no {' or '.join(lacking)} images: " +
                                  ("; ".join(why[s] for s in lacking))))
        else:
            for split in lacking:
                found.append(_problem("warning", f"class missing from {split}", split, name,
                                      detail=f"no {split} images: {why[split]}"))
    return found


def _image_problems(checked: pd.DataFrame) -> list[dict]:
    found = []
    for _, row in checked[checked["problem"] != ""].iterrows():
        found.append(_problem("error", "not a usable image", row["split"], row["class"],
                              row["path"], row["problem"]))
    for _, row in checked[checked["format"] != ""].iterrows():
        ext = os.path.splitext(row["filename"])[1].lower()
        if (row["format"] == "JPEG") != (ext in settings.JPEG_EXTENSIONS) and ext != "":
            if row["format"] == "JPEG" or ext in settings.JPEG_EXTENSIONS:
                found.append(_problem("warning", "name does not match content", row["split"],
                                      row["class"], row["path"],
                                      f"named {ext} but is {row['format']}; it is converted"))
    for _, group in checked[checked["sha1"] != ""].groupby("sha1"):
        if len(group) < 2:
            continue
        paths = " | ".join(group["path"])
        if group["split"].nunique() > 1:
            splits = [s for s in settings.SPLITS if s in set(group["split"])]
            found.append(_problem("error", f"same image in {' and '.join(splits)}",
                                  " | ".join(splits), " | ".join(sorted(set(group["class"]))),
                                  paths, "a leak: the held-out figures are inflated; delete one "
                                  "copy"))
        elif group["class"].nunique() > 1:
            found.append(_problem("error", "same image in two classes", group["split"].iloc[0],
                                  " | ".join(sorted(set(group["class"]))), paths,
                                  "contradicting labels; keep it in one class"))
        else:
            found.append(_problem("info", "duplicate image within a class", group["split"].iloc[0],
                                  group["class"].iloc[0], paths, "counts twice in training"))
    return found


# --- near-duplicates: a perceptual hash ------------------------------------------------------

@lru_cache(maxsize=1)
def _hash_plan():
    """The crops (y interval, x interval, as fractions of the side) and, per interval, the matrix
    that resamples a thumbnail's rows or columns to 64 samples (box filter) and takes the first
    16 DCT-II coefficients: hash = M_y @ thumbnail @ M_x.T > median."""
    whole = (0.0, 1.0)
    crops = [(whole, whole)]
    for c in HASH_CROPS:
        crops.append(((c, 1 - c), (c, 1 - c)))                                 # all four sides
        crops += [(whole, (c, 1.0)), (whole, (0.0, 1 - c)),                     # one side
                  ((c, 1.0), whole), ((0.0, 1 - c), whole)]
        crops += [((c, 1.0), (c, 1.0)), ((c, 1.0), (0.0, 1 - c)),              # two sides
                  ((0.0, 1 - c), (c, 1.0)), ((0.0, 1 - c), (0.0, 1 - c))]
    n, k = np.arange(HASH_RESAMPLE), np.arange(HASH_SIDE)
    dct = np.cos(np.pi * k[:, None] * (2 * n[None, :] + 1) / (2 * HASH_RESAMPLE))
    pixels = np.arange(HASH_THUMBNAIL)[None, :]
    matrices = {}
    for lo, hi in {interval for crop in crops for interval in crop}:
        edges = np.linspace(lo * HASH_THUMBNAIL, hi * HASH_THUMBNAIL, HASH_RESAMPLE + 1)
        overlap = np.clip(np.minimum(edges[1:, None], pixels + 1)
                          - np.maximum(edges[:-1, None], pixels), 0, None)
        matrices[(lo, hi)] = dct @ (overlap / overlap.sum(axis=1, keepdims=True))
    return crops, matrices


def perceptual_hashes(data: bytes) -> np.ndarray:
    """The perceptual hashes of an image file: uint8 [73, 32], row 0 the whole image's 256-bit
    hash, then its crops (see HASH_CROPS). Upright (EXIF), greyscale; raises ImageProblem when
    the file does not decode, and for a blank (uniform) image, which has no picture to compare."""
    from PIL import Image, ImageOps
    try:
        with pillow_limit_lifted():  # images that the converter's checks passed (check_images)
            image = Image.open(io.BytesIO(data))
            image.draft("L", (2 * HASH_THUMBNAIL, 2 * HASH_THUMBNAIL))  # JPEG: a fraction
            image = ImageOps.exif_transpose(image).convert("L")
        thumb = np.asarray(image.resize((HASH_THUMBNAIL, HASH_THUMBNAIL),
                                        Image.Resampling.LANCZOS), dtype=np.float64)
    except Exception as error:  # whatever Pillow raises for a file it cannot decode
        raise ImageProblem(f"cannot be hashed: {error}") from None
    if thumb.std() < FLAT_STD:
        raise ImageProblem("a blank image: nothing to compare")
    crops, matrices = _hash_plan()
    rows = {y: matrices[y] @ thumb for y in {crop[0] for crop in crops}}
    low = np.stack([rows[y] @ matrices[x].T for y, x in crops]).reshape(len(crops), -1)
    return np.packbits(low > np.median(low, axis=1, keepdims=True), axis=1)


def _hash_or_none(data: bytes):
    try:
        return perceptual_hashes(data)
    except ImageProblem:
        return None


def hash_distance(first: np.ndarray, second: np.ndarray) -> int:
    """Bits apart of two images' perceptual hashes: the closest of some crop of one to the other
    whole (0 for the same picture; about 128 for unrelated ones)."""
    first, second = np.asarray(first, np.uint8), np.asarray(second, np.uint8)
    return int(min(np.bitwise_count(first ^ second[0]).sum(axis=1).min(),
                   np.bitwise_count(first[0] ^ second).sum(axis=1).min()))


def near_duplicate_pairs(first: np.ndarray, second: np.ndarray,
                         max_bits: int = settings.NEAR_DUPLICATE_BITS) -> list[tuple]:
    """(i, j, bits) for every pair of hashes [n, 73, 32] from FIRST and SECOND that are at most
    `max_bits` apart (`hash_distance`). Compares every pair, in chunks that keep memory small:
    2 to 3 s for 1,438 x 359 images on one core, growing with the product of the counts."""
    if not len(first) or not len(second):
        return []
    a = np.ascontiguousarray(first, np.uint8).view(np.uint64)    # [n, crops, 4]
    b = np.ascontiguousarray(second, np.uint8).view(np.uint64)
    chunk = max(1, int(4e6 // (a.shape[1] * len(b) * a.shape[2])))
    pairs = []
    for start in range(0, len(a), chunk):
        part = a[start:start + chunk]
        crops_of_first = np.bitwise_count(part[:, :, None, :] ^ b[None, None, :, 0, :]).sum(
            axis=-1, dtype=np.int32).min(axis=1)
        crops_of_second = np.bitwise_count(part[:, None, None, 0, :] ^ b[None, :, :, :]).sum(
            axis=-1, dtype=np.int32).min(axis=2)
        bits = np.minimum(crops_of_first, crops_of_second)
        for i, j in zip(*np.nonzero(bits <= max_bits)):
            pairs.append((start + int(i), int(j), int(bits[i, j])))
    return pairs


def _near_duplicate_problems(checked: pd.DataFrame, max_bits: int) -> list[dict]:
    """A warning per pair of images in two splits whose hashes are close (identical files are
    reported as "same image in ..." already)."""
    hashed = checked[checked["phash"].map(len) > 0]
    splits = [s for s in settings.SPLITS if s in set(hashed["split"])]
    found = []
    for n, first in enumerate(splits):
        for second in splits[n + 1:]:
            a, b = hashed[hashed["split"] == first], hashed[hashed["split"] == second]
            stack = [np.stack([np.frombuffer(h, np.uint8).reshape(-1, HASH_SIDE * HASH_SIDE // 8)
                               for h in part["phash"]]) for part in (a, b)]
            for i, j, bits in near_duplicate_pairs(*stack, max_bits):
                one, other = a.iloc[i], b.iloc[j]
                if one["sha1"] == other["sha1"]:
                    continue
                found.append(_problem(
                    "warning", f"near-duplicate in {first} and {second}",
                    f"{first} | {second}",
                    " | ".join(dict.fromkeys([one["class"], other["class"]])),
                    f"{one['path']} | {other['path']}",
                    f"perceptual hashes {bits} of 256 bits apart: the same photo re-encoded, "
                    "resized or cropped looks like this. If it is, it is a leak: delete one"))
    return found


# --- groups: several photos of one specimen ---------------------------------------------------

def _group_pattern(group_by: str) -> re.Pattern:
    try:
        pattern = re.compile(group_by)
    except re.error as error:
        raise DatasetError(f"--group-by {group_by!r} is not a regular expression: {error}. "
                           r"Example: '^([^_]+)_' (the specimen id before the first _).") from None
    return pattern


def group_keys(filenames, group_by: str) -> list[str | None]:
    """The group of each file name: the first group of the regular expression `group_by` (or
    its whole match when it has no group), searched in the name; None when it does not match.
    '^([^_]+)_' groups 100000_20201231123456_01.JPG and 100000_20201231123457_02.JPG as 100000."""
    pattern = _group_pattern(group_by)
    keys = []
    for name in filenames:
        match = pattern.search(str(name))
        keys.append(None if match is None else (match.group(1) if pattern.groups else
                                                match.group(0)))
    return keys


def _group_problems(table: pd.DataFrame, group_by: str) -> list[dict]:
    rows = candidates(table).assign(group=lambda t: group_keys(t["filename"], group_by))
    if rows["group"].isna().all():
        return [_problem("warning", "group pattern matches no file name", detail=(
            f"{group_by!r} matches none of the {len(rows)} file names: check the expression"))]
    found = []
    for key, group in rows.dropna(subset=["group"]).groupby("group", sort=True):
        splits = [s for s in settings.SPLITS if s in set(group["split"])]
        if len(splits) > 1:
            shown = list(group["path"][:6]) + (["..."] if len(group) > 6 else [])
            found.append(_problem(
                "error", f"group in {' and '.join(splits)}", " | ".join(splits),
                " | ".join(sorted(set(group["class"]))), " | ".join(shown),
                f"group {key!r} ({len(group)} files) is in {len(splits)} splits: photos of one "
                "specimen on both sides inflate the held-out figures; split with --group-by"))
    return found


# --- label map ----------------------------------------------------------------------------

def label_map(classes: list[str]) -> dict[str, str]:
    """The 0-based label map the original system reads: {"0": first class, "1": ...}."""
    return {str(i): name for i, name in enumerate(classes)}


def write_label_map(classes: list[str], path) -> None:
    """Write `synset_id2label.json` as UTF-8 JSON, so Japanese class names stay readable."""
    text = json.dumps(label_map(classes), ensure_ascii=False, indent=2) + "\n"
    storage.write_atomic(path, text)


def read_label_map(path) -> list[str]:
    """Class names in id order from a `synset_id2label.json` (keys must be 0..N-1)."""
    mapping = storage.read_json(path)
    if sorted(int(k) for k in mapping) != list(range(len(mapping))):
        raise DatasetError(f"{path}: keys must be 0..{len(mapping) - 1}, got {sorted(mapping)}")
    return [mapping[str(i)] for i in range(len(mapping))]


# --- merging classes ------------------------------------------------------------------------

def load_class_mapping(mapping) -> dict[str, str]:
    """A class-merging mapping {"old class": "new class"} from a dict or a JSON file's path
    (the original system's --translate_classes). Classes not named keep their own name."""
    if not isinstance(mapping, dict):
        try:
            mapping = storage.read_json(mapping)
        except (OSError, ValueError) as error:
            raise DatasetError(f"Cannot read the class mapping {mapping!r}: {error}") from None
    if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in mapping.items()):
        raise DatasetError('A class mapping is a JSON object of names: {"old": "new", ...}.')
    return dict(mapping)


def apply_class_mapping(table: pd.DataFrame, mapping) -> pd.DataFrame:
    """The table with classes renamed by the mapping (original names kept in `original_class`)."""
    mapping = load_class_mapping(mapping)
    known = set(candidates(table)["class"])
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise DatasetError(f"The class mapping names classes the data does not have: {unknown}. "
                           f"Known classes: {sorted(known)}.")
    merged = table.copy()
    merged.attrs = dict(table.attrs)
    merged["original_class"] = merged["class"]
    is_candidate = merged["kind"] == "candidate"
    merged.loc[is_candidate, "class"] = merged.loc[is_candidate, "class"].map(
        lambda c: mapping.get(c, c))
    merged.attrs["class_folders"] = {
        split: sorted({mapping.get(c, c) for c in names})
        for split, names in table.attrs.get("class_folders", {}).items()}
    return merged


# --- splitting a flat folder ------------------------------------------------------------------

def split_dataset(source_dir, output_dir, validation_fraction: float = settings.VALIDATION_FRACTION,
                  seed: int = settings.SPLIT_SEED, mode: str = "copy",
                  test_fraction: float = settings.TEST_FRACTION,
                  group_by: str | None = None) -> pd.DataFrame:
    """Split SOURCE_DIR/<class>/<image> into OUTPUT_DIR/{train,validation}/<class>/<image>, and
    test/ too when `test_fraction` > 0.

    Stratified and seeded: each class is shuffled with its own seed (derived from `seed` and the
    class name, so adding a class does not reshuffle the others); `validation_fraction` of it,
    at least one image when the class has two or more, goes to validation, then
    `test_fraction` of it (at least one when it has three or more) to test. `group_by`: a
    regular expression whose first group names the specimen in a file name (`group_keys`);
    all files of a group then land in the same split, and the class proportions come as close
    to the fractions as the groups allow (`split_report` says how close). `mode` is "copy",
    "symlink" or "hardlink" (links save disk space; local folders only). Files that are no
    images (by their header), hidden or system files and files outside class folders are not
    copied and are listed in the result with `split` "skipped" and the reason in `target`.
    Returns one row per file: split, class, source, target (and group, with `group_by`).
    """
    if mode not in settings.SPLIT_MODES:
        raise DatasetError(f"mode must be one of {', '.join(settings.SPLIT_MODES)}, not {mode!r}")
    fractions = _check_fractions(validation_fraction, test_fraction)
    if group_by:
        _group_pattern(group_by)
    if not storage.isdir(source_dir):
        raise DatasetError(f"No folder at {str(source_dir)!r}: give the folder holding <class>/ folders.")
    if storage.exists(output_dir) and storage.listdir(output_dir):
        raise DatasetError(f"{str(output_dir)!r} is not empty: choose a new output folder "
                           "(splitting never mixes with files already there).")
    files = [(rel, _kind(rel.split("/"))) for rel in storage.walk_files(source_dir)]
    by_class: dict[str, list[str]] = {}
    rows = []
    for rel, kind in files:
        if kind == "candidate" and (problem := _header_problem(storage.join(source_dir, rel))):
            kind = f"not an image ({problem})"
        if kind == "candidate":
            by_class.setdefault(rel.split("/")[0], []).append(rel)
        else:
            rows.append({"split": "skipped", "class": "", "source": storage.join(source_dir, rel),
                         "target": f"not copied: {kind} file"})
    if not by_class:
        raise DatasetError(f"No <class>/ folders with files in {str(source_dir)!r}.")
    assigned = assign_splits(by_class, fractions, seed, group_by)
    for name, rels in sorted(by_class.items()):
        for rel in _in_split_order(rels, assigned):
            split = assigned[rel]
            rows.append({"split": split, "class": name, "source": storage.join(source_dir, rel),
                         "target": storage.join(output_dir, split, *rel.split("/"))})
    plan = _placed(rows, fractions, group_by)
    for source, target in tqdm(plan.loc[plan["split"] != "skipped", ["source", "target"]].values,
                               desc="Splitting", unit="img"):
        _place(source, target, mode)
    return plan


def carve_test_split(data_dir, output_dir, test_fraction: float = settings.SAMPLE_TEST_FRACTION,
                     seed: int = settings.SPLIT_SEED, mode: str = "copy",
                     group_by: str | None = None) -> pd.DataFrame:
    """A copy of a train/validation dataset with a test split carved off its training images:
    OUTPUT_DIR/validation is DATA_DIR/validation as it is, and each class of DATA_DIR/train sends
    `test_fraction` of its files (stratified, seeded; whole groups with `group_by`) to
    OUTPUT_DIR/test, the rest to OUTPUT_DIR/train. Validation stays the same, so figures
    measured on it before still compare. Returns the plan as `split_dataset` does (files that
    are not candidates are not copied and are listed as "skipped")."""
    if mode not in settings.SPLIT_MODES:
        raise DatasetError(f"mode must be one of {', '.join(settings.SPLIT_MODES)}, not {mode!r}")
    if not 0 < test_fraction < 1:
        raise DatasetError(f"test_fraction must be between 0 and 1, not {test_fraction}")
    table = scan_dataset(data_dir)
    if "test" in table.attrs["class_folders"]:
        raise DatasetError(f"{data_dir} already has a test/ folder: nothing to carve.")
    if storage.exists(output_dir) and storage.listdir(output_dir):
        raise DatasetError(f"{str(output_dir)!r} is not empty: choose a new output folder.")
    rows = [{"split": "skipped", "class": r["class"], "source": r["path"],
             "target": f"not copied: {r['kind']} file"}
            for _, r in table[table["kind"] != "candidate"].iterrows()]
    files = candidates(table)
    train = files[files["split"] == "train"]
    by_class = {name: list(group["relpath"]) for name, group in train.groupby("class")}
    assigned = assign_splits(by_class, {"test": test_fraction}, seed, group_by)
    for _, row in files.sort_values("relpath").iterrows():
        split = "validation" if row["split"] == "validation" else assigned[row["relpath"]]
        rows.append({"split": split, "class": row["class"], "source": row["path"],
                     "target": storage.join(output_dir, split, *row["relpath"].split("/"))})
    plan = _placed(rows, {"test": test_fraction}, group_by, among=("train", "test"))
    for source, target in tqdm(plan.loc[plan["split"] != "skipped", ["source", "target"]].values,
                               desc="Carving a test split", unit="img"):
        _place(source, target, mode)
    return plan


def _check_fractions(validation_fraction: float, test_fraction: float) -> dict[str, float]:
    if not 0 < validation_fraction < 1:
        raise DatasetError(f"validation_fraction must be between 0 and 1, not {validation_fraction}")
    if not 0 <= test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise DatasetError(f"test_fraction must be at least 0 and leave images for training "
                           f"(validation {validation_fraction} + test {test_fraction} < 1), not "
                           f"{test_fraction}")
    return {"validation": validation_fraction, "test": test_fraction} if test_fraction else \
        {"validation": validation_fraction}


def _in_split_order(rels: list[str], assigned: dict) -> list[str]:
    """A class's files in the order the plan lists them (its held-out files first)."""
    rank = {s: i for i, s in enumerate(("validation", "test", "train"))}
    return sorted(rels, key=lambda rel: (rank[assigned[rel]], rel))


def _class_rng(seed: int, name: str):
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def assign_splits(by_class: dict[str, list[str]], fractions: dict[str, float],
                  seed: int = settings.SPLIT_SEED, group_by: str | None = None) -> dict[str, str]:
    """{file: split} for files by class ({class: [relative paths]}). `fractions`: the share of
    each held-out split ({"validation": 0.2, "test": 0.1}); the rest is train.

    Without groups, each class is shuffled with its own seed and cut: the held-out splits get
    round(n x fraction) files each, at least one when the class has enough (two for the first
    held-out split, three for the second), and train keeps at least one. With `group_by`, whole
    groups are placed, largest first (ties in a seeded random order), each where it brings the
    per-class counts closest to their targets (the smallest increase of the squared distance)."""
    if group_by:
        return _assign_groups(by_class, fractions, seed, group_by)
    assigned = {}
    held_out = list(fractions)
    for name, rels in sorted(by_class.items()):
        order = _class_rng(seed, name).permutation(len(rels))
        n = len(rels)
        sizes = []
        for rank, split in enumerate(held_out):
            size = int(round(n * fractions[split]))
            sizes.append(max(size, 1) if n >= rank + 2 and fractions[split] > 0 else size)
        while sum(sizes) > n - 1 and any(sizes):  # keep at least one training image
            last = max(i for i, size in enumerate(sizes) if size)
            sizes[last] -= 1
        bounds = np.cumsum([0] + sizes)
        for position, index in enumerate(order):
            split = next((held_out[k] for k in range(len(sizes))
                          if bounds[k] <= position < bounds[k + 1]), "train")
            assigned[rels[index]] = split
    return assigned


def _assign_groups(by_class, fractions, seed, group_by) -> dict[str, str]:
    names = sorted(by_class)
    column = {name: i for i, name in enumerate(names)}
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in names:
        rels = sorted(by_class[name])
        keys = group_keys([rel.rsplit("/", 1)[-1] for rel in rels], group_by)
        for rel, key in zip(rels, keys):
            groups.setdefault(f"group:{key}" if key is not None else f"file:{rel}", []).append(
                (name, rel))
    splits = ["train"] + list(fractions)
    shares = np.array([1 - sum(fractions.values())] + list(fractions.values()))
    totals = np.array([len(by_class[name]) for name in names], dtype=float)
    target = shares[:, None] * totals[None, :]              # [split, class]
    current = np.zeros_like(target)
    keys = sorted(groups)
    shuffled = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    assigned = {}
    for key in sorted(shuffled, key=lambda k: -len(groups[k])):  # stable: ties stay shuffled
        counts = np.zeros(len(names))
        for name, _ in groups[key]:
            counts[column[name]] += 1
        # how much the squared distance to the targets grows when this split takes the group
        growth = (counts[None, :] * (2 * (current - target) + counts[None, :])).sum(axis=1)
        growth[shares == 0] = np.inf
        best = int(np.argmin(growth))
        current[best] += counts
        for _, rel in groups[key]:
            assigned[rel] = splits[best]
    return assigned


def _placed(rows: list[dict], fractions: dict, group_by, among=None) -> pd.DataFrame:
    plan = pd.DataFrame(rows, columns=["split", "class", "source", "target"])
    if group_by:
        keys = group_keys([storage.basename(p) for p in plan["source"]], group_by)
        plan["group"] = [k if s != "skipped" else None for k, s in zip(keys, plan["split"])]
    plan.attrs["fractions"] = {"train": 1 - sum(fractions.values()), **fractions}
    plan.attrs["among"] = list(among or plan.attrs["fractions"])
    plan.attrs["group_by"] = group_by
    return plan


def split_report(plan: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """How a split came out: a table of each class's share per split (percent of the class),
    with the target row, and a sentence: files and groups placed, and the largest distance of a
    class's share from its target, in percentage points."""
    placed = plan[plan["split"] != "skipped"]
    among = [s for s in plan.attrs.get("among", settings.SPLITS) if s in settings.SPLITS]
    fractions = plan.attrs.get("fractions", {})
    counted = placed[placed["split"].isin(among)]
    shares = pd.crosstab(counted["class"], counted["split"], normalize="index").reindex(
        columns=among, fill_value=0.0) * 100
    total = sum(fractions.get(s, 0) for s in among) or 1
    targets = pd.Series({s: fractions.get(s, 0) / total * 100 for s in among})
    worst = float((shares - targets).abs().to_numpy().max()) if len(shares) else 0.0
    shares.loc["target"] = targets
    text = f"{len(placed):,} files placed"
    if plan.attrs.get("group_by"):
        grouped = placed["group"].notna()
        text += (f" in {placed.loc[grouped, 'group'].nunique():,} groups"
                 f" ({int((~grouped).sum()):,} files matched no group and were placed alone)")
        spread = placed.dropna(subset=["group"]).groupby("group")["split"].nunique()
        text += f"; groups in two splits: {int((spread > 1).sum())}"
    text += (f"; the class shares are within {worst:.1f} percentage points of the target "
             f"({', '.join(f'{s} {targets[s]:.0f}%' for s in among)})")
    return shares.round(1), text


def _header_problem(path) -> str:
    """Why a file is no image, judged from its header alone (cheap); empty when it looks fine."""
    try:
        open_image(storage.read_bytes(path))
        return ""
    except ImageProblem as problem:
        return str(problem)
    except OSError as error:
        return f"cannot read it: {error}"


def _place(source: str, target: str, mode: str) -> None:
    storage.makedirs(storage.parent(target))
    if mode == "copy":
        if storage.is_url(source) or storage.is_url(target):
            tensorflow().io.gfile.copy(source, target, overwrite=True)
        else:
            shutil.copy2(source, target)
    elif mode == "symlink":
        os.symlink(os.path.abspath(source), target)
    else:
        os.link(source, target)
