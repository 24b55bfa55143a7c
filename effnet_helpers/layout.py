"""Stage 1, the dataset layout: scan DATA_DIR/<split>/<class>/ folders into a table, report what
is wrong with them, split a flat folder, merge classes and write the label map.

Every file found is a row of the table; nothing is silently dropped. Class ids follow the sorted
folder names (Python's `sorted`, as the tensorflow/tpu converter did), numbered from 0 in the label
map `synset_id2label.json` and from 1 inside the TFRecords.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import unicodedata
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import settings, storage
from .images import ImageProblem, open_image, prepare_image, tensorflow

FILE_COLUMNS = ["split", "class", "filename", "relpath", "path", "bytes", "kind"]
PROBLEM_COLUMNS = ["severity", "problem", "split", "class", "path", "detail"]
JPEG_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif"}
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
    """Scan DATA_DIR/{train,validation}/<class>/... into a table, one row per file found.

    Columns: split, class, filename, relpath (inside the split), path, bytes, and kind:
    "candidate" (will be tried as an image), "hidden", "system" (.DS_Store, Thumbs.db),
    "outside class folder" or "unreadable" (a broken link, no permission). Class folders per split, empty ones included, are in
    `table.attrs["class_folders"]`.
    """
    data_dir = str(data_dir)
    if not storage.isdir(data_dir):
        raise DatasetError(f"No folder at {data_dir!r}. Give the folder that holds train/ and "
                           "validation/ (for the sample data: data/sample).")
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
    """Classes in label order: sorted folder names of both splits, folders without files left out."""
    return sorted(set(candidates(table)["class"]))


def class_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Files per class and split (candidates only), with a total column and a total row."""
    rows = candidates(table)
    counts = pd.crosstab(rows["class"], rows["split"]).reindex(columns=list(settings.SPLITS),
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
                 max_pixels: int = settings.MAX_PIXELS) -> pd.DataFrame:
    """Open every candidate with the converter's own rules; return the table with format, width,
    height, sha1 and problem (the reason it would be skipped; empty when fine, and for files that
    are not candidates) columns added. Runs in parallel with a progress bar."""
    rows = candidates(table)
    tensorflow()  # import once here, not inside the worker threads

    def check(path):
        try:
            data = storage.read_bytes(path)
        except OSError as error:
            return "", 0, 0, "", f"cannot read the file: {error}"
        digest = hashlib.sha1(data).hexdigest()
        try:
            image = prepare_image(data, max_pixels=max_pixels)
            return image.source_format, image.width, image.height, digest, ""
        except ImageProblem as problem:
            return "", 0, 0, digest, str(problem)

    with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        results = list(tqdm(pool.map(check, rows["path"]), total=len(rows),
                            desc="Checking images", unit="img"))
    columns = ["format", "width", "height", "sha1", "problem"]
    checked = table.copy()
    checked[columns] = pd.DataFrame([("", 0, 0, "", "")] * len(table), index=table.index)
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


def find_problems(table: pd.DataFrame) -> pd.DataFrame:
    """Everything that would surprise a learner later, one row each: severity (error, warning,
    info), problem, split, class, path and detail. Pass the table of `check_images` to include
    undecodable files, duplicates and misnamed formats."""
    found = []
    folders = table.attrs.get("class_folders", {})
    for split in settings.SPLITS:
        if split not in folders:
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
                                             "unless the other split has images"))
    if len(present) == 2:
        for split, other in (("train", "validation"), ("validation", "train")):
            for name in sorted(present[split] - present[other]):
                found.append(_problem("warning", f"class in {split} only", split, name,
                                      detail=f"no {other} images: " +
                                      ("it cannot be evaluated" if split == "train"
                                       else "the model never sees it in training")))
    for _, row in table[table["kind"] != "candidate"].iterrows():
        found.append(_problem("info", f"{row['kind']} file, not converted", row["split"],
                              row["class"], row["path"]))
    found += _name_problems(table)
    if "problem" in table:
        found += _image_problems(table)
    counts = class_counts(table)
    if "train" in folders and len(counts) > 2 and 3 < imbalance(counts) < float("inf"):
        found.append(_problem("warning", "class imbalance", "train",
                              detail=f"the largest class has {imbalance(counts):.1f}x the images "
                                     "of the smallest; consider class weights in training"))
    order = {"error": 0, "warning": 1, "info": 2}
    result = pd.DataFrame(found, columns=PROBLEM_COLUMNS)
    return result.sort_values("severity", key=lambda s: s.map(order), kind="stable",
                              ignore_index=True)


def _image_problems(checked: pd.DataFrame) -> list[dict]:
    found = []
    for _, row in checked[checked["problem"] != ""].iterrows():
        found.append(_problem("error", "not a usable image", row["split"], row["class"],
                              row["path"], row["problem"]))
    for _, row in checked[checked["format"] != ""].iterrows():
        ext = os.path.splitext(row["filename"])[1].lower()
        if (row["format"] == "JPEG") != (ext in JPEG_EXTENSIONS) and ext != "":
            if row["format"] == "JPEG" or ext in JPEG_EXTENSIONS:
                found.append(_problem("warning", "name does not match content", row["split"],
                                      row["class"], row["path"],
                                      f"named {ext} but is {row['format']}; it is converted"))
    for _, group in checked[checked["sha1"] != ""].groupby("sha1"):
        if len(group) < 2:
            continue
        paths = " | ".join(group["path"])
        if group["split"].nunique() > 1:
            found.append(_problem("error", "same image in train and validation", "both",
                                  " | ".join(sorted(set(group["class"]))), paths,
                                  "a leak: validation accuracy is inflated; delete one copy"))
        elif group["class"].nunique() > 1:
            found.append(_problem("error", "same image in two classes", group["split"].iloc[0],
                                  " | ".join(sorted(set(group["class"]))), paths,
                                  "contradicting labels; keep it in one class"))
        else:
            found.append(_problem("info", "duplicate image within a class", group["split"].iloc[0],
                                  group["class"].iloc[0], paths, "counts twice in training"))
    return found


# --- label map ----------------------------------------------------------------------------

def label_map(classes: list[str]) -> dict[str, str]:
    """The 0-based label map the seed system reads: {"0": first class, "1": ...}."""
    return {str(i): name for i, name in enumerate(classes)}


def write_label_map(classes: list[str], path) -> None:
    """Write `synset_id2label.json` as UTF-8 JSON, so Japanese class names stay readable."""
    text = json.dumps(label_map(classes), ensure_ascii=False, indent=2) + "\n"
    storage.write_atomic(path, text)


def read_label_map(path) -> list[str]:
    """Class names in id order from a `synset_id2label.json` (keys must be 0..N-1)."""
    mapping = json.loads(storage.read_bytes(path).decode("utf-8"))
    if sorted(int(k) for k in mapping) != list(range(len(mapping))):
        raise DatasetError(f"{path}: keys must be 0..{len(mapping) - 1}, got {sorted(mapping)}")
    return [mapping[str(i)] for i in range(len(mapping))]


# --- merging classes ------------------------------------------------------------------------

def load_class_mapping(mapping) -> dict[str, str]:
    """A class-merging mapping {"old class": "new class"} from a dict or a JSON file's path
    (the seed system's --translate_classes). Classes not named keep their own name."""
    if not isinstance(mapping, dict):
        try:
            mapping = json.loads(storage.read_bytes(mapping).decode("utf-8"))
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
                  seed: int = settings.SPLIT_SEED, mode: str = "copy") -> pd.DataFrame:
    """Split SOURCE_DIR/<class>/<image> into OUTPUT_DIR/{train,validation}/<class>/<image>.

    Stratified and seeded: each class is shuffled with its own seed (derived from `seed` and the
    class name, so adding a class does not reshuffle the others) and `validation_fraction` of it,
    at least one image when the class has two or more, goes to validation. `mode` is "copy",
    "symlink" or "hardlink" (links save disk space; local folders only). Files that are no images
    (by their header), hidden or system files and files outside class folders are not copied and
    are listed in the result with `split` "skipped" and the reason in `target`. Returns one row
    per file: split, class, source, target.
    """
    if mode not in ("copy", "symlink", "hardlink"):
        raise DatasetError(f"mode must be copy, symlink or hardlink, not {mode!r}")
    if not 0 < validation_fraction < 1:
        raise DatasetError(f"validation_fraction must be between 0 and 1, not {validation_fraction}")
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
    for name, rels in sorted(by_class.items()):
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        order = rng.permutation(len(rels))
        n_val = int(round(len(rels) * validation_fraction))
        n_val = min(max(n_val, 1), len(rels) - 1) if len(rels) >= 2 else 0
        for rank, index in enumerate(order):
            split = "validation" if rank < n_val else "train"
            rel = rels[index]
            rows.append({"split": split, "class": name, "source": storage.join(source_dir, rel),
                         "target": storage.join(output_dir, split, *rel.split("/"))})
    plan = pd.DataFrame(rows, columns=["split", "class", "source", "target"])
    for source, target in tqdm(plan.loc[plan["split"] != "skipped", ["source", "target"]].values,
                               desc="Splitting", unit="img"):
        _place(source, target, mode)
    return plan


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
    storage.makedirs(os.path.dirname(target) if not storage.is_url(target)
                     else target.rsplit("/", 1)[0])
    if mode == "copy":
        if storage.is_url(source) or storage.is_url(target):
            import tensorflow as tf
            tf.io.gfile.copy(source, target, overwrite=True)
        else:
            shutil.copy2(source, target)
    elif mode == "symlink":
        os.symlink(os.path.abspath(source), target)
    else:
        os.link(source, target)
