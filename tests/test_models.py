"""Models: every EfficientNet builds with its head, the transfer schedule freezes what it should,
and warm starts carry every backbone weight for every model size."""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from effnet_helpers import models  # noqa: E402

SIZE = 32  # small inputs keep the tests fast; the architecture does not depend on the size


def test_model_names_and_native_sizes():
    assert models.model_spec("B0").image_size == 224
    assert models.model_spec("efficientnetb4").image_size == 380
    assert models.model_spec("EfficientNet-B7").dropout == 0.5
    assert models.canonical_name("efficientnetv2-s") == "V2S"
    with pytest.raises(ValueError, match="Unknown model 'B9'"):
        models.model_spec("B9")


def test_classifier_takes_raw_pixels_and_outputs_probabilities():
    model = models.build_model("B0", num_classes=5, image_size=SIZE, weights=None)
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (2, 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert model.get_layer("head_dropout").rate == 0.2
    # the preprocessing is inside: the backbone starts with rescaling/normalisation layers
    assert any(isinstance(layer, keras.layers.Rescaling) for layer in
               models.backbone_of(model).layers)


def _trainable_names(model):
    return {w.path for w in model.trainable_weights}


def test_head_phase_trains_only_the_head():
    model = models.build_model("B0", 3, SIZE, weights=None)
    models.set_trainable(model, "head")
    names = _trainable_names(model)
    assert names and all("head_predictions" in n for n in names)


def test_finetune_unfreezes_blocks_from_n_but_never_batch_norm_or_stem():
    model = models.build_model("B0", 3, SIZE, weights=None)
    models.set_trainable(model, "finetune", unfreeze_from=5)
    backbone = models.backbone_of(model)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert not layer.trainable, layer.name
        elif layer.name.startswith("block"):
            assert layer.trainable == (int(layer.name[5]) >= 5), layer.name
        elif layer.name.startswith("stem_"):
            assert not layer.trainable
    trainable = _trainable_names(model)
    assert any("top_conv" in n for n in trainable) and any("head_predictions" in n
                                                            for n in trainable)
    assert not any("block4" in n or "_bn" in n or "stem" in n for n in trainable)
    models.set_trainable(model, "finetune", unfreeze_from=0)
    assert any("stem_conv" in n for n in _trainable_names(model))


@pytest.mark.parametrize("name", list(models.MODELS))
def test_warm_start_carries_every_backbone_weight(name, tmp_path):
    """For every model size (the original system hard-coded B1, B6 and B7 and missed the last
    block): backbone weights equal the source's, the head is new and sized for the new classes."""
    source = models.build_model(name, 4, SIZE, weights=None)
    rng = np.random.default_rng(1)
    for w in models.backbone_of(source).weights:  # make them distinguishable from a fresh init
        w.assign(rng.normal(size=w.shape).astype(w.dtype))
    path = tmp_path / "source.keras"
    source.save(path)
    target = models.build_model(name, 7, SIZE, weights=None)
    copied = models.warm_start(target, str(path))
    source_weights = models.backbone_of(source).get_weights()
    target_weights = models.backbone_of(target).get_weights()
    assert copied == len(source_weights) == len(target_weights)
    for a, b in zip(source_weights, target_weights):
        np.testing.assert_array_equal(a, b)
    assert target.get_layer("head_predictions").kernel.shape[-1] == 7
    assert source.get_layer("head_predictions").kernel.shape[-1] == 4


def test_warm_start_from_another_model_size_is_refused():
    source = models.build_model("B0", 4, SIZE, weights=None)
    target = models.build_model("B1", 4, SIZE, weights=None)
    with pytest.raises(ValueError, match="Warm start"):
        models.warm_start(target, source)


def test_local_weights_file(tmp_path):
    source = models.build_backbone("B0", SIZE, weights=None)
    path = tmp_path / "b0.weights.h5"
    source.save_weights(path)
    loaded = models.build_backbone("B0", 48, weights=str(path))  # another input size works
    for a, b in zip(source.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError):
        models.build_backbone("B0", SIZE, weights=str(tmp_path / "missing.h5"))


def test_dropout_zero_is_no_dropout_and_none_is_the_models_default():
    assert models.build_model("B0", 3, SIZE, weights=None, dropout=0.0) \
        .get_layer("head_dropout").rate == 0.0
    assert models.build_model("B3", 3, SIZE, weights=None).get_layer("head_dropout").rate == \
        models.model_spec("B3").dropout == 0.3


def test_b0_to_b7_sizes_and_dropouts_are_the_papers_table():
    from effnet_helpers import architecture
    for name, row in architecture.PAPER.iterrows():
        assert (models.model_spec(name).image_size, models.model_spec(name).dropout) == \
            (row.resolution, row.dropout), name
    assert architecture.PAPER.loc["B5", "resolution"] == 456  # the table itself, not a copy


def test_only_the_hub_layer_class_trains_as_one_layer():
    """A layer is a TF-Hub backbone by its class (hub.HubBackbone), not by its class's name: an
    unrelated layer that happens to be called "HubBackbone" stays frozen in fine-tuning."""
    class HubBackbone(keras.layers.Dense):  # not hub's
        pass

    inputs = keras.Input((SIZE, SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    backbone = keras.Model(inputs, HubBackbone(4, name="impostor")(pooled),
                           name=models.BACKBONE_NAME)
    model = models.build_classifier(backbone, 2, 0.0, SIZE)
    models.set_trainable(model, "finetune")
    assert not backbone.get_layer("impostor").trainable
