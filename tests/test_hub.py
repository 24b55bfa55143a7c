"""TF-Hub backbones (effnet_helpers.hub), offline.

TF-Hub URLs cannot be fetched here, so each test makes its stand-in "hub model" in tmp_path:

* "tf_keras": a small CNN with batch norm saved by tf_keras with save_format="tf", the format of
  the Keras-2-era models that TF-Hub publishes (root callable as `obj(inputs, training=...)`,
  `variables` / `trainable_variables` lists);
* "tf_module": a plain tf.Module with a tf.function `__call__` and no variable lists;
* "keras_export": a Keras 3 `model.export()` artifact (root not callable; `serving_default`).

Each must build into a classifier, stay frozen in the head phase, fine-tune with Adam so that
the loaded function's output changes, and round-trip through a .keras file. The "FINDING" tests
at the end pin down what keras.layers.TFSMLayer and tensorflow_hub.KerasLayer do today (Keras
3.15); if one fails after an upgrade, Keras changed: update docs/DESIGN.md (section "Keras 3:
TF-Hub models") and this module.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from effnet_helpers import hub, models, specs, training  # noqa: E402

SIZE = 32
KINDS = ("tf_keras", "tf_module", "keras_export")


# --- stand-in hub models ----------------------------------------------------------------------

def save_tf_keras(path: Path) -> Path:
    tf_keras = pytest.importorskip("tf_keras")
    tf_keras.utils.set_random_seed(1)
    inputs = tf_keras.Input((None, None, 3))
    x = tf_keras.layers.Conv2D(8, 3, padding="same", name="stem_conv")(inputs)
    x = tf_keras.layers.BatchNormalization(name="stem_bn")(x)
    x = tf_keras.layers.ReLU(name="stem_relu")(x)
    x = tf_keras.layers.Conv2D(12, 3, strides=2, padding="same", name="top_conv")(x)
    x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    tf_keras.Model(inputs, x).save(str(path), save_format="tf")
    return path


class _PlainModule(tf.Module):
    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(tf.random.stateless_normal([3, 8], seed=[1, 2]), name="kernel")
        self.bias = tf.Variable(tf.zeros([8]), name="bias")
        self.scale = tf.Variable(1.0, trainable=False, name="scale")

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def __call__(self, images):
        features = tf.nn.relu(tf.tensordot(images, self.kernel, 1) + self.bias)
        return tf.reduce_mean(features, axis=[1, 2]) * self.scale


def save_tf_module(path: Path) -> Path:
    tf.saved_model.save(_PlainModule(), str(path))
    return path


def save_keras_export(path: Path) -> Path:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    keras.Model(inputs, x).export(str(path), verbose=False)
    return path


SAVERS = {"tf_keras": save_tf_keras, "tf_module": save_tf_module,
          "keras_export": save_keras_export}


@pytest.fixture(scope="session")
def hub_models(tmp_path_factory):
    """{kind: folder}, each made once for the session, on first use."""
    root = tmp_path_factory.mktemp("hub_models")
    made = {}

    def get(kind: str) -> str:
        if kind not in made:
            made[kind] = str(SAVERS[kind](root / kind))
        return made[kind]
    return get


@pytest.fixture(params=KINDS)
def handle(request, hub_models):
    return hub_models(request.param)


# --- a tiny learnable task ----------------------------------------------------------------------

def task(n: int = 64, seed: int = 0):
    """Bright images (class 1) against dark ones (class 0), 0-255 float32."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    low = np.where(labels[:, None, None, None] == 1, 110, 0)
    images = (low + rng.integers(0, 146, (n, SIZE, SIZE, 3))).astype("float32")
    return images, labels.astype("int32")


def classifier(handle, trainable=False):
    keras.utils.set_random_seed(0)
    backbone = hub.build_hub_backbone(handle, image_size=SIZE, trainable=trainable)
    return models.build_classifier(backbone, num_classes=2, dropout=0.0, image_size=SIZE)


def compile_adam(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")  # the default Adam


def features(model, images):
    return np.array(models.backbone_of(model)(images, training=False))


def hub_layer(model):
    return models.backbone_of(model).get_layer("hub_model")


def weights(layer):
    return [np.array(w) for w in layer.weights]


# --- building ---------------------------------------------------------------------------------

def test_backbone_builds_into_classifier(handle):
    model = classifier(handle)
    images, _ = task(4)
    backbone = models.backbone_of(model)
    assert backbone.name == models.BACKBONE_NAME == specs.BACKBONE_NAME
    out = backbone(images)
    assert len(out.shape) == 2 and out.shape[0] == 4
    assert model(images).shape == (4, 2)
    layer = hub_layer(model)
    assert layer.weights and all(":" not in w.name and "/" not in w.name for w in layer.weights)
    assert not backbone.trainable_weights  # frozen by default


def test_training_builds_the_hub_classifier_with_the_dropout_asked(hub_models):
    """TrainConfig(hub_handle=...) builds through models.build_model; dropout 0.0 means none
    (it once became 0.2), None the default."""
    handle = hub_models("tf_module")
    for asked, rate in [(0.0, 0.0), (0.5, 0.5), (None, models.HUB_DROPOUT)]:
        config = training.TrainConfig(hub_handle=handle, image_size=SIZE, dropout=asked)
        model = training._new_model(config, num_classes=3)
        assert isinstance(hub_layer(model), hub.HubBackbone)
        assert model.get_layer(models.HEAD_NAMES[1]).rate == rate, asked
        assert model.output_shape == (None, 3)


def test_finetune_trains_the_whole_hub_layer(hub_models):
    model = classifier(hub_models("tf_keras"))
    models.set_trainable(model, "finetune")
    assert hub_layer(model).trainable and hub_layer(model).trainable_weights


def test_backbone_rescales_to_input_range(hub_models, tmp_path):
    """The SavedModel sees the images in input_range; checked on a module that returns its input
    statistics."""
    class Stats(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, images):
            return tf.stack([tf.reduce_min(images, axis=[1, 2, 3]),
                             tf.reduce_max(images, axis=[1, 2, 3])], axis=-1)
    tf.saved_model.save(Stats(), str(tmp_path / "stats"))
    images = np.stack([np.zeros((SIZE, SIZE, 3)), np.full((SIZE, SIZE, 3), 255.0)])
    images = images.astype("float32")
    images[0, 0, 0, 0] = 255.0
    for input_range in [(0.0, 1.0), (-1.0, 1.0)]:
        backbone = hub.build_hub_backbone(tmp_path / "stats", SIZE, input_range)
        low, high = input_range
        np.testing.assert_allclose(np.array(backbone(images)), [[low, high], [high, high]],
                                   atol=1e-6)


def test_keras_variables_share_the_loaded_variables(handle):
    """The Keras variables are the loaded tf.Variables, not copies: assigning one through Keras
    changes what the loaded function computes."""
    model = classifier(handle)
    layer = hub_layer(model)
    loaded = layer.module_variables()
    assert len(loaded) == len(layer.weights)
    assert all(w._value is v for w, v in zip(layer.weights, loaded))
    images, _ = task(4)
    before = features(model, images)
    for w in layer.trainable_weights or layer.weights:
        w.assign(np.array(w) * 0.5 + 0.1)
    assert not np.allclose(before, features(model, images))


def test_trainable_split_follows_the_module(hub_models):
    layer = hub_layer(classifier(hub_models("tf_keras"), trainable=True))
    names = {w.name: w.trainable for w in layer.weights}
    assert names == {"stem_conv_kernel": True, "stem_conv_bias": True, "stem_bn_gamma": True,
                     "stem_bn_beta": True, "stem_bn_moving_mean": False,
                     "stem_bn_moving_variance": False, "top_conv_kernel": True,
                     "top_conv_bias": True}
    layer = hub_layer(classifier(hub_models("tf_module"), trainable=True))
    assert {w.name: w.trainable for w in layer.weights} == {
        "kernel": True, "bias": True, "scale": False}


# --- the transfer schedule ------------------------------------------------------------------

def test_head_phase_leaves_backbone_unchanged(handle):
    model = classifier(handle, trainable=True)
    models.set_trainable(model, "head")
    assert not models.backbone_of(model).trainable_weights
    images, labels = task()
    probe = images[:8]
    before_features, before_backbone = features(model, probe), weights(hub_layer(model))
    before_head = np.array(model.get_layer(models.HEAD_NAMES[2]).kernel)
    compile_adam(model)
    model.fit(images, labels, batch_size=16, epochs=2, verbose=0)
    np.testing.assert_array_equal(before_features, features(model, probe))
    for old, new in zip(before_backbone, weights(hub_layer(model))):
        np.testing.assert_array_equal(old, new)  # batch-norm statistics included
    assert not np.allclose(before_head, np.array(model.get_layer(models.HEAD_NAMES[2]).kernel))


def test_finetune_with_adam_updates_the_loaded_function(handle):
    """With the backbone trainable and the default Adam, fit runs, the loss goes down, and the
    backbone's output for a fixed input changes: the updates reach the loaded SavedModel."""
    model = classifier(handle)
    models.backbone_of(model).trainable = True
    assert models.backbone_of(model).trainable_weights
    images, labels = task()
    probe = images[:8]
    before = features(model, probe)
    loaded_before = [np.array(v) for v in hub_layer(model).module_variables()]
    compile_adam(model)
    history = model.fit(images, labels, batch_size=16, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    assert not np.allclose(before, features(model, probe), atol=1e-6)
    changed = [not np.array_equal(old, np.array(v))
               for old, v in zip(loaded_before, hub_layer(model).module_variables())]
    assert any(changed)


def test_keras_file_round_trip(handle, tmp_path):
    model = classifier(handle)
    images, labels = task()
    models.set_trainable(model, "head")
    compile_adam(model)
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    models.backbone_of(model).trainable = True
    compile_adam(model)
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    # The weights come from the .keras file, not from the (untouched) SavedModel on disk.
    np.testing.assert_allclose(model.predict(images, verbose=0),
                               reloaded.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    assert hub_layer(reloaded).trainable
    assert hub_layer(reloaded).get_config()["handle"] == handle


def test_training_flag_reaches_batch_norm_only_when_trainable(hub_models):
    """tf_keras' __call__ gets training=True only while the layer is trainable (batch norm in
    training mode uses batch statistics; frozen, it uses its moving averages)."""
    model = classifier(hub_models("tf_keras"))
    backbone = models.backbone_of(model)
    images, _ = task(8)
    frozen_train = np.array(backbone(images, training=True))
    np.testing.assert_allclose(frozen_train, np.array(backbone(images, training=False)))
    backbone.trainable = True
    trained = np.array(backbone(images, training=True))
    assert not np.allclose(trained, frozen_train)
    # Training mode updated the moving averages (inference output moves); frozen, nothing does.
    inference = np.array(backbone(images, training=False))
    assert not np.allclose(inference, frozen_train)
    layer = hub_layer(model)  # a boolean tensor for `training` works too
    scaled = images / 255.0
    np.testing.assert_allclose(np.array(layer(scaled, training=tf.constant(False))),
                               inference, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(layer(scaled, training=tf.constant(True))), trained,
                               rtol=1e-5, atol=1e-6)


def test_mixed_precision_keeps_the_savedmodel_in_float32(hub_models):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = classifier(hub_models("tf_keras"))
        images, labels = task(16)
        assert hub_layer(model).compute_dtype == "float32"
        assert model.predict(images, verbose=0).dtype == np.float32
        models.backbone_of(model).trainable = True
        compile_adam(model)
        model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_classifier_exports_as_savedmodel(hub_models, tmp_path):
    """model.export() (the workbook's serving format) re-saves the loaded functions."""
    model = classifier(hub_models("tf_keras"))
    images, _ = task(8)
    model.export(str(tmp_path / "exported"), verbose=False)
    exported = tf.saved_model.load(str(tmp_path / "exported"))  # keep: it owns the variables
    served = exported.serve(tf.constant(images))
    np.testing.assert_allclose(np.array(served), model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_distribution_strategy(hub_models, tmp_path):
    """MirroredStrategy over two logical CPUs (set before TensorFlow starts, so in a fresh
    process): the variables are distributed, shared, frozen in the head phase and trained by Adam
    in fine-tuning."""
    script = tmp_path / "mirrored.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        from effnet_helpers import hub, models
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        rng = np.random.default_rng(0)
        labels = (np.arange(32) % 2).astype("int32")
        images = (labels[:, None, None, None] * 110
                  + rng.integers(0, 146, (32, {SIZE}, {SIZE}, 3))).astype("float32")
        with strategy.scope():
            model = models.build_classifier(
                hub.build_hub_backbone(sys.argv[1], image_size={SIZE}), 2, 0.0, {SIZE})
            layer = models.backbone_of(model).get_layer("hub_model")
            shared = layer.module_variables()
            assert all(w._value is v for w, v in zip(layer.weights, shared))
            kinds = {{type(v).__name__ for v in shared}}
            assert all(isinstance(v, tf.distribute.DistributedValues) for v in shared), kinds
            print(sorted(kinds))
            models.set_trainable(model, "head")
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        backbone = models.backbone_of(model)
        before = np.array(backbone(images[:8]))
        model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
        np.testing.assert_array_equal(before, np.array(backbone(images[:8])))
        with strategy.scope():
            backbone.trainable = True
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(images, labels, batch_size=16, epochs=2, verbose=0)
        assert not np.allclose(before, np.array(backbone(images[:8])), atol=1e-6)
        print("MIRRORED OK")
        """))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                           os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, str(script), hub_models("tf_keras")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "MIRRORED OK" in result.stdout, result.stderr[-3000:]


# --- handles ----------------------------------------------------------------------------------

def test_resolve_local_folder_as_is(hub_models):
    path = hub_models("tf_module")
    assert hub.resolve_handle(path) == path
    assert hub.resolve_handle(Path(path)) == path


def test_resolve_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="No SavedModel folder at .*pass that folder"):
        hub.resolve_handle(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no saved_model.pb"):
        hub.resolve_handle(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no saved_model.pb"):
        hub.HubBackbone(str(tmp_path / "empty"))


def test_resolve_unreachable_url(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_hub")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    url = "http://127.0.0.1:9/efficientnet_b0_feature_vector.tar.gz"  # nothing listens there
    with pytest.raises(OSError, match=r"(?s)Could not download.*offline.*pass that folder"):
        hub.resolve_handle(url)


def test_resolve_url_without_tensorflow_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_hub", None)  # import fails
    with pytest.raises(ImportError, match=r"(?s)tensorflow-hub.*pass that folder"):
        hub.resolve_handle("https://tfhub.dev/tensorflow/efficientnet/b0/feature-vector/1")


def test_signature_and_output_key_errors(hub_models):
    with pytest.raises(ValueError, match="no endpoint 'nope'"):
        hub.HubBackbone(hub_models("tf_keras"), signature="nope")
    layer = hub.HubBackbone(hub_models("tf_keras"), signature="serving_default")
    assert layer(np.zeros((1, SIZE, SIZE, 3), "float32")).shape == (1, 12)
    with pytest.raises(ValueError, match="has no output 'nope'"):
        hub.HubBackbone(hub_models("tf_keras"), signature="serving_default",
                        output_key="nope")(np.zeros((1, SIZE, SIZE, 3), "float32"))


# --- FINDINGS: what the ready-made layers do today (Keras 3.15, TF 2.21) ------------------------

def test_FINDING_tfsmlayer_shares_variables_but_fails_with_adam(hub_models):
    """FINDING: TFSMLayer does NOT copy the SavedModel's variables. Its `_add_existing_weight`
    passes the tf.Variable as `initializer`; Keras' TF `convert_to_tensor` returns tensor-like
    objects (tf.Variables included) unchanged and `Variable._initialize` stores a tf.Variable as
    it is, so the Keras variable wraps the loaded one, and SGD fine-tuning changes the output.
    What breaks fine-tuning is the names it keeps from tf.Variable.name ("...:0"): an optimizer
    with slot variables (Adam, the default) fails to build. (It also never passes `training`.)"""
    handle = hub_models("tf_keras")
    layer = keras.layers.TFSMLayer(handle, call_endpoint="__call__", trainable=True)
    loaded = {id(v) for v in layer._reloaded_obj.variables}
    assert all(id(w._value) in loaded for w in layer.weights)  # shared, not copied
    assert any(":0" in w.name for w in layer.weights)
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(layer(inputs)))
    images, labels = task(32)
    before = np.array(layer(images[:4]))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(images / 255.0, labels, batch_size=16, epochs=1, verbose=0)
    assert not np.allclose(before, np.array(layer(images[:4])))  # updates reach the function
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="is not a valid scope name"):
        model.fit(images / 255.0, labels, batch_size=16, epochs=1, verbose=0)


def test_FINDING_tfsmlayer_default_endpoint_of_tf_keras_savedmodel_returns_dict(hub_models):
    """FINDING: TFSMLayer LOADS a tf_keras save_format="tf" SavedModel. Its default endpoint,
    "serve" (Keras 3 exports), is not there; the SavedModel's signature, "serving_default",
    returns a dict ({output name: tensor}), and the `KeyError: -1` seen with it comes from the
    next layer: Dense cannot be built on a dict. With call_endpoint="__call__" it works (see the
    test above)."""
    with pytest.raises(ValueError, match="endpoint 'serve'"):
        keras.layers.TFSMLayer(hub_models("tf_keras"))
    layer = keras.layers.TFSMLayer(hub_models("tf_keras"), call_endpoint="serving_default")
    assert isinstance(layer(np.zeros((1, SIZE, SIZE, 3), "float32")), dict)
    inputs = keras.Input((SIZE, SIZE, 3))
    with pytest.raises(KeyError):
        keras.layers.Dense(2)(layer(inputs))


def test_FINDING_hub_keraslayer_fails_in_keras3(hub_models):
    """FINDING: tensorflow_hub.KerasLayer is a tf_keras layer: Keras 3 models refuse it."""
    tensorflow_hub = pytest.importorskip("tensorflow_hub")
    with pytest.raises(ValueError, match="Only instances of `keras.Layer`"):
        keras.Sequential([tensorflow_hub.KerasLayer(hub_models("tf_keras"))])
    with pytest.raises(ValueError):
        inputs = keras.Input((SIZE, SIZE, 3))
        keras.Model(inputs, tensorflow_hub.KerasLayer(hub_models("tf_keras"))(inputs))
