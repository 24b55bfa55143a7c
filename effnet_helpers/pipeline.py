"""Stage 3, the input pipeline: TFRecords in, batches of (images, one-hot labels) out, for
training and for evaluation.

    train = make_dataset(RECORDS_DIR, "train", image_size=224, batch_size=32)
    val = make_dataset(RECORDS_DIR, "validation", image_size=224, batch_size=32)
    classes = read_classes(RECORDS_DIR)        # the names of the label columns, in order

Images are float32 in 0..255, shape [batch, size, size, 3]: the Keras EfficientNet models carry
their own normalisation. Labels are one-hot float32 [batch, classes] (so that mixup can blend
them).

Training reads the shards in a shuffled order, several at a time, crops a random part of each
photo the way the tensorflow/tpu EfficientNet trainer does (decoding only that part of the JPEG),
resizes it, augments it and drops the last incomplete batch (TPUs need every batch the same
size). Evaluation takes the centre of each photo, and every image is seen exactly once, the last
partial batch included.

Randomness comes from stateless random ops fed with one seed per image (`tf.data.Dataset.random`),
so with `seed=N` a run is repeatable, however many threads decode in parallel (RandAugment
excepted: it draws from Keras' own generator).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from . import settings, storage
from .backend import tensorflow
from .layout import DatasetError, load_class_mapping
from .records import (LABEL_OFFSET, feature_spec, inspect_records, read_manifest, record_classes,
                      shard_files)

# --- constants: every number of the pipeline, in one place ----------------------------------

# The tensorflow/tpu EfficientNet preprocessing (efficientnet/preprocessing.py).
CROP_PADDING = 32                     # eval centre crop: size / (size + 32) of the short side
CROP_AREA_RANGE = (0.08, 1.0)         # training crop: fraction of the image's area
CROP_ASPECT_RANGE = (3 / 4, 4 / 3)    # training crop: width / height
CROP_MIN_OBJECT_COVERED = 0.1
CROP_MAX_ATTEMPTS = 10                # after 10 failed tries: fall back to the centre crop
RESIZE_INTERPOLATION = "bicubic"

# Reading.
SHUFFLE_BUFFER = 1024                 # records held for shuffling (memory: this x record size)
READ_BUFFER_BYTES = 8 * 1024 * 1024   # per shard file, as the tpu trainer (helps on gs://)
AUTOTUNE = -1                         # tf.data.AUTOTUNE

# Augmentation.
RANDAUGMENT_VALUE_RANGE = (0, 255)
PIXEL_RANGE = (0.0, 255.0)

# show_augmentations: the switches it pictures when no Augment is given.
DEMO_ZOOM = 0.3
DEMO_MIXUP_ALPHA = 0.4


# --- augmentation switches -------------------------------------------------------------------

@dataclass
class Augment:
    """What training does to each image after the crop (evaluation never augments).

    flip         random left-right mirror (half the images)
    rotate90     random turn by 0, 90, 180 or 270 degrees (for photos with no "up": leaves,
                 insects on a tray, microscope slides)
    zoom         random zoom in by up to this fraction of the side (0.2: shows 80-100% of it)
    randaugment  keras.layers.RandAugment: two random colour and geometry operations per image
    mixup_alpha  mixup: blend each image of a batch with another one, labels blended alike, with
                 a Beta(alpha, alpha) weight (0.2-0.4 is usual; 0 switches it off)
    """

    flip: bool = True
    rotate90: bool = False
    zoom: float = 0.0
    randaugment: bool = False
    mixup_alpha: float = 0.0

    @classmethod
    def none(cls) -> "Augment":
        """No augmentation at all (the crop of `make_dataset(training=True)` still varies)."""
        return cls(flip=False, rotate90=False, zoom=0.0, randaugment=False, mixup_alpha=0.0)

    def check(self) -> "Augment":
        """Raise a readable error for values that make no sense; return self."""
        if not 0.0 <= float(self.zoom) < 1.0:
            raise ValueError("Augment.zoom is a fraction of the side, 0 <= zoom < 1, "
                             f"not {self.zoom}")
        if float(self.mixup_alpha) < 0:
            raise ValueError(f"Augment.mixup_alpha must be >= 0 (0: off), not {self.mixup_alpha}")
        if self.randaugment and not has_randaugment():
            raise ValueError("Augment.randaugment needs keras.layers.RandAugment (Keras 3.6 or "
                             "newer); this Keras has none. Upgrade Keras or switch it off.")
        return self

    def switches(self) -> list[str]:
        """The names of the switches that are on, in the order they are applied."""
        return [f.name for f in fields(self) if getattr(self, f.name)]


def has_randaugment() -> bool:
    """Whether this Keras has keras.layers.RandAugment (Keras 3.6 and newer do)."""
    import keras
    return hasattr(keras.layers, "RandAugment")


# --- classes and counts ----------------------------------------------------------------------

_INSPECTED: dict = {}


def _inspect(records_dir):
    """inspect_records, remembered while the shards stay the same (it reads every record)."""
    names = sorted(n for n in storage.listdir(records_dir) if n.startswith(settings.SPLITS))
    key = (str(records_dir), tuple((n, storage.size(storage.join(records_dir, n))) for n in names))
    if key not in _INSPECTED:
        _INSPECTED[key] = inspect_records(records_dir)
    return _INSPECTED[key]


def _original_classes(records_dir) -> list[str]:
    """Class names in label order, as the records define them: the label map beside them, else
    the synsets read from the records (records of the tensorflow/tpu converter)."""
    classes = record_classes(records_dir)
    if classes is not None:
        return classes
    table = _inspect(records_dir)
    if table["label"].min() < 0:
        raise DatasetError(f"{records_dir}: the records hold label 0; image/class/label is "
                           "1-based in this schema (1 = the first class).")
    names = [f"label {i}" for i in range(int(table["label"].max()) + 1)]
    for label, name in zip(table["label"], table["class"]):
        names[int(label)] = name or names[int(label)]
    return names


def _merge_plan(classes: list[str], class_mapping) -> tuple[list[str], np.ndarray]:
    """(merged class names sorted, original id -> merged id) for a {"old": "new"} mapping."""
    if not class_mapping:
        return list(classes), np.arange(len(classes))
    mapping = load_class_mapping(class_mapping)
    unknown = sorted(set(mapping) - set(classes))
    if unknown:
        raise DatasetError(f"The class mapping names classes the records do not have: {unknown}. "
                           f"Known classes: {classes}.")
    renamed = [mapping.get(c, c) for c in classes]
    merged = sorted(set(renamed))
    return merged, np.array([merged.index(name) for name in renamed])


def read_classes(records_dir, class_mapping=None) -> list[str]:
    """Class names in label order: column i of the one-hot labels is class i.

    From synset_id2label.json beside the records, else from the records' image/class/synset.
    With a class mapping (a dict or a JSON file, {"old": "new"}), the merged names, sorted."""
    return _merge_plan(_original_classes(records_dir), class_mapping)[0]


def class_counts(records_dir, split: str = "train", class_mapping=None,
                 include_validation: bool = False) -> np.ndarray:
    """Images per class (after merging) in a split, in the order of `read_classes`.

    From manifest.json when the workbook's converter wrote the records, else by reading them.
    `include_validation=True` adds the validation images (as `make_dataset` does)."""
    _check_split(split)
    classes = _original_classes(records_dir)
    splits = [split] + (["validation"] if include_validation and split == "train" else [])
    counts = np.zeros(len(classes), np.int64)
    manifest = read_manifest(records_dir)
    if manifest is not None:
        for name in splits:
            per_class = manifest["splits"].get(name, {}).get("classes", {})
            counts += np.array([per_class.get(c, 0) for c in classes], np.int64)
    else:
        table = _inspect(records_dir)
        for name in splits:
            rows = table[table["split"] == name]
            np.add.at(counts, rows["label"].to_numpy(), rows["records"].to_numpy())
    merged, lookup = _merge_plan(classes, class_mapping)
    result = np.zeros(len(merged), np.int64)
    np.add.at(result, lookup, counts)
    return result


def class_weights(counts) -> dict[int, float]:
    """Balanced class weights for `model.fit(class_weight=...)`: n_total / (n_classes * n_c).

    A class with half the average count weighs 2, one with twice the average 0.5, so every class
    adds the same to the loss. Classes with no images get 0 (they never occur anyway) and are not
    counted in n_classes."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    if not present.any():
        raise ValueError("class_weights: every class count is 0.")
    total, n_classes = counts.sum(), int(present.sum())
    return {i: float(total / (n_classes * c)) if c > 0 else 0.0 for i, c in enumerate(counts)}


def _check_split(split: str) -> None:
    if split not in settings.SPLITS:
        raise ValueError(f"split must be one of {settings.SPLITS}, not {split!r}")


# --- decoding and cropping (one image) -------------------------------------------------------

def _is_jpeg(image_bytes):
    """True for JPEG bytes. Records of the tensorflow/tpu converter can hold PNG bytes saved under
    a .jpg name; those take the slower generic decoder instead of failing."""
    tf = tensorflow()
    return tf.equal(tf.strings.substr(image_bytes, 0, 3), settings.JPEG_MAGIC)


def _decode_any(image_bytes):
    tf = tensorflow()
    return tf.io.decode_image(image_bytes, channels=3, expand_animations=False)


def _image_shape(image_bytes):
    """[height, width, channels] (int32) of encoded image bytes; JPEGs from the header alone."""
    tf = tensorflow()
    return tf.cond(_is_jpeg(image_bytes), lambda: tf.io.extract_jpeg_shape(image_bytes),
                   lambda: tf.shape(_decode_any(image_bytes), out_type=tf.int32))


def _decode_window(image_bytes, window):
    """Decode only the window [y, x, height, width] of the image (JPEG: the rest is skipped)."""
    tf = tensorflow()

    def other():
        return tf.slice(_decode_any(image_bytes), tf.concat([window[:2], [0]], 0),
                        tf.concat([window[2:], [3]], 0))

    return tf.cond(_is_jpeg(image_bytes),
                   lambda: tf.io.decode_and_crop_jpeg(image_bytes, window, channels=3), other)


def _resize(image, image_size: int):
    """Resize to image_size x image_size (bicubic), float32 clipped to 0..255. Shrinking is
    antialiased (each output pixel averages the input pixels it covers): without it a 2000 px
    photo shrunk to 64 keeps one pixel in 30 and its fine detail turns into aliasing patterns;
    enlarging is the same either way."""
    tf = tensorflow()
    image = tf.image.resize(image, [image_size, image_size], method=RESIZE_INTERPOLATION,
                            antialias=True)
    image = tf.clip_by_value(image, *PIXEL_RANGE)
    image.set_shape([image_size, image_size, 3])
    return image


def center_crop(image_bytes, image_size: int):
    """The evaluation view: the centre square of size / (size + 32) of the short side (the
    tensorflow/tpu padding), decoded alone, resized to image_size."""
    tf = tensorflow()
    shape = _image_shape(image_bytes)
    height, width = shape[0], shape[1]
    side = tf.cast(image_size / (image_size + CROP_PADDING)
                   * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
    side = tf.maximum(side, 1)
    window = tf.stack([(height - side + 1) // 2, (width - side + 1) // 2, side, side])
    return _resize(_decode_window(image_bytes, window), image_size)


def random_crop(image_bytes, image_size: int, seed):
    """The training view (tensorflow/tpu): a random window covering 8-100% of the area with an
    aspect ratio of 3/4-4/3, decoded alone, resized; the centre crop when no window is found in
    10 tries. `seed`: a stateless seed, shape [2]."""
    tf = tensorflow()
    shape = _image_shape(image_bytes)
    whole = tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, shape=[1, 1, 4])
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, whole, seed=seed, min_object_covered=CROP_MIN_OBJECT_COVERED,
        aspect_ratio_range=CROP_ASPECT_RANGE, area_range=CROP_AREA_RANGE,
        max_attempts=CROP_MAX_ATTEMPTS, use_image_if_no_bounding_boxes=True)
    window = tf.stack([begin[0], begin[1], size[0], size[1]])
    failed = tf.reduce_all(tf.equal(size[:2], shape[:2]))  # the sampler gives the whole image
    return tf.cond(failed, lambda: center_crop(image_bytes, image_size),
                   lambda: _resize(_decode_window(image_bytes, window), image_size))


def whole_image(image_bytes, image_size: int, pad: bool = False):
    """The whole image resized to a square (`resize_method="resize"`, the aspect ratio changes),
    or first padded with black to a centred square (`"pad_and_resize"`, the aspect ratio kept)."""
    tf = tensorflow()
    image = _decode_any(image_bytes)
    if pad:
        height, width = tf.shape(image)[0], tf.shape(image)[1]
        side = tf.maximum(height, width)
        image = tf.image.pad_to_bounding_box(image, (side - height) // 2, (side - width) // 2,
                                             side, side)
    return _resize(image, image_size)


def preprocess(image_bytes, image_size: int, training: bool,
               resize_method: str = settings.DEFAULT_RESIZE_METHOD,
               seed=None):
    """Encoded image bytes -> float32 [size, size, 3] in 0..255, before augmentation."""
    if resize_method == "crop":
        return random_crop(image_bytes, image_size, seed) if training else \
            center_crop(image_bytes, image_size)
    return whole_image(image_bytes, image_size, pad=resize_method == "pad_and_resize")


# --- augmentation ------------------------------------------------------------------------------

def flip(image, seed):
    """Mirror left-right with probability 1/2."""
    return tensorflow().image.stateless_random_flip_left_right(image, seed)


def rotate90(image, seed):
    """Turn by a random multiple of 90 degrees (square images keep their shape)."""
    tf = tensorflow()
    k = tf.random.stateless_uniform([], seed, minval=0, maxval=4, dtype=tf.int32)
    rotated = tf.image.rot90(image, k)
    rotated.set_shape(image.shape)
    return rotated


def zoom(image, seed, amount: float):
    """Zoom in by a random fraction up to `amount`: a random square window of (1 - f) of the
    side, f uniform in [0, amount], resized back to the full size (bilinear)."""
    tf = tensorflow()
    seeds = tf.random.split(seed, 2)
    keep = 1.0 - tf.random.stateless_uniform([], seeds[0], 0.0, amount)
    corner = tf.random.stateless_uniform([2], seeds[1], 0.0, 1.0) * (1.0 - keep)
    box = tf.concat([corner, corner + keep], 0)[None]
    size = tf.shape(image)[:2]
    zoomed = tf.image.crop_and_resize(image[None], box, [0], size, method="bilinear")[0]
    zoomed.set_shape(image.shape)
    return zoomed


def randaugment_layer(seed: int | None = None):
    """keras.layers.RandAugment for 0..255 pixels (two random operations, magnitude 0.5)."""
    import keras
    return keras.layers.RandAugment(value_range=RANDAUGMENT_VALUE_RANGE, seed=seed)


def augment_image(image, seed, augment: Augment, randaugment=None):
    """Apply the per-image switches of `augment` (all but mixup) to one float image."""
    tf = tensorflow()
    seeds = tf.random.split(seed, 3)
    if augment.flip:
        image = flip(image, seeds[0])
    if augment.rotate90:
        image = rotate90(image, seeds[1])
    if augment.zoom:
        image = zoom(image, seeds[2], float(augment.zoom))
    if augment.randaugment:
        image = tf.cast(randaugment(image), tf.float32)
    return tf.clip_by_value(image, *PIXEL_RANGE)


def mixup(images, labels, seed, alpha: float):
    """Mixup (tensorflow/tpu): each image of the batch is blended with the one at the mirrored
    position (first with last, ...), labels alike, with weight w ~ Beta(alpha, alpha) taken as
    max(w, 1 - w), so the image keeps the larger share. Each row of the labels still sums to 1."""
    tf = tensorflow()
    seeds = tf.random.split(seed, 2)
    batch = tf.shape(images)[:1]
    a = tf.random.stateless_gamma(batch, seeds[0], alpha=alpha)
    b = tf.random.stateless_gamma(batch, seeds[1], alpha=alpha)
    total = a + b
    weight = tf.where(total > 0, a / tf.maximum(total, 1e-12), tf.ones_like(a))
    weight = tf.maximum(weight, 1.0 - weight)
    mixed_images = (weight[:, None, None, None] * images
                    + (1.0 - weight[:, None, None, None]) * tf.reverse(images, [0]))
    mixed_labels = weight[:, None] * labels + (1.0 - weight[:, None]) * tf.reverse(labels, [0])
    return mixed_images, mixed_labels


# --- the dataset ---------------------------------------------------------------------------------

def _files(records_dir, split: str, include_validation: bool) -> list[str]:
    files = shard_files(records_dir, split)
    if include_validation:
        files += shard_files(records_dir, "validation")
    if not files and split in settings.OPTIONAL_SPLITS:
        raise DatasetError(f"{records_dir} has no {split} split ({split}-NNNNN-of-NNNNN shards). "
                           f"Give the dataset a {split}/ folder (`effnet split --test-fraction "
                           "0.15`, or notebook 01) and convert it again.")
    if not files:
        raise DatasetError(f"No {split}-NNNNN-of-NNNNN shards in {records_dir}. Convert the "
                           "dataset first (notebook 02, or `effnet convert DATA_DIR OUTPUT_DIR`).")
    return files


def _records(files: list[str], shuffle_files: bool, seed, deterministic: bool):
    """Serialized records of all files, several files read at a time."""
    tf = tensorflow()
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files and len(files) > 1:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return dataset.interleave(
        lambda path: tf.data.TFRecordDataset(path, buffer_size=READ_BUFFER_BYTES),
        cycle_length=min(len(files), 8), block_length=1,
        num_parallel_calls=AUTOTUNE, deterministic=deterministic)


def _parser(lookup: np.ndarray):
    """serialized record -> (JPEG bytes, merged 0-based label), with the records module's spec."""
    tf = tensorflow()
    spec = {k: v for k, v in feature_spec().items()
            if k in ("image/encoded", "image/class/label")}
    table = tf.constant(lookup, tf.int32)
    count = len(lookup)

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, spec)
        label = tf.cast(parsed["image/class/label"], tf.int32) - LABEL_OFFSET
        checks = [tf.debugging.assert_greater_equal(label, 0, message="a record's 1-based "
                                                    "image/class/label is below 1"),
                  tf.debugging.assert_less(label, count, message="a record's label is beyond "
                                           "the classes of the label map")]
        with tf.control_dependencies(checks):
            label = tf.gather(table, label)
        return parsed["image/encoded"], label

    return parse


def make_dataset(records_dir, split: str = "train", image_size: int = 224, batch_size: int = 32,
                 *, training: bool | None = None, augment: Augment | None = None,
                 resize_method: str = settings.DEFAULT_RESIZE_METHOD, class_mapping=None,
                 include_validation: bool = False, balance: str | None = None,
                 shuffle_buffer: int = SHUFFLE_BUFFER, seed: int | None = None,
                 repeat: bool = False, drop_remainder: bool | None = None,
                 cache: bool | str = False):
    """Batches of (images, labels) from the TFRecords of one split.

    images  float32 [batch, image_size, image_size, 3], pixel values 0..255
    labels  float32 [batch, classes], one-hot (blended when mixup is on); the classes are
            `read_classes(records_dir, class_mapping)`, also kept as `dataset.class_names`

    training       shuffle, random crops and augmentation; default: split == "train"
    augment        Augment(...) switches for training; default Augment() (random flips)
    resize_method  "crop": the tensorflow/tpu crops (random when training, centre otherwise);
                   "resize": the whole image squashed to a square; "pad_and_resize": padded to a
                   square with black, then resized
    class_mapping  {"old": "new"} (or a JSON file) merging classes as the records are read
    include_validation  train on train + validation (for a final model)
    balance        None, or "sampling": every class equally often (one stream per class; an
                   epoch still has as many images as the split). For weights instead, pass
                   `class_weights(class_counts(...))` to model.fit.
    seed           makes shuffling and augmentation repeatable; None: different every run
    repeat         repeat for ever (then give model.fit a steps_per_epoch)
    drop_remainder default: training (TPUs need every batch the same size); evaluation never
                   drops the last partial batch, so every image is evaluated exactly once
    cache          keep the records (JPEG bytes) in memory after the first epoch (True) or in a
                   file (a path): saves the reading, not the decoding
    """
    _check_split(split)
    training = split == "train" if training is None else bool(training)
    drop_remainder = training if drop_remainder is None else bool(drop_remainder)
    augment = (augment or Augment()).check() if training else Augment.none()
    _check_dataset_options(split, image_size, batch_size, training, resize_method,
                           include_validation, balance, drop_remainder)
    merged, lookup = _merge_plan(_original_classes(records_dir), class_mapping)
    files = _files(records_dir, split, include_validation)
    deterministic = seed is not None or not training
    reading = dict(parse=_parser(lookup), seed=seed, cache=cache, deterministic=deterministic)
    if balance == "sampling":
        counts = class_counts(records_dir, split, class_mapping, include_validation)
        dataset = _balanced_records(files, counts, shuffle_buffer, **reading)
        total = int(counts.sum())
        if not repeat:
            dataset = dataset.take(total)  # an epoch: as many images as the split holds
    else:
        total = known_total(records_dir, split, include_validation)
        dataset = _all_records(files, training, shuffle_buffer, repeat, **reading)
    dataset = _batches(dataset, image_size, batch_size, len(merged), training, augment,
                       resize_method, seed, drop_remainder, deterministic)
    if total is not None and not repeat:
        batches = total // batch_size if drop_remainder else math.ceil(total / batch_size)
        dataset = dataset.apply(tensorflow().data.experimental.assert_cardinality(batches))
    dataset = dataset.prefetch(AUTOTUNE)
    dataset.class_names = merged
    return dataset


def _check_dataset_options(split, image_size, batch_size, training, resize_method,
                           include_validation, balance, drop_remainder) -> None:
    """make_dataset's refusals: options that do not fit together, each with the reason."""
    if resize_method not in settings.RESIZE_METHODS:
        raise ValueError(f"resize_method must be one of {settings.RESIZE_METHODS}, not "
                         f"{resize_method!r}")
    if balance not in (None, "sampling"):
        raise ValueError(f'balance must be None or "sampling", not {balance!r} (for class '
                         "weights, pass class_weights(class_counts(...)) to model.fit)")
    if include_validation and split != "train":
        raise ValueError("include_validation adds the validation images to the training split; "
                         f"it does not apply to split={split!r}.")
    if drop_remainder and not training:
        raise ValueError("Evaluation must see every image: drop_remainder=True would silently "
                         "skip the last partial batch. On a TPU, evaluate on the CPU, or choose "
                         "a batch size that divides the number of images.")
    if balance and not training:
        raise ValueError('balance="sampling" is for training; evaluation reads every image once.')
    if int(batch_size) < 1 or int(image_size) < 1:
        raise ValueError("batch_size and image_size must be positive.")


def _cached(dataset, cache, suffix: str = ""):
    """make_dataset's `cache`: False (as it is), True (in memory) or a file path."""
    if not cache:
        return dataset
    return dataset.cache("" if cache is True else str(cache) + suffix)


def _all_records(files, training: bool, shuffle_buffer: int, repeat: bool, *, parse, seed,
                 cache, deterministic):
    """(image bytes, label) of every record of FILES, shuffled when training."""
    dataset = _cached(_records(files, training, seed, deterministic), cache)
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    return dataset.map(parse, num_parallel_calls=AUTOTUNE, deterministic=deterministic)


def _balanced_records(files, counts, shuffle_buffer: int, *, parse, seed, cache, deterministic):
    """(image bytes, label) with every class present equally often: one endless shuffled stream
    per class, sampled with equal weights."""
    tf = tensorflow()
    present = [c for c in range(len(counts)) if counts[c] > 0]
    per_class_buffer = max(16, shuffle_buffer // max(len(present), 1))
    streams = []
    for index, cls in enumerate(present):
        stream = _records(files, True, seed, deterministic).map(
            parse, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
        stream = _cached(stream.filter(lambda image, label, cls=cls: tf.equal(label, cls)),
                         cache, f".class{cls}")
        stream = stream.shuffle(per_class_buffer, seed=None if seed is None else seed + index)
        streams.append(stream.repeat())
    return tf.data.Dataset.sample_from_datasets(
        streams, weights=[1.0 / len(streams)] * len(streams), seed=seed)


def _batches(dataset, image_size: int, batch_size: int, num_classes: int, training: bool,
             augment: Augment, resize_method: str, seed, drop_remainder: bool, deterministic):
    """Batches of (images, one-hot labels) from (image bytes, label): decoded, cropped or
    resized, augmented when training (each image with its own seed), mixup on whole batches."""
    tf = tensorflow()
    randaugment = randaugment_layer(seed) if augment.randaugment else None

    def prepare(element, image_seed):
        image_bytes, label = element
        image_seed = tf.stack([image_seed, tf.constant(0, tf.int64)])
        crop_seed, augment_seed = tf.unstack(tf.random.split(image_seed, 2))
        image = preprocess(image_bytes, image_size, training, resize_method, crop_seed)
        if training:
            image = augment_image(image, augment_seed, augment, randaugment)
        return image, tf.one_hot(label, num_classes, dtype=tf.float32)

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip((dataset, seeds)).map(
        prepare, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder,
                            num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if augment.mixup_alpha:
        alpha = float(augment.mixup_alpha)
        batch_seeds = tf.data.Dataset.random(seed=None if seed is None else seed + 1,
                                             rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip((dataset, batch_seeds)).map(
            lambda batch, s: mixup(*batch, tf.stack([s, tf.constant(1, tf.int64)]), alpha),
            num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    return dataset


def record_filenames(records_dir, split: str = "validation") -> list[str]:
    """The `image/filename` of every record of a split, in the order evaluation reads them
    (`make_dataset(training=False)`), so a prediction can be traced back to its photo."""
    tf = tensorflow()
    _check_split(split)
    spec = {"image/filename": feature_spec()["image/filename"]}
    names = _records(_files(records_dir, split, False), False, None, True).map(
        lambda serialized: tf.io.parse_single_example(serialized, spec)["image/filename"],
        num_parallel_calls=AUTOTUNE, deterministic=True)
    return [name.decode("utf-8") for name in names.as_numpy_iterator()]


def known_total(records_dir, split: str, include_validation: bool = False) -> int | None:
    """Images in the split when known without reading the records (the manifest), else None
    (records of the tensorflow/tpu converter: progress bars then count as they go)."""
    if not storage.exists(storage.join(records_dir, settings.MANIFEST_FILE)):
        return None
    return int(class_counts(records_dir, split, None, include_validation).sum())


# --- a picture of the augmentations ------------------------------------------------------------

def _sample_records(records_dir, split: str, n: int) -> list[tuple[bytes, int]]:
    """n records of a split, one per class where possible (the first of each class)."""
    tf = tensorflow()
    parse = _parser(np.arange(len(_original_classes(records_dir))))
    picked, seen, rest = [], set(), []
    files = shard_files(records_dir, split) or shard_files(records_dir, "train")
    for image_bytes, label in tf.data.TFRecordDataset(files).map(parse).take(400):
        label = int(label)
        (rest if label in seen else picked).append((image_bytes.numpy(), label))
        seen.add(label)
        if len(picked) >= n:
            break
    return (picked + rest)[:n]


def show_augmentations(records_dir, augment: Augment | None = None, image_size: int = 224,
                       n: int = 4, split: str = "train", seed: int = 0,
                       resize_method: str = settings.DEFAULT_RESIZE_METHOD):
    """A figure of what each augmentation does: one row per switch (original, flip, rotate90,
    zoom, randaugment, mixup) on the same `n` images. `augment=None` shows every switch with
    example values; otherwise the rows of the switches that are on. The "original" row is the
    evaluation view of `resize_method` (the centre crop for "crop", the whole image otherwise);
    flip is shown mirrored (in training, half the images are). The drawing is
    `plots.labelled_rows`'s."""
    from . import plots
    tf = tensorflow()
    title = ("What each augmentation switch that is on does (training only)" if augment else
             "What each augmentation switch does (example values, training only)")
    if augment is None:
        augment = Augment(flip=True, rotate90=True, zoom=DEMO_ZOOM, randaugment=has_randaugment(),
                          mixup_alpha=DEMO_MIXUP_ALPHA)
    augment.check()
    classes = _original_classes(records_dir)
    samples = _sample_records(records_dir, split, n)
    n = len(samples)
    originals = [preprocess(tf.constant(b), image_size, training=False,
                            resize_method=resize_method) for b, _ in samples]
    names = [classes[label] for _, label in samples]

    def seed_of(i, row):
        return tf.constant([seed * 1000 + row, i], tf.int64)

    rows = [(f"original\n({resize_method})", originals, names)]
    if augment.flip:
        rows.append(("flip", [tf.image.flip_left_right(im) for im in originals],
                     ["mirrored"] * n))
    if augment.rotate90:
        ks = [1 + i % 3 for i in range(n)]
        rows.append(("rotate90", [tf.image.rot90(im, k) for im, k in zip(originals, ks)],
                     [f"{90 * k}°" for k in ks]))
    if augment.zoom:
        rows.append((f"zoom ≤ {augment.zoom:g}",
                     [zoom(im, seed_of(i, 3), float(augment.zoom))
                      for i, im in enumerate(originals)],
                     ["random zoom in"] * n))
    if augment.randaugment:
        layer = randaugment_layer(seed)
        rows.append(("randaugment", [tf.clip_by_value(tf.cast(layer(im), tf.float32), 0, 255)
                                     for im in originals], ["2 random ops"] * n))
    if augment.mixup_alpha:
        labels = tf.one_hot([label for _, label in samples], len(classes))
        images, mixed = mixup(tf.stack(originals), labels, seed_of(0, 5),
                              float(augment.mixup_alpha))
        titles = []
        for i in range(n):
            top = np.argsort(-mixed[i].numpy())[:2]
            titles.append(" + ".join(f"{mixed[i, c].numpy():.2f} {classes[c]}" for c in top
                                     if mixed[i, c] > 0.005))
        rows.append((f"mixup α={augment.mixup_alpha:g}", list(images), titles))
    return plots.labelled_rows(rows, title if augment.switches()
                               else "No augmentation switch is on")
