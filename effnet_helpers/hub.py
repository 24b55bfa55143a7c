"""TF-Hub backbones inside the workbook's Keras 3 models.

A TF-Hub handle (a tfhub.dev / Kaggle Models URL, or the local folder of a downloaded model)
resolves to a TF2 SavedModel. `build_hub_backbone` wraps it as the "backbone" of a classifier
(`models.build_model(..., hub_handle=...)`), like a keras.applications EfficientNet: it takes
0-255 images and carries its own preprocessing (rescaling to the range the handle expects, [0, 1]
for TF-Hub image models), so it can be frozen for the head phase and fine-tuned afterwards.

Why not `tensorflow_hub.KerasLayer` or `keras.layers.TFSMLayer`: docs/DESIGN.md, section
"Keras 3: TF-Hub models" (tests/test_hub.py's FINDING tests pin those limits down).
`HubBackbone` below follows the TF-Hub "reusable SavedModel" API instead: it calls the root object
(`obj(inputs, training=...)`), takes `obj.trainable_variables` as trainable and the rest of
`obj.variables` as non-trainable, and tracks them as Keras variables that share the loaded
tf.Variables, so the optimizer's updates reach the loaded function.

Importing this module imports Keras and TensorFlow. Import it before loading a saved `.keras`
model that contains a HubBackbone (it registers the class as "effnet>HubBackbone"); the reload
loads the SavedModel from the saved handle again (so the handle must still resolve), then
overwrites its weights with those of the `.keras` file.
"""
from __future__ import annotations

import os
import re

import keras
import tensorflow as tf

from . import storage
from .specs import BACKBONE_NAME

TFHUB_IMAGE_RANGE = (0.0, 1.0)

_DOWNLOAD_HINT = (
    "Download the model on a machine with internet access (on Kaggle Models, the successor of "
    "tfhub.dev: the TensorFlow 2 / SavedModel variation, or `tensorflow_hub.resolve(handle)`, "
    "which returns a folder), unpack it, and pass that folder (the one that holds "
    "saved_model.pb) as the handle instead of the URL.")


def _is_web_url(handle: str) -> bool:
    return re.match(r"^https?://", handle, flags=re.IGNORECASE) is not None


def _check_saved_model_dir(path: str) -> str:
    if not any(storage.exists(storage.join(path, name))
               for name in ("saved_model.pb", "saved_model.pbtxt")):
        raise FileNotFoundError(
            f"The folder {path!r} holds no saved_model.pb: it is not a TF2 SavedModel (a TF-Hub "
            "download unpacks to a folder with saved_model.pb and variables/).")
    return path


def resolve_handle(handle) -> str:
    """The SavedModel folder of a TF-Hub handle.

    A local folder (or a gs:// folder) is used as it is. An http(s) URL goes through
    `tensorflow_hub.resolve`, which downloads and caches the model (TFHUB_CACHE_DIR); offline, or
    without the tensorflow-hub package, the error says to download the model and pass its folder.
    """
    handle = os.fspath(handle)
    if _is_web_url(handle):
        try:
            import tensorflow_hub
        except ImportError:
            raise ImportError(
                f"Resolving the TF-Hub URL {handle!r} needs the tensorflow-hub package "
                "(in a notebook: `from effnet_helpers import runtime; "
                "runtime.pip_install(['tensorflow-hub'])`, which keeps this session's "
                f"TensorFlow). {_DOWNLOAD_HINT}") from None
        try:
            path = tensorflow_hub.resolve(handle)
        except Exception as error:  # URLError, HTTPError, OSError, ... from the resolver
            raise OSError(
                f"Could not download the TF-Hub model {handle!r} "
                f"({type(error).__name__}: {error}); is this machine offline? "
                f"{_DOWNLOAD_HINT}") from error
        return _check_saved_model_dir(path)
    if storage.isdir(handle):
        return _check_saved_model_dir(handle)
    if storage.exists(handle):
        raise FileNotFoundError(
            f"{handle!r} is a file, not a SavedModel folder; unpack it (a TF-Hub download is a "
            ".tar.gz archive) and pass the folder that holds saved_model.pb.")
    raise FileNotFoundError(
        f"No SavedModel folder at {handle!r} (and it is not an http(s) URL). {_DOWNLOAD_HINT}")


def _keras_name(tf_name: str, index: int) -> str:
    """A Keras variable name from a tf.Variable name: "block1a/conv/kernel:0" ->
    "block1a_conv_kernel" (Keras refuses "/", and optimizers build their slot names from it, so
    ":" fails as well)."""
    name = re.sub(r":\d+$", "", tf_name or "")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("_.-")
    return name or f"variable_{index}"


def _share(variable, index: int, trainable: bool):
    """A keras.Variable whose value IS `variable` (the loaded tf.Variable), not a copy, so that
    training updates the variables the loaded function reads. How Keras 3 makes that so, and why
    the identity is checked: docs/DESIGN.md, section "Keras 3: TF-Hub models"."""
    shared = keras.Variable(initializer=variable, shape=tuple(variable.shape),
                            dtype=variable.dtype.name, trainable=trainable,
                            name=_keras_name(variable.name, index))
    if getattr(shared, "_value", None) is not variable:
        shared._value = variable  # the loaded tf.Variable; the copy Keras made is dropped
    return shared


def _signature_functions(fn) -> list:
    """The concrete functions behind a restored tf.function or signature."""
    return list(getattr(fn, "concrete_functions", None) or [fn])


def _module_variables(obj, fn) -> tuple[list, list]:
    """(trainable, non_trainable) tf.Variables of a loaded SavedModel.

    TF-Hub's reusable SavedModel API: `obj.trainable_variables` train, the rest of
    `obj.variables` do not (tf_keras' save_format="tf" and Keras 3's export write both lists).
    Variables the call function captures but the lists miss are added as non-trainable; for a
    SavedModel without the lists (a saved plain tf.Module), the captured variables are all there
    is, each trainable as its own `trainable` flag says.
    """
    seen, trainable, frozen = set(), [], []

    def add(variable, is_trainable):
        if id(variable) in seen:
            return
        seen.add(id(variable))
        (trainable if is_trainable else frozen).append(variable)

    listed = getattr(obj, "trainable_variables", None)
    for variable in list(listed or []):
        add(variable, True)
    for variable in list(getattr(obj, "variables", None) or []):
        add(variable, False if listed is not None else variable.trainable)
    for concrete in _signature_functions(fn):
        for variable in list(getattr(concrete, "variables", None) or []):
            add(variable, False if listed is not None else variable.trainable)
    return trainable, frozen


def _accepts_training(fn) -> bool:
    """Whether a restored `__call__` takes a `training` argument (tensorflow_hub's test)."""
    import inspect
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "training" in parameters


@keras.saving.register_keras_serializable(package="effnet")
class HubBackbone(keras.layers.Layer):
    """A TF2 SavedModel (a TF-Hub handle) as a Keras 3 layer, trainable.

    Loads `resolve_handle(handle)` with `tf.saved_model.load` and calls its root object,
    `obj(inputs, training=...)` (TF-Hub's reusable SavedModel API, what tf_keras'
    `save_format="tf"` writes), or, when the root is not callable (a Keras 3 `export()`), the
    `signature` (default "serving_default"); a `signature` given explicitly is looked up as
    an attribute of the root ("serve") or in its signatures. A dict result gives
    `output_key`, or its only entry.

    Variables: the module's `trainable_variables` are trainable, its other variables not;
    they are Keras variables that share the loaded tf.Variables (see `_share`), so
    `layer.trainable = False` freezes them, the optimizer updates exactly what the loaded
    function reads, and `.keras` files save and restore them. Names lose ":0" and "/"
    ("stem_conv/kernel:0" -> "stem_conv_kernel"), which Adam's slot variables need.

    `training` is passed to the SavedModel only while the layer is trainable, as in
    tensorflow_hub.KerasLayer: a frozen layer runs batch norm in inference mode; a trainable
    one called with training=True runs batch norm in training mode (batch statistics, moving
    averages updated), as TF-Hub fine-tuning does; the SavedModel cannot freeze its batch norm
    separately. A signature has no `training` argument: it always runs in inference mode,
    trainable or not, but its variables still train.

    Not carried over: the module's `regularization_losses` (TF-Hub EfficientNets hold weight
    decay terms there); fine-tuning here trains without them.

    Mixed precision: the layer computes in float32 by default (`dtype="float32"`), the dtype
    of the SavedModel's functions, whatever the global policy.

    Under a `tf.distribute` strategy, create the layer (build the model) inside
    `strategy.scope()`: the SavedModel's variables are then created as distributed variables
    and shared as they are.
    """

    def __init__(self, handle, signature=None, output_key=None, trainable=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(trainable=trainable, **kwargs)
        self.handle = os.fspath(handle)
        self.signature = signature
        self.output_key = output_key
        self.saved_model_path = resolve_handle(self.handle)
        self._loaded = tf.saved_model.load(self.saved_model_path)
        self._fn = self._call_function(self._loaded, signature)
        self._takes_training = _accepts_training(self._fn)
        trainable_vars, frozen_vars = _module_variables(self._loaded, self._fn)
        for index, variable in enumerate(trainable_vars + frozen_vars):
            self._track_variable(_share(variable, index, index < len(trainable_vars)))
        self.built = True

    def _call_function(self, loaded, signature):
        if signature is None and callable(loaded):
            return loaded.__call__
        name = signature or "serving_default"
        if signature and callable(getattr(loaded, signature, None)):
            return getattr(loaded, signature)
        if name in loaded.signatures:
            return loaded.signatures[name]
        raise ValueError(
            f"The SavedModel of {self.handle!r} has no endpoint {name!r}"
            + ("" if signature else " and its root is not callable")
            + f"; its signatures: {sorted(loaded.signatures)}. Pass signature=...")

    def module_variables(self) -> list:
        """The loaded SavedModel's own tf.Variables (trainable ones first), which the Keras
        variables of this layer share."""
        trainable_vars, frozen_vars = _module_variables(self._loaded, self._fn)
        return trainable_vars + frozen_vars

    def build(self, input_shape):
        pass  # the variables come with the SavedModel

    def call(self, inputs, training=None):
        if not self._takes_training:
            outputs = self._fn(inputs)
        elif not self.trainable or training is None or training is False:
            outputs = self._fn(inputs, training=False)
        elif training is True:
            outputs = self._fn(inputs, training=True)
        else:  # a boolean tensor
            outputs = tf.cond(tf.cast(training, tf.bool),
                              lambda: self._fn(inputs, training=True),
                              lambda: self._fn(inputs, training=False))
        return self._pick_output(outputs)

    def _pick_output(self, outputs):
        if not isinstance(outputs, dict):
            if self.output_key is not None:
                raise ValueError(f"output_key={self.output_key!r} given, but "
                                 f"{self.handle!r} does not return a dict.")
            return outputs
        if self.output_key is not None:
            if self.output_key not in outputs:
                raise ValueError(f"{self.handle!r} has no output {self.output_key!r}; its "
                                 f"outputs: {sorted(outputs)}.")
            return outputs[self.output_key]
        if len(outputs) != 1:
            raise ValueError(f"{self.handle!r} returns several outputs, {sorted(outputs)}: "
                             "choose one with output_key=...")
        return next(iter(outputs.values()))

    def get_config(self):
        config = super().get_config()
        config.update(handle=self.handle, signature=self.signature,
                      output_key=self.output_key)
        return config


def build_hub_backbone(handle, image_size: int = 224, input_range=TFHUB_IMAGE_RANGE,
                       signature=None, output_key=None, trainable: bool = False):
    """A keras.Model named "backbone" for `models.build_classifier`: 0-255 images
    [B, image_size, image_size, 3] -> rescaled to `input_range` (TF-Hub image models take [0, 1];
    (-1, 1) for models that want that) -> the SavedModel -> its output, a feature vector [B, D]
    for TF-Hub "feature-vector" handles. Frozen by default, for the head phase."""
    low, high = (float(v) for v in input_range)
    inputs = keras.Input((image_size, image_size, 3), name="backbone_image")
    scaled = keras.layers.Rescaling((high - low) / 255.0, offset=low, dtype="float32",
                                    name="hub_rescaling")(inputs)
    layer = HubBackbone(handle, signature=signature, output_key=output_key, trainable=True,
                        name="hub_model")
    backbone = keras.Model(inputs, layer(scaled), name=BACKBONE_NAME)
    # Frozen at the model level, not only the layer's: Keras (TF backend) skips
    # `model.trainable = True` when the model is already trainable (`self.x = self.x` is
    # short-circuited), which would leave a layer frozen on its own frozen.
    backbone.trainable = trainable
    return backbone
