"""Stage 5, explanation: Grad-CAM heatmaps, which parts of an image made the model choose a class.

    heatmap = explain.grad_cam(model, image)                  # [H, W] in 0..1, predicted class
    fig = explain.show_grad_cam(model, images, classes, labels=true_ids)

Grad-CAM (Selvaraju et al., 2017): take the feature maps of a late convolutional layer, weigh each
map by how much the class's score (its logit, before the softmax) rises when that map rises (the
gradient, averaged over the map), add the weighted maps, keep the positive part and scale it to
0..1. Bright regions raised the score; the map is coarse (7x7 for B0 at 224 px), then enlarged to
the image.

The layer is the backbone's last activation ("top_activation") when its map is at least
MIN_CAM_SIDE pixels wide. Small images make it tiny (1x1 at 32 px: one number, no "where"), so
the deepest activation with a map of at least that size is used instead; `layer_name` chooses one.
"""
from __future__ import annotations

import math

import numpy as np

from . import models
from .backend import tensorflow

MIN_CAM_SIDE = 4                 # narrowest feature map that still says where something is
TOP_LAYER = "top_activation"     # the EfficientNet backbone's last activation (7x7 at 224 px)
OVERLAY_ALPHA = 0.45             # heatmap opacity over the image
OVERLAY_CMAP = "inferno"           # perceptual: brightness grows with the value, greys print right


def cam_layer(model, layer_name: str | None = None):
    """The backbone layer whose output Grad-CAM uses (see the module docstring)."""
    import keras
    backbone = _backbone(model)
    if layer_name is not None:
        try:
            return backbone.get_layer(layer_name)
        except ValueError:
            raise ValueError(f"The backbone has no layer {layer_name!r}; pick one of its "
                             "activations, e.g. 'top_activation'.") from None
    maps = [layer for layer in backbone.layers if len(_output_shape(layer)) == 4]
    if not maps:
        raise ValueError("Grad-CAM needs a convolutional backbone with 2-D feature maps; this "
                         "one (a TF-Hub backbone?) gives pooled features only.")
    activations = [layer for layer in maps if isinstance(layer, keras.layers.Activation)] or maps
    wide = [layer for layer in activations if min(_output_shape(layer)[1:3]) >= MIN_CAM_SIDE]
    top = [layer for layer in wide if layer.name == TOP_LAYER]
    return (top or wide or activations)[-1]


def _backbone(model):
    try:
        return models.backbone_of(model)
    except ValueError:
        raise ValueError(f"Grad-CAM expects a classifier of this workbook (a layer named "
                         f"{models.BACKBONE_NAME!r} followed by its head); this model has "
                         f"{[layer.name for layer in model.layers]}.") from None


def _output_shape(layer) -> tuple:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return ()


def _head_layers(model, backbone) -> list:
    """The layers after the backbone (pooling, dropout, dense), applied in order."""
    layers = model.layers
    return [layer for layer in layers[layers.index(backbone) + 1:]]


def _class_scores(head: list, features):
    """The head on the backbone's features: logits (before the softmax) when the last layer is
    a softmax Dense layer, else the log of its outputs (so the score never saturates)."""
    tf = tensorflow()
    import keras
    x = features
    for layer in head[:-1]:
        x = layer(x, training=False)
    last = head[-1]
    if isinstance(last, keras.layers.Dense) and \
            getattr(last.activation, "__name__", "") == "softmax":
        x = tf.cast(x, last.kernel.dtype)
        logits = tf.matmul(x, last.kernel)
        return logits + last.bias if last.use_bias else logits
    return tf.math.log(tf.cast(last(x, training=False), tf.float32) + 1e-12)


def grad_cam(model, image, class_index: int | None = None, layer_name: str | None = None):
    """The Grad-CAM heatmap of IMAGE for a class: float32 [height, width] in 0..1 (1: where the
    class's evidence is strongest), the image's own size.

    model        a classifier of this workbook (models.build_model, training.load_trained)
    image        float 0..255 RGB [height, width, 3] at the model's input size (for example one
                 image of `pipeline.make_dataset(..., training=False)` or of
                 `pipeline.preprocess(image_bytes, size, training=False, resize_method=...)`)
    class_index  the class to explain; None: the class the model predicts
    layer_name   a backbone layer to use instead of the default (see `cam_layer`)

    An all-zero map means no region raised the class's score (it happens for classes the model
    rejects)."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"grad_cam takes one RGB image [height, width, 3], not shape "
                         f"{image.shape}; for a batch, use grad_cams.")
    return grad_cams(model, image[None], None if class_index is None else [class_index],
                     layer_name)[0]


def grad_cams(model, images, class_indices=None, layer_name: str | None = None) -> np.ndarray:
    """`grad_cam` for a batch in one pass: float32 [n, height, width] in 0..1 for float 0..255
    images [n, height, width, 3]; `class_indices`: one class per image, None: the predicted
    ones. (In inference mode the images do not affect each other, so one pass gives each image's
    own gradients.)"""
    import keras
    tf = tensorflow()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3 or not len(images):
        raise ValueError(f"grad_cams takes RGB images [n, height, width, 3], not shape "
                         f"{images.shape}.")
    backbone = _backbone(model)
    expected = tuple(backbone.input_shape[1:3])
    if None not in expected and images.shape[1:3] != expected:
        raise ValueError(f"Grad-CAM: the model takes {expected[0]}x{expected[1]} images, these "
                         f"are {images.shape[1]}x{images.shape[2]}; prepare them with "
                         f"pipeline.preprocess(image_bytes, {expected[0]}, training=False, ...).")
    layer = cam_layer(model, layer_name)
    # A model from the backbone's input to the chosen maps and to the backbone's output, called
    # once, so that the tape sees the path from the maps to the class scores.
    probe = keras.Model(backbone.inputs, [layer.output, backbone.output])
    head = _head_layers(model, backbone)
    with tf.GradientTape() as tape:
        maps, features = probe(tf.constant(images), training=False)
        tape.watch(maps)
        scores = _class_scores(head, features)
        if class_indices is None:
            chosen = tf.argmax(scores, axis=-1, output_type=tf.int32)
        else:
            chosen = tf.constant([int(c) for c in class_indices], tf.int32)
            if len(class_indices) != len(images):
                raise ValueError("class_indices: give one class per image.")
        total = tf.reduce_sum(tf.gather(scores, chosen, batch_dims=1))
    gradients = tape.gradient(total, maps)
    if gradients is None:
        raise ValueError(f"No gradient from the class scores to layer {layer.name!r}: pick a "
                         "layer on the path to the backbone's output.")
    maps, gradients = tf.cast(maps, tf.float32), tf.cast(gradients, tf.float32)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)  # one weight per map
    cams = tf.nn.relu(tf.reduce_sum(maps * weights, axis=-1))         # [n, h, w]
    cams = tf.image.resize(cams[..., None], images.shape[1:3], method="bilinear")[..., 0]
    cams = cams.numpy().astype(np.float32)
    peaks = cams.max(axis=(1, 2), keepdims=True)
    return np.where(peaks > 0, np.clip(cams / np.maximum(peaks, 1e-12), 0.0, 1.0),
                    0.0).astype(np.float32)


def overlay(image, heatmap, alpha: float = OVERLAY_ALPHA, cmap: str = OVERLAY_CMAP) -> np.ndarray:
    """IMAGE (0..255) with HEATMAP (0..1) blended over it in colour: uint8 RGB."""
    import matplotlib
    colours = matplotlib.colormaps[cmap](np.asarray(heatmap, dtype=np.float32))[..., :3] * 255.0
    base = np.clip(np.asarray(image, dtype=np.float32), 0, 255)
    return np.clip((1 - alpha) * base + alpha * colours, 0, 255).astype(np.uint8)


def show_grad_cam(model, images, classes: list[str], labels=None, class_indices=None,
                  ncols: int = 4, size: float = 3.0, alpha: float = OVERLAY_ALPHA,
                  title: str | None = "Grad-CAM: where the model looked"):
    """A figure with, for each image, the image and its Grad-CAM overlay one above the other,
    titled with the predicted class and its probability, and the true class when `labels`
    (class ids or names) are given: green when right, red when wrong.

    images         float 0..255 [n, size, size, 3] (or a list of such images)
    class_indices  classes to explain, one per image; None: the predicted classes
    Readable on a projector (large titles); notebooks call plots.use_projector_style() first."""
    import matplotlib.pyplot as plt

    from . import plots  # noqa: F401  (registers the Japanese font for class names)
    images = [np.asarray(image, dtype=np.float32) for image in images]
    if not images:
        raise ValueError("show_grad_cam: no images given.")
    probabilities = np.asarray(model.predict_on_batch(np.stack(images)), dtype=np.float32)
    if labels is not None:
        labels = [classes.index(label) if isinstance(label, str) else int(label)
                  for label in labels]
    ncols = max(1, min(int(ncols), len(images)))
    nrows = math.ceil(len(images) / ncols)
    ncols = math.ceil(len(images) / nrows)  # as few empty panels as the rows allow (6 -> 2 x 3)
    fig, axes = plt.subplots(2 * nrows, ncols, squeeze=False,
                             figsize=(ncols * size, nrows * (2 * size + 0.9)))
    for ax in axes.flat:
        ax.axis("off")
    predicted_all = np.argmax(probabilities, axis=1)
    explained_all = predicted_all if class_indices is None else [int(c) for c in class_indices]
    heatmaps = grad_cams(model, np.stack(images), explained_all)
    for i, (image, heatmap) in enumerate(zip(images, heatmaps)):
        row, col = 2 * (i // ncols), i % ncols
        predicted, explained = int(predicted_all[i]), int(explained_all[i])
        top, bottom = axes[row, col], axes[row + 1, col]
        top.imshow(np.clip(image, 0, 255).astype(np.uint8))
        bottom.imshow(overlay(image, heatmap, alpha))
        text = f"{classes[predicted]} {probabilities[i, predicted]:.0%}"
        colour = "black"
        if labels is not None:
            right = labels[i] == predicted
            colour = "green" if right else "red"
            text += f"\ntrue: {classes[labels[i]]}"
        top.set_title(text, fontsize=15, color=colour)
        note = "Grad-CAM" if explained == predicted else f"Grad-CAM: {classes[explained]}"
        bottom.set_title(note, fontsize=13)
    if title:
        fig.suptitle(title, fontsize=18)
    fig.tight_layout()
    fig.subplots_adjust(right=0.86)  # room for the colour bar, beside every panel
    scale = plt.cm.ScalarMappable(cmap=OVERLAY_CMAP, norm=plt.Normalize(0, 1))
    bar = fig.colorbar(scale, cax=fig.add_axes([0.89, 0.15, 0.025, 0.7]))
    bar.set_label("Grad-CAM, 1 = the strongest evidence", fontsize=12)
    return fig
