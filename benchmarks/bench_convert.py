#!/usr/bin/env python3
"""Conversion benchmark: this workbook's converter against the tensorflow/tpu converter's loop.

What it does, in order:

1. Builds (once, then cached) a deterministic dataset of photo-sized JPEGs in the
   DATA_DIR/{train,validation}/<class>/ layout: 500x375 (every 8th image 375x500), smooth
   gradients, shapes, shading, luminance texture and sensor noise, saved at quality 88: files of
   about 32-46 KB (median 40) that TensorFlow decodes at the speed of real photos of that size
   and quality (not pure noise, not flat colour).
2. Imports TensorFlow once, before any timing (neither side pays the ~3-5 s import), and runs
   one warm-up decode (eager context start-up). Before each timed run it waits (up to
   --quiet-wait s) for other processes to leave the CPUs idle and reads every file once, so that
   both sides read from the page cache; CPU used by other processes during a run is reported.
3. Times, alternately, `--repeats` times each:
   - baseline: a faithful TF2-eager port of `imagenet_to_gcs.py`'s loop (tensorflow/tpu): one
     process, one image at a time, read with tf.io.gfile, a full `tf.io.decode_jpeg(channels=3)`
     and `.numpy()` only to learn height and width (its ImageCoder's sess.run), the same
     tf.train.Example (`effnet_helpers.records.build_example`), one TFRecordWriter per shard, the
     same shard count per split as the converter;
   - the converter: `effnet_helpers.records.convert_dataset(workers=None)` (all cores) into a
     fresh folder, planning, validation of every image, manifest and all;
   - the converter with `workers=1`, which separates the cheaper validation from parallelism.
4. Measures the converter's peak memory growth in a child process at N/2 and N images (a
   streaming converter gives about the same figure at both sizes).
5. Prints a table. Generated data goes under --workdir (default benchmarks/_work, git-ignored).

    .venv/bin/python benchmarks/bench_convert.py                  # about 3,000 images
    .venv/bin/python benchmarks/bench_convert.py --images 6000 --repeats 5
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _data import count_files, field, read_all  # noqa: E402
from _cpu import machine_busy_seconds, own_cpu_seconds, wait_for_quiet  # noqa: E402

GENERATOR_VERSION = 1
WIDTH, HEIGHT = 500, 375
PORTRAIT_EVERY = 8        # every 8th image is 375x500
JPEG_QUALITY = 88
VALIDATION_FRACTION = 0.2
SEED = 20240601


# --- the dataset ------------------------------------------------------------------------------

def make_photo(seed: int, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """JPEG bytes of one photo-like synthetic image, fully determined by `seed`."""
    rng = np.random.default_rng(seed)
    # Background: a smooth colour gradient (sky, ground, a wall).
    img = 128 + 60 * field(rng, height, width, (3, 4), 3) + rng.uniform(-40, 40, 3)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    # Objects: ellipses, polygons and a few lines (stems, branches).
    for _ in range(int(rng.integers(5, 10))):
        x0, y0 = rng.uniform(-width * .2, width), rng.uniform(-height * .2, height)
        sx, sy = rng.uniform(width * .08, width * .5), rng.uniform(height * .08, height * .5)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.random()
        if kind < .45:
            draw.ellipse([x0, y0, x0 + sx, y0 + sy], fill=colour)
        elif kind < .85:
            points = [(x0 + rng.uniform(0, sx), y0 + rng.uniform(0, sy))
                      for _ in range(int(rng.integers(3, 7)))]
            draw.polygon(points, fill=colour)
        else:
            draw.line([(x0, y0), (x0 + sx, y0 + sy)], fill=colour, width=int(rng.integers(2, 8)))
    canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.0)))  # out-of-focus edges
    pixels = np.asarray(canvas, dtype=np.float32)
    pixels *= 1 + 0.25 * field(rng, height, width, (2, 3), 1)               # lighting
    pixels += rng.uniform(5, 18) * field(rng, height, width, (height // 5, width // 5), 1)
    pixels += rng.uniform(2, 8) * field(rng, height, width, (height // 2, width // 2), 1)
    pixels += rng.normal(0, 2.0, pixels.shape).astype(np.float32)            # sensor noise
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
        buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def dataset_plan(images: int, classes: int) -> list[tuple[str, int]]:
    """(relative path, seed) of every image: classes as even as possible, 20% validation."""
    files = []
    for c in range(classes):
        name = f"class_{c:02d}"
        count = images // classes + (1 if c < images % classes else 0)
        n_val = round(count * VALIDATION_FRACTION)
        for i in range(count):
            split = "validation" if i < n_val else "train"
            index = len(files)
            files.append((f"{split}/{name}/{name}_{i:05d}.jpg", SEED + index))
    return files


def _write_one(job) -> int:
    target, seed, index = job
    portrait = index % PORTRAIT_EVERY == PORTRAIT_EVERY - 1
    data = make_photo(seed, *((HEIGHT, WIDTH) if portrait else (WIDTH, HEIGHT)))
    tmp = target + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    return len(data)




def ensure_dataset(workdir: Path, images: int, classes: int) -> tuple[Path, dict]:
    """Generate the dataset unless it is already there with the right number of files."""
    data_dir = workdir / f"photos-v{GENERATOR_VERSION}-{images}-{classes}"
    info_file = workdir / f"photos-v{GENERATOR_VERSION}-{images}-{classes}.json"
    if count_files(data_dir) == images and info_file.exists():
        info = json.loads(info_file.read_text())
        print(f"Dataset: {data_dir} (cached, {images:,} images)")
        return data_dir, info
    shutil.rmtree(data_dir, ignore_errors=True)
    plan = dataset_plan(images, classes)
    for relpath, _ in plan:
        (data_dir / relpath).parent.mkdir(parents=True, exist_ok=True)
    jobs = [(str(data_dir / relpath), seed, i) for i, (relpath, seed) in enumerate(plan)]
    started = time.perf_counter()
    print(f"Generating {images:,} photo-like JPEGs in {data_dir} ...", flush=True)
    # Processes, not threads: the drawing is Python and numpy; TensorFlow is not imported yet.
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        sizes = pool.map(_write_one, jobs, chunksize=16)
    info = {"images": images, "classes": classes, "seconds": round(time.perf_counter() - started, 1),
            "kb_median": round(statistics.median(sizes) / 1e3, 1),
            "kb_p5": round(float(np.percentile(sizes, 5)) / 1e3, 1),
            "kb_p95": round(float(np.percentile(sizes, 95)) / 1e3, 1),
            "mb_total": round(sum(sizes) / 1e6, 1),
            "portrait": sum(1 for i in range(images) if i % PORTRAIT_EVERY == PORTRAIT_EVERY - 1),
            "train": sum(1 for r, _ in plan if r.startswith("train/")),
            "validation": sum(1 for r, _ in plan if r.startswith("validation/"))}
    info_file.write_text(json.dumps(info, indent=1))
    print(f"  done in {info['seconds']} s")
    return data_dir, info


def half_dataset(workdir: Path, data_dir: Path) -> tuple[Path, int]:
    """The first half of every class folder, as hard links (no copy, no generation)."""
    half = data_dir.with_name(data_dir.name + "-half")
    wanted = []
    for split in ("train", "validation"):
        for cls in sorted(os.listdir(data_dir / split)):
            names = sorted(os.listdir(data_dir / split / cls))
            wanted += [f"{split}/{cls}/{n}" for n in names[: len(names) // 2]]
    if count_files(half) != len(wanted):
        shutil.rmtree(half, ignore_errors=True)
        for relpath in wanted:
            (half / relpath).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(data_dir / relpath, half / relpath)
            except OSError:
                shutil.copyfile(data_dir / relpath, half / relpath)
    return half, len(wanted)


# --- the two converters -----------------------------------------------------------------------

def baseline_convert(data_dir: Path, output_dir: Path, shards: dict[str, int]) -> int:
    """The tensorflow/tpu imagenet_to_gcs.py loop in TF2 eager: one process, one image at a
    time, a full decode per image only to read its size. Returns the number of records."""
    import tensorflow as tf
    from effnet_helpers.records import build_example

    output_dir.mkdir(parents=True, exist_ok=True)
    # Its file lists: a glob of <split>/<class>/<file>; labels from the sorted folder names + 1.
    # (Its training "shuffle" shuffles a temporary copy, so the glob order is what it writes.)
    files = {s: tf.io.gfile.glob(str(data_dir / s / "*" / "*")) for s in ("train", "validation")}
    synsets_all = sorted({os.path.basename(os.path.dirname(f)) for v in files.values() for f in v})
    labels = {synset: k + 1 for k, synset in enumerate(synsets_all)}
    written = 0
    for split, filenames in files.items():
        num_shards = shards[split]
        synsets = [os.path.basename(os.path.dirname(f)) for f in filenames]
        chunksize = int(math.ceil(len(filenames) / num_shards))
        for shard in range(num_shards):
            chunk = slice(shard * chunksize, (shard + 1) * chunksize)
            output_file = str(output_dir / f"{split}-{shard:05d}-of-{num_shards:05d}")
            writer = tf.io.TFRecordWriter(output_file)
            for filename, synset in zip(filenames[chunk], synsets[chunk]):
                with tf.io.gfile.GFile(filename, "rb") as f:           # tf.gfile.FastGFile
                    image_data = f.read()
                image = tf.io.decode_jpeg(image_data, channels=3).numpy()  # coder.decode_jpeg
                assert len(image.shape) == 3 and image.shape[2] == 3
                height, width = image.shape[0], image.shape[1]
                example = build_example(image_data, labels[synset], synset,
                                        os.path.basename(filename), height, width)
                writer.write(example.SerializeToString())
                written += 1
            writer.close()
    return written


def converter(data_dir: Path, output_dir: Path, workers: int | None) -> dict:
    from effnet_helpers.records import convert_dataset
    return convert_dataset(str(data_dir), str(output_dir), workers=workers, progress=False,
                           log=lambda *args, **kwargs: None)


# --- memory -----------------------------------------------------------------------------------

def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def memory_child(data_dir: str, output_dir: str) -> None:
    """Runs in a child process: import TensorFlow, warm up, then convert and report the peak."""
    import tensorflow as tf
    tf.io.decode_jpeg(make_photo(0, 16, 16), channels=3).numpy()
    import effnet_helpers.records  # noqa: F401  (imports pandas and the rest before the start)
    before = _status_kb("VmRSS")
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _status_kb("VmRSS"))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    manifest = converter(Path(data_dir), Path(output_dir), None)
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    peak[0] = max(peak[0], _status_kb("VmRSS"))
    written = sum(s["written"] for s in manifest["splits"].values())
    print(json.dumps({"rss_before_mb": before / 1024, "rss_peak_mb": peak[0] / 1024,
                      "growth_mb": (peak[0] - before) / 1024, "written": written,
                      "seconds": seconds}))


def measure_memory(data_dir: Path, output_dir: Path) -> dict:
    shutil.rmtree(output_dir, ignore_errors=True)
    result = subprocess.run([sys.executable, __file__, "--memory-child", str(data_dir),
                             str(output_dir)], capture_output=True, text=True, check=False)
    shutil.rmtree(output_dir, ignore_errors=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"memory child failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


# --- main ---------------------------------------------------------------------------------------

def timed_run(run, data_dir: Path, out: Path, quiet_wait: float) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    wait_for_quiet(quiet_wait)
    read_all(data_dir)
    busy0, cpu0, started = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()
    result = run(out)
    seconds = time.perf_counter() - started
    cpu = own_cpu_seconds() - cpu0
    others = max(0.0, machine_busy_seconds() - busy0 - cpu) / seconds
    return {"seconds": seconds, "cpu": cpu, "others": others, "result": result}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3000, help="images in the dataset (3000)")
    parser.add_argument("--classes", type=int, default=5, help="class folders (5)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "_work",
                        help="where the dataset and the records go (benchmarks/_work)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of each variant, alternating (3)")
    parser.add_argument("--quiet-wait", type=float, default=30, metavar="SECONDS",
                        help="before each timed run, wait up to this long for other processes "
                             "to leave the CPUs idle (30)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the last records of each variant (deleted by default; the "
                             "generated dataset is always kept as a cache)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument("--memory-child", nargs=2, metavar=("DATA_DIR", "OUTPUT_DIR"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    if args.images < 2 * args.classes or args.classes < 1:
        parser.error("--images must be at least twice --classes")

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir, info = ensure_dataset(workdir, args.images, args.classes)
    print(f"  {info['train']:,} train + {info['validation']:,} validation, {info['classes']} "
          f"classes, {WIDTH}x{HEIGHT} ({info['portrait']} of them {HEIGHT}x{WIDTH}), JPEG "
          f"q{JPEG_QUALITY}, median {info['kb_median']} KB (5-95%: {info['kb_p5']}-"
          f"{info['kb_p95']} KB), {info['mb_total']} MB in all")

    started = time.perf_counter()
    import tensorflow as tf
    import_seconds = time.perf_counter() - started
    tf.io.decode_jpeg(make_photo(0, 16, 16), channels=3).numpy()  # eager context start-up
    from effnet_helpers.records import plan_conversion
    plan = plan_conversion(str(data_dir))
    shards = {s: sum(1 for sh in plan["shards"] if sh.split == s) for s in ("train", "validation")}
    workers = os.cpu_count() or 1
    print(f"TensorFlow {tf.__version__} imported once before all timings ({import_seconds:.1f} s, "
          f"not counted). {workers} cores. Shards: train {shards['train']}, validation "
          f"{shards['validation']} (both sides).")

    variants = {"baseline": lambda out: baseline_convert(data_dir, out, shards),
                f"converter (workers={workers})": lambda out: converter(data_dir, out, None),
                "converter (workers=1)": lambda out: converter(data_dir, out, 1)}
    runs = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for index, (name, run) in enumerate(variants.items()):
            out = workdir / f"records-{index}"
            timing = timed_run(run, data_dir, out, args.quiet_wait)
            result = timing.pop("result")
            written = result if isinstance(result, int) else \
                sum(s["written"] for s in result["splits"].values())
            skipped = 0 if isinstance(result, int) else \
                sum(s["skipped"] for s in result["splits"].values())
            if written != args.images or skipped:
                raise SystemExit(f"{name}: wrote {written} of {args.images} images "
                                 f"({skipped} skipped)")
            runs[name].append(timing)
            print(f"  run {repeat + 1}: {name:<24} {timing['seconds']:6.2f} s "
                  f"{args.images / timing['seconds']:6.0f} img/s  "
                  f"(CPU {timing['cpu'] / timing['seconds']:.1f} cores; other processes "
                  f"{timing['others']:.2f} cores)", flush=True)
            if not (args.keep and repeat == args.repeats - 1):
                shutil.rmtree(out, ignore_errors=True)

    rates = {}
    for name, timings in runs.items():
        seconds = [t["seconds"] for t in timings]
        rates[name] = {"best": args.images / min(seconds),
                       "median": args.images / statistics.median(seconds),
                       "cpu_us": statistics.median(t["cpu"] for t in timings) / args.images * 1e6,
                       "cores": statistics.median(t["cpu"] / t["seconds"] for t in timings),
                       "others": max(t["others"] for t in timings)}
    base = rates["baseline"]

    memory = {}
    if not args.no_memory:
        half_dir, half_count = half_dataset(workdir, data_dir)
        print("Memory: the converter (all cores) in a child process at N/2 and N images; peak "
              "RSS during the conversion minus RSS before it (TensorFlow imported) ...", flush=True)
        for label, folder, count in (("N/2", half_dir, half_count),
                                     ("N", data_dir, args.images)):
            wait_for_quiet(args.quiet_wait)
            memory[label] = measure_memory(folder, workdir / "records-memory")
            memory[label]["images"] = count

    main_name = f"converter (workers={workers})"
    print()
    print(f"Conversion of {args.images:,} JPEGs ({WIDTH}x{HEIGHT}, median {info['kb_median']} KB) "
          f"on {workers} cores, TensorFlow {tf.__version__}, {args.repeats} alternating runs each")
    print(f"{'':<26}{'best img/s':>13}{'median img/s':>14}{'x baseline':>12}"
          f"{'CPU us/img':>12}{'cores used':>12}")
    for name, rate in rates.items():
        print(f"{name:<26}{rate['best']:>13.0f}{rate['median']:>14.0f}"
              f"{rate['median'] / base['median']:>11.2f}x{rate['cpu_us']:>12.0f}"
              f"{rate['cores']:>12.1f}")
    ratio = rates[main_name]["median"] / base["median"]
    ratio_best = rates[main_name]["best"] / base["best"]
    print(f"Ratio converter/baseline: {ratio:.2f}x (medians), {ratio_best:.2f}x (bests); "
          f"target 3x: {'met' if ratio >= 3 else 'NOT met'}")
    for label, m in memory.items():
        print(f"Memory at {label:<3} ({m['images']:>6,} images): peak RSS {m['rss_peak_mb']:.0f} MiB, "
              f"growth during the conversion {m['growth_mb']:+.0f} MiB")
    disturbed = max(rate["others"] for rate in rates.values())
    if disturbed > 0.1:
        print(f"Warning: other processes used up to {disturbed:.2f} cores during a timed run; "
              "the figures are disturbed. Run again on a quiet machine.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
