"""Shrinking an image for the model is antialiased (a fine pattern becomes its average, not an
aliasing pattern); an image already at the model's size, or enlarged, is as before."""
import io

import numpy as np
from PIL import Image

from effnet_helpers import pipeline


def png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_fine_stripe_pattern_shrinks_to_its_mean_grey():
    stripes = np.zeros((1000, 1000, 3), np.uint8)
    stripes[:, ::2] = 255                       # 1-pixel black and white columns
    out = pipeline.preprocess(png(stripes), 64, training=False, resize_method="resize").numpy()
    assert abs(out.mean() - 127.5) < 3
    assert out.std() < 10, out.std()            # without antialiasing: stripes or solid columns


def test_an_image_at_the_model_size_is_unchanged():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3))
    out = pipeline.preprocess(png(image), 64, training=False, resize_method="resize").numpy()
    assert np.abs(out - image).max() < 1e-3
