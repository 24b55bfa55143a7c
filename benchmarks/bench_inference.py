#!/usr/bin/env python3
"""Batch inference benchmark: images per second of `inference.Predictor.predict` over a folder of
photos (read, orientation and format checks, decode, centre crop, resize, model) against a bare
`model.predict` on already decoded arrays of the same images, side by side in one process.

What it does:

1. Reuses (or builds, once) the benchmark photos of bench_pipeline.py: 1600x1200 JPEGs of a few
   hundred KB, as phones store them; takes the first --images of them.
2. Builds EfficientNet-B0 at 224 px (weights=None: the speed is the same as with ImageNet
   weights) with a 10-class head, the model training makes.
3. Decodes the images once, untimed, with the predictor's own preprocessing, for the baseline.
4. Times, in turn and --repeats times each (after an untimed warm-up of each):
   - baseline: `model.predict(arrays, batch_size=32)`: the model alone;
   - folder: `Predictor.predict([folder])`, full-size photos (records converted without
     --max-side: every photo decoded at full size);
   - folder, pre-shrunk: the same with the model's `max_side` = 400, as for records converted with
     `--max-side 400` (photos decoded at a reduced scale by the JPEG decoder itself).
5. Prints median images/s, and the overhead of loading and preprocessing: time / baseline - 1.

    .venv/bin/python benchmarks/bench_inference.py            # about 3 min
    .venv/bin/python benchmarks/bench_inference.py --images 256 --repeats 5
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _cpu import machine_busy_seconds, own_cpu_seconds, wait_for_quiet  # noqa: E402

IMAGE_SIZE = 224
BATCH_SIZE = 32
CLASSES = [f"class{i}" for i in range(10)]
PRE_SHRINK = 400


def timed(run, repeats: int, quiet_wait: float) -> dict:
    """Median seconds of `run()` over `repeats` runs, with the CPU it used and others' load."""
    seconds, cpu, others = [], [], []
    for _ in range(repeats):
        wait_for_quiet(quiet_wait)
        busy, own, started = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
        own_used = own_cpu_seconds() - own
        seconds.append(elapsed)
        cpu.append(own_used)
        others.append(max(0.0, (machine_busy_seconds() - busy - own_used) / elapsed))
    return {"seconds": statistics.median(seconds), "cpu": statistics.median(cpu),
            "others": statistics.median(others), "all": seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quiet-wait", type=float, default=20.0)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "_work")
    args = parser.parse_args(argv)

    import bench_pipeline
    data_dir, _ = bench_pipeline.ensure_photos(args.workdir.resolve(), 768, 4)
    photos = sorted(p for p in (data_dir / "train").rglob("*.jpg"))[:args.images]
    folder = Path(tempfile.mkdtemp(prefix="bench_inference_"))
    for i, photo in enumerate(photos):
        os.symlink(photo, folder / f"{i:04d}.jpg")

    import numpy as np

    from effnet_helpers import inference, models
    from effnet_helpers.images import tensorflow
    tf = tensorflow()
    model = models.build_model("B0", len(CLASSES), IMAGE_SIZE, weights=None)
    config = {"image_size": IMAGE_SIZE, "input": {"resize_method": "crop", "max_side": None}}
    full = inference.Predictor(model, CLASSES, config)
    shrunk = inference.Predictor(model, CLASSES, {**config, "input": {
        "resize_method": "crop", "max_side": PRE_SHRINK}})
    arrays = np.stack([full.preprocess(inference.prepare(p.read_bytes())) for p in photos])
    print(f"{len(photos)} photos of {bench_pipeline.WIDTH}x{bench_pipeline.HEIGHT}, "
          f"{sum(p.stat().st_size for p in photos) / len(photos) / 1e3:.0f} KB on average; "
          f"B0 at {IMAGE_SIZE}, batch {BATCH_SIZE}, tensorflow {tf.__version__}, "
          f"{os.cpu_count()} cores")

    variants = {
        "baseline: model.predict(arrays)":
            lambda: model.predict(arrays, batch_size=BATCH_SIZE, verbose=0),
        "folder, full-size photos":
            lambda: full.predict([folder], batch_size=BATCH_SIZE, progress=False),
        f"folder, pre-shrunk to {PRE_SHRINK} (records' --max-side)":
            lambda: shrunk.predict([folder], batch_size=BATCH_SIZE, progress=False),
    }
    results = {}
    for name, run in variants.items():  # warm-up: compile, fill caches
        run()
    for _ in range(args.repeats):  # interleaved, so a slow spell of the VM hits every variant
        for name, run in variants.items():
            one = timed(run, 1, args.quiet_wait)
            results.setdefault(name, []).append(one)
    base = statistics.median(r["seconds"] for r in results[next(iter(variants))])
    print(f"\n{'variant':48} {'images/s':>9} {'overhead':>9} {'CPU ms/img':>11} {'others':>7}")
    for name, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs) / len(photos) * 1e3
        others = statistics.median(r["others"] for r in runs)
        overhead = "" if seconds == base else f"{seconds / base - 1:+.0%}"
        print(f"{name:48} {len(photos) / seconds:9.1f} {overhead:>9} {cpu:11.1f} {others:7.2f}")
    # the predictions agree: the folder variant (full size) predicts what the arrays give
    table = full.predict([folder], progress=False)
    same = (table["label"].to_numpy() == np.array(CLASSES)[model.predict(
        arrays, batch_size=BATCH_SIZE, verbose=0).argmax(1)]).mean()
    print(f"\ntop-1 of the folder run equals the baseline's on {same:.0%} of the photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
