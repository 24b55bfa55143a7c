"""Stage 3, the model: an EfficientNet backbone (keras.applications or a TF-Hub handle) with a new
classification head, freezing and unfreezing for the transfer schedule, and warm starts.

Every model takes raw 0-255 RGB images and carries its own preprocessing, so evaluation and
inference cannot disagree with training.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import storage

BACKBONE_NAME = "backbone"
HEAD_NAMES = ("head_pool", "head_dropout", "head_predictions")
SCRATCH_BN_MOMENTUM = 0.9  # batch norm momentum when training from scratch (Keras default 0.99)


@dataclass(frozen=True)
class ModelSpec:
    """A keras.applications constructor and the defaults of its paper or reference code."""

    constructor: str
    image_size: int
    dropout: float


MODELS = {
    # EfficientNet B0-B7: resolution and dropout from the paper's table (REFERENCE.md section 3).
    "B0": ModelSpec("EfficientNetB0", 224, 0.2), "B1": ModelSpec("EfficientNetB1", 240, 0.2),
    "B2": ModelSpec("EfficientNetB2", 260, 0.3), "B3": ModelSpec("EfficientNetB3", 300, 0.3),
    "B4": ModelSpec("EfficientNetB4", 380, 0.4), "B5": ModelSpec("EfficientNetB5", 456, 0.4),
    "B6": ModelSpec("EfficientNetB6", 528, 0.5), "B7": ModelSpec("EfficientNetB7", 600, 0.5),
    # EfficientNetV2: sizes of keras.applications, dropout of the official configs.
    "V2B0": ModelSpec("EfficientNetV2B0", 224, 0.2), "V2B1": ModelSpec("EfficientNetV2B1", 240, 0.2),
    "V2B2": ModelSpec("EfficientNetV2B2", 260, 0.3), "V2B3": ModelSpec("EfficientNetV2B3", 300, 0.3),
    "V2S": ModelSpec("EfficientNetV2S", 384, 0.2),
}


def model_spec(name: str) -> ModelSpec:
    """The spec of a model name: "B0".."B7", "V2B0".."V2B3", "V2S" (also "efficientnetb0" etc.)."""
    key = re.sub(r"^efficient_?net[-_]?", "", name.strip(), flags=re.IGNORECASE).upper()
    key = key.replace("-", "").replace("_", "")
    if key not in MODELS:
        raise ValueError(f"Unknown model {name!r}: choose one of {', '.join(MODELS)}.")
    return MODELS[key]


def canonical_name(name: str) -> str:
    spec = model_spec(name)
    return next(k for k, v in MODELS.items() if v is spec)


def build_backbone(name: str, image_size: int | None = None, weights="imagenet"):
    """The convolutional part of an EfficientNet, without its ImageNet classifier, taking 0-255
    images. `weights`: "imagenet" (downloaded by Keras), None (random), or a local weights file."""
    import keras
    spec = model_spec(name)
    size = image_size or spec.image_size
    local = weights not in (None, "imagenet")
    if local and not storage.exists(weights):
        raise FileNotFoundError(f"No weights file at {weights!r}.")
    backbone = getattr(keras.applications, spec.constructor)(
        include_top=False, weights=None if local else weights, input_shape=(size, size, 3))
    if local:
        backbone.load_weights(weights, skip_mismatch=False)
    if weights is None:
        # From scratch, batch norm's moving averages (momentum 0.99: about 100 steps of memory)
        # lag far behind weights that change fast, and validation stays at chance for epochs
        # while training accuracy climbs. A shorter memory lets them keep up.
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = SCRATCH_BN_MOMENTUM
    return keras.Model(backbone.input, backbone.output, name=BACKBONE_NAME)


def build_classifier(backbone, num_classes: int, dropout: float, image_size: int):
    """Backbone + new head: global average pooling, dropout, dense softmax (float32 output, also
    under mixed precision)."""
    import keras
    inputs = keras.Input((image_size, image_size, 3), name="image")
    features = backbone(inputs)
    if len(features.shape) == 4:
        features = keras.layers.GlobalAveragePooling2D(name=HEAD_NAMES[0])(features)
    features = keras.layers.Dropout(dropout, name=HEAD_NAMES[1])(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 name=HEAD_NAMES[2])(features)
    return keras.Model(inputs, outputs, name="classifier")


def build_model(name: str, num_classes: int, image_size: int | None = None, weights="imagenet",
                dropout: float | None = None):
    """An EfficientNet classifier for `num_classes` classes, ready to train."""
    spec = model_spec(name)
    size = image_size or spec.image_size
    backbone = build_backbone(name, size, weights)
    return build_classifier(backbone, num_classes, spec.dropout if dropout is None else dropout,
                            size)


def backbone_of(model):
    return model.get_layer(BACKBONE_NAME)


def _block_number(layer_name: str) -> int | None:
    match = re.match(r"block(\d+)[a-z]", layer_name)
    return int(match.group(1)) if match else None


def set_trainable(model, phase: str, unfreeze_from: int = 1) -> None:
    """Freeze for a phase of the transfer schedule.

    "head": the whole backbone frozen; only the head trains.
    "full": everything trains, batch norm and stem included (the schedule 0,F: from scratch, or
    all layers from the start).
    "finetune": blocks from `unfreeze_from` on and the top convolution train (the seed system's
    schedule: the stem is not trained; `unfreeze_from=0` trains the stem too). Batch-norm layers
    always stay frozen, which in Keras also keeps them in inference mode (their moving averages,
    learned on ImageNet, are not disturbed by small batches).
    """
    import keras
    backbone = backbone_of(model)
    if phase in ("head", "full"):
        backbone.trainable = phase == "full"
        return
    if phase != "finetune":
        raise ValueError(f"phase must be 'head', 'finetune' or 'full', not {phase!r}")
    backbone.trainable = True
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            continue
        block = _block_number(layer.name)
        if block is not None:
            layer.trainable = block >= unfreeze_from
        elif layer.name.startswith("top_"):
            layer.trainable = True
        elif layer.name.startswith("stem_"):
            layer.trainable = unfreeze_from == 0
        elif _is_hub_layer(layer):  # a TF-Hub SavedModel is one layer: train all of it
            layer.trainable = True
        else:  # rescaling and normalization layers have no weights to train
            layer.trainable = False


def _is_hub_layer(layer) -> bool:
    return type(layer).__name__ == "HubBackbone"


def load_model(path):
    """Load a model of this workbook (.keras), TF-Hub backbones included."""
    import keras

    from . import hub  # noqa: F401  (registers HubBackbone for deserialisation)
    return keras.saving.load_model(path)


def warm_start(model, source) -> int:
    """Copy the backbone weights of SOURCE (a model of this workbook, or the path of its .keras
    file) into MODEL, layer by layer; the head is left as built (new classes, new head).
    Returns the number of weight tensors copied; refuses backbones that do not match."""
    if not hasattr(source, "layers"):
        source = load_model(source)
    target, origin = backbone_of(model), backbone_of(source)
    mine = [layer for layer in target.layers if layer.weights]
    theirs = [layer for layer in origin.layers if layer.weights]
    if len(mine) != len(theirs):
        raise ValueError(f"Warm start: the source backbone has {len(theirs)} layers with weights, "
                         f"this one {len(mine)}; is it the same model size?")
    copied = 0
    for layer, other in zip(mine, theirs):  # in order: auto-named layers get other suffixes
        same_name = _base_name(layer.name) == _base_name(other.name)
        shapes, other_shapes = [w.shape for w in layer.weights], [w.shape for w in other.weights]
        if not same_name or shapes != other_shapes:
            raise ValueError(f"Warm start: layer {layer.name!r} does not match the source's "
                             f"{other.name!r} ({shapes} vs {other_shapes}); is it the same model "
                             "size?")
        layer.set_weights(other.get_weights())
        copied += len(shapes)
    return copied


def _base_name(name: str) -> str:
    """A layer name without the _N suffix Keras adds to repeated automatic names."""
    return re.sub(r"_\d+$", "", name)
