#!/usr/bin/env python3
"""Input pipeline benchmark: images per second of the training pipeline at 224 px, from TFRecords
written with the pre-shrink option, against `keras.utils.image_dataset_from_directory` on the same
photos, and against a decode-only loop over the same records (the ceiling).

What it does, in order:

1. Builds (once, then cached under --workdir) a deterministic set of photo-sized JPEGs,
   DATA_DIR/train/<class>/: 1600x1200 (every 8th 1200x1600, as phones store portraits), smooth
   gradients, blurred shapes, lighting, fine texture and sensor noise, quality 90: files of a few
   hundred KB, as phone and camera photos are.
2. Converts them (cached too) with `effnet_helpers.records.convert_dataset`, once with
   `max_side=--max-side` (the pre-shrink option, 400 by default) and once at full size.
3. Imports TensorFlow once, builds every dataset once and runs one untimed warm-up epoch of each.
4. Times whole epochs, the variants in turn, `--repeats` times each: before each timed run it waits
   (up to --quiet-wait s) for other processes to leave the CPUs idle and reads the variant's files
   once (this VM's kernel drops idle page cache within seconds), then iterates the dataset for at
   least --min-seconds of whole epochs. Variants:
   - keras: `image_dataset_from_directory(train/, image_size=(224, 224), batch_size=32,
     label_mode="categorical", shuffle=True)` + prefetch: a full decode of each photo, bilinear
     resize of the whole image, no augmentation;
   - pipeline: `effnet_helpers.pipeline.make_dataset(records, "train", 224, 32)`, the training
     defaults: shuffled files and records, tensorflow/tpu random crop decoded alone, bicubic
     resize, random flip, one-hot labels, drop_remainder;
   - the same pipeline over the full-size records (what pre-shrinking buys);
   - decode-only: read, parse and fully decode every record of the pre-shrunk records, with the
     same parallelism (AUTOTUNE) and nothing else: no crop, resize, augmentation or batching of
     pixels. The ceiling of any pipeline that decodes these records;
   - steady state, keras and pipeline: the same datasets repeated, one endless iterator, timed
     after 8 batches (what model.fit sees with repeat() and steps_per_epoch, and with epochs
     much longer than this benchmark's, where the ~0.2 s start of each epoch's iterator counts
     for little).
5. Prints a table (median images/s, x keras, share of the decode-only ceiling, CPU per image,
   cores used, load of other processes).

    .venv/bin/python benchmarks/bench_pipeline.py     # about 2.5 min (the first: +3 min for photos)
    .venv/bin/python benchmarks/bench_pipeline.py --images 1000 --repeats 7
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _data import count_files, field, read_all  # noqa: E402
from _cpu import machine_busy_seconds, machine_text, own_cpu_seconds, wait_for_quiet  # noqa: E402,E501

GENERATOR_VERSION = 1
WIDTH, HEIGHT = 1600, 1200
PORTRAIT_EVERY = 8
JPEG_QUALITY = 90
SEED = 20241122
IMAGE_SIZE = 224
BATCH_SIZE = 32
STEADY_SKIP = 8           # steady state: batches taken untimed before timing


# --- the photos -------------------------------------------------------------------------------

def make_photo(seed: int, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """JPEG bytes of one photo-like synthetic image, fully determined by `seed`."""
    rng = np.random.default_rng(seed)
    img = 128 + 60 * field(rng, height, width, (3, 4), 3) + rng.uniform(-40, 40, 3)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(6, 12))):
        x0, y0 = rng.uniform(-width * .2, width), rng.uniform(-height * .2, height)
        sx, sy = rng.uniform(width * .06, width * .5), rng.uniform(height * .06, height * .5)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.random()
        if kind < .45:
            draw.ellipse([x0, y0, x0 + sx, y0 + sy], fill=colour)
        elif kind < .85:
            draw.polygon([(x0 + rng.uniform(0, sx), y0 + rng.uniform(0, sy))
                          for _ in range(int(rng.integers(3, 7)))], fill=colour)
        else:
            draw.line([(x0, y0), (x0 + sx, y0 + sy)], fill=colour, width=int(rng.integers(4, 20)))
    canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 4.0)))  # out of focus
    pixels = np.asarray(canvas, dtype=np.float32)
    light = field(rng, height, width, (2, 3), 1)                               # lighting
    light *= 0.25
    light += 1
    pixels *= light
    texture = field(rng, height, width, (height // 6, width // 6), 1)          # texture
    texture *= rng.uniform(6, 16)
    fine = field(rng, height, width, (height // 2, width // 2), 1)
    fine *= rng.uniform(3, 8)
    texture += fine
    pixels += texture
    noise = rng.standard_normal(pixels.shape, dtype=np.float32)                 # sensor noise
    noise *= 2.0
    pixels += noise
    np.clip(pixels, 0, 255, out=pixels)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _write_one(job) -> int:
    target, seed, portrait = job
    data = make_photo(seed, *((HEIGHT, WIDTH) if portrait else (WIDTH, HEIGHT)))
    with open(target + ".tmp", "wb") as f:
        f.write(data)
    os.replace(target + ".tmp", target)
    return len(data)




def ensure_photos(workdir: Path, images: int, classes: int) -> tuple[Path, dict]:
    """Generate the photos unless they are cached; return the data folder and its description."""
    name = f"pipeline-photos-v{GENERATOR_VERSION}-{images}-{classes}"
    data_dir, info_file = workdir / name, workdir / f"{name}.json"
    if count_files(data_dir) == images and info_file.exists():
        print(f"Photos: {data_dir} (cached)")
        return data_dir, json.loads(info_file.read_text())
    import multiprocessing
    import shutil
    shutil.rmtree(data_dir, ignore_errors=True)
    jobs = []
    for i in range(images):
        folder = data_dir / "train" / f"class_{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        jobs.append((str(folder / f"photo_{i:05d}.jpg"), SEED + i,
                     i % PORTRAIT_EVERY == PORTRAIT_EVERY - 1))
    print(f"Generating {images:,} photo-like JPEGs ({WIDTH}x{HEIGHT}) in {data_dir} ...",
          flush=True)
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        sizes = pool.map(_write_one, jobs, chunksize=8)
    info = {"images": images, "classes": classes,
            "seconds": round(time.perf_counter() - started, 1),
            "kb_median": round(statistics.median(sizes) / 1e3),
            "kb_p5": round(float(np.percentile(sizes, 5)) / 1e3),
            "kb_p95": round(float(np.percentile(sizes, 95)) / 1e3),
            "mb_total": round(sum(sizes) / 1e6, 1)}
    info_file.write_text(json.dumps(info, indent=1))
    print(f"  done in {info['seconds']} s")
    return data_dir, info


def ensure_records(data_dir: Path, out: Path, max_side: int | None) -> dict:
    """The records of the photos (convert_dataset does nothing when they are complete)."""
    from effnet_helpers.records import convert_dataset
    started = time.perf_counter()
    manifest = convert_dataset(str(data_dir), str(out), max_side=max_side, progress=False,
                               log=lambda *a, **k: None)
    sizes = [os.path.getsize(out / s["file"]) for s in manifest["splits"]["train"]["shards"]]
    return {"seconds": time.perf_counter() - started, "mb": sum(sizes) / 1e6,
            "images": manifest["splits"]["train"]["written"]}


# --- the variants -------------------------------------------------------------------------------

def keras_dataset(data_dir: Path):
    import keras
    import tensorflow as tf
    dataset = keras.utils.image_dataset_from_directory(
        str(data_dir / "train"), label_mode="categorical", image_size=(IMAGE_SIZE, IMAGE_SIZE),
        batch_size=BATCH_SIZE, shuffle=True, seed=0, verbose=False)
    return dataset.prefetch(tf.data.AUTOTUNE)


def pipeline_dataset(records_dir: Path, repeat: bool = False):
    from effnet_helpers.pipeline import make_dataset
    return make_dataset(str(records_dir), "train", IMAGE_SIZE, BATCH_SIZE, repeat=repeat)


def decode_only_dataset(records_dir: Path):
    """Read, parse and fully decode every record, in parallel; yields only the decoded shapes
    (batched), so nothing but the decoding and reading costs anything."""
    import tensorflow as tf
    from effnet_helpers.records import parse_record, shard_files
    files = shard_files(str(records_dir), "train")

    def decode(serialized):
        return tf.shape(tf.io.decode_jpeg(parse_record(serialized)["image"], channels=3))

    return (tf.data.Dataset.from_tensor_slices(files)
            .interleave(tf.data.TFRecordDataset, num_parallel_calls=tf.data.AUTOTUNE)
            .map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
            .batch(BATCH_SIZE).prefetch(tf.data.AUTOTUNE))


def epoch(dataset) -> int:
    """Iterate one epoch; return the number of images."""
    count = 0
    for element in dataset:
        first = element[0] if isinstance(element, tuple) else element
        count += int(first.shape[0])
    return count


# --- timing (the conversion benchmark's rules) --------------------------------------------------

def timed_run(dataset, files: Path, quiet_wait: float, min_seconds: float,
              steady: bool = False) -> dict:
    """Per epoch (steady=False): whole epochs, a fresh iterator each, as model.fit does without
    repeat(). Steady state (steady=True): one endless iterator, 8 batches untimed, then batches."""
    wait_for_quiet(quiet_wait)
    read_all(files)
    iterator = None
    if steady:
        iterator = iter(dataset)
        for _ in range(STEADY_SKIP):
            next(iterator)
    busy0, cpu0, started = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()
    images, epochs = 0, 0
    while True:
        if steady:
            images += int(next(iterator)[0].shape[0])
        else:
            images += epoch(dataset)
            epochs += 1
        seconds = time.perf_counter() - started
        if seconds >= min_seconds:
            break
    cpu = own_cpu_seconds() - cpu0
    others = max(0.0, machine_busy_seconds() - busy0 - cpu) / seconds
    return {"seconds": seconds, "images": images, "epochs": epochs, "cpu": cpu, "others": others,
            "rate": images / seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=768, help="photos to generate (768)")
    parser.add_argument("--classes", type=int, default=4, help="class folders (4)")
    parser.add_argument("--max-side", type=int, default=400,
                        help="the records' pre-shrink, convert_dataset(max_side=...) (400)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per variant (5)")
    parser.add_argument("--min-seconds", type=float, default=2.0,
                        help="a timed run iterates whole epochs for at least this long (2)")
    parser.add_argument("--quiet-wait", type=float, default=5, metavar="SECONDS",
                        help="before each timed run, wait up to this long for idle CPUs (5)")
    parser.add_argument("--no-steady", action="store_true",
                        help="skip the steady-state rows (one endless iterator, repeat())")
    parser.add_argument("--no-full-size", action="store_true",
                        help="skip the pipeline over records without pre-shrinking")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "_work",
                        help="where photos and records are cached (benchmarks/_work)")
    args = parser.parse_args(argv)
    run_started = time.perf_counter()

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir, info = ensure_photos(workdir, args.images, args.classes)
    print(f"  {args.images:,} JPEGs in {args.classes} classes, {WIDTH}x{HEIGHT} (every "
          f"{PORTRAIT_EVERY}th {HEIGHT}x{WIDTH}), q{JPEG_QUALITY}, median {info['kb_median']} KB "
          f"(5-95%: {info['kb_p5']}-{info['kb_p95']} KB), {info['mb_total']} MB in all")

    started = time.perf_counter()
    import tensorflow as tf
    import_seconds = time.perf_counter() - started
    shrunk_dir = data_dir.with_name(data_dir.name + f"-records-max{args.max_side}")
    full_dir = data_dir.with_name(data_dir.name + "-records-full")
    shrunk = ensure_records(data_dir, shrunk_dir, args.max_side)
    print(f"Records, max_side={args.max_side}: {shrunk_dir.name}, {shrunk['mb']:.1f} MB "
          f"({shrunk['seconds']:.1f} s, a one-off cost; cached)")
    keras_name = "keras image_dataset_from_directory"
    ours = f"pipeline, records max_side={args.max_side}"
    ceiling_name = f"decode-only loop, records max_side={args.max_side}"
    whole = args.images - args.images % BATCH_SIZE  # training drops the last partial batch
    # name: (dataset, files it reads, images per epoch or None for endless)
    variants = {keras_name: (keras_dataset(data_dir), data_dir, args.images),
                ours: (pipeline_dataset(shrunk_dir), shrunk_dir, whole)}
    if not args.no_full_size:
        full = ensure_records(data_dir, full_dir, None)
        print(f"Records, full size: {full_dir.name}, {full['mb']:.1f} MB ({full['seconds']:.1f} s)")
        variants["pipeline, records at full size"] = (pipeline_dataset(full_dir), full_dir, whole)
    variants[ceiling_name] = (decode_only_dataset(shrunk_dir), shrunk_dir, args.images)
    if not args.no_steady:
        variants[keras_name + ", steady state"] = (keras_dataset(data_dir).repeat(), data_dir, None)
        variants[ours + ", steady state"] = (pipeline_dataset(shrunk_dir, repeat=True), shrunk_dir,
                                            None)
    print(f"TensorFlow {tf.__version__} imported once before all timings ({import_seconds:.1f} s, "
          f"not counted). Machine: {machine_text()}.")

    for name, (dataset, _, expected) in variants.items():  # warm-up, untimed
        started = time.perf_counter()
        count = epoch(dataset if expected else dataset.take(2 * STEADY_SKIP))
        if expected and count != expected:
            raise SystemExit(f"{name}: {count} images in an epoch, expected {expected}")
        print(f"  warm-up {name:<58} {count} images in {time.perf_counter() - started:5.2f} s",
              flush=True)

    runs = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, (dataset, files, expected) in variants.items():
            timing = timed_run(dataset, files, args.quiet_wait, args.min_seconds,
                               steady=expected is None)
            runs[name].append(timing)
            what = f"{timing['epochs']} epochs" if expected else f"{timing['images']} images"
            print(f"  run {repeat + 1}: {name:<58} {timing['rate']:6.0f} img/s  ({what} in "
                  f"{timing['seconds']:.1f} s, CPU {timing['cpu'] / timing['seconds']:.1f} cores;"
                  f" other processes {timing['others']:.2f} cores)", flush=True)

    rows = {}
    for name, timings in runs.items():
        rows[name] = {"median": statistics.median(t["rate"] for t in timings),
                      "best": max(t["rate"] for t in timings),
                      "cpu_us": statistics.median(t["cpu"] / t["images"] for t in timings) * 1e6,
                      "cores": statistics.median(t["cpu"] / t["seconds"] for t in timings),
                      "others": max(t["others"] for t in timings)}
    base = rows[keras_name]["median"]
    ceiling = rows[ceiling_name]["median"]
    print()
    print(f"Training input at {IMAGE_SIZE} px, batch {BATCH_SIZE}, {args.images:,} photos "
          f"{WIDTH}x{HEIGHT}; {args.repeats} alternating runs each; images/s per epoch")
    print("| variant | median img/s | best img/s | x keras (medians) | of decode-only | "
          "CPU µs/img | cores used | other processes (max) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['median']:,.0f} | {row['best']:,.0f} | "
              f"{row['median'] / base:.2f}x | {row['median'] / ceiling:.0%} | "
              f"{row['cpu_us']:,.0f} | {row['cores']:.1f} | {row['others']:.2f} |")
    ratio = rows[ours]["median"] / base
    print(f"\nPipeline (max_side={args.max_side}) / keras: {ratio:.2f}x (medians); target 2x: "
          f"{'met' if ratio >= 2 else 'NOT met'}.")
    disturbed = max(row["others"] for row in rows.values())
    if disturbed > 0.1:
        print(f"Warning: other processes used up to {disturbed:.2f} cores during a timed run.")
    print(f"Whole run: {time.perf_counter() - run_started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
