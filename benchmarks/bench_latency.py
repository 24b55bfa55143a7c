#!/usr/bin/env python3
"""Single-image latency on the CPU: B0 at 224 px through every export of `effnet_helpers.export`,
against the Keras model called directly, side by side in one process.

What it does, in order:

1. Builds a B0 classifier for 10 classes at --image-size with random weights
   (`models.build_model(weights=None)`: latency does not depend on the weights' values) and saves
   it as a model directory (model.keras, config.json, synset_id2label.json), as training would.
2. Exports it with `effnet_helpers.export`: the SavedModel (both signatures) and the three TFLite
   files (float32, float16, int8 dynamic range).
3. Makes one photo-sized JPEG (640x480, quality 90) and its evaluation view
   (`pipeline.preprocess(..., training=False)`: centre crop, bicubic resize to 224).
4. Calls each variant --warmup times untimed, then --runs rounds; each round calls every variant
   once, in turn, so that other processes on the machine slow all of them alike. Variants:
   - keras: `model(images, training=False)` on the prepared image (eager, the reference);
   - keras predict_on_batch: the same through Keras' compiled predict function;
   - SavedModel `serving_images`: the prepared image in (float32 [1, 224, 224, 3]);
   - SavedModel `serving_default`: the JPEG BYTES in; decoding, crop and resize included;
   - TFLite float32 / float16 / int8: the prepared image in, `export.TFLiteRunner`
     (XNNPACK, --threads threads, every core by default).
5. Prints a table: median and p90 milliseconds per image, and the ratio of each median to the
   medians of the two Keras rows. (The probabilities are not compared here: with random weights
   they are all close to 1/10; tests/test_export.py checks that the exports agree.)

    .venv/bin/python benchmarks/bench_latency.py                 # about 3 min on 2 cores
    .venv/bin/python benchmarks/bench_latency.py --runs 100 --threads 1
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _cpu import machine_busy_seconds, machine_text, own_cpu_seconds, wait_for_quiet  # noqa: E402,E501
from effnet_helpers import export, pipeline, training  # noqa: E402

CLASSES = [f"class_{i}" for i in range(10)]
PHOTO_SIZE = (640, 480)
JPEG_QUALITY = 90
RESIZE_METHOD = "crop"


def make_model_dir(folder: Path, image_size: int) -> Path:
    """A model directory as training leaves it, for an untrained B0 (random weights)."""
    export.untrained_model_dir(folder, "B0", image_size, CLASSES, RESIZE_METHOD)
    return folder


def photo_jpeg() -> bytes:
    """A deterministic photo-like JPEG: smooth colour gradients, a disc, mild noise."""
    width, height = PHOTO_SIZE
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(0)
    image = np.stack([255 * x / width, 255 * y / height, 128 + 60 * np.sin(x / 37 + y / 53)], -1)
    disc = (x - width * 0.55) ** 2 + (y - height * 0.45) ** 2 < (height * 0.25) ** 2
    image[disc] = [200, 60, 40]
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=224, help="model input size (224)")
    parser.add_argument("--runs", type=int, default=50, help="timed rounds (50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per variant (5)")
    parser.add_argument("--threads", type=int, default=None,
                        help="TFLite interpreter threads (default: every core)")
    parser.add_argument("--quiet-wait", type=float, default=10, metavar="SECONDS",
                        help="before timing, wait up to this long for idle CPUs (10)")
    args = parser.parse_args(argv)
    run_started = time.perf_counter()

    import tensorflow as tf
    import keras
    size = args.image_size
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        model_dir = make_model_dir(Path(work) / "model", size)
        saved = export.export_saved_model(model_dir)
        files = {q: export.export_tflite(model_dir, q) for q in export.QUANTIZATIONS}
        print(f"Model directory and exports made in {time.perf_counter() - started:.0f} s: "
              + ", ".join(f"{Path(p).name} {os.path.getsize(p) / 1e6:.1f} MB"
                          for p in files.values()))

        jpeg = photo_jpeg()
        image = pipeline.preprocess(tf.constant(jpeg), size, training=False,
                                    resize_method=RESIZE_METHOD).numpy()[None]
        model = keras.saving.load_model(Path(model_dir) / training.MODEL_FILE)
        loaded = tf.saved_model.load(saved)
        by_images = loaded.signatures[export.IMAGES_SIGNATURE]
        by_bytes = loaded.signatures[export.BYTES_SIGNATURE]
        runners = {q: export.TFLiteRunner(files[q], args.threads) for q in export.QUANTIZATIONS}
        image_tensor, bytes_tensor = tf.constant(image), tf.constant([jpeg])
        variants = {
            "keras, model(x) (reference)": lambda: model(image_tensor, training=False).numpy(),
            "keras, predict_on_batch": lambda: model.predict_on_batch(image),
            "SavedModel serving_images (float in)":
                lambda: by_images(images=image_tensor)["probabilities"].numpy(),
            "SavedModel serving_default (JPEG bytes in)":
                lambda: by_bytes(image_bytes=bytes_tensor)["probabilities"].numpy(),
            "TFLite float32": lambda: runners["none"](image),
            "TFLite float16": lambda: runners["float16"](image),
            "TFLite int8 (dynamic range)": lambda: runners["int8"](image),
        }
        for name, call in variants.items():
            for _ in range(args.warmup):
                call()

        others_load = wait_for_quiet(args.quiet_wait)
        times = {name: [] for name in variants}
        busy0, cpu0, wall0 = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()
        for _ in range(args.runs):
            for name, call in variants.items():
                started = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - started) * 1000)
        wall = time.perf_counter() - wall0
        cpu = own_cpu_seconds() - cpu0
        others = max(0.0, machine_busy_seconds() - busy0 - cpu) / wall

    base = statistics.median(times["keras, model(x) (reference)"])
    compiled = statistics.median(times["keras, predict_on_batch"])
    print()
    print(f"Single-image latency, B0 at {size} px, 10 classes, batch 1, CPU; {args.runs} "
          f"interleaved rounds after {args.warmup} warm-up calls each; TFLite threads: "
          f"{args.threads or os.cpu_count()}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}. Machine: {machine_text()}.")
    print("| variant | median ms | p90 ms | time vs model(x) | time vs predict_on_batch |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        p90 = float(np.percentile(values, 90))
        print(f"| {name} | {median:.1f} | {p90:.1f} | {median / base:.2f}x | "
              f"{median / compiled:.2f}x |")
    print(f"\nOther processes: {others_load:.2f} cores before timing, {others:.2f} cores during it "
          f"(this process: {cpu / wall:.2f} cores). Whole run: "
          f"{time.perf_counter() - run_started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
