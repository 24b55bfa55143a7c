"""Inside EfficientNet: the from-scratch EfficientNet equals keras.applications' (parameters,
stage shapes, outputs), the scaling arithmetic is the paper's and Keras', the counters count what
they say, and each "common mistake" changes what the notebook says it changes."""
from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from effnet_helpers import architecture as arch  # noqa: E402

KERAS_B0_PARAMS = 5_330_571        # keras.applications.EfficientNetB0(weights=None).count_params()
KERAS_B0_HEADLESS = 4_049_571      # the same with include_top=False
KERAS_B0_FLOPS = 385_814_752       # multiply-adds at 224 px: the paper's "0.39B"
LITE0_PARAMS = 4_694_024           # the numbers of the packaged Lite0 state dict, counters left out


@pytest.fixture(scope="module")
def b0_pair():
    """(ours, keras') EfficientNet-B0 with the ImageNet classifier, random weights."""
    return arch.efficientnet(), keras.applications.EfficientNetB0(weights=None)


def test_from_scratch_b0_has_exactly_keras_parameter_count(b0_pair):
    ours, reference = b0_pair
    assert arch.count_params(reference) == KERAS_B0_PARAMS
    assert arch.count_params(ours) == KERAS_B0_PARAMS
    headless = arch.efficientnet(include_top=False, resolution=64)
    reference_headless = keras.applications.EfficientNetB0(
        weights=None, include_top=False, input_shape=(64, 64, 3))
    assert arch.count_params(headless) == arch.count_params(reference_headless) == \
        KERAS_B0_HEADLESS


def test_stage_shapes_and_parameters_match_stage_by_stage(b0_pair):
    table = arch.compare_stages(*b0_pair)
    assert list(table.index) == arch.STAGE_ORDER
    assert table["same"].all(), table
    assert table.loc["stem", "ours output"] == (112, 112, 32)
    assert table.loc["block6", "ours output"] == (7, 7, 192)
    assert table.loc["top", "ours output"] == (7, 7, 1280)
    assert list(table["ours blocks"][1:9]) == [0, 1, 2, 2, 3, 3, 4, 1]  # Table 1's repeats


def test_same_weights_give_the_same_outputs(b0_pair):
    ours, reference = b0_pair
    assert arch.copy_weights(reference, ours) == len(ours.weights)
    images = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    expected = reference(images, training=False).numpy()
    np.testing.assert_allclose(ours(images, training=False).numpy(), expected, atol=1e-6)


def test_scaled_model_b2_matches_keras_and_the_analytic_count():
    # width 1.1 exercises the rounding of channels, depth 1.2 the rounding of repeats
    ours = arch.efficientnet(width=1.1, depth=1.2, resolution=64)
    reference = keras.applications.EfficientNetB2(weights=None, input_shape=(64, 64, 3))
    cost = arch.analytic_cost(1.1, 1.2, 64)
    assert arch.count_params(ours) == arch.count_params(reference) == cost["params"] == 9_177_569
    assert arch.count_flops(ours) == arch.count_flops(reference) == cost["flops"]
    assert arch.compare_stages(ours, reference)["same"].all()


def test_flops_of_b0_are_the_papers_multiply_adds(b0_pair):
    ours, reference = b0_pair
    assert arch.count_flops(reference) == arch.count_flops(ours) == KERAS_B0_FLOPS
    assert arch.analytic_cost() == {"params": KERAS_B0_PARAMS, "flops": KERAS_B0_FLOPS}
    assert arch.analytic_cost(include_top=False)["params"] == KERAS_B0_HEADLESS


def test_count_flops_counts_one_multiply_add_per_kernel_weight_and_output_pixel():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 3, padding="same")(inputs)             # 8*8 * 3*3*3*16
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 4*4 * 3*3*16
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10)(x)                                # 16*10
    model = keras.Model(inputs, outputs)
    assert arch.count_flops(model) == 8 * 8 * 27 * 16 + 4 * 4 * 9 * 16 + 160
    nested = keras.Sequential([keras.Input((8, 8, 3)), model])
    assert arch.count_flops(nested) == arch.count_flops(model)


def test_compound_scaling_numbers():
    assert arch.compound_coefficients(1) == (1.2, 1.1, 1.15)
    depth, width, resolution = arch.compound_coefficients(2)
    assert (depth, width, resolution) == pytest.approx((1.44, 1.21, 1.3225))
    assert arch.ALPHA * arch.BETA ** 2 * arch.GAMMA ** 2 == pytest.approx(1.92, abs=0.001)
    # channels: nearest multiple of 8, but never more than 10% below the exact product
    assert arch.round_filters(32, 1.1) == 32 and arch.round_filters(1280, 1.1) == 1408
    assert arch.round_filters(40, 1.4) == 56 and arch.round_filters(1280, 2.0) == 2560
    assert arch.round_filters(20, 1.0, divisor=16) == 32  # 16 would be 20% below 20
    assert arch.round_repeats(1, 1.1) == 2 and arch.round_repeats(3, 3.1) == 10
    table = arch.scaling_table()
    assert list(table["blocks"]) == [16, 23, 23, 26, 32, 39, 45, 55]
    assert table.loc["B7", "stem channels"] == 64 and table.loc["B7", "head channels"] == 2560
    assert table.loc["B2", "phi from depth"] == pytest.approx(1.0)


def test_analytic_b0_to_b7_agree_with_the_paper_within_5_percent():
    for name, paper in arch.PAPER.iterrows():
        cost = arch.analytic_cost(paper.width, paper.depth, int(paper.resolution))
        assert cost["params"] / 1e6 == pytest.approx(paper.params_M, rel=0.05), name
        assert cost["flops"] / 1e9 == pytest.approx(paper.FLOPs_B, rel=0.05), name
        headless = arch.analytic_cost(paper.width, paper.depth, 224, include_top=False)
        head = arch.round_filters(arch.HEAD_FILTERS, paper.width)
        assert cost["params"] - headless["params"] == head * 1000 + 1000  # the dense layer
    # the paper counts the 1000-class dense layer: without it B0 is 24% smaller than "5.3M"
    assert arch.analytic_cost(include_top=False)["params"] / 1e6 < 0.8 * arch.PAPER.params_M["B0"]


def test_scaling_strategies_spend_the_same_budget_differently():
    table = arch.scaling_comparison([0, 3]).set_index(["phi", "strategy"])
    assert table.loc[0, "params_M"].nunique() == 1
    three = table.loc[3]
    assert three.loc["resolution only", "params_M"] == table.loc[(0, "compound"), "params_M"]
    assert three.loc["resolution only", "resolution"] == round(224 * 1.92 ** 1.5)
    assert three.loc["depth only", "params_M"] > three.loc["compound", "params_M"]
    assert three.loc["width only", "params_M"] > three.loc["compound", "params_M"]
    budget = 1.92 ** 3 * KERAS_B0_FLOPS / 1e9
    assert three["FLOPs_B"].between(0.7 * budget, 1.3 * budget).all()


def _squeeze_excite_params(channels, squeezed):
    return 2 * channels * squeezed + squeezed + channels


def test_se_after_projection_keeps_shapes_but_changes_parameters(b0_pair):
    ours, reference = b0_pair
    wrong = arch.efficientnet(mistake="se_after_projection")
    table = arch.compare_stages(wrong, reference)
    assert (table["keras output"] == table["ours output"]).all()
    # the SE now works on filters_out channels instead of filters_in * expand_ratio
    saved = sum(_squeeze_excite_params(b["filters_in"] * b["expand_ratio"], b["filters_in"] // 4)
                - _squeeze_excite_params(b["filters_out"], b["filters_in"] // 4)
                for _, _, b in arch._blocks(1.0, 1.0))
    assert arch.count_params(wrong) == KERAS_B0_PARAMS - saved == 4_820_027
    # and it sits after the projection: the squeeze reads the projection's batch norm
    squeeze = wrong.get_layer("block2a_se_squeeze")
    assert squeeze.input is wrong.get_layer("block2a_project_bn").output
    assert ours.get_layer("block2a_se_squeeze").input is ours.get_layer("block2a_activation").output


def test_se_ratio_of_expanded_channels_inflates_the_model():
    wrong = arch.efficientnet(mistake="se_ratio_of_expanded", include_top=False, resolution=32)
    assert arch.count_params(wrong) == 8_465_871 - 1_281_000
    assert arch.count_params(wrong) > KERAS_B0_HEADLESS


def _dropped_fraction(survival_prob, samples=4000):
    layer = arch.StochasticDepth(survival_prob, seed=1)
    out = layer(np.ones((samples, 1, 1, 1), "float32"), training=True).numpy().ravel()
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 1 / survival_prob, rtol=1e-6)  # survivors are rescaled
    return 1 - len(kept) / samples


def test_stochastic_depth_drops_one_minus_survival_of_the_branches():
    assert _dropped_fraction(0.8) == pytest.approx(0.2, abs=0.03)
    assert _dropped_fraction(0.2) == pytest.approx(0.8, abs=0.03)  # the mistake's effect
    ones = np.ones((8, 2, 2, 3), "float32")
    np.testing.assert_array_equal(arch.StochasticDepth(0.5)(ones, training=False), ones)
    with pytest.raises(ValueError, match="survival_prob"):
        arch.StochasticDepth(0.0)


def test_drop_rate_used_as_survival_probability(b0_pair):
    ours, _ = b0_pair
    right = arch.survival_probabilities(ours)
    assert len(right) == 9
    assert right["block2b"] == pytest.approx(1 - 0.2 * 2 / 16)
    assert right["block6d"] == pytest.approx(1 - 0.2 * 14 / 16)
    assert min(right.values()) > 0.8
    wrong = arch.survival_probabilities(
        arch.efficientnet(mistake="drop_as_survival", include_top=False, resolution=32))
    assert wrong.keys() == right.keys()
    assert all(wrong[k] == pytest.approx(1 - right[k]) for k in right)
    assert max(wrong.values()) < 0.2  # most residual branches are dropped in training


def test_block_drops_its_branch_per_sample_in_training():
    inputs = keras.Input((4, 4, 16))
    outputs = arch.mbconv_block(inputs, 16, 16, 3, 1, 6, survival_prob=0.5, name="b_")
    block = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(1000, 4, 4, 16)).astype("float32")
    passed_through = np.all(block(x, training=True).numpy() == x, axis=(1, 2, 3))
    assert passed_through.mean() == pytest.approx(0.5, abs=0.06)
    assert not np.all(block(x, training=False).numpy() == x, axis=(1, 2, 3)).any()


@pytest.mark.parametrize("strides,filters_out,residual", [
    (1, 16, True), (2, 16, False), (1, 24, False), (2, 24, False)])
def test_residual_only_with_stride_1_and_same_channels(strides, filters_out, residual):
    inputs = keras.Input((8, 8, 16))
    block = keras.Model(inputs, arch.mbconv_block(inputs, 16, filters_out, 3, strides, 6,
                                                  survival_prob=0.9, name="b_"))
    names = {layer.name for layer in block.layers}
    assert ("b_add" in names) is residual
    assert ("b_drop" in names) is residual  # stochastic depth lives on the residual branch only


def test_b0_has_nine_residual_blocks_and_the_missing_condition_fails(b0_pair):
    ours, _ = b0_pair
    adds = [layer.name for layer in ours.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 16 - 7  # every block but the first of each stage
    with pytest.raises(ValueError, match="incompatible shapes"):
        arch.efficientnet(mistake="no_residual_condition", include_top=False, resolution=32)
    with pytest.raises(ValueError, match="mistake must be"):
        arch.efficientnet(mistake="typo")


def test_b0_stage_table_is_the_papers_table_1():
    table = arch.b0_stage_table()
    assert list(table["operator"])[1:8] == ["MBConv1 3x3", "MBConv6 3x3", "MBConv6 5x5",
                                            "MBConv6 3x3", "MBConv6 5x5", "MBConv6 5x5",
                                            "MBConv6 3x3"]
    assert list(table["input"]) == ["224x224", "112x112", "112x112", "56x56", "28x28", "14x14",
                                    "14x14", "7x7", "7x7"]
    assert list(table["channels"]) == [32, 16, 24, 40, 80, 112, 192, 320, 1280]
    assert list(table["repeats"]) == [1, 1, 2, 2, 3, 3, 4, 1, 1]
    # paper stage 1 = stem, 2-8 = block1-7, 9 = top + head: the names compare_stages uses
    assert list(table["Keras part"]) == [*arch.STAGE_ORDER[1:9], "top + head"]
    assert sum(s.repeats for s in arch.B0_STAGES) == 16 and math.isclose(
        arch.B0_STAGES[0].se_ratio, 0.25)


# --- EfficientNet-Lite --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lite0():
    """Lite0 from scratch with the 1000-class classifier, random weights."""
    return arch.efficientnet_lite()


def _activations(model):
    """The activation functions of a model's backbone (the classifier's softmax left out)."""
    names = {getattr(getattr(layer, "activation", None), "__name__", "linear")
             for layer in model.layers if layer.name != "predictions"}
    return names - {"linear"}


def test_lite0_has_the_parameter_count_of_the_converted_imagenet_model(lite0):
    from effnet_helpers import pretrained, statedict
    state = statedict.read_state_dict(pretrained.lite0_state_dict_path())
    in_file = sum(array.size for key, array in state.items()
                  if not key.endswith("num_batches_tracked"))
    converted = pretrained.lite_imagenet("lite0", 224, include_top=True)
    assert arch.count_params(lite0) == converted.count_params() == in_file == LITE0_PARAMS
    assert [w.shape for w in lite0.weights] == [w.shape for w in converted.weights]
    assert arch.analytic_cost(lite=True) == {"params": LITE0_PARAMS,
                                             "flops": arch.count_flops(lite0)}
    # Lite0 is B0 without squeeze-and-excitation (and without the 7 of the input normalisation)
    parts = arch.anatomy(arch.efficientnet())
    assert KERAS_B0_PARAMS - LITE0_PARAMS == parts["squeeze-and-excitation params"] + 7


def test_lite_has_no_squeeze_excitation_and_only_relu6(lite0, b0_pair):
    ours_b0, _ = b0_pair
    assert _activations(lite0) == {"relu6"}
    assert _activations(ours_b0) == {"silu", "sigmoid"}  # swish, and SE's sigmoid
    assert not [layer.name for layer in lite0.layers if "_se_" in layer.name]
    assert not [layer for layer in lite0.layers if isinstance(layer, keras.layers.Multiply)]
    pools = [layer.name for layer in lite0.layers
             if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    assert pools == ["avg_pool"]  # the head's only: no SE squeeze left
    parts, b0_parts = arch.anatomy(lite0), arch.anatomy(ours_b0)
    assert (parts["squeeze-and-excitation blocks"], b0_parts["squeeze-and-excitation blocks"]) \
        == (0, 16)
    assert (parts["activations"], b0_parts["activations"]) == ("relu6", "sigmoid, swish")
    assert parts["input scaling"] == "(x - 127) / 128"
    images = np.array([[[[127.0] * 3]], [[[255.0] * 3]]], "float32")
    scaled = keras.Model(lite0.input, lite0.get_layer("rescaling").output)(
        np.broadcast_to(images, (2, 224, 224, 3))).numpy()
    np.testing.assert_allclose(scaled[:, 0, 0, 0], [0.0, 1.0], atol=1e-6)


@pytest.fixture(scope="module")
def lite4():
    """Lite4's coefficients (width 1.4, depth 1.8) at a small input, with the classifier."""
    return arch.efficientnet_lite(1.4, 1.8, resolution=64)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_scaled_lite_keeps_stem_top_and_end_stages_and_the_analytic_count(lite4):
    cost = arch.analytic_cost(1.4, 1.8, 64, lite=True)
    assert arch.count_params(lite4) == cost["params"] == 13_118_936
    assert arch.count_flops(lite4) == cost["flops"]
    parts = arch.anatomy(lite4)
    assert (parts["stem channels"], parts["top channels"]) == (32, 1280)
    # B4, with the same coefficients, widens them and deepens its first and last stages
    assert arch.round_filters(arch.STEM_FILTERS, 1.4) == 48
    assert arch.round_filters(arch.HEAD_FILTERS, 1.4) == 1792
    assert parts["blocks per stage (block1-7)"] == "1 4 4 6 6 8 1"
    assert [arch.round_repeats(s.repeats, 1.8) for s in arch.B0_STAGES] == [2, 4, 4, 6, 6, 8, 2]


def test_lite_trainable_parameters_and_multiply_adds_against_the_published_ones(lite0, lite4):
    # the lite README counts trainable weights (no batch-norm statistics), rounded to 0.1 M
    for model, name in ((lite0, "lite0"), (lite4, "lite4")):
        assert round(_trainable(model) / 1e6, 1) == arch.LITE_PAPER.params_M[name]
        assert arch.count_params(model) > _trainable(model)
    from effnet_helpers import models
    for name, paper in arch.LITE_PAPER.iterrows():  # every model, analytically, native size
        spec = models.model_spec(name)
        cost = arch.analytic_cost(spec.width, spec.depth, spec.image_size, lite=True)
        assert cost["params"] / 1e6 == pytest.approx(paper.params_M, rel=0.02), name
        assert -0.06 < cost["flops"] / 1e9 / paper.FLOPs_B - 1 < 0, name  # 3-6% under README
