#!/usr/bin/env python3
"""Conversion benchmark, as users run it: the `effnet convert` command against the tensorflow/tpu
converter (`tools/datasets/imagenet_to_gcs.py`, the real script), each run as its own process.

What it does, in order:

1. Builds (once, then cached under --workdir) three deterministic image sets in the
   DATA_DIR/{train,validation}/<class>/ layout, each at two sizes (the smaller one hard links
   to the first files of every folder of the larger one):
   - light: 500x375 photo-like JPEGs (every 8th 375x500) at quality 88, about 40 KB;
   - photo: the same pictures with fine texture and sensor noise at quality 95, about 100 KB,
     the weight of real photos of that size;
   - phone: 4000x3000 camera-sized JPEGs at quality 94, about 3.8 MB, with EXIF Make, Model and
     Orientation; every 4th one is a portrait stored sideways (Orientation 6), as phones do.
   Beside each, the same files in the reference's layout (hard links): train/<class>/*.JPEG,
   validation/*.JPEG and synset_labels.txt.
2. Runs, in alternating rounds (`--rounds`), each command as a child process at both sizes:
   - reference: the unmodified imagenet_to_gcs.py (pinned commit, checked by SHA-256; downloaded
     once, or --reference-script), with `--gcs_upload=false --local_scratch_dir=OUT`; a
     stand-in `google.cloud.storage` module is put in sys.modules first (the script imports it
     at the top; with the upload off it never calls it). One process, one image at a time, a
     full decode per image in a TF1 Session, its own fixed 1,024 + 128 shards;
   - `effnet convert DATA_DIR OUT` (the installed command, default options, progress bar on
     and written to the log as a user's terminal would get it); on the phone set with
     `--max-side 640`;
   - once a round, at the larger size, a decode-only child: TensorFlow imported, then a
     parallel tf.data read+decode of the same files at full scale and at the scale the
     converter's proof (1/8) or shrink (the JPEG scale that reaches 640 px) uses: the ceiling.
   Before each run it waits (up to --quiet-wait s) for the other processes to leave the CPUs
   idle and reads every file once (this VM drops idle page cache within seconds). Per run it
   records wall time, the child's CPU time and peak RSS (wait4) and the CPU other processes used.
3. Checks every run's output (records counted from the TFRecord framing, effnet's manifest:
   everything written, nothing skipped), and at the end decodes every record that effnet wrote
   at the larger size with TensorFlow and compares it with its stored height and width.
4. Reports per set: median wall time at each size, the marginal rate (images between the two
   sizes / seconds between the two medians: start-up and TensorFlow's import cancel), the ratio
   to the reference, the decode-only ceiling and the command's share of it, CPU per image, peak
   RSS at both sizes (flat = streaming). On the phone set it then converts once more without
   --max-side (records that keep the originals) and times the training input (bench_pipeline's
   pipeline at 224 px, alternating, --rounds times) over both records.

    .venv/bin/python benchmarks/bench_convert.py                       # about 6 minutes (the first run also makes the sets: +6)
    .venv/bin/python benchmarks/bench_convert.py --sets photo --rounds 5
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from _data import count_files, count_records, field, link, link_subset, read_all  # noqa: E402
from _cpu import machine_text, run_child, wait_for_quiet  # noqa: E402

GENERATOR_VERSION = 1
WIDTH, HEIGHT = 500, 375
PORTRAIT_EVERY = 8        # every 8th image is 375x500
JPEG_QUALITY = 88
VALIDATION_FRACTION = 0.2
SEED = 20240601
PHONE_ROTATED_EVERY = 4   # every 4th phone photo is a portrait stored sideways (EXIF 6)
MAX_SIDE = 640            # the phone set's --max-side
QUIET_CORES = 0.2         # a run is "quiet" when other processes used less than this
REFERENCE = "reference imagenet_to_gcs.py"

# The reference converter, pinned: the last commit that changed it, and its content's hash.
REFERENCE_COMMIT = "7fe1551d3b938b7f3ee32cc17d0e2eafbb4ad90b"
REFERENCE_URL = ("https://raw.githubusercontent.com/tensorflow/tpu/"
                 f"{REFERENCE_COMMIT}/tools/datasets/imagenet_to_gcs.py")
REFERENCE_SHA256 = "4b436e68fbc42c6dbbc02cc81956498f8e7feb7369ec9e47acf08a467203b790"
# Runs the script unmodified: only its top-level `from google.cloud import storage` is met by a
# stand-in (the upload is off, so the client is never made).
REFERENCE_SHIM = """\
import runpy, sys, types
storage = types.ModuleType("google.cloud.storage")
class Client:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("the benchmark runs the converter with --gcs_upload=false")
storage.Client = Client
cloud = types.ModuleType("google.cloud")
cloud.__path__, cloud.storage = [], storage
sys.modules["google.cloud"], sys.modules["google.cloud.storage"] = cloud, storage
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass(frozen=True)
class ImageSet:
    """One benchmark image set: how its files are made and the two dataset sizes timed."""

    name: str
    sizes: tuple[int, int]
    classes: int
    what: str
    texture: float = 0.0       # extra fine texture (photo weight)
    noise: float = 0.0         # extra sensor noise
    quality: int = JPEG_QUALITY
    phone: bool = False


SETS = {
    "light": ImageSet("light", (500, 4000), 5, "500x375, q88, about 40 KB"),
    "photo": ImageSet("photo", (500, 4000), 5, "500x375, noisy, q95, about 100 KB",
                      texture=16.0, noise=5.0, quality=95),
    "phone": ImageSet("phone", (40, 120), 4, "4000x3000, q94, about 3.8 MB, EXIF (every 4th "
                      "rotated)", phone=True),
}


# --- the images -------------------------------------------------------------------------------

def photo_pixels(rng, width: int, height: int) -> np.ndarray:
    """A photo-like picture as float32 RGB: gradient, blurred shapes, lighting, texture, noise."""
    img = 128 + 60 * field(rng, height, width, (3, 4), 3) + rng.uniform(-40, 40, 3)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(5, 10))):  # objects: ellipses, polygons, lines (stems)
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
    return pixels


def make_photo(seed: int, width: int = WIDTH, height: int = HEIGHT, texture: float = 0.0,
               noise: float = 0.0, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of one photo-like image, fully determined by its arguments. `texture` and
    `noise` add fine detail on top (the photo-weight set); at 0 the light set is unchanged."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(photo_pixels(rng, width, height), 0, 255)
    if texture or noise:
        pixels = pixels.astype(np.uint8).astype(np.float32)
        pixels += texture * field(rng, height, width, (height // 2, width // 2), 1)
        pixels += rng.normal(0, noise, pixels.shape)
        np.clip(pixels, 0, 255, out=pixels)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def make_phone(seed: int, rotated: bool) -> bytes:
    """A 4000x3000 camera-sized JPEG (quality 94, about 3.8 MB) with the EXIF a phone writes;
    `rotated`: Orientation 6, a portrait stored sideways."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(np.clip(photo_pixels(rng, 1000, 750), 0, 255).astype(np.uint8))
    pixels = np.asarray(base.resize((4000, 3000), Image.Resampling.BICUBIC), np.float32)
    pixels += 10 * field(rng, 3000, 4000, (750, 1000), 1)                    # fine texture
    noise = rng.standard_normal(pixels.shape, dtype=np.float32)
    noise *= 4.0
    pixels += noise
    np.clip(pixels, 0, 255, out=pixels)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Benchmark", "Phone 12MP"                   # Make, Model
    exif[0x0112] = 6 if rotated else 1                                       # Orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=94, exif=exif.tobytes())
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
            files.append((f"{split}/{name}/{name}_{i:05d}.jpg", SEED + len(files)))
    return files


def _write_one(job) -> int:
    target, seed, index, spec = job
    if spec.phone:
        data = make_phone(seed, index % PHONE_ROTATED_EVERY == PHONE_ROTATED_EVERY - 1)
    else:
        portrait = index % PORTRAIT_EVERY == PORTRAIT_EVERY - 1
        data = make_photo(seed, *((HEIGHT, WIDTH) if portrait else (WIDTH, HEIGHT)),
                          texture=spec.texture, noise=spec.noise, quality=spec.quality)
    with open(target + ".tmp", "wb") as f:
        f.write(data)
    os.replace(target + ".tmp", target)
    return len(data)


def ensure_set(workdir: Path, spec: ImageSet) -> tuple[Path, dict]:
    """The set's larger dataset, generated unless cached with the right number of files."""
    images = spec.sizes[1]
    stem = f"{spec.name}-v{GENERATOR_VERSION}-{images}-{spec.classes}"
    data_dir, info_file = workdir / stem, workdir / f"{stem}.json"
    if count_files(data_dir) == images and info_file.exists():
        return data_dir, json.loads(info_file.read_text())
    shutil.rmtree(data_dir, ignore_errors=True)
    plan = dataset_plan(images, spec.classes)
    for relpath, _ in plan:
        (data_dir / relpath).parent.mkdir(parents=True, exist_ok=True)
    jobs = [(str(data_dir / relpath), seed, i, spec) for i, (relpath, seed) in enumerate(plan)]
    started = time.perf_counter()
    print(f"Generating {images:,} {spec.name} JPEGs in {data_dir} ...", flush=True)
    import multiprocessing  # processes: the drawing is Python and numpy, TensorFlow not loaded
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        sizes = pool.map(_write_one, jobs, chunksize=1 if spec.phone else 16)
    info = {"images": images, "seconds": round(time.perf_counter() - started, 1),
            "kb_median": round(statistics.median(sizes) / 1e3, 1),
            "kb_p5": round(float(np.percentile(sizes, 5)) / 1e3, 1),
            "kb_p95": round(float(np.percentile(sizes, 95)) / 1e3, 1),
            "mb_total": round(sum(sizes) / 1e6, 1)}
    info_file.write_text(json.dumps(info, indent=1))
    print(f"  done in {info['seconds']} s")
    return data_dir, info


def smaller(data_dir: Path, spec: ImageSet) -> tuple[Path, int]:
    """The set's smaller dataset: the first files of every class folder, as hard links."""
    target = data_dir.with_name(f"{data_dir.name}-first{spec.sizes[0]}")
    return target, link_subset(data_dir, target, spec.sizes[0] / spec.sizes[1])


def reference_layout(data_dir: Path) -> Path:
    """The same files as the reference converter reads them (hard links): train/<class>/*.JPEG,
    a flat validation/*.JPEG and synset_labels.txt (the label of each sorted validation file)."""
    target = data_dir.with_name(data_dir.name + "-tpu")
    if count_files(target) == count_files(data_dir) + 1:
        return target
    shutil.rmtree(target, ignore_errors=True)
    validation = []
    for split in ("train", "validation"):
        for cls in sorted(os.listdir(data_dir / split)):
            for name in sorted(os.listdir(data_dir / split / cls)):
                stem = Path(name).stem + ".JPEG"
                if split == "train":
                    link(data_dir / split / cls / name, target / "train" / cls / stem)
                else:
                    validation.append((f"{cls}__{stem}", cls, data_dir / split / cls / name))
    validation.sort()
    for flat, _, source in validation:
        link(source, target / "validation" / flat)
    (target / "synset_labels.txt").write_text("".join(f"{cls}\n" for _, cls, _ in validation))
    return target


def reference_script(path: Path | None, workdir: Path) -> Path:
    """imagenet_to_gcs.py at the pinned commit: PATH, or a copy under WORKDIR (downloaded once)."""
    script = path or workdir / "imagenet_to_gcs.py"
    if not script.exists() and path is None:
        print(f"Downloading the reference converter: {REFERENCE_URL}", flush=True)
        try:
            with urllib.request.urlopen(REFERENCE_URL, timeout=30) as response:
                data = response.read()
        except OSError as error:
            raise SystemExit(f"Cannot download {REFERENCE_URL} ({error}). Save that file as "
                             f"{script} or pass --reference-script PATH.") from None
        script.write_bytes(data)
    if not script.exists():
        raise SystemExit(f"No file at {script}: pass the path of imagenet_to_gcs.py "
                         f"({REFERENCE_URL}).")
    digest = hashlib.sha256(script.read_bytes()).hexdigest()
    if digest != REFERENCE_SHA256:
        print(f"Note: {script} is not the pinned version (SHA-256 {digest[:12]}...).")
    return script


# --- the commands -------------------------------------------------------------------------------

def effnet_command() -> list[str]:
    """The installed `effnet` command beside this Python, else `python -m effnet_helpers`."""
    script = Path(sys.executable).with_name("effnet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "effnet_helpers"]


def variants_for(spec: ImageSet, script: Path) -> dict:
    """name -> (function of (data_dir, reference_dir, out) giving the command, checker)."""
    def reference(data_dir, tpu_dir, out):
        return [sys.executable, "-c", REFERENCE_SHIM, str(script), f"--raw_data_dir={tpu_dir}",
                f"--local_scratch_dir={out}", "--gcs_upload=false"]

    def effnet(*options):
        return lambda data_dir, tpu_dir, out: [*effnet_command(), "convert", str(data_dir),
                                               str(out), *options]

    variants = {REFERENCE: (reference, check_reference)}
    if spec.phone:
        variants[f"effnet convert --max-side {MAX_SIDE}"] = (effnet("--max-side", str(MAX_SIDE)),
                                                             check_effnet)
    else:
        variants["effnet convert"] = (effnet(), check_effnet)
    return variants


def check_reference(out: Path, images: int) -> None:
    files = [p for split in ("train", "validation") for p in sorted((out / split).iterdir())]
    written = count_records(files)
    if written != images:
        raise SystemExit(f"reference: {written} records for {images} images in {out}")


def check_effnet(out: Path, images: int) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    written = sum(s["written"] for s in manifest["splits"].values())
    skipped = sum(s["skipped"] for s in manifest["splits"].values())
    files = [out / shard["file"] for s in manifest["splits"].values() for shard in s["shards"]]
    if written != images or skipped or count_records(files) != images:
        raise SystemExit(f"effnet: wrote {written} of {images} images ({skipped} skipped) in {out}")


def decode_ratios(spec: ImageSet) -> dict[str, str]:
    """Decode-only variants (label -> decode_child key): a full decode, and the decode the
    converter itself runs on these files."""
    if spec.phone:
        return {"full decode (TensorFlow)": "tf1",
                f"decode at the JPEG scale that reaches {MAX_SIDE} px (Pillow draft, 1/4: what "
                f"--max-side {MAX_SIDE} runs)": f"pil{MAX_SIDE}"}
    return {"full decode (TensorFlow)": "tf1",
            "1/8-scale decode (TensorFlow: the converter's proof)": "tf8"}


def decode_child(data_dir: str, keys: str) -> None:
    """Runs in a child: import TensorFlow, then decode every file of DATA_DIR once per key after a
    warm-up, on every core, and print the seconds per key. `tfR`: read + `decode_jpeg(ratio=R)`
    in tf.data (autotuning off, as in the converter: with it on, deleting the iterator can wait
    for the autotuner's thread, seconds that are no part of decoding). `pilS`: read + Pillow's
    draft decode to at least S px in a thread pool (Pillow releases the GIL while decoding)."""
    import tensorflow as tf
    from concurrent.futures import ThreadPoolExecutor
    paths = sorted(str(p) for p in Path(data_dir).rglob("*") if p.is_file())
    cores = os.cpu_count() or 1
    options = tf.data.Options()
    options.autotune.enabled = False
    result = {"images": len(paths)}
    for key in keys.split(","):
        if key.startswith("pil"):
            side = int(key[3:])

            def decode(path, side=side):
                with open(path, "rb") as f:
                    image = Image.open(io.BytesIO(f.read()))
                image.draft("RGB", (side, side))
                image.load()
                return image.size

            with ThreadPoolExecutor(cores) as pool:
                list(pool.map(decode, paths[:cores]))  # warm-up
                started = time.perf_counter()
                count = len(list(pool.map(decode, paths)))
                result[key] = time.perf_counter() - started
        else:
            def decode(path, ratio=int(key[2:])):
                return tf.shape(tf.io.decode_jpeg(tf.io.read_file(path), channels=3,
                                                  ratio=ratio))
            dataset = (tf.data.Dataset.from_tensor_slices(paths)
                       .map(decode, num_parallel_calls=cores, deterministic=False)
                       .batch(8).prefetch(4).with_options(options))
            for _ in dataset.take(2):  # warm-up: function tracing, thread pools
                pass
            iterator = iter(dataset)
            started = time.perf_counter()
            count = sum(int(batch.shape[0]) for batch in iterator)
            result[key] = time.perf_counter() - started
            del iterator
        assert count == len(paths)
    print(json.dumps(result))


# --- timing -------------------------------------------------------------------------------------

def timed(command: list[str], data_dir: Path, out: Path | None, quiet_wait: float,
          log: Path) -> dict:
    """One measured child run on warm page cache, into a fresh OUT."""
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
    wait_for_quiet(quiet_wait)
    read_all(data_dir)
    return run_child(command, str(log))


def run_set(spec: ImageSet, workdir: Path, script: Path, rounds: int, quiet_wait: float) -> dict:
    data_dir, info = ensure_set(workdir, spec)
    small_dir, small_n = smaller(data_dir, spec)
    datasets = {small_n: (small_dir, reference_layout(small_dir)),
                spec.sizes[1]: (data_dir, reference_layout(data_dir))}
    print(f"\n== {spec.name}: {spec.what}; {small_n:,} and {spec.sizes[1]:,} images, "
          f"{spec.classes} classes; median {info['kb_median']} KB (5-95%: {info['kb_p5']}-"
          f"{info['kb_p95']} KB)", flush=True)
    variants = variants_for(spec, script)
    runs = {(name, n): [] for name in variants for n in datasets}
    decode = []
    ratios = decode_ratios(spec)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    for round_index in range(rounds):
        sizes = list(datasets) if round_index % 2 == 0 else list(datasets)[::-1]
        names = list(variants) if round_index % 2 == 0 else list(variants)[::-1]
        for n in sizes:
            folder, tpu_dir = datasets[n]
            for index, name in enumerate(names):
                make, check = variants[name]
                out = workdir / f"out-{spec.name}-{list(variants).index(name)}-{n}"
                run = timed(make(folder, tpu_dir, out), folder, out, quiet_wait,
                            logs / f"{out.name}.log")
                check(out, n)
                runs[(name, n)].append(run)
                print(f"  round {round_index + 1}: {name:<34} {n:>6,} images {run['seconds']:6.2f} s"
                      f"  CPU {run['cpu']:6.1f} s  RSS {run['rss_mb']:5.0f} MiB  other "
                      f"processes {run['others']:.2f} cores", flush=True)
        run = timed([sys.executable, __file__, "--decode-child", str(data_dir),
                     ",".join(ratios.values())], data_dir, None, quiet_wait,
                    logs / f"decode-{spec.name}.log")
        lines = (logs / f"decode-{spec.name}.log").read_text().splitlines()
        result = json.loads([line for line in lines if line.startswith("{")][-1])
        result["others"] = run["others"]
        decode.append(result)
        print(f"  round {round_index + 1}: decode-only ({spec.sizes[1]:,} images)  " + "  ".join(
            f"{key}: {result['images'] / result[key]:,.0f} img/s" for key in ratios.values())
            + f"  other processes {run['others']:.2f} cores", flush=True)
    return summarise(spec, info, variants, runs, decode, ratios, small_n, data_dir)


def summarise(spec, info, variants, runs, decode, ratios, small_n, data_dir) -> dict:
    """Medians, marginal rates and ratios of one set; printed as a table and returned."""
    large_n = spec.sizes[1]
    table = {}
    for name in variants:
        small_runs, large_runs = runs[(name, small_n)], runs[(name, large_n)]
        small = statistics.median(r["seconds"] for r in small_runs)
        large = statistics.median(r["seconds"] for r in large_runs)
        per_round = [(large_n - small_n) / (b["seconds"] - a["seconds"])
                     if b["seconds"] > a["seconds"] else float("inf")
                     for a, b in zip(small_runs, large_runs)]
        quiet = [rate for rate, a, b in zip(per_round, small_runs, large_runs)
                 if max(a["others"], b["others"]) < QUIET_CORES]
        cpu_small = statistics.median(r["cpu"] for r in small_runs)
        cpu_large = statistics.median(r["cpu"] for r in large_runs)
        table[name] = {
            "seconds": {small_n: small, large_n: large},
            "marginal": (large_n - small_n) / (large - small),
            "per_round": per_round,
            "quiet": statistics.median(quiet) if quiet else None, "quiet_rounds": len(quiet),
            "cpu_us": (cpu_large - cpu_small) / (large_n - small_n) * 1e6,
            "cores": statistics.median(r["cpu"] / r["seconds"] for r in large_runs),
            "rss_mb": {n: statistics.median(r["rss_mb"] for r in runs[(name, n)])
                       for n in (small_n, large_n)},
            "others": max(r["others"] for r in small_runs + large_runs),
        }
    quiet_decode = [d for d in decode if d["others"] < QUIET_CORES] or decode
    ceiling = {label: statistics.median(d["images"] / d[key] for d in quiet_decode)
               for label, key in ratios.items()}
    reference = table[REFERENCE]
    base, quiet_base = reference["marginal"], reference["quiet"] or reference["marginal"]
    rounds = len(decode)
    print(f"\n{spec.name}: {spec.what}; {rounds} alternating rounds; medians. 'Quiet': the rounds "
          f"in which other processes used under {QUIET_CORES} cores during both runs (the "
          "decode-only ceiling: its quiet rounds, else all)")
    print(f"| command | s at {small_n:,} | s at {large_n:,} | marginal img/s | x reference | "
          "marginal img/s, quiet rounds | x reference, quiet | of decode-only (full / "
          "converter's decode), quiet | CPU µs/img | cores used | peak RSS MiB "
          f"({small_n:,} / {large_n:,}) | other processes, max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    full, own = list(ceiling.values())
    for name, row in table.items():
        quiet = row["quiet"]
        quiet_text = (f"{quiet:,.0f} ({row['quiet_rounds']} of {rounds}) | "
                      f"{quiet / quiet_base:.2f}x | {quiet / full:.0%} / {quiet / own:.0%}"
                      if quiet else f"none of {rounds} | | ")
        print(f"| {name} | {row['seconds'][small_n]:.2f} | {row['seconds'][large_n]:.2f} | "
              f"{row['marginal']:,.0f} | {row['marginal'] / base:.2f}x | {quiet_text} | "
              f"{row['cpu_us']:,.0f} | {row['cores']:.1f} | {row['rss_mb'][small_n]:,.0f} / "
              f"{row['rss_mb'][large_n]:,.0f} | {row['others']:.2f} |")
    for name, row in table.items():
        print(f"  {name}, marginal img/s per round: "
              + ", ".join(f"{v:,.0f}" for v in row["per_round"]))
    for label, rate in ceiling.items():
        print(f"  ceiling, decode-only, {label}, in-process after import: {rate:,.0f} img/s "
              f"({len(quiet_decode)} rounds; other processes up to "
              f"{max(d['others'] for d in quiet_decode):.2f} cores)")
    return {"set": spec.name, "what": spec.what, "info": info, "small": small_n,
            "large": large_n, "table": table, "ceiling": ceiling, "decode": decode,
            "data_dir": str(data_dir)}


# --- checks and training input ------------------------------------------------------------------

def verify_records(records_dir: Path, max_side: int | None = None) -> str:
    """Decode every record fully with TensorFlow; its shape must be the stored height and width
    (and within max_side). Returns a one-line account."""
    import tensorflow as tf
    from effnet_helpers.records import shard_files
    spec = {"image/encoded": tf.io.FixedLenFeature([], tf.string),
            "image/height": tf.io.FixedLenFeature([], tf.int64),
            "image/width": tf.io.FixedLenFeature([], tf.int64)}

    def check(serialized):
        record = tf.io.parse_single_example(serialized, spec)
        shape = tf.shape(tf.io.decode_jpeg(record["image/encoded"], channels=3))
        return shape[0], shape[1], record["image/height"], record["image/width"]

    files = [f for split in ("train", "validation") for f in shard_files(str(records_dir), split)]
    dataset = tf.data.TFRecordDataset(files).map(check, num_parallel_calls=tf.data.AUTOTUNE)
    count = portrait = 0
    for h, w, sh, sw in dataset.as_numpy_iterator():
        if (h, w) != (sh, sw) or (max_side and max(h, w) > max_side):
            raise SystemExit(f"{records_dir}: a record decodes to {h}x{w}, stored {sh}x{sw}")
        count += 1
        portrait += int(h > w)
    return f"{count:,} records decode to their stored size ({portrait:,} portrait)"


def training_input(records: dict[str, Path], rounds: int, quiet_wait: float) -> dict:
    """bench_pipeline's training pipeline (224 px, batch 32, training defaults, repeated, as
    `training.train` reads it) over each records folder, in steady state (one endless iterator,
    8 batches untimed, then at least 3 s), alternating, `rounds` times; median images/s. Whole
    epochs with a fresh iterator each are not timed here: deleting an autotuned tf.data iterator
    can wait for the autotuner's thread, seconds that say nothing about the records."""
    import bench_pipeline
    datasets = {name: bench_pipeline.pipeline_dataset(path, repeat=True)
                for name, path in records.items()}
    timings = {name: [] for name in datasets}
    for _ in range(rounds):
        for name, dataset in datasets.items():
            timings[name].append(bench_pipeline.timed_run(dataset, records[name], quiet_wait, 3.0,
                                                          steady=True))
    result = {}
    for name, runs in timings.items():
        size = sum(f.stat().st_size for f in records[name].iterdir()
                   if f.name.startswith(("train-", "validation-")))
        result[name] = {"rate": statistics.median(t["rate"] for t in runs),
                        "cpu_us": statistics.median(t["cpu"] / t["images"] for t in runs) * 1e6,
                        "others": max(t["others"] for t in runs), "mb": size / 1e6,
                        "rates": [t["rate"] for t in runs]}
    return result


# --- main ---------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="light,photo,phone",
                        help="image sets to run, comma-separated (light,photo,phone)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds: every command at both sizes once a round (3)")
    parser.add_argument("--size", action="append", default=[], metavar="SET=SMALL,LARGE",
                        help="dataset sizes of a set (light=500,4000 photo=500,4000 "
                             "phone=40,120)")
    parser.add_argument("--reference-script", type=Path,
                        help=f"imagenet_to_gcs.py (default: WORKDIR/imagenet_to_gcs.py, "
                             f"downloaded once from {REFERENCE_URL})")
    parser.add_argument("--quiet-wait", type=float, default=5, metavar="SECONDS",
                        help="before each run, wait up to this long for idle CPUs (5)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the last records of every command (deleted at the end by "
                             "default; the generated images stay, as a cache)")
    parser.add_argument("--no-train-input", action="store_true",
                        help="skip the phone set's training-input timing")
    parser.add_argument("--workdir", type=Path, default=HERE / "_work",
                        help="where images, records and logs go (benchmarks/_work)")
    parser.add_argument("--decode-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.decode_child:
        decode_child(*args.decode_child)
        return 0
    sets = {}
    for name in args.sets.split(","):
        if name not in SETS:
            parser.error(f"unknown set {name!r}; choose from {', '.join(SETS)}")
        sets[name] = SETS[name]
    for text in args.size:
        name, _, sizes = text.partition("=")
        small, large = (int(v) for v in sizes.split(","))
        if name not in SETS or not 0 < small < large:
            parser.error(f"--size {text}: give SET=SMALL,LARGE with SMALL < LARGE")
        sets[name] = ImageSet(**{**vars(SETS[name]), "sizes": (small, large)})
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    started = time.perf_counter()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    script = reference_script(args.reference_script, workdir)
    print(f"Machine: {machine_text()}. Python {sys.version.split()[0]}.")
    print(f"Reference: {script} (tensorflow/tpu@{REFERENCE_COMMIT[:10]}), run as "
          f"`python -c SHIM {script.name} --raw_data_dir=DIR --local_scratch_dir=OUT "
          "--gcs_upload=false`")
    print(f"effnet: `{' '.join(effnet_command())} convert DATA_DIR OUT`")
    results = {name: run_set(spec, workdir, script, args.rounds, args.quiet_wait)
               for name, spec in sets.items()}

    print("\nChecks: every record effnet wrote at the larger size, decoded in full:")
    for name, result in results.items():
        for index, variant in enumerate(result["table"]):
            if variant.startswith("effnet"):
                out = workdir / f"out-{name}-{index}-{result['large']}"
                side = MAX_SIDE if "max-side" in variant else None
                print(f"  {name}, {variant}: {verify_records(out, side)}")
    train_images = sets["phone"].sizes[1] * (1 - VALIDATION_FRACTION) if "phone" in sets else 0
    if "phone" in results and not args.no_train_input and train_images < 2 * 32:
        print("\nTraining input not timed: under 64 training photos make no full batches of 32.")
    elif "phone" in results and not args.no_train_input:
        phone = results["phone"]
        shrunk_name, originals_name = (f"effnet convert --max-side {MAX_SIDE}",
                                       "effnet convert (originals)")
        shrunk = workdir / f"out-phone-1-{phone['large']}"
        originals = workdir / f"out-phone-originals-{phone['large']}"
        run = timed(effnet_command() + ["convert", phone["data_dir"], str(originals)],
                    Path(phone["data_dir"]), originals, args.quiet_wait,
                    workdir / "logs" / f"{originals.name}.log")
        check_effnet(originals, phone["large"])
        phone["originals_run"] = run
        print(f"\nThe records that keep the originals: `effnet convert` without --max-side, once "
              f"at {phone['large']} photos: {run['seconds']:.1f} s, CPU {run['cpu']:.1f} s, peak "
              f"RSS {run['rss_mb']:.0f} MiB, other processes {run['others']:.2f} cores; "
              f"{verify_records(originals)}")
        train = training_input({shrunk_name: shrunk, originals_name: originals}, args.rounds,
                               args.quiet_wait)
        phone["training_input"] = train
        base = train[originals_name]["rate"]
        print(f"\nTraining input over the phone records ({phone['large']} photos; bench_pipeline's "
              "make_dataset at 224 px, batch 32, training defaults, repeated), images/s in steady "
              "state, medians:")
        print("| records | MB | img/s | x originals | CPU µs/img | other processes, max |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, row in train.items():
            print(f"| {name} | {row['mb']:,.0f} | {row['rate']:,.0f} | {row['rate'] / base:.1f}x "
                  f"| {row['cpu_us']:,.0f} | {row['others']:.2f} |")
    if not args.keep:
        for out in workdir.glob("out-*"):
            shutil.rmtree(out, ignore_errors=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (workdir / f"convert-results-{stamp}.json").write_text(json.dumps(results, indent=1,
                                                                      default=str))
    print(f"\nWhole run: {time.perf_counter() - started:.0f} s. Figures saved in "
          f"{workdir / f'convert-results-{stamp}.json'}.")
    if "photo" in results:
        table = results["photo"]["table"]
        ours, theirs = table["effnet convert"], table[REFERENCE]
        ratio = ours["marginal"] / theirs["marginal"]
        print(f"Photo-weight set, effnet convert / reference, marginal rates: {ratio:.2f}x over "
              f"all rounds" + (f", {ours['quiet'] / (theirs['quiet'] or theirs['marginal']):.2f}x "
                               f"over the quiet ones" if ours["quiet"] else ", no quiet round")
              + "; target 3x on 2 free cores.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
