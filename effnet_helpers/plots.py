"""Pictures for the lessons, readable on a projector: class counts, image grids."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from . import storage

SPLIT_COLORS = {"train": "#1f77b4", "validation": "#ff7f0e"}


def use_projector_style() -> None:
    """Large fonts and clean axes, so a classroom at the back can read every plot."""
    plt.rcParams.update({
        "figure.dpi": 100, "font.size": 14, "axes.titlesize": 17, "axes.labelsize": 15,
        "xtick.labelsize": 13, "ytick.labelsize": 13, "legend.fontsize": 13,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
        "grid.alpha": 0.3, "figure.autolayout": True,
    })
    # Japanese and other non-Latin class names: use a CJK font when one is installed.
    from matplotlib import font_manager
    names = {f.name for f in font_manager.fontManager.ttflist}
    for font in ("Noto Sans CJK JP", "IPAexGothic", "IPAGothic", "Hiragino Sans", "Yu Gothic"):
        if font in names:
            plt.rcParams["font.sans-serif"] = [font] + plt.rcParams["font.sans-serif"]
            break


def plot_class_counts(counts: pd.DataFrame, title: str = "Images per class"):
    """Horizontal bars per class, one colour per split (the output of layout.class_counts)."""
    data = counts.drop(index="total", errors="ignore")
    splits = [s for s in SPLIT_COLORS if s in data]
    height = max(3.0, 0.45 * len(data) + 1.5)
    fig, ax = plt.subplots(figsize=(10, height))
    y = np.arange(len(data))
    bar = 0.8 / max(len(splits), 1)
    for i, split in enumerate(splits):
        ax.barh(y + (i - (len(splits) - 1) / 2) * bar, data[split], height=bar, label=split,
                color=SPLIT_COLORS[split])
    ax.set_yticks(y, data.index)
    ax.invert_yaxis()
    ax.set_xlabel("images")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(splits), frameon=False)
    return fig


def image_grid(images, titles=None, ncols: int = 6, size: float = 2.2, suptitle: str | None = None):
    """Show RGB arrays (or PIL images) in a grid with optional titles under each."""
    images = list(images)
    titles = list(titles) if titles is not None else [""] * len(images)
    nrows = max(1, math.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.35)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(image)
        ax.set_title(title, fontsize=12)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def load_for_display(path, max_side: int = 256) -> Image.Image:
    """An image file as upright RGB, shrunk for display."""
    import io
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(storage.read_bytes(path))))
    image = image.convert("RGB")
    image.thumbnail((max_side, max_side))
    return image


def sample_grid(table: pd.DataFrame, per_class: int = 6, split: str = "train", seed: int = 0,
                max_classes: int = 12):
    """A column of random images per class from a layout table (layout.scan_dataset's output),
    class names on top; at most `max_classes` classes (the first ones in label order)."""
    rows = table[(table["kind"] == "candidate") & (table["split"] == split)]
    if "problem" in rows:
        rows = rows[rows["problem"] == ""]
    picked = rows.sample(frac=1.0, random_state=seed).groupby("class").head(per_class)
    classes = sorted(set(picked["class"]))[:max_classes]
    fig, axes = plt.subplots(per_class, len(classes), squeeze=False,
                             figsize=(1.6 * len(classes) + 0.5, 1.6 * per_class + 0.8))
    for col, cls in enumerate(classes):
        paths = list(picked.loc[picked["class"] == cls, "path"])
        for row in range(per_class):
            ax = axes[row, col]
            ax.axis("off")
            if row < len(paths):
                ax.imshow(load_for_display(paths[row]))
        axes[0, col].set_title(cls, fontsize=13)
    more = len(set(rows["class"])) - len(classes)
    fig.suptitle(f"Sample {split} images" + (f" (and {more} more classes)" if more > 0 else ""))
    return fig


def plot_history(history, title: str = "Training curves"):
    """Loss and accuracy per epoch, training and validation, with the phases shaded (rows of
    training.read_history or the history.csv table)."""
    data = pd.DataFrame(history)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            if prefix + metric in data:
                ax.plot(data["epoch"], data[prefix + metric], style,
                        label="validation" if prefix else "training")
        if "phase" in data and (data["phase"] == "head").any():
            last_head = data.loc[data["phase"] == "head", "epoch"].max()
            ax.axvspan(data["epoch"].min() - 0.5, last_head + 0.5, color="grey", alpha=0.12,
                       label="head only (backbone frozen)")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric)
        ax.legend(fontsize=11)
    fig.suptitle(title)
    return fig
