"""Stage 2, TFRecords: convert a train/validation image folder into sharded TFRecord files in the
schema of the tensorflow/tpu converter (imagenet_to_gcs.py), and read them back (its records too).

Output folder after a finished run:
    train-00000-of-00003 ... validation-00000-of-00001   the shards (1-based image/class/label)
    test-00000-of-00001                                   only when the dataset has a test/ split
    synset_id2label.json                                  0-based label map {"0": "class", ...}
    skipped.csv                                           every file not written, with the reason
    manifest.json                                         counts per split, class and shard; last

While a run is under way, everything lives in OUTPUT_DIR/.incomplete/: a shard is written under a
temporary name and renamed when complete, with a small JSON state beside it, so a killed run is
restarted and carries on from the shards already done. Final names appear only at the end.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import settings, storage
from .backend import tensorflow
from .images import ImageProblem, fast_check, prepare_image, store_unchanged
from .layout import DatasetError, apply_class_mapping, candidates, class_names, scan_dataset
from .layout import read_label_map, write_label_map
from .progress import tqdm

SCHEMA_VERSION = 1
LABEL_OFFSET = 1  # image/class/label is 1-based in the reference schema
FAST_BATCH = 32              # images per batch out of TensorFlow's checking pipeline, at most
FAST_PREFETCH_BATCHES = 8    # batches it may run ahead
WINDOW_BYTES = 64_000_000    # about this many bytes of images wait in memory (bounds memory)
CALLS_PER_WORKER = 4         # checks in flight per worker thread (keeps the cores busy)
SHARD_PATTERN = re.compile(r"^(train|validation|test)-(\d{5})-of-(\d{5})$")
SHARD_SUFFIX = ".tfrecord"            # a complete shard in the staging area, before its final name
PARTIAL_SUFFIX = ".tfrecord.tmp"      # a shard still being written
SKIPPED_COLUMNS = ("split", "class", "path", "reason")   # skipped.csv


# --- one record -----------------------------------------------------------------------------

def build_example(image: bytes, label: int, synset: str, filename: str, height: int, width: int):
    """One tf.train.Example with the tensorflow/tpu converter's keys. `label` is the 1-based class id."""
    example = tensorflow().train.Example()
    feature = example.features.feature  # a map: feature name -> list of bytes, ints or floats
    feature["image/encoded"].bytes_list.value.append(image)
    feature["image/class/label"].int64_list.value.append(label)
    feature["image/class/synset"].bytes_list.value.append(synset.encode("utf-8"))
    feature["image/filename"].bytes_list.value.append(filename.encode("utf-8"))
    feature["image/height"].int64_list.value.append(height)
    feature["image/width"].int64_list.value.append(width)
    feature["image/channels"].int64_list.value.append(3)
    feature["image/colorspace"].bytes_list.value.append(b"RGB")
    feature["image/format"].bytes_list.value.append(b"JPEG")
    return example


def feature_spec() -> dict:
    """The keys a reader needs; extra keys in a record are ignored, missing optional ones default."""
    tf = tensorflow()
    return {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
        "image/class/synset": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
    }


def parse_record(serialized) -> dict:
    """Parse one serialized Example into image bytes, a 0-based label, synset and filename."""
    tf = tensorflow()
    parsed = tf.io.parse_single_example(serialized, feature_spec())
    return {
        "image": parsed["image/encoded"],
        "label": tf.cast(parsed["image/class/label"], tf.int32) - LABEL_OFFSET,
        "synset": parsed["image/class/synset"],
        "filename": parsed["image/filename"],
    }


# --- planning -------------------------------------------------------------------------------

@dataclass
class Shard:
    """The files of one shard, in write order, and where its state lives while in progress."""

    split: str
    index: int
    files: list = field(default_factory=list)  # dicts: path, class, filename, relpath

    @property
    def stem(self) -> str:
        return f"{self.split}-{self.index:05d}"


def shard_count(total_bytes: int, n_files: int, shard_size_mb: float | None,
                shards: int | None) -> int:
    """Shards for one split: given, or enough to keep each under the target size (by the input
    bytes); never more shards than files and never fewer than one."""
    if shards is None:
        target = (shard_size_mb or settings.DEFAULT_SHARD_SIZE_MB) * 1e6
        shards = math.ceil(total_bytes / target)
    return max(1, min(int(shards), n_files))


def plan_conversion(data_dir, shard_size_mb: float | None = settings.DEFAULT_SHARD_SIZE_MB,
                    shards: int | None = None, class_mapping=None,
                    max_side: int | None = None, max_pixels: int = settings.MAX_PIXELS) -> dict:
    """Decide everything before writing: classes, which file goes into which shard, what is
    skipped without reading (hidden and system files), and a fingerprint of it all."""
    if shards is not None and shards < 1:
        raise DatasetError(f"--shards must be at least 1, not {shards}")
    table = scan_dataset(data_dir)
    if class_mapping:
        table = apply_class_mapping(table, class_mapping)
    classes = class_names(table)
    plan = {"data_dir": str(data_dir), "classes": classes, "shards": [], "skipped": [],
            "options": {"shard_size_mb": shard_size_mb, "shards": shards, "max_side": max_side,
                        "max_pixels": max_pixels, "class_mapping": class_mapping and
                        {k: v for k, v in sorted(dict(_mapping(class_mapping)).items())}},
            "found": {}}
    for split in settings.SPLITS:
        rows = table[table["split"] == split]
        plan["found"][split] = len(rows)
        for _, row in rows[rows["kind"] != "candidate"].iterrows():
            plan["skipped"].append({"split": split, "class": row["class"], "path": row["path"],
                                    "relpath": row["relpath"],
                                    "reason": f"{row['kind']} file, not an image to convert"})
        files = candidates(rows).sort_values("relpath")
        if files.empty:
            continue
        if split == "train":  # shuffled, as the reference converter's training shards
            order = np.random.default_rng(settings.TRAIN_SHUFFLE_SEED).permutation(len(files))
            files = files.iloc[order]
        count = shard_count(int(files["bytes"].sum()), len(files), shard_size_mb, shards)
        records = files[["path", "class", "filename", "relpath", "bytes"]].to_dict("records")
        for index, chunk in enumerate(np.array_split(np.arange(len(records)), count)):
            plan["shards"].append(Shard(split, index, [records[i] for i in chunk]))
    digest = hashlib.sha256(json.dumps(
        [SCHEMA_VERSION, plan["classes"], plan["options"],
         [(s["split"], s["relpath"], s["reason"]) for s in plan["skipped"]],
         [(s.stem, [(f["relpath"], f["class"], int(f["bytes"])) for f in s.files])
          for s in plan["shards"]]], sort_keys=True, default=str).encode())
    plan["fingerprint"] = digest.hexdigest()
    return plan


def _mapping(class_mapping):
    from .layout import load_class_mapping
    return load_class_mapping(class_mapping)


# --- converting -----------------------------------------------------------------------------

def _fast_checks(paths: list[str], workers: int, max_side: int | None, max_pixels: int,
                 batch: int = FAST_BATCH):
    """TensorFlow reads every file and proves that it decodes (`images.fast_check`), on `workers`
    threads of its own (no Python, no GIL): yields (index, bytes, plain, height, width) in order;
    the bytes are empty when the file is not plain (the careful path reads it again). Files it
    cannot read as JPEG (PNG, broken JPEG, ...) are left out; the careful path then handles them
    and gives the reason.

    Autotuning is off: its model thread can keep the iterator's deletion waiting at the end of
    the run (measured: 0.1 s to over a minute on a busy 2-core machine). Instead CALLS_PER_WORKER
    checks per thread are in flight, so that a slow image does not leave a core idle while the
    results wait to be delivered in order (docs/conversion.md, section 3)."""
    tf = tensorflow()

    def check(index, path):
        contents = tf.io.read_file(path)
        plain, height, width = fast_check(contents, max_side, max_pixels)
        kept = tf.cond(plain, lambda: contents, lambda: tf.constant(b""))
        return index, kept, plain, height, width

    if not paths:
        return
    options = tf.data.Options()
    options.autotune.enabled = False
    options.threading.private_threadpool_size = workers
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.range(len(paths), dtype=tf.int64), tf.constant(paths, dtype=tf.string)))
    dataset = (dataset.map(check, num_parallel_calls=CALLS_PER_WORKER * workers,
                           deterministic=True)
               .ignore_errors().batch(batch).prefetch(FAST_PREFETCH_BATCHES)
               .with_options(options))
    for indices, contents, plain, heights, widths in dataset.as_numpy_iterator():
        yield from zip(indices.tolist(), contents, plain.tolist(), heights.tolist(),
                       widths.tolist())


def _prepared_in_order(tasks: list, workers: int):
    """(shard, file info, PreparedImage or None, skip reason) for every task, in task order.

    Plain JPEGs that TensorFlow's pipeline proved are stored as they are; everything else (other
    formats, conversions, failures) goes to a thread pool running `prepare_image`. About
    WINDOW_BYTES of results (at least a few per worker) wait in memory, so memory stays flat
    however large the dataset, and however large its photos. The queue holds futures only: a
    result known at once waits in a completed one (`_done`) behind the images still in work."""
    if not tasks:
        return
    _, _, max_side, max_pixels = tasks[0]
    mean_bytes = max(1, sum(int(t[1]["bytes"]) for t in tasks) // len(tasks))
    # the pipeline holds up to FAST_PREFETCH_BATCHES batches: half the window in all
    batch = max(1, min(FAST_BATCH, WINDOW_BYTES // (2 * FAST_PREFETCH_BATCHES * mean_bytes)))
    window = max(4 * workers, min(64 * workers, WINDOW_BYTES // mean_bytes))
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future] = deque()
        position = 0

        def careful(task):
            pending.append(pool.submit(_prepare, task))

        def ready():
            while pending and (pending[0].done() or len(pending) > window):
                yield pending.popleft().result()

        for index, data, plain, height, width in _fast_checks(
                [t[1]["path"] for t in tasks], workers, max_side, max_pixels, batch):
            while position < index:  # TensorFlow could not decode these
                careful(tasks[position])
                position += 1
            shard, info, _, _ = tasks[index]
            image = store_unchanged(data, (plain, height, width))
            position += 1
            if image is None:
                careful(tasks[index])
            elif not pending:  # the common case: nothing earlier is still being worked on
                yield shard, info, image, None
                continue
            else:
                pending.append(_done((shard, info, image, None)))
            yield from ready()
        for task in tasks[position:]:
            careful(task)
        while pending:
            yield pending.popleft().result()


def _done(result) -> Future:
    """A future that already holds RESULT."""
    future = Future()
    future.set_result(result)
    return future


def _prepare(task):
    shard, info, max_side, max_pixels = task
    try:
        data = storage.read_bytes(info["path"])
    except OSError as error:
        return shard, info, None, f"cannot read the file: {error}"
    try:
        return shard, info, prepare_image(data, max_side, max_pixels), None
    except ImageProblem as problem:
        return shard, info, None, str(problem)


def _final_name(split: str, index: int, total: int) -> str:
    return f"{split}-{index:05d}-of-{total:05d}"


def read_manifest(records_dir) -> dict | None:
    """manifest.json of a finished conversion, or None (unfinished, or records of the
    tensorflow/tpu converter, which writes none)."""
    path = storage.join(records_dir, settings.MANIFEST_FILE)
    return storage.read_json(path) if storage.exists(path) else None


def pre_shrink(records_dir) -> int | None:
    """The `max_side` the records were converted with (None: images stored at full size or
    unknown). Inference shrinks new photos the same way, so they look as the records did."""
    manifest = read_manifest(records_dir) or {}
    return manifest.get("options", {}).get("max_side")


def _clear_output(output_dir) -> None:
    for name in storage.listdir(output_dir):
        if SHARD_PATTERN.match(name) or name in (settings.LABEL_MAP_FILE, settings.MANIFEST_FILE,
                                                  settings.SKIPPED_FILE):
            storage.remove(storage.join(output_dir, name))
    storage.remove_tree(storage.join(output_dir, settings.STAGING_DIR))


def convert_dataset(data_dir, output_dir, shard_size_mb: float | None = settings.DEFAULT_SHARD_SIZE_MB,
                    shards: int | None = None, max_side: int | None = None,
                    workers: int | None = None, class_mapping=None,
                    max_pixels: int = settings.MAX_PIXELS, overwrite: bool = False,
                    progress: bool = True, log=print) -> dict:
    """Convert DATA_DIR/{train,validation}/<class>/ images into TFRecord shards in OUTPUT_DIR.

    Returns the manifest (also written as manifest.json). Resumable: rerun the same call after an
    interruption and finished shards are kept; rerun a finished conversion and nothing is redone.
    Bad files never stop the run: each is listed in skipped.csv with its reason.
    """
    output_dir = str(output_dir)
    if storage.exists(output_dir) and not storage.isdir(output_dir):
        raise DatasetError(f"{output_dir} is a file, not a folder: give a folder for the records.")
    tensorflow()
    plan = plan_conversion(data_dir, shard_size_mb, shards, class_mapping, max_side, max_pixels)
    storage.makedirs(output_dir)
    staging = storage.join(output_dir, settings.STAGING_DIR)
    finished = _finished_or_refused(output_dir, staging, plan, overwrite)
    if finished is not None:
        log(f"Already complete: {output_dir} holds this conversion "
            f"({_totals_text(finished)}). Nothing to do.")
        return finished
    if overwrite:
        _clear_output(output_dir)
    states = _load_staging(output_dir, staging, plan, log)
    started = time.time()
    _write_shards(plan, states, staging, max_side, max_pixels, workers or os.cpu_count() or 1,
                  progress, log)
    manifest = _finalize(output_dir, staging, plan, states, time.time() - started)
    log(summary_text(manifest))
    return manifest


def _finished_or_refused(output_dir, staging, plan, overwrite: bool) -> dict | None:
    """Decide what OUTPUT_DIR allows: its manifest when it already holds this very conversion
    (nothing to do), None to write (fresh, or resuming this conversion's staging area), or a
    DatasetError for records of another conversion or tool unless `overwrite`."""
    previous = read_manifest(output_dir)
    if previous and previous.get("fingerprint") == plan["fingerprint"] and not overwrite:
        return previous
    foreign = [n for n in storage.listdir(output_dir) if SHARD_PATTERN.match(n)]
    if foreign and not previous and _staged_fingerprint(staging) == plan["fingerprint"]:
        foreign = []  # this conversion's own shards, renamed before it was stopped: resume it
    if (previous or foreign) and not overwrite:
        what = "records of a different conversion (other files or options)" if previous else \
            "TFRecord shards from another tool"
        raise DatasetError(f"{output_dir} already holds {what}. Choose another output folder, or "
                           "pass overwrite=True (--overwrite) to replace them.")
    return None


def _write_shards(plan, states: dict, staging, max_side, max_pixels, workers: int,
                  progress: bool, log) -> None:
    """Write every shard of the plan that STATES does not hold yet into the staging area, and
    add its state (records, bytes, classes, skipped files) to STATES."""
    todo = [s for s in plan["shards"] if s.stem not in states]
    if states:
        log(f"Resuming: {len(states)} of {len(plan['shards'])} shards were already written.")
    total = sum(len(s.files) for s in plan["shards"])
    done = total - sum(len(s.files) for s in todo)
    bar = tqdm(total=total, initial=done, desc="Converting", unit="img", disable=not progress)
    tasks = [(s, f, max_side, max_pixels) for s in todo for f in s.files]
    labels = {name: i + LABEL_OFFSET for i, name in enumerate(plan["classes"])}
    writer = None
    try:
        for shard, info, image, reason in _prepared_in_order(tasks, workers):
            if writer is None or writer.shard is not shard:
                if writer is not None:
                    states[writer.shard.stem] = writer.finish()
                writer = _ShardWriter(staging, shard)
            if image is None:
                writer.skip(info, reason)
            else:
                writer.write(info, image, labels[info["class"]])
            bar.update(1)
        if writer is not None:
            states[writer.shard.stem] = writer.finish()
    finally:
        bar.close()


class _ShardWriter:
    """One shard being written into the staging area: its TFRecord file under a temporary name
    (opened with the first record: a shard of skipped files only has none) and its state."""

    def __init__(self, staging, shard: Shard):
        self.staging, self.shard, self.records = staging, shard, None
        self.state = {"stem": shard.stem, "split": shard.split, "records": 0, "bytes": 0,
                      "converted": 0, "classes": {}, "skipped": []}

    def _path(self, suffix: str) -> str:
        return storage.join(self.staging, self.shard.stem + suffix)

    def skip(self, info: dict, reason: str) -> None:
        self.state["skipped"].append({"split": self.shard.split, "class": info["class"],
                                      "path": info["path"], "reason": reason})

    def write(self, info: dict, image, label: int) -> None:
        if self.records is None:
            self.records = tensorflow().io.TFRecordWriter(self._path(PARTIAL_SUFFIX))
        example = build_example(image.data, label, info["class"], info["filename"],
                                image.height, image.width)
        self.records.write(example.SerializeToString(deterministic=True))
        state = self.state
        state["records"] += 1
        state["bytes"] += len(image.data)
        state["converted"] += image.converted
        state["classes"][info["class"]] = state["classes"].get(info["class"], 0) + 1

    def finish(self) -> dict:
        """Close the shard, rename it to its completed name, then record its state (in that
        order: a state file means a complete shard)."""
        if self.records is not None:
            self.records.close()
            storage.rename(self._path(PARTIAL_SUFFIX), self._path(SHARD_SUFFIX))
        storage.write_atomic(self._path(".json"), json.dumps(self.state, ensure_ascii=False))
        return self.state


def _staged_fingerprint(staging) -> str | None:
    """The fingerprint of the unfinished conversion in the staging folder, if there is one."""
    plan_file = storage.join(staging, "plan.json")
    if not storage.exists(plan_file):
        return None
    return storage.read_json(plan_file)["fingerprint"]


def _load_staging(output_dir, staging, plan, log) -> dict:
    """States of the shards an interrupted run finished; a stale staging area is discarded."""
    plan_file = storage.join(staging, "plan.json")
    if storage.exists(plan_file):
        fingerprint = storage.read_json(plan_file)["fingerprint"]
        if fingerprint != plan["fingerprint"]:
            log("An unfinished conversion with other files or options was found; starting anew.")
            storage.remove_tree(staging)
    storage.makedirs(staging)
    storage.write_atomic(plan_file, json.dumps({"fingerprint": plan["fingerprint"]}))
    states = {}
    for shard in plan["shards"]:
        path = storage.join(staging, shard.stem + ".json")
        if storage.exists(path):
            state = storage.read_json(path)
            record = storage.join(staging, shard.stem + SHARD_SUFFIX)
            final = state.get("final") and storage.join(output_dir, state["final"])
            if state["records"] == 0 or storage.exists(record) or (final and storage.exists(final)):
                states[shard.stem] = state
    return states


def _finalize(output_dir, staging, plan, states, seconds: float) -> dict:
    """Give non-empty shards their final names, then write label map, skipped report, manifest."""
    splits = {}
    skipped = list(plan["skipped"])
    for split in settings.SPLITS:
        mine = [states[s.stem] for s in plan["shards"] if s.split == split]
        if split in settings.OPTIONAL_SPLITS and not mine and not plan["found"].get(split):
            continue  # no test/ folder: the manifest is the same as a two-split dataset's
        full = [st for st in mine if st["records"] > 0]
        shard_rows = []
        for index, state in enumerate(full):
            name = _final_name(split, index, len(full))
            staged = storage.join(staging, state["stem"] + SHARD_SUFFIX)
            if storage.exists(staged):
                if state.get("final") != name:  # note the final name first: a rerun finds it
                    state["final"] = name
                    storage.write_atomic(storage.join(staging, state["stem"] + ".json"),
                                         json.dumps(state, ensure_ascii=False))
                storage.rename(staged, storage.join(output_dir, name))
            shard_rows.append({"file": name, "records": state["records"], "bytes": state["bytes"]})
        classes = Counter()
        for state in mine:
            classes.update(state["classes"])
            skipped += state["skipped"]
        split_skipped = sum(1 for s in skipped if s["split"] == split)
        splits[split] = {
            "found": plan["found"].get(split, 0),
            "written": sum(st["records"] for st in mine),
            "skipped": split_skipped,
            "converted": sum(st["converted"] for st in mine),
            "classes": {c: classes.get(c, 0) for c in plan["classes"]},
            "shards": shard_rows,
        }
    write_label_map(plan["classes"], storage.join(output_dir, settings.LABEL_MAP_FILE))
    report = pd.DataFrame(skipped, columns=list(SKIPPED_COLUMNS))
    storage.write_atomic(storage.join(output_dir, settings.SKIPPED_FILE),
                         report.to_csv(index=False))
    manifest = {
        "format": "TFRecord, tensorflow/tpu imagenet_to_gcs schema",
        "schema_version": SCHEMA_VERSION, "label_offset": LABEL_OFFSET,
        "data_dir": plan["data_dir"], "fingerprint": plan["fingerprint"],
        "options": plan["options"], "classes": plan["classes"], "splits": splits,
        "seconds": round(seconds, 2),
    }
    storage.write_atomic(storage.join(output_dir, settings.MANIFEST_FILE),
                         json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    storage.remove_tree(staging)
    return manifest


def _totals_text(manifest: dict) -> str:
    return ", ".join(f"{split}: {_plural(info['written'], 'image')} in "
                     f"{_plural(len(info['shards']), 'shard')}"
                     for split, info in manifest["splits"].items())


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "es" if noun.endswith("s") else "s")


def summary_text(manifest: dict) -> str:
    """A few lines a person reads after a conversion: found, written, skipped, where the report is."""
    lines = [f"Converted {_plural(len(manifest['classes']), 'class')} in {manifest['seconds']:.1f} s."]
    for split, info in manifest["splits"].items():
        lines.append(f"  {split:<10} found {info['found']:>7,}  written {info['written']:>7,}  "
                     f"skipped {info['skipped']:>5,}  shards {len(info['shards']):>4}  "
                     f"(re-encoded {info['converted']:,})")
    skipped = sum(info["skipped"] for info in manifest["splits"].values())
    if skipped:
        lines.append(f"  {_plural(skipped, 'file')} not written: see {settings.SKIPPED_FILE} "
                     "for the reasons.")
    return "\n".join(lines)


def read_skipped(records_dir) -> pd.DataFrame:
    """The skipped-files report of a conversion as a table (split, class, path, reason)."""
    text = storage.read_bytes(storage.join(records_dir, settings.SKIPPED_FILE)).decode("utf-8")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


# --- reading --------------------------------------------------------------------------------

def shard_files(records_dir, split: str) -> list[str]:
    """The shard paths of a split, checked to be a complete set (all N of -of-N present)."""
    names = [n for n in storage.listdir(records_dir)
             if (m := SHARD_PATTERN.match(n)) and m.group(1) == split]
    if not names:
        return []
    totals = {int(SHARD_PATTERN.match(n).group(3)) for n in names}
    if len(totals) != 1 or len(names) != totals.pop():
        raise DatasetError(f"{records_dir}: the {split} shards are not a complete set "
                           f"({len(names)} files: {names[:3]}...). Was a copy or conversion "
                           "interrupted? Run it again.")
    return [storage.join(records_dir, n) for n in sorted(names)]


def record_classes(records_dir) -> list[str] | None:
    """Class names in label order from synset_id2label.json, or None when there is none."""
    path = storage.join(records_dir, settings.LABEL_MAP_FILE)
    return read_label_map(path) if storage.exists(path) else None


def load_split(records_dir, split: str, shuffle_files: bool = False):
    """A tf.data.Dataset of parsed records (image bytes, 0-based label, synset, filename)."""
    tf = tensorflow()
    files = shard_files(records_dir, split)
    if not files:
        raise DatasetError(f"No {split}-NNNNN-of-NNNNN shards in {records_dir}. Convert the "
                           "dataset first (notebook 02, or `effnet convert DATA_DIR OUTPUT_DIR`).")
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        dataset = dataset.shuffle(len(files))
    dataset = dataset.interleave(tf.data.TFRecordDataset, num_parallel_calls=tf.data.AUTOTUNE,
                                 deterministic=not shuffle_files)
    return dataset.map(parse_record, num_parallel_calls=tf.data.AUTOTUNE)


def take_examples(records_dir, split: str = "validation", count: int = 16) -> list[dict]:
    """The first `count` records of a split, decoded to RGB arrays for display."""
    tf = tensorflow()
    classes = record_classes(records_dir)
    items = []
    for record in load_split(records_dir, split).take(count):
        label = int(record["label"])
        items.append({
            "image": tf.io.decode_jpeg(record["image"], channels=3).numpy(),
            "label": label,
            "class": classes[label] if classes else record["synset"].numpy().decode("utf-8"),
            "filename": record["filename"].numpy().decode("utf-8"),
        })
    return items


def inspect_records(records_dir) -> pd.DataFrame:
    """Count the records per split and class by reading every shard (works for records of the
    tensorflow/tpu converter too). Columns: split, label (0-based), class, records. When this
    workbook's manifest is present, the counts are checked against it."""
    tf = tensorflow()
    if not storage.isdir(records_dir):
        raise DatasetError(f"No folder at {str(records_dir)!r}.")
    classes = record_classes(records_dir)
    spec = {"image/class/label": tf.io.FixedLenFeature([], tf.int64),
            "image/class/synset": tf.io.FixedLenFeature([], tf.string, default_value="")}
    rows = []
    for split in settings.SPLITS:
        files = shard_files(records_dir, split)
        if not files:
            continue
        counts = Counter()
        dataset = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE).batch(1024)
        for batch in dataset.map(lambda s: tf.io.parse_example(s, spec)):
            labels = batch["image/class/label"].numpy() - LABEL_OFFSET
            synsets = batch["image/class/synset"].numpy()
            counts.update(zip(labels.tolist(), synsets.tolist()))
        for (label, synset), n in sorted(counts.items()):
            name = classes[label] if classes and 0 <= label < len(classes) else synset.decode("utf-8")
            if classes and synset and synset.decode("utf-8") != name:
                raise DatasetError(f"{records_dir}: label {label} is {name!r} in the label map "
                                   f"but {synset.decode('utf-8')!r} in the {split} records.")
            rows.append({"split": split, "label": label, "class": name, "records": n})
    if not rows:
        raise DatasetError(f"No train-/validation- TFRecord shards in {records_dir}.")
    table = pd.DataFrame(rows)
    manifest = read_manifest(records_dir)
    if manifest:
        for split, info in manifest["splits"].items():
            read = int(table.loc[table["split"] == split, "records"].sum())
            if read != info["written"]:
                raise DatasetError(f"{records_dir}: {split} holds {read} records but the manifest "
                                   f"says {info['written']}. The folder was changed after "
                                   "conversion; convert again.")
    return table
