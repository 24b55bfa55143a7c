"""Stage 3, the model: an EfficientNet backbone (keras.applications or a TF-Hub handle) with a new
classification head, freezing and unfreezing for the transfer schedule, and warm starts.

Every model takes raw 0-255 RGB images and carries its own preprocessing, so evaluation and
inference cannot disagree with training.
"""
from __future__ import annotations

import re

from . import storage
from .backend import tensorflow
from .specs import (BACKBONE_NAME, LITE, MODELS, ModelSpec, canonical_name,  # noqa: F401
                    is_lite, model_spec)

HEAD_NAMES = ("head_pool", "head_dropout", "head_predictions")
SCRATCH_BN_MOMENTUM = 0.9  # batch norm momentum when training from scratch (Keras default 0.99)
HUB_DROPOUT = 0.2  # head dropout on a TF-Hub backbone: B0's (the TF-Hub EfficientNet most used)


def build_backbone(name: str, image_size: int | None = None, weights="imagenet"):
    """The convolutional part of an EfficientNet, without its ImageNet classifier, taking 0-255
    images. `weights`: "imagenet" (downloaded by Keras; for Lite0 the packaged weights, offline),
    None (random), or a local weights file."""
    import keras
    spec = model_spec(name)
    size = image_size or spec.image_size
    local = weights not in (None, "imagenet")
    if local and not storage.exists(weights):
        raise FileNotFoundError(f"No weights file at {weights!r}.")
    if spec.constructor == LITE:
        from . import architecture, pretrained
        if weights == "imagenet":
            backbone = pretrained.lite_imagenet(name, size)
        else:
            backbone = architecture.efficientnet_lite(spec.width, spec.depth, size, spec.dropout,
                                                      include_top=False)
    else:
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
                dropout: float | None = None, hub_handle=None):
    """An EfficientNet classifier for `num_classes` classes, ready to train.

    `dropout`: None gives the model's default (HUB_DROPOUT on a TF-Hub backbone); 0.0 is no
    dropout. `hub_handle`: a TF-Hub handle or SavedModel folder (`hub.build_hub_backbone`) as
    the backbone instead of NAME's keras one; its weights come with it (`weights` is unused)."""
    size = image_size or model_spec(name).image_size
    if hub_handle:
        from . import hub
        backbone, default_dropout = hub.build_hub_backbone(hub_handle, size), HUB_DROPOUT
    else:
        backbone, default_dropout = build_backbone(name, size, weights), model_spec(name).dropout
    return build_classifier(backbone, num_classes,
                            default_dropout if dropout is None else dropout, size)


def backbone_of(model):
    return model.get_layer(BACKBONE_NAME)


def block_number(layer_name: str) -> int | None:
    """The block a layer of an EfficientNet backbone belongs to ("block4b_dwconv" -> 4), or None
    for the stem, the top and the input layers."""
    match = re.match(r"block(\d+)[a-z]", layer_name)
    return int(match.group(1)) if match else None


def set_trainable(model, phase: str, unfreeze_from: int = 1) -> None:
    """Freeze for a phase of the transfer schedule.

    "head": the whole backbone frozen; only the head trains.
    "full": everything trains, batch norm and stem included (the schedule 0,F: from scratch, or
    all layers from the start).
    "finetune": blocks from `unfreeze_from` on and the top convolution train (the original system's
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
        block = block_number(layer.name)
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
    """Whether LAYER is a TF-Hub SavedModel layer (`hub.HubBackbone`, or a subclass)."""
    from .hub import HubBackbone  # hub imports TensorFlow; a built model has it loaded already
    return isinstance(layer, HubBackbone)


def load_model(path, float32: bool = False):
    """Load a model of this workbook (.keras), TF-Hub backbones included.

    float32=True: a model trained under a mixed-precision policy (float16 on GPUs, bfloat16 on
    TPUs) keeps that policy in every layer of its file, so reloaded as it is it still computes in
    half precision: slowly on a CPU, and the TFLite converter rejects it. It is rebuilt from its
    own config with every layer in float32, and its weights (kept in float32 under mixed
    precision) are loaded into it; the optimizer state is left out. A float32 model loads as is.
    """
    import keras

    from . import architecture, hub  # noqa: F401  (register HubBackbone, StochasticDepth)
    if not float32:
        return keras.saving.load_model(path)
    import io
    import json
    import os
    import tempfile
    import zipfile
    with zipfile.ZipFile(io.BytesIO(storage.read_bytes(path))) as archive:
        config = json.loads(archive.read("config.json"))
        rewritten = float32_config(config)
        if rewritten == config:
            return keras.saving.load_model(path)
        rewritten.pop("compile_config", None)  # no optimizer: evaluation and export need none
        with tempfile.TemporaryDirectory() as folder:
            local = os.path.join(folder, "float32.keras")
            with zipfile.ZipFile(local, "w", zipfile.ZIP_DEFLATED) as out:
                for info in archive.infolist():
                    data = (json.dumps(rewritten).encode("utf-8")
                            if info.filename == "config.json" else archive.read(info.filename))
                    out.writestr(info, data)
            previous = keras.mixed_precision.global_policy()
            keras.mixed_precision.set_global_policy("float32")
            try:
                return keras.saving.load_model(local, compile=False)
            finally:
                keras.mixed_precision.set_global_policy(previous)


def predict_rows(model, images, batch_size: int):
    """MODEL's outputs for exactly these images, one row each (float32 numpy), also under a
    strategy with several replicas (the model built in its scope, or called inside it): there
    `predict_on_batch` runs the whole batch on every replica and returns N times the rows, while
    `predict` splits it between them. The batch is padded to BATCH_SIZE, so every call has one
    shape (TPUs compile for one shape)."""
    import numpy as np
    tf = tensorflow()
    count = int(images.shape[0])
    if count < batch_size:
        images = tf.concat([images, tf.zeros([batch_size - count, *images.shape[1:]],
                                             images.dtype)], axis=0)
    if model.distribute_strategy.num_replicas_in_sync > 1:
        out = model.predict(images, batch_size=batch_size, verbose=0)
    else:  # the same rows, without predict's per-call set-up (about 0.1 s)
        out = model.predict_on_batch(images)
    return np.asarray(out, dtype=np.float32)[:count]


def float32_config(config):
    """A copy of a Keras model config (as in a .keras file's config.json) with every
    mixed-precision dtype policy ("mixed_float16", "mixed_bfloat16") replaced by "float32"."""
    if isinstance(config, list):
        return [float32_config(item) for item in config]
    if not isinstance(config, dict):
        return config
    if config.get("class_name") == "DTypePolicy" and \
            str(config.get("config", {}).get("name", "")).startswith("mixed_"):
        return {**config, "config": {**config["config"], "name": "float32"}}
    return {key: ("float32" if key == "dtype" and isinstance(value, str)
                  and value.startswith("mixed_") else float32_config(value))
            for key, value in config.items()}


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
