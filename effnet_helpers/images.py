"""Check one image and make it storable: the rules shared by the layout report and the converter.

`prepare_image` takes a file's bytes and returns JPEG bytes that TensorFlow's JPEG decoder (the one
training uses) is proven to decode, or raises `ImageProblem` with a reason a person understands.

- A JPEG that is already RGB, upright and small enough is stored byte for byte.
- Anything else Pillow decodes (PNG, GIF, BMP, WebP, TIFF, CMYK or greyscale JPEG, RGBA, 16-bit) is
  converted to an RGB JPEG; EXIF orientation is applied; transparency is flattened onto white.
- An optional `max_side` shrinks large photos (fewer bytes to decode at every training epoch).
"""
from __future__ import annotations

import contextlib
import io
import math
import threading
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from . import settings
from .backend import tensorflow  # noqa: F401  (explain.py imports it from here)

EXIF_ORIENTATION = ExifTags.Base.Orientation  # 0x0112
# TensorFlow decodes at 1/8 scale for the proof: the whole compressed stream is still read and
# checked (a truncated or corrupt file fails the same way), only the final pixels are fewer.
VALIDATION_RATIO = 8


class ImageProblem(ValueError):
    """An image file that cannot be stored; str(error) is the reason shown to the user."""


_LIFT_LOCK = threading.Lock()
_lifts = 0                 # readers inside `pillow_limit_lifted` now (the converter's threads)
_pillow_limit = None       # Pillow's limit before the first of them came in


@contextlib.contextmanager
def pillow_limit_lifted():
    """Pillow's own decompression-bomb limit (Image.MAX_IMAGE_PIXELS) lifted while a reader that
    applies ours decodes (`open_image`'s `max_pixels`, whose message says what to do, and which
    `--max-pixels` raises for huge camera photos); put back when the last of the threads reading
    at the same time leaves. Outside, every Pillow open in the process keeps Pillow's guard."""
    global _lifts, _pillow_limit
    with _LIFT_LOCK:
        if _lifts == 0:
            _pillow_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _lifts += 1
    try:
        yield
    finally:
        with _LIFT_LOCK:
            _lifts -= 1
            if _lifts == 0:
                Image.MAX_IMAGE_PIXELS = _pillow_limit


@dataclass
class PreparedImage:
    """JPEG bytes ready for a TFRecord, with the facts the record stores about them."""

    data: bytes
    height: int
    width: int
    source_format: str   # what the file really is: JPEG, PNG, GIF, ...
    converted: bool      # False when the original bytes are stored unchanged


def sniff_format(data: bytes) -> str | None:
    """The image format from the file's first bytes (its "magic number"), whatever its name says."""
    signatures = {
        settings.JPEG_MAGIC: "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF87a": "GIF", b"GIF89a": "GIF",
        b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
    }
    for magic, name in signatures.items():
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "HEIC"
    return None


def open_image(data: bytes, max_pixels: int = settings.MAX_PIXELS) -> Image.Image:
    """Open an image lazily (header only) and apply the size checks; raise ImageProblem if
    unusable. Decoding it further is the caller's, inside `pillow_limit_lifted` when it may be
    larger than Pillow's own limit."""
    if not data:
        raise ImageProblem("empty file (0 bytes): the copy or download probably failed")
    try:
        with warnings.catch_warnings(), pillow_limit_lifted():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if sniff_format(data) == "HEIC":
            raise ImageProblem("HEIC photo (iPhone format) that Pillow cannot read: "
                               "export it as JPEG first") from None
        raise ImageProblem("not an image: its content is no format Pillow reads "
                           "(JPEG, PNG, GIF, BMP, WebP, TIFF)") from None
    except Exception as error:  # corrupt headers raise all sorts of errors
        raise ImageProblem(f"corrupt image header: {error}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageProblem(
            f"too many pixels: {width}x{height} = {width * height:,} is over the limit of "
            f"{max_pixels:,} (a decompression bomb, or a huge scan: shrink it first or raise "
            "max_pixels)")
    if width < 1 or height < 1:
        raise ImageProblem(f"image has no pixels ({width}x{height})")
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Decode and convert to 8-bit RGB: orientation applied, alpha flattened onto white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and 32-bit greys: scale the real range to 0..255 (Pillow would clip at 255).
        # Mode "I" holding 16-bit values (as older Pillow releases open 16-bit PNGs) is 16-bit
        # data too: scaling it by its own maximum would turn a uniform mid-grey white.
        values = np.asarray(image, dtype=np.float64)
        sixteen = image.mode.startswith("I;16") or (image.mode == "I" and 0 <= values.min()
                                                      and values.max() <= 65535)
        top = 65535.0 if sixteen else max(float(values.max()), 1.0)
        image = Image.fromarray(np.clip(values * 255.0 / top, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB") if image.mode != "RGB" else image


def _shrink(image: Image.Image, max_side: int | None) -> Image.Image:
    if max_side and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return image


def encode_jpeg(image: Image.Image, quality: int = settings.JPEG_QUALITY) -> bytes:
    """RGB JPEG bytes of a Pillow image (baseline, 4:2:0, as TensorFlow decodes fastest)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def decode_check(contents):
    """TensorFlow's proof for JPEG bytes (a tensor): the header's shape and the shape decoded at
    1/8 scale. Raises on truncated or corrupt data. Works eagerly and inside tf.data pipelines."""
    tf = tensorflow()
    header = tf.io.extract_jpeg_shape(contents)
    decoded = tf.shape(tf.io.decode_jpeg(contents, channels=3, ratio=VALIDATION_RATIO))
    return header, decoded


def validate_jpeg(data: bytes, height: int, width: int) -> None:
    """Prove that TensorFlow's JPEG decoder (the one training uses) decodes these bytes to an RGB
    image of the stated size; raise ImageProblem otherwise."""
    tf = tensorflow()
    try:
        proven = [t.numpy() for t in decode_check(tf.constant(data))]
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        message = str(error).split("[Op:")[0].split("}}")[-1].strip() or type(error).__name__
        raise ImageProblem(f"TensorFlow cannot decode it (truncated or corrupt): {message}"
                           ) from None
    header, decoded = (tuple(int(v) for v in shape) for shape in proven)
    expected = (-(-height // VALIDATION_RATIO), -(-width // VALIDATION_RATIO), 3)
    if header[:2] != (height, width) or decoded != expected:
        raise ImageProblem(f"decoded size {header[:2]} differs from the header's {height}x{width}")


def _storable_as_is(image: Image.Image, max_side: int | None) -> bool:
    """A JPEG that is RGB, upright and small enough needs no conversion."""
    if image.format != "JPEG" or image.mode != "RGB":
        return False
    if image.getexif().get(EXIF_ORIENTATION, 1) not in (0, 1):
        return False
    return not (max_side and max(image.size) > max_side)


def jpeg_orientation(data: bytes) -> int | None:
    """The EXIF orientation of JPEG bytes (1, upright, when there is none), read from the first
    Exif APP1 segment as Pillow reads it, without Pillow (a few microseconds); None when the
    segments cannot be parsed (then the careful path decides)."""
    import struct
    pos = 2
    try:
        while pos + 4 <= len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            if marker in (0xD9, 0xDA):  # end of image, start of scan: no more metadata
                return 1
            length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
            if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\0\0":
                tiff = data[pos + 10:pos + 2 + length]
                order = {b"II": "<", b"MM": ">"}[tiff[:2]]
                ifd = struct.unpack(order + "I", tiff[4:8])[0]
                count = struct.unpack(order + "H", tiff[ifd:ifd + 2])[0]
                for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
                    if struct.unpack(order + "H", tiff[entry:entry + 2])[0] == EXIF_ORIENTATION:
                        return struct.unpack(order + "H", tiff[entry + 8:entry + 10])[0]
                return 1
            pos += 2 + length
    except (KeyError, struct.error):
        return None
    return None


def fast_check(contents, max_side: int | None = None, max_pixels: int = settings.MAX_PIXELS):
    """The converter's fast path for JPEG bytes (a string tensor), in TensorFlow: works eagerly and
    inside tf.data pipelines, on TensorFlow's threads. Returns (plain, height, width) tensors:
    `plain` is True when the bytes start with the JPEG marker, have 3 channels, fit the pixel and
    side limits, and TensorFlow's decoder decodes them (at 1/8 scale, see decode_check) to the
    header's size. Bytes that do not start with the JPEG marker never reach TensorFlow's JPEG
    decoder (its libjpeg would print "Not a JPEG file" on stderr, which reads as an error): they
    are not plain, with height and width 0, and the careful path (Pillow) decides. Bytes the
    limits rule out are not decoded here: the careful path decodes and proves what it stores
    anyway. Raises (a TensorFlow error) when the header, or the data of a JPEG within the
    limits, does not decode."""
    tf = tensorflow()

    def inspect():
        header = tf.io.extract_jpeg_shape(contents)
        height, width = header[0], header[1]
        fits = ((header[2] == 3)
                & (tf.cast(height, tf.int64) * tf.cast(width, tf.int64) <= max_pixels))
        if max_side:
            fits &= tf.maximum(height, width) <= max_side

        def proof():
            decoded = tf.shape(tf.io.decode_jpeg(contents, channels=3, ratio=VALIDATION_RATIO))
            return ((decoded[0] == (height + VALIDATION_RATIO - 1) // VALIDATION_RATIO)
                    & (decoded[1] == (width + VALIDATION_RATIO - 1) // VALIDATION_RATIO))

        return tf.cond(fits, proof, lambda: tf.constant(False)), height, width

    def not_jpeg():
        return tf.constant(False), tf.constant(0, tf.int32), tf.constant(0, tf.int32)

    return tf.cond(tf.strings.substr(contents, 0, 3) == settings.JPEG_MAGIC, inspect, not_jpeg)


def store_unchanged(data: bytes, checked) -> PreparedImage | None:
    """The file's own bytes when `fast_check` found them plain, (plain, height, width), and their
    EXIF orientation is upright; None when anything else applies (then `prepare_image` decides,
    and gives the reason if it must skip). Same rules as prepare_image's "store as is", without
    Pillow (this runs once per image, in Python)."""
    plain, height, width = checked
    if not plain or jpeg_orientation(data) not in (0, 1):
        return None
    return PreparedImage(data, int(height), int(width), "JPEG", converted=False)


def prepare_image(data: bytes, max_side: int | None = None,
                  max_pixels: int = settings.MAX_PIXELS, prove: bool = True) -> PreparedImage:
    """Return storable JPEG bytes for one image file's bytes, or raise ImageProblem with the reason.
    `prove=False` returns a JPEG that needs no conversion without decoding it (its header was
    read): for callers that decode it next anyway and catch a failure there (inference)."""
    image = open_image(data, max_pixels)
    source_format = image.format or sniff_format(data) or "unknown"
    width, height = image.size
    too_big = bool(max_side) and max(width, height) > max_side
    failure = None
    if _storable_as_is(image, max_side):
        if not prove:
            return PreparedImage(data, height, width, source_format, converted=False)
        try:
            validate_jpeg(data, height, width)
            return PreparedImage(data, height, width, source_format, converted=False)
        except ImageProblem as problem:
            failure = problem  # maybe Pillow still reads it (rare JPEG flavours): try to convert
    try:
        with warnings.catch_warnings(), pillow_limit_lifted():  # open_image checked the size
            warnings.simplefilter("ignore")
            if too_big and source_format == "JPEG":
                # decode at a reduced scale (1/2, 1/4 or 1/8, in the JPEG decoder itself: much
                # faster), the largest that keeps the long side at least max_side
                scale = max_side / max(width, height)
                image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            image.load()
            rgb = _shrink(_to_rgb(image), max_side)
    except ImageProblem:
        raise
    except Exception as error:
        if failure is not None:
            raise failure from None
        raise ImageProblem(f"{source_format} does not decode (truncated or corrupt): {error}") from None
    encoded = encode_jpeg(rgb)
    validate_jpeg(encoded, rgb.height, rgb.width)
    return PreparedImage(encoded, rgb.height, rgb.width, source_format, converted=True)
