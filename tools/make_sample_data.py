#!/usr/bin/env python3
"""Build the small offline sample dataset the workbook runs on (``data/sample``).

Source: scikit-learn's bundled copy of the UCI "Optical Recognition of Handwritten
Digits" data set (E. Alpaydin and C. Kaynak, 1998; CC BY 4.0), loaded with
``sklearn.datasets.load_digits``: 1,797 real handwritten digits (the UCI test set, 13
writers), each an 8x8 grid of values 0..16 (the count of ink pixels in each 4x4 block of a
32x32 scan). It ships inside the scikit-learn wheel, so nothing is downloaded.

Each digit is rendered as a small "photo" of a handwritten digit:

* the 8x8 scan (0..16 scaled to 0..255) gets a 1-pixel blank margin and is upscaled to
  64x64 with bicubic interpolation, so strokes are smooth and never touch the edge;
* the result is used as an ink mask: dark ink (black, blue, blue-black or dark grey pen,
  slightly varied) on light paper (white, cream or cool white, slightly tinted);
* a gentle brightness change and lighting gradient per image, as in a phone photo;
* no rotation, no cropping, no strong noise: every digit stays fully legible and the
  dataset stays easy to learn for a small EfficientNet trained from scratch at 64 px.

Images are saved as baseline RGB JPEG, quality 90, named ``digit_<index>.jpg`` where
``<index>`` is the digit's (stable) position in ``load_digits``, in the layout::

    data/sample/train/<class>/digit_00042.jpg
    data/sample/validation/<class>/digit_00007.jpg

with class folders ``zero`` .. ``nine``. The split is stratified and seeded: per class
20% (rounded, at least 1) goes to validation, the rest to train.

Everything is deterministic (seed 0): the script deletes and recreates the output folder,
and reruns produce byte-identical files (with the same Pillow/libjpeg build).

Usage (from the repository root)::

    python3 tools/make_sample_data.py            # writes data/sample
    python3 tools/make_sample_data.py --output /tmp/sample

Needs numpy, Pillow and scikit-learn (``pip install numpy pillow scikit-learn``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SEED = 0
SIZE = 64  # output width and height in pixels
VALIDATION_FRACTION = 0.2
JPEG_QUALITY = 90
CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPLITS = ("train", "validation")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "data" / "sample"

# Pen colours (RGB): black, blue, blue-black, dark grey.
INK_COLOURS = np.array(
    [[22, 22, 26], [28, 52, 150], [24, 32, 84], [64, 64, 68]], dtype=np.float64
)
# Paper colours (RGB): white, cream, cool white.
PAPER_COLOURS = np.array(
    [[246, 245, 240], [244, 238, 222], [236, 240, 244]], dtype=np.float64
)


def split_indices(labels: np.ndarray, rng: np.random.Generator) -> dict[str, list[int]]:
    """Stratified split: per class, a seeded shuffle, then 20% (>= 1) to validation."""
    result: dict[str, list[int]] = {split: [] for split in SPLITS}
    for label in range(len(CLASS_NAMES)):
        members = np.flatnonzero(labels == label)  # ascending, so the shuffle is stable
        shuffled = rng.permutation(members)
        n_val = int(round(VALIDATION_FRACTION * len(members)))
        n_val = min(max(n_val, 1), len(members) - 1)  # at least one in each split
        result["validation"].extend(int(i) for i in shuffled[:n_val])
        result["train"].extend(int(i) for i in shuffled[n_val:])
    return {split: sorted(ids) for split, ids in result.items()}


def render_digit(scan: np.ndarray, index: int) -> Image.Image:
    """Render one 8x8 scan (values 0..16) as a 64x64 RGB "photo" of a handwritten digit.

    The per-image variation comes from a generator seeded with (SEED, index), so an image
    depends only on its own index, not on the order in which images are written.
    """
    rng = np.random.default_rng([SEED, index])

    # Ink mask: 0..16 -> 0..255, 1-pixel blank margin, smooth bicubic upscale to 64x64.
    grey = np.pad(scan.astype(np.float64) * (255.0 / 16.0), 1)
    small = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), mode="L")
    mask = np.asarray(small.resize((SIZE, SIZE), Image.Resampling.BICUBIC), dtype=np.float64)
    mask = mask / 255.0
    # Slight contrast curve so strokes look like ink rather than a blur.
    mask = np.clip((mask - 0.08) / 0.72, 0.0, 1.0)
    mask = mask * mask * (3.0 - 2.0 * mask)  # smoothstep
    mask *= rng.uniform(0.88, 1.0)  # ink density (pen pressure)

    ink = INK_COLOURS[rng.integers(len(INK_COLOURS))] + rng.uniform(-8, 8, size=3)
    paper = PAPER_COLOURS[rng.integers(len(PAPER_COLOURS))] + rng.uniform(-6, 6, size=3)

    img = paper[None, None, :] * (1.0 - mask[..., None]) + ink[None, None, :] * mask[..., None]

    # Lighting: overall brightness and a gentle linear gradient in a random direction.
    angle = rng.uniform(0.0, 2.0 * np.pi)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1) - 0.5
    gradient = 1.0 + rng.uniform(0.0, 0.08) * (np.cos(angle) * xs + np.sin(angle) * ys)
    img = img * (rng.uniform(0.88, 1.04) * gradient)[..., None]

    # Very faint sensor grain (about 1 grey level) so the paper is not perfectly flat.
    img = img + rng.normal(0.0, 1.0, size=img.shape)

    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), mode="RGB")


def prepare_output(output: Path) -> None:
    """Delete and recreate ``output``; refuse to delete a folder that is not ours."""
    if output.exists():
        unexpected = [p.name for p in output.iterdir() if p.name not in SPLITS]
        if unexpected:
            sys.exit(
                f"error: {output} contains {sorted(unexpected)[:5]}, not only {SPLITS}; "
                "refusing to delete it. Remove it yourself or pick another --output."
            )
        shutil.rmtree(output)
    for split in SPLITS:
        for name in CLASS_NAMES:
            (output / split / name).mkdir(parents=True)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT,
        help=f"output folder, deleted and recreated (default: {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    digits = load_digits()
    images, labels = digits.images, digits.target
    splits = split_indices(labels, np.random.default_rng(SEED))

    output: Path = args.output
    prepare_output(output)
    for split, ids in splits.items():
        for index in ids:
            path = output / split / CLASS_NAMES[labels[index]] / f"digit_{index:05d}.jpg"
            render_digit(images[index], index).save(
                path, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False
            )

    # Report: counts per split and class, and the total size.
    print(f"Wrote {sum(len(v) for v in splits.values())} images to {output}")
    print(f"{'class':<8}{'train':>7}{'validation':>12}{'total':>7}")
    for label, name in enumerate(CLASS_NAMES):
        n = {s: int(np.sum(labels[splits[s]] == label)) for s in SPLITS}
        print(f"{name:<8}{n['train']:>7}{n['validation']:>12}{n['train'] + n['validation']:>7}")
    n_train, n_val = len(splits["train"]), len(splits["validation"])
    print(f"{'total':<8}{n_train:>7}{n_val:>12}{n_train + n_val:>7}")
    print(f"Total size: {folder_size(output) / 1e6:.2f} MB ({folder_size(output)} bytes of files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
