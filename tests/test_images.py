"""One image at a time: effnet_helpers.images.prepare_image, the rules the converter and the
layout report share. Every stored result must decode with TensorFlow's JPEG decoders."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import (bomb_png_bytes, encode, exif_rotated_jpeg, jpeg_bytes,
                      png16_bytes, png_bytes, smooth_array, solid)
from effnet_helpers import images
from effnet_helpers.images import ImageProblem, prepare_image


def pixels(data: bytes) -> np.ndarray:
    """Decode with TensorFlow (as training does): (height, width, 3) uint8."""
    import tensorflow as tf
    return tf.io.decode_jpeg(data, channels=3).numpy()


def assert_tf_decodes(prepared) -> None:
    """The stored bytes are a JPEG that decode_jpeg and decode_and_crop_jpeg both read."""
    import tensorflow as tf
    assert prepared.data[:3] == b"\xff\xd8\xff"
    full = tf.io.decode_jpeg(prepared.data, channels=3)
    assert tuple(full.shape) == (prepared.height, prepared.width, 3)
    crop = tf.image.decode_and_crop_jpeg(prepared.data, [0, 0, prepared.height, prepared.width],
                                         channels=3)
    assert tuple(crop.shape) == (prepared.height, prepared.width, 3)


@pytest.fixture(autouse=True)
def _tf(tf):
    return tf


# --- good files -----------------------------------------------------------------------------

def test_plain_rgb_jpeg_is_stored_byte_for_byte():
    data = jpeg_bytes(1, (40, 24))
    prepared = prepare_image(data)
    assert prepared.data == data
    assert prepared.converted is False
    assert (prepared.width, prepared.height, prepared.source_format) == (40, 24, "JPEG")
    assert_tf_decodes(prepared)


def test_png_named_jpg_is_converted_to_a_real_jpeg():
    # The reference converter stored such files as PNG bytes, which broke decode_and_crop_jpeg.
    image = Image.fromarray(smooth_array(2, (30, 20)))
    prepared = prepare_image(encode(image, "PNG"))
    assert prepared.source_format == "PNG" and prepared.converted
    assert_tf_decodes(prepared)
    # Same picture (JPEG is lossy: compare on average).
    assert np.abs(pixels(prepared.data).astype(int) - np.asarray(image, int)).mean() < 6


@pytest.mark.parametrize("mode, color, expected", [
    ("CMYK", (255, 0, 0, 0), (0, 255, 255)),      # pure cyan ink
    ("CMYK", (0, 0, 0, 0), (255, 255, 255)),      # no ink: white paper
    ("L", 100, (100, 100, 100)),                  # greyscale JPEG
])
def test_cmyk_and_greyscale_jpegs_become_rgb_with_their_colours(mode, color, expected):
    data = encode(solid(mode, color), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == mode
    prepared = prepare_image(data)
    assert prepared.converted and prepared.source_format == "JPEG"
    assert_tf_decodes(prepared)
    assert np.abs(pixels(prepared.data).reshape(-1, 3).mean(0) - expected).max() < 4


def test_rgba_png_is_flattened_onto_white():
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))          # fully transparent
    image.paste((200, 0, 0, 255), (0, 0, 10, 20))               # left half opaque red
    prepared = prepare_image(encode(image, "PNG"))
    assert_tf_decodes(prepared)
    decoded = pixels(prepared.data).astype(int)
    assert np.abs(decoded[10, 3] - (200, 0, 0)).max() < 12      # opaque part kept
    assert np.abs(decoded[10, 16] - (255, 255, 255)).max() < 6  # transparent part is white


@pytest.mark.parametrize("value", [0, 16384, 32768, 65535])
def test_16bit_png_keeps_its_brightness(value):
    data = png16_bytes(value)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    prepared = prepare_image(data)
    assert_tf_decodes(prepared)
    expected = round(value * 255 / 65535)
    assert np.abs(pixels(prepared.data).astype(int) - expected).max() <= 2, expected


@pytest.mark.parametrize("value, expected", [
    ((32768, 16384, 65535), (128, 64, 255)),            # RGB, 16 bits per channel
    ((32768, 16384, 65535, 65535), (128, 64, 255)),     # RGBA, opaque
    ((32768, 65535), (128, 128, 128)),                  # grey and alpha, opaque
])
def test_16bit_colour_pngs_keep_their_colours(value, expected):
    prepared = prepare_image(png16_bytes(value))
    assert_tf_decodes(prepared)
    assert np.abs(pixels(prepared.data).reshape(-1, 3).mean(0) - expected).max() <= 2


def test_16bit_png_gradient_is_not_stretched_or_clipped():
    width = 64
    row = (np.arange(width) * 256).astype(">u2")   # 0 .. 16128: a dark image stays dark
    image = Image.fromarray(np.tile(row.astype(np.uint16), (8, 1)))
    prepared = prepare_image(encode(image, "PNG"))
    decoded = pixels(prepared.data)[:, :, 0].astype(int)
    assert decoded.max() <= 66 and decoded[:, 0].max() <= 3


def test_32bit_integer_greys_holding_16bit_values_are_not_clipped_white():
    # Older Pillow releases open 16-bit PNGs as mode "I" (32-bit); the same values must give the
    # same greys as I;16, not an image stretched by its own maximum.
    image = Image.fromarray(np.full((16, 24), 32768, np.int32))
    assert image.mode == "I"
    prepared = prepare_image(encode(image, "TIFF"))
    assert np.abs(pixels(prepared.data).astype(int) - 128).max() <= 2


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP", "TIFF"])
def test_other_formats_are_converted_with_their_colours(fmt):
    image = Image.new("RGB", (20, 12), (20, 140, 220))
    options = {"lossless": True} if fmt == "WEBP" else {}
    prepared = prepare_image(encode(image, fmt, **options))
    assert prepared.source_format == fmt and prepared.converted
    assert_tf_decodes(prepared)
    assert (prepared.width, prepared.height) == (20, 12)
    assert np.abs(pixels(prepared.data).reshape(-1, 3).mean(0) - (20, 140, 220)).max() < 6


def test_exif_orientation_6_is_applied_to_pixels_and_size():
    data = exif_rotated_jpeg((60, 30), orientation=6)
    assert Image.open(io.BytesIO(data)).size == (60, 30)
    prepared = prepare_image(data)
    assert prepared.converted
    assert (prepared.width, prepared.height) == (30, 60)   # width and height swapped
    assert_tf_decodes(prepared)
    decoded = pixels(prepared.data).astype(int)
    red, blue = (255, 0, 0), (0, 0, 255)
    # Orientation 6: turn 90 degrees clockwise to display, so the stored top-left corner is
    # shown at the top right.
    assert np.abs(decoded[3, 26] - red).max() < 40
    assert np.abs(decoded[3, 3] - blue).max() < 40
    assert np.abs(decoded[56, 3] - blue).max() < 40
    assert np.abs(decoded[56, 26] - blue).max() < 40


def test_max_side_shrinks_keeping_the_aspect_ratio():
    for data in (jpeg_bytes(3, (120, 60)), png_bytes(3, (120, 60))):
        prepared = prepare_image(data, max_side=40)
        assert (prepared.width, prepared.height) == (40, 20) and prepared.converted
        assert_tf_decodes(prepared)
    small = jpeg_bytes(4, (30, 20))
    assert prepare_image(small, max_side=40).data == small  # already small: unchanged


# --- bad files ------------------------------------------------------------------------------

def reason(data: bytes, **options) -> str:
    with pytest.raises(ImageProblem) as info:
        prepare_image(data, **options)
    assert str(info.value).strip()
    return str(info.value)


def test_zero_byte_file():
    assert "empty file" in reason(b"")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.98])
def test_truncated_jpeg_is_refused(keep):
    data = jpeg_bytes(5, (64, 64))
    assert "truncated or corrupt" in reason(data[:int(len(data) * keep)])


def test_jpeg_cut_inside_its_header_is_refused():
    assert "corrupt" in reason(jpeg_bytes(5, (64, 64))[:300])


@pytest.mark.parametrize("data", [
    b"just some notes\n",
    b"\x00\x00\x00\x01Bud1" + b"\x00" * 100,     # what a .DS_Store holds
    "アブラムシの写真\n".encode("utf-8"),
], ids=["text", "ds_store", "japanese-text"])
def test_files_that_are_no_image(data):
    assert "not an image" in reason(data)


def test_heic_gets_its_own_message():
    assert "HEIC" in reason(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)


def test_decompression_bomb_is_refused_from_its_header_alone():
    data = bomb_png_bytes(100_000, 100_000)
    assert len(data) < 1000
    started = time.perf_counter()
    message = reason(data)
    assert time.perf_counter() - started < 1.0   # never decoded
    assert "too many pixels" in message and "100000x100000" in message


def test_max_pixels_below_a_real_image():
    data = jpeg_bytes(6, (40, 30))
    assert "too many pixels" in reason(data, max_pixels=40 * 30 - 1)
    assert prepare_image(data, max_pixels=40 * 30).data == data


def test_sniff_format_reads_content_not_names():
    assert images.sniff_format(png_bytes()) == "PNG"
    assert images.sniff_format(jpeg_bytes()) == "JPEG"
    assert images.sniff_format(encode(solid("RGB", 0), "WEBP")) == "WEBP"
    assert images.sniff_format(b"hello") is None


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("big_endian", [False, True])
def test_jpeg_orientation_reads_what_pillow_reads(orientation, big_endian):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "camera maker"  # another tag before it, so the parser has to walk the IFD
    data = exif.tobytes()
    if big_endian:  # Pillow writes little-endian; rebuild the TIFF header big-endian by hand
        import struct
        tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
        entries = [(0x010F, 2, 13, b"camera maker\x00"), (0x0112, 3, 1, None)]
        body = struct.pack(">H", len(entries))
        extra = b""
        for tag, kind, count, value in entries:
            if value is None:
                body += struct.pack(">HHIHH", tag, kind, count, orientation, 0)
            else:
                body += struct.pack(">HHII", tag, kind, count, 8 + 2 + 12 * len(entries) + 4)
                extra += value
        data = b"Exif\x00\x00" + tiff + body + struct.pack(">I", 0) + extra
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), "red").save(buffer, "JPEG", exif=data)
    jpeg = buffer.getvalue()
    assert images.jpeg_orientation(jpeg) == Image.open(io.BytesIO(jpeg)).getexif()[0x0112] \
        == orientation


def test_jpeg_orientation_without_exif_is_upright():
    assert images.jpeg_orientation(jpeg_bytes(1)) == 1


@pytest.mark.parametrize("name, data", [
    ("plain jpeg", jpeg_bytes(3, (40, 30))),
    ("rotated", exif_rotated_jpeg()),
    ("greyscale", encode(solid("L", 128), "JPEG")),
    ("cmyk", encode(solid("CMYK", (0, 50, 100, 0)), "JPEG")),
    ("truncated", jpeg_bytes(4, (64, 64))[:300]),
    ("png", png_bytes(5)),
])
def test_fast_path_accepts_only_what_the_careful_path_stores_unchanged(name, data, tf):
    """The converter's fast path (TensorFlow's fast_check + store_unchanged) and its careful path
    (prepare_image) must agree: same bytes when the fast path accepts, else it declines."""
    try:
        checked = [t.numpy() for t in images.fast_check(tf.constant(data))]
    except tf.errors.InvalidArgumentError:
        checked = None  # the pipeline drops the file; the careful path decides alone
    fast = images.store_unchanged(data, checked) if checked is not None else None
    try:
        careful = images.prepare_image(data)
    except images.ImageProblem:
        careful = None
    if fast is not None:
        assert careful is not None and not careful.converted
        assert (fast.data, fast.height, fast.width) == (careful.data, careful.height, careful.width)
    else:
        assert careful is None or careful.converted, name
    assert (fast is not None) == (name == "plain jpeg")


def test_fast_path_respects_the_size_limits(tf):
    data = jpeg_bytes(6, (40, 30))

    def stored(**limits):
        checked = [t.numpy() for t in images.fast_check(tf.constant(data), **limits)]
        return images.store_unchanged(data, checked)

    assert (stored().height, stored().width) == (30, 40)
    assert stored(max_side=40) is not None
    assert stored(max_side=39) is None
    assert stored(max_pixels=1200) is not None
    assert stored(max_pixels=1199) is None


def test_fast_path_proves_the_data_inside_the_limits_and_skips_the_rest(tf):
    """A JPEG whose data is broken after an intact header fails the fast check (the pipeline then
    leaves it to the careful path), unless the limits rule it out before any decode."""
    whole = jpeg_bytes(7, (64, 64))
    broken = whole[:len(whole) // 2] + bytes(len(whole) // 2)
    with pytest.raises(tf.errors.InvalidArgumentError):
        images.fast_check(tf.constant(broken))
    plain, height, width = (t.numpy() for t in images.fast_check(tf.constant(broken), max_side=32))
    assert (bool(plain), int(height), int(width)) == (False, 64, 64)
