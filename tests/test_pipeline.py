"""Stage 3, the input pipeline (effnet_helpers.pipeline): labels that line up with the class names,
shapes, every image evaluated once, class merging, balanced sampling, augmentation, and records
of the tensorflow/tpu converter.

The datasets are tiny single-colour JPEGs: the class of an image can be read from its pixels
(red, green or blue), and its brightness numbers it within its class, so a test can tell which
image came out of the pipeline after any crop, flip or turn.
"""
from __future__ import annotations

import collections
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, smooth_array, write
from effnet_helpers import pipeline, records, settings
from effnet_helpers.layout import DatasetError
from effnet_helpers.pipeline import Augment

CHANNEL = {"blue": 2, "green": 1, "red": 0}        # label order: blue 0, green 1, red 2
TRAIN = {"blue": 5, "green": 10, "red": 30}        # imbalanced: 6x between largest and smallest
VALIDATION = {"blue": 7, "green": 7, "red": 7}     # 21 images: not a multiple of the batch size
SIZE = 32                                          # image_size of the tests (fast)
STEP = 8                                           # brightness step between images of a class


def colour_jpeg(cls: str, index: int, size=(48, 36)) -> bytes:
    """A flat image of the class's colour at brightness 250 - STEP * index (other channels 0)."""
    pixel = [0, 0, 0]
    pixel[CHANNEL[cls]] = 250 - STEP * index
    return encode(Image.new("RGB", size, tuple(pixel)), "JPEG", quality=95)


def identify(image: np.ndarray) -> tuple[int, int]:
    """(label, index within the class) of a colour image read back from the pipeline."""
    mean = image.reshape(-1, 3).mean(axis=0)
    channel = int(np.argmax(mean))
    label = {c: i for i, c in enumerate(sorted(CHANNEL))}[
        next(name for name, ch in CHANNEL.items() if ch == channel)]
    return label, int(round((250 - mean[channel]) / STEP))


def make_colour_folder(root, counts_by_split: dict) -> None:
    for split, counts in counts_by_split.items():
        for cls, count in counts.items():
            for i in range(count):
                size = (48, 36) if i % 2 else (36, 48)  # landscape and portrait
                write(root / split / cls / f"{cls}_{i:03d}.jpg", colour_jpeg(cls, i, size))


@pytest.fixture(scope="module")
def colours(tmp_path_factory, tf):
    """Records converted by the workbook (label map and manifest beside them)."""
    root = tmp_path_factory.mktemp("colours")
    make_colour_folder(root / "data", {"train": TRAIN, "validation": VALIDATION})
    records.convert_dataset(root / "data", root / "records", shards=2, progress=False,
                            log=lambda *a: None)
    return str(root / "records")


@pytest.fixture(scope="module")
def digits(sample_records_dir, tf):
    """The sample digits (data/sample) as records: real pictures, not symmetric (converted once
    for the whole test run, conftest)."""
    return str(sample_records_dir)


def collect(dataset) -> tuple[np.ndarray, np.ndarray]:
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(images), np.concatenate(labels)


# --- classes and labels --------------------------------------------------------------------------

def test_labels_line_up_with_class_names(colours):
    classes = pipeline.read_classes(colours)
    assert classes == ["blue", "green", "red"]
    for training in (False, True):
        images, labels = collect(pipeline.make_dataset(
            colours, "validation", SIZE, 8, training=training, drop_remainder=False,
            augment=Augment(flip=True, rotate90=True, zoom=0.3)))
        for image, label in zip(images, labels):
            assert identify(image)[0] == int(np.argmax(label)), classes[int(np.argmax(label))]


def test_one_hot_labels_and_static_training_shapes(colours):
    dataset = pipeline.make_dataset(colours, "train", SIZE, batch_size=8, seed=0)
    image_spec, label_spec = dataset.element_spec
    assert image_spec.shape.as_list() == [8, SIZE, SIZE, 3] and image_spec.dtype.name == "float32"
    assert label_spec.shape.as_list() == [8, 3] and label_spec.dtype.name == "float32"
    assert dataset.class_names == ["blue", "green", "red"]
    batches = list(dataset)
    assert len(batches) == sum(TRAIN.values()) // 8 == dataset.cardinality()  # remainder dropped
    for images, labels in batches:
        assert images.shape == (8, SIZE, SIZE, 3) and labels.shape == (8, 3)
        assert set(np.unique(labels.numpy())) <= {0.0, 1.0}
        assert np.all(labels.numpy().sum(axis=1) == 1)
        assert 0 <= images.numpy().min() and images.numpy().max() <= 255


def test_evaluation_yields_every_image_exactly_once(colours):
    dataset = pipeline.make_dataset(colours, "validation", SIZE, batch_size=8)
    assert [int(x.shape[0]) for x, _ in dataset] == [8, 8, 5]
    assert dataset.cardinality() == 3
    images, labels = collect(dataset)
    seen = collections.Counter(identify(image) for image in images)
    expected = {(label, i) for label, cls in enumerate(sorted(CHANNEL))
                for i in range(VALIDATION[cls])}
    assert set(seen) == expected and set(seen.values()) == {1}
    assert [identify(im)[0] for im in images] == list(np.argmax(labels, axis=1))


def test_evaluation_refuses_to_drop_the_remainder(colours):
    with pytest.raises(ValueError, match="every image"):
        pipeline.make_dataset(colours, "validation", SIZE, 8, drop_remainder=True)


def test_class_mapping_merges_labels_and_counts(colours, tmp_path):
    mapping = {"blue": "cool", "green": "cool"}
    assert pipeline.read_classes(colours, mapping) == ["cool", "red"]
    assert list(pipeline.class_counts(colours, "train", mapping)) == [15, 30]
    assert list(pipeline.class_counts(colours, "validation", mapping)) == [14, 7]
    path = write(tmp_path / "mapping.json", json.dumps(mapping))
    images, labels = collect(pipeline.make_dataset(colours, "validation", SIZE, 8,
                                                   class_mapping=str(path)))
    assert labels.shape == (21, 2)
    assert list(labels.sum(axis=0)) == [14, 7]
    for image, label in zip(images, labels):  # blue and green images are "cool", red is "red"
        assert (identify(image)[0] == 2) == (int(np.argmax(label)) == 1)
    with pytest.raises(DatasetError, match="purple"):
        pipeline.read_classes(colours, {"purple": "cool"})


def test_include_validation_adds_the_validation_images(colours):
    both = pipeline.make_dataset(colours, "train", SIZE, 5, include_validation=True,
                                 drop_remainder=False, seed=1)
    images, labels = collect(both)
    assert len(images) == sum(TRAIN.values()) + sum(VALIDATION.values())
    assert list(labels.sum(axis=0)) == [12, 17, 37]
    assert list(pipeline.class_counts(colours, "train", include_validation=True)) == [12, 17, 37]


def test_balanced_sampling_evens_out_the_classes(colours):
    assert list(pipeline.class_counts(colours, "train")) == [5, 10, 30]
    epoch = pipeline.make_dataset(colours, "train", 16, 5, balance="sampling", seed=0)
    assert epoch.cardinality() == 9 and len(list(epoch)) == 9  # an epoch: 45 images
    endless = pipeline.make_dataset(colours, "train", 16, 30, balance="sampling", seed=0,
                                    repeat=True)
    _, labels = collect(endless.take(20))
    shares = labels.sum(axis=0) / len(labels)
    assert np.all(np.abs(shares - 1 / 3) < 0.05), shares  # unbalanced: 0.11, 0.22, 0.67


def test_class_weights_are_balanced():
    assert pipeline.class_weights([5, 10, 30]) == pytest.approx({0: 3.0, 1: 1.5, 2: 0.5})
    weights = pipeline.class_weights(np.array([10, 0, 30]))
    assert weights == pytest.approx({0: 2.0, 1: 0.0, 2: 2 / 3})
    counts = np.array([5, 10, 30])
    assert sum(weights * n for weights, n in zip(pipeline.class_weights(counts).values(),
                                                  counts)) == pytest.approx(counts.sum())


# --- augmentation ------------------------------------------------------------------------------

def batch(records_dir, augment, seed=7, size=48, n=16):
    dataset = pipeline.make_dataset(records_dir, "train", size, n, augment=augment, seed=seed)
    images, labels = next(iter(dataset))
    return images.numpy(), labels.numpy()


@pytest.mark.parametrize("switch", [dict(flip=True), dict(rotate90=True), dict(zoom=0.3),
                                    dict(randaugment=True)])
def test_each_augmentation_changes_images_but_not_shape_or_range(digits, switch):
    plain, plain_labels = batch(digits, Augment.none())
    changed, labels = batch(digits, Augment(**{"flip": False, **switch}))
    assert changed.shape == plain.shape == (16, 48, 48, 3) and changed.dtype == np.float32
    assert 0 <= changed.min() and changed.max() <= 255
    assert np.array_equal(labels, plain_labels)      # same seed: same images, same crops
    differs = [not np.allclose(a, b, atol=1) for a, b in zip(changed, plain)]
    assert sum(differs) >= 3, switch


def test_the_same_seed_repeats_a_run_and_another_seed_does_not(digits):
    augment = Augment(flip=True, rotate90=True, zoom=0.2, mixup_alpha=0.2)
    first, second = batch(digits, augment, seed=3), batch(digits, augment, seed=3)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert not np.array_equal(first[0], batch(digits, augment, seed=4)[0])


def test_mixup_blends_labels_that_still_sum_to_one(digits):
    images, labels = batch(digits, Augment(flip=False, mixup_alpha=0.4), n=16)
    assert labels.shape == (16, 10) and images.shape == (16, 48, 48, 3)
    assert np.allclose(labels.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(labels.max(axis=1) >= 0.5 - 1e-6)  # each image keeps the larger share
    blended = [row for row in labels if not set(np.round(row, 6)) <= {0.0, 1.0}]
    assert len(blended) >= 4
    assert 0 <= images.min() and images.max() <= 255


def test_evaluation_never_augments(digits):
    one = collect(pipeline.make_dataset(digits, "validation", 40, 64,
                                        augment=Augment(rotate90=True, zoom=0.3, mixup_alpha=1)))
    two = collect(pipeline.make_dataset(digits, "validation", 40, 64))
    assert np.array_equal(one[0], two[0]) and set(np.unique(one[1])) == {0.0, 1.0}


def test_show_augmentations_draws_one_row_per_switch(digits):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = pipeline.show_augmentations(digits, image_size=48, n=3)
    rows = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert rows[0].startswith("original") and len(fig.axes) == 3 * len(rows)
    assert {"flip", "rotate90", "randaugment"} <= set(rows) and any("mixup" in r for r in rows)
    plt.close(fig)
    fig = pipeline.show_augmentations(digits, Augment(flip=True), image_size=48, n=2)
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == ["original\n(crop)", "flip"]
    plt.close(fig)


# --- crops and resize methods --------------------------------------------------------------------

@pytest.fixture(scope="module")
def framed(tmp_path_factory, tf):
    """One class of 64x64 green squares in a 6-px red frame, one class of wide 96x32 grey bars."""
    root = tmp_path_factory.mktemp("framed")
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[:] = (255, 0, 0)
    frame[6:-6, 6:-6] = (0, 255, 0)
    for split in settings.SPLITS:
        for i in range(3):
            write(root / "data" / split / "frame" / f"f{i}.png",
                  encode(Image.fromarray(frame), "PNG"))
            write(root / "data" / split / "wide" / f"w{i}.jpg",
                  encode(Image.new("RGB", (96, 32), (200, 200, 200)), "JPEG", quality=95))
    records.convert_dataset(root / "data", root / "records", progress=False, log=lambda *a: None)
    return str(root / "records")


@pytest.mark.parametrize("method", settings.RESIZE_METHODS)
@pytest.mark.parametrize("training", [False, True])
def test_resize_methods_give_the_right_shapes(framed, method, training):
    dataset = pipeline.make_dataset(framed, "train", 40, 2, training=training,
                                    resize_method=method, drop_remainder=training)
    images, labels = next(iter(dataset))
    assert images.shape == (2, 40, 40, 3) and labels.shape == (2, 2)


def test_random_crop_falls_back_to_the_centre_crop(tf):
    """A 200x2 strip has no window of 8% of its area with an aspect ratio of 3/4-4/3: the
    tensorflow/tpu rule then takes the centre crop, whatever the seed."""
    strip = np.zeros((2, 200, 3), np.uint8)
    strip[:, :, 0] = np.linspace(0, 255, 200).astype(np.uint8)  # each column differs
    data = tf.constant(encode(Image.fromarray(strip), "PNG"))
    centre = pipeline.center_crop(data, 16).numpy()
    for seed in range(5):
        crop = pipeline.random_crop(data, 16, tf.constant([seed, 0], tf.int64)).numpy()
        assert np.array_equal(crop, centre)
    photo = tf.constant(encode(Image.fromarray(smooth_array(1, (64, 48))), "JPEG", quality=95))
    crops = [pipeline.random_crop(photo, 16, tf.constant([seed, 0], tf.int64)).numpy()
             for seed in range(3)]
    assert not np.array_equal(crops[0], crops[1]) and crops[0].shape == (16, 16, 3)


def test_what_each_resize_method_keeps(framed):
    def views(method):
        images, labels = collect(pipeline.make_dataset(framed, "validation", 32, 6,
                                                       resize_method=method))
        frame = images[np.argmax(labels, axis=1) == 0][0]
        wide = images[np.argmax(labels, axis=1) == 1][0]
        return frame, wide

    frame, wide = views("crop")          # the centre 32/(32 + 32) of 64 px: inside the frame
    assert frame[..., 0].max() < 40 and frame[..., 1].min() > 200
    assert np.all(np.abs(wide - 200) < 8)
    frame, wide = views("resize")        # the whole image: the red frame is there
    assert frame[0, 16, 0] > 200 and frame[16, 16, 1] > 200
    assert np.all(np.abs(wide - 200) < 8)
    frame, wide = views("pad_and_resize")  # 96x32 padded to 96x96: black bands above and below
    assert wide[:8].max() < 10 and wide[-8:].max() < 10 and abs(wide[16, 16, 0] - 200) < 8


# --- records of the tensorflow/tpu converter ----------------------------------------------------

def tpu_example(tf, image: bytes, label: int, synset: str, name: str, height: int, width: int):
    """One record exactly as imagenet_to_gcs.py writes it (docs/DESIGN.md, "The TFRecord schema of tensorflow/tpu")."""
    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

    return tf.train.Example(features=tf.train.Features(feature={
        "image/height": i(height), "image/width": i(width), "image/colorspace": b(b"RGB"),
        "image/channels": i(3), "image/class/label": i(label),
        "image/class/synset": b(synset.encode()), "image/format": b(b"JPEG"),
        "image/filename": b(name.encode()), "image/encoded": b(image)})).SerializeToString()


@pytest.fixture(scope="module")
def tpu_records(tmp_path_factory, tf):
    """Two train shards and one validation shard, 1-based labels, no manifest, no label map;
    one "JPEG" holds PNG bytes (that converter let those through)."""
    out = tmp_path_factory.mktemp("tpu")
    synsets = sorted(CHANNEL)  # n01 = blue, n02 = green, n03 = red by colour
    shards = {"train-00000-of-00002": [("red", 0), ("blue", 1), ("green", 2)],
              "train-00001-of-00002": [("green", 3), ("red", 4), ("blue", 5), ("red", 6)],
              "validation-00000-of-00001": [("blue", 0), ("green", 1), ("red", 2)]}
    for name, items in shards.items():
        with tf.io.TFRecordWriter(str(out / name)) as writer:
            for cls, i in items:
                data = colour_jpeg(cls, i)
                if name.startswith("train-00001") and cls == "blue":
                    pixel = [0, 0, 0]
                    pixel[CHANNEL[cls]] = 250 - STEP * i
                    data = encode(Image.new("RGB", (48, 36), tuple(pixel)), "PNG")
                writer.write(tpu_example(tf, data, synsets.index(cls) + 1, cls,
                                         f"{cls}_{i}.JPEG", 36, 48))
    return str(out)


def test_records_of_the_tpu_converter_are_read_with_the_right_labels(tpu_records):
    assert pipeline.read_classes(tpu_records) == ["blue", "green", "red"]
    assert list(pipeline.class_counts(tpu_records, "train")) == [2, 2, 3]
    for training in (False, True):
        images, labels = collect(pipeline.make_dataset(tpu_records, "train", SIZE, 2,
                                                       training=training, drop_remainder=False))
        assert len(images) == 7
        found = sorted(identify(im) for im in images)
        assert found == sorted((["blue", "green", "red"].index(c), i) for c, i in
                               [("red", 0), ("blue", 1), ("green", 2), ("green", 3), ("red", 4),
                                ("blue", 5), ("red", 6)])
        assert [identify(im)[0] for im in images] == list(np.argmax(labels, axis=1))
    merged = pipeline.make_dataset(tpu_records, "validation", SIZE, 2,
                                   class_mapping={"red": "warm", "green": "cool", "blue": "cool"})
    assert merged.class_names == ["cool", "warm"]
    assert list(collect(merged)[1].sum(axis=0)) == [2, 1]
