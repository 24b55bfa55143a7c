"""Pictures for the lessons, readable on a projector: class counts, image grids.

Importing this module registers a Japanese font with matplotlib (docs/japanese.md), so that class
names and titles in Japanese draw real glyphs in every plot while Latin text keeps its font.
"""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib import font_manager
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from . import storage

SPLIT_COLORS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}

# The Japanese font: IPAexGothic as the PyPI package matplotlib-fontja ships it (a core
# dependency). Its file is found without importing the package, whose import would make it the
# font of all text. Without it, the first of these installed system fonts is used.
JA_FONT_PACKAGE = "matplotlib_fontja"
JA_FONT_FILE = ("fonts", "ipaexg.ttf")
SYSTEM_JA_FONTS = ("IPAexGothic", "Noto Sans CJK JP", "Noto Sans JP", "IPAGothic",
                   "Hiragino Sans", "Yu Gothic", "Meiryo", "TakaoGothic")
NO_JA_FONT_NOTICE = ("effnet_helpers.plots: no Japanese font found, so Japanese class names will "
                     "draw as empty boxes; `pip install matplotlib-fontja` fixes it.")
_notice_shown = False


def packaged_japanese_font() -> Path | None:
    """The font file that matplotlib-fontja ships, or None when the package is not installed."""
    spec = importlib.util.find_spec(JA_FONT_PACKAGE)
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent.joinpath(*JA_FONT_FILE)
    return path if path.is_file() else None


def register_japanese_font(font_file: Path | None = None, system_fonts=SYSTEM_JA_FONTS) -> str | None:
    """Make matplotlib draw Japanese: register the packaged font (or find a system one) and add
    its family to the END of `font.family`, matplotlib's fallback list: each character is drawn
    with the first font there that has it, so Latin text keeps the default font and only
    Japanese comes from this one. Returns the family, or None (after one notice on stderr)."""
    global _notice_shown
    font_file = font_file or packaged_japanese_font()
    family = None
    if font_file is not None:
        if str(font_file) not in {f.fname for f in font_manager.fontManager.ttflist}:
            font_manager.fontManager.addfont(str(font_file))
        family = font_manager.FontProperties(fname=str(font_file)).get_name()
    else:
        installed = {f.name for f in font_manager.fontManager.ttflist}
        family = next((name for name in system_fonts if name in installed), None)
    if family is None:
        if not _notice_shown:
            print(NO_JA_FONT_NOTICE, file=sys.stderr)
            _notice_shown = True
        return None
    families = plt.rcParams["font.family"]
    families = [families] if isinstance(families, str) else list(families)
    plt.rcParams["font.family"] = [f for f in families if f != family] + [family]
    return family


JA_FONT = register_japanese_font()


def use_projector_style() -> None:
    """Large fonts and clean axes, so a classroom at the back can read every plot."""
    plt.rcParams.update({
        "figure.dpi": 100, "font.size": 14, "axes.titlesize": 17, "axes.labelsize": 15,
        "xtick.labelsize": 13, "ytick.labelsize": 13, "legend.fontsize": 13,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
        "grid.alpha": 0.3, "figure.autolayout": True,
    })
    if JA_FONT is not None:  # again, in case a style reset font.family since the import
        register_japanese_font()


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
    ax.set_ylabel("class")
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


def labelled_rows(rows, title: str, size: float = 2.6):
    """A grid of images, one row per (name, images, titles): the row's name on its left, each
    image's title above it, no axes (`pipeline.show_augmentations`)."""
    n = len(rows[0][1])
    fig, axes = plt.subplots(len(rows), n, squeeze=False,
                             figsize=(n * size + 1.6, len(rows) * (size + 0.45)))
    for r, (row_name, images, titles) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.imshow(np.asarray(images[c]).astype(np.uint8))
            ax.set_title(titles[c], fontsize=12)
        axes[r, 0].set_ylabel(row_name, fontsize=16, rotation=0, ha="right", va="center",
                              labelpad=12)
    fig.suptitle(title, fontsize=18)
    fig.tight_layout()
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


def plot_history(history, title: str = "Training curves", baseline=None,
                 baseline_label: str = "from scratch"):
    """Loss and accuracy per epoch, training and validation (rows of training.read_history or
    the history.csv table). Head-only epochs are shaded and the start of fine-tuning is marked
    when the run has both phases; `baseline`, another run's history, is drawn beside it in grey
    (validation only), for example the same epochs from scratch."""
    data = pd.DataFrame(history)
    other = None if baseline is None else pd.DataFrame(baseline)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            if prefix + metric in data:
                ax.plot(data["epoch"], data[prefix + metric], style,
                        label="validation" if prefix else "training")
        if other is not None and f"val_{metric}" in other:
            ax.plot(other["epoch"], other[f"val_{metric}"], ":^", color="0.45",
                    label=f"validation, {baseline_label}")
        phases = set(data.get("phase", ()))
        if "head" in phases:
            last_head = data.loc[data["phase"] == "head", "epoch"].max()
            ax.axvspan(data["epoch"].min() - 0.5, last_head + 0.5, color="grey", alpha=0.12,
                       label="head only (backbone frozen)")
            if "finetune" in phases:
                ax.axvline(last_head + 0.5, color="black", linewidth=1.2)
                ax.annotate("fine-tuning starts", (last_head + 0.5, 1.0), xytext=(4, -14),
                            xycoords=("data", "axes fraction"), textcoords="offset points",
                            fontsize=11)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric)
    # One legend for both panels, below them, where it covers no curve and no label.
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(4, len(names)), fontsize=11,
               frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.1 if len(names) <= 4 else 0.16, 1, 1))
    return fig


def plot_feature_maps(points: dict, labels, classes: list[str],
                      title: str = "Backbone features of the validation images, in 2-D"):
    """One scatter panel per entry of POINTS ({panel title: (n, 2) array}, for example a t-SNE
    projection of pooled backbone features), each point coloured by its class."""
    labels = np.asarray(labels)
    fig, axes = plt.subplots(1, len(points), figsize=(6.6 * len(points), 6), squeeze=False)
    colours = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for ax, (name, xy) in zip(axes[0], points.items()):
        for index, name_of_class in enumerate(classes):
            chosen = labels == index
            ax.scatter(xy[chosen, 0], xy[chosen, 1], s=14, color=colours(index % colours.N),
                       label=name_of_class)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
    axes[0, -1].legend(fontsize=10, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title)
    fig.tight_layout()
    return fig
