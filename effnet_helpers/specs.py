"""The workbook's models as plain data, importable without Keras or TensorFlow.

`models` (building and freezing), `hub` (TF-Hub backbones) and `architecture` (notebook 06's
tables) all read these; keeping them here means none of those modules imports another for a
constant, so their imports form no circle (docs/DESIGN.md, section "Module structure").
"""
from __future__ import annotations

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
