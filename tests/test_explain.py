"""Grad-CAM: a heatmap of the image's size in 0..1 that is not flat, for the class asked, the same
one image at a time or in a batch; the layer it reads; and the figure of the lesson."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from effnet_helpers import explain, models, pipeline, training  # noqa: E402


@pytest.fixture(scope="module")
def trained(trained_model_dir):
    return training.load_trained(trained_model_dir)


@pytest.fixture(scope="module")
def batch(trained, sample_records_dir):
    """Eight validation images (evaluation view) and their labels."""
    _, _, config = trained
    data = pipeline.make_dataset(sample_records_dir, "validation", config["image_size"], 8,
                                 training=False, resize_method=config["input"]["resize_method"])
    images, onehot = next(iter(data))
    return images.numpy(), onehot.numpy().argmax(axis=1)


def test_heatmap_has_the_image_size_and_is_not_flat(trained, batch):
    model = trained[0]
    images, _ = batch
    not_flat = 0
    for image in images[:4]:
        heatmap = explain.grad_cam(model, image)
        assert heatmap.shape == image.shape[:2] == tuple(model.input_shape[1:3])
        assert heatmap.dtype == np.float32
        assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0
        if heatmap.max() - heatmap.min() > 0.2:
            assert heatmap.max() == pytest.approx(1.0)  # scaled to its peak
            not_flat += 1
    assert not_flat >= 3, "Grad-CAM of the predicted class should point somewhere"


def test_small_models_use_a_map_that_still_has_a_where(trained):
    model = trained[0]
    layer = explain.cam_layer(model)
    assert min(layer.output.shape[1:3]) >= explain.MIN_CAM_SIDE  # top_activation: 3x3 at 96 px
    assert min(explain.cam_layer(model, "top_activation").output.shape[1:3]) < \
        explain.MIN_CAM_SIDE
    tiny = models.build_model("lite0", 3, 32, weights=None)  # top_activation is 1x1 at 32 px
    assert explain.cam_layer(tiny, "top_activation").output.shape[1:3] == (1, 1)
    flat = explain.grad_cam(tiny, np.full((32, 32, 3), 128, np.float32),
                            layer_name="top_activation")
    assert np.ptp(flat) == 0  # why the default avoids it: one number, no place
    with pytest.raises(ValueError, match="no layer"):
        explain.cam_layer(model, "no_such_layer")


def test_native_size_uses_the_last_activation():
    import keras
    keras.utils.set_random_seed(0)  # random weights, the same each run
    model = models.build_model("B0", 3, 224, weights=None)
    assert explain.cam_layer(model).name == explain.TOP_LAYER  # 7x7 at 224 px
    image = np.random.default_rng(0).uniform(0, 255, (224, 224, 3)).astype(np.float32)
    heatmap = explain.grad_cam(model, image, class_index=1)
    assert heatmap.shape == (224, 224) and 0.0 <= heatmap.min() <= heatmap.max() <= 1.0
    # A map with structure: scaled to its peak (an all-zero map fails here), bright in some
    # places and dark in others, and more than a few levels (the 7x7 map, enlarged smoothly).
    assert heatmap.max() == pytest.approx(1.0)
    assert 0.02 < (heatmap > 0.5).mean() < 0.98
    assert len(np.unique(heatmap.round(2))) > 10


def test_heatmap_explains_the_class_asked(trained, batch):
    model = trained[0]
    image = batch[0][1]
    predicted = int(np.argmax(model.predict_on_batch(image[None])[0]))
    default = explain.grad_cam(model, image)
    np.testing.assert_allclose(default, explain.grad_cam(model, image, predicted), atol=1e-6)
    other = (predicted + 1) % model.output_shape[-1]
    assert not np.allclose(default, explain.grad_cam(model, image, other), atol=1e-3)


def test_batch_gives_the_same_heatmaps_as_one_at_a_time(trained, batch):
    model = trained[0]
    images = batch[0][:4]
    together = explain.grad_cams(model, images)
    one_by_one = np.stack([explain.grad_cam(model, image) for image in images])
    np.testing.assert_allclose(together, one_by_one, atol=1e-4)


def test_wrong_image_shape_says_what_to_do(trained):
    model = trained[0]
    with pytest.raises(ValueError, match="pipeline.preprocess"):
        explain.grad_cam(model, np.zeros((48, 48, 3), np.float32))
    with pytest.raises(ValueError, match="grad_cams"):
        explain.grad_cam(model, np.zeros((2, 32, 32, 3), np.float32))


def test_figure_shows_image_overlay_prediction_and_truth(trained, batch):
    import matplotlib.pyplot as plt
    model, classes, _ = trained
    images, labels = batch
    fig = explain.show_grad_cam(model, images[:6], classes, labels=labels[:6], ncols=3)
    axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(axes) == 12  # an image and its overlay for each of 6 images
    titles = [ax.get_title() for ax in fig.axes if "%" in ax.get_title()]
    assert len(titles) == 6
    assert all("true: " + classes[label] in title for title, label in zip(titles, labels[:6]))
    assert all(any(name in title.split("\n")[0] for name in classes) for title in titles)
    assert all(ax.get_images()[0].get_array().shape == (*model.input_shape[1:3], 3) for ax in axes)
    plt.close(fig)
