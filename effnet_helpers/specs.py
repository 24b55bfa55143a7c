"""The workbook's models as plain data, importable without Keras or TensorFlow: the backbone's
layer name, the EfficientNet paper's table, and every model name the workbook builds with its
input size and head dropout (`MODELS`, `model_spec`).

`models` (building and freezing), `hub` (TF-Hub backbones), `pretrained` (Lite0's weights) and
`architecture` (notebook 06's tables) all read these; keeping them here means none of those
modules imports another for a constant, so their imports form no circle (docs/DESIGN.md, section "Module structure").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

BACKBONE_NAME = "backbone"  # the layer name of every classifier's backbone (keras or TF-Hub)


class PaperRow(NamedTuple):
    """One model of the EfficientNet paper's Table 2, with the reference code's coefficients."""

    width: float        # channel multiplier
    depth: float        # block-count multiplier
    resolution: int     # input size in pixels
    dropout: float      # dropout before the classifier
    params_M: float     # parameters, millions
    FLOPs_B: float      # multiply-adds, billions
    top1: float         # ImageNet top-1 accuracy, % (as keras.applications publishes it too)


# EfficientNet B0-B7: Tan & Le (ICML 2019), Table 2, and the coefficients of tensorflow/tpu's
# efficientnet_builder.py (docs/DESIGN.md, section "EfficientNet B0-B7").
EFFICIENTNET = {
    "B0": PaperRow(1.0, 1.0, 224, 0.2, 5.3, 0.39, 77.1),
    "B1": PaperRow(1.0, 1.1, 240, 0.2, 7.8, 0.70, 79.1),
    "B2": PaperRow(1.1, 1.2, 260, 0.3, 9.2, 1.0, 80.1),
    "B3": PaperRow(1.2, 1.4, 300, 0.3, 12, 1.8, 81.6),
    "B4": PaperRow(1.4, 1.8, 380, 0.4, 19, 4.2, 82.9),
    "B5": PaperRow(1.6, 2.2, 456, 0.4, 30, 9.9, 83.6),
    "B6": PaperRow(1.8, 2.6, 528, 0.5, 43, 19, 84.0),
    "B7": PaperRow(2.0, 3.1, 600, 0.5, 66, 37, 84.3),
}


@dataclass(frozen=True)
class ModelSpec:
    """A model's constructor and the defaults of its paper or reference code: a
    keras.applications name, or LITE for EfficientNet-Lite (`architecture.efficientnet_lite`,
    with its width and depth coefficients)."""

    constructor: str
    image_size: int
    dropout: float
    width: float = 1.0
    depth: float = 1.0


LITE = "EfficientNetLite"


MODELS = {
    # EfficientNet B0-B7: resolution and dropout of the paper's Table 2 (specs.EFFICIENTNET).
    **{name: ModelSpec(f"EfficientNet{name}", row.resolution, row.dropout)
       for name, row in EFFICIENTNET.items()},
    # EfficientNetV2: sizes of keras.applications, dropout of the official configs.
    "V2B0": ModelSpec("EfficientNetV2B0", 224, 0.2), "V2B1": ModelSpec("EfficientNetV2B1", 240, 0.2),
    "V2B2": ModelSpec("EfficientNetV2B2", 260, 0.3), "V2B3": ModelSpec("EfficientNetV2B3", 300, 0.3),
    "V2S": ModelSpec("EfficientNetV2S", 384, 0.2),
    # EfficientNet-Lite: (width, depth, resolution, dropout) of the tensorflow/tpu lite builder.
    "lite0": ModelSpec(LITE, 224, 0.2, 1.0, 1.0), "lite1": ModelSpec(LITE, 240, 0.2, 1.0, 1.1),
    "lite2": ModelSpec(LITE, 260, 0.3, 1.1, 1.2), "lite3": ModelSpec(LITE, 280, 0.3, 1.2, 1.4),
    "lite4": ModelSpec(LITE, 300, 0.3, 1.4, 1.8),
}
_KEYS = {key.upper(): key for key in MODELS}


def model_spec(name: str) -> ModelSpec:
    """The spec of a model name: "B0".."B7", "V2B0".."V2B3", "V2S", "lite0".."lite4" (also
    "efficientnetb0", "efficientnet-lite0" etc.)."""
    return MODELS[_key(name)]


def _key(name: str) -> str:
    key = re.sub(r"^efficient_?net[-_]?", "", str(name).strip(), flags=re.IGNORECASE).upper()
    key = key.replace("-", "").replace("_", "")
    if key not in _KEYS:
        raise ValueError(f"Unknown model {name!r}: choose one of {', '.join(MODELS)}.")
    return _KEYS[key]


def is_lite(name: str) -> bool:
    return model_spec(name).constructor == LITE


def canonical_name(name: str) -> str:
    """The MODELS key of a model name: "efficientnet-lite0" -> "lite0", "b0" -> "B0"."""
    return _key(name)
