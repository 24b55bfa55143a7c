"""Inside EfficientNet (notebook 06): the B0 architecture as data, compound scaling, counting
parameters and FLOPs, and an EfficientNet written from scratch in Keras that is checked against
`keras.applications` (same parameter count, same shapes, same outputs with the same weights).

Sources: Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"
(ICML 2019), its Table 1 (the B0 stages) and Table 2 (B0-B7), and Keras'
`keras/src/applications/efficientnet.py`, whose layer names the from-scratch model reuses so the
two can be compared layer by layer.

Unlike the other helper modules this one imports Keras at import time (its StochasticDepth layer
is a Keras layer): import it after `runtime.ensure_tensorflow()`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from . import specs
from .specs import EFFICIENTNET

# --- the architecture as data -----------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage of MBConv blocks of EfficientNet-B0 (a row of the paper's Table 1).

    `expand_ratio` is the 6 of "MBConv6": the 1x1 expansion multiplies the channels by it.
    `strides` applies to the first block of the stage only; the others keep the size.
    `se_ratio`: the squeeze-and-excitation bottleneck, as a fraction of the block's input channels.
    """

    kernel: int
    repeats: int
    filters_in: int
    filters_out: int
    expand_ratio: int
    strides: int
    se_ratio: float = 0.25


# The seven MBConv stages of B0: the paper's Table 1, and Keras' DEFAULT_BLOCKS_ARGS.
B0_STAGES = (
    Stage(kernel=3, repeats=1, filters_in=32, filters_out=16, expand_ratio=1, strides=1),
    Stage(kernel=3, repeats=2, filters_in=16, filters_out=24, expand_ratio=6, strides=2),
    Stage(kernel=5, repeats=2, filters_in=24, filters_out=40, expand_ratio=6, strides=2),
    Stage(kernel=3, repeats=3, filters_in=40, filters_out=80, expand_ratio=6, strides=2),
    Stage(kernel=5, repeats=3, filters_in=80, filters_out=112, expand_ratio=6, strides=1),
    Stage(kernel=5, repeats=4, filters_in=112, filters_out=192, expand_ratio=6, strides=2),
    Stage(kernel=3, repeats=1, filters_in=192, filters_out=320, expand_ratio=6, strides=1),
)
STEM_FILTERS = 32     # the 3x3 stride-2 convolution before the blocks
HEAD_FILTERS = 1280   # the 1x1 convolution after them
DEPTH_DIVISOR = 8     # channel counts are rounded to multiples of 8 (fast on every accelerator)
DROP_CONNECT_RATE = 0.2  # stochastic depth: the LAST block drops its branch with this rate

# Compound scaling (paper, equation 3): depth d = ALPHA**phi, width w = BETA**phi,
# resolution r = GAMMA**phi, chosen by a small grid search on B0 under ALPHA * BETA**2 * GAMMA**2
# ~ 2, so that each step of phi about doubles the FLOPs (FLOPs grow as d * w**2 * r**2).
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
BASE_RESOLUTION = 224

# The paper's Table 2 and the reference code's coefficients (`specs.EFFICIENTNET`, the one table
# that `models.MODELS` reads too): width and depth coefficients, resolution, dropout before the
# classifier, parameters (millions), FLOPs (billions of multiply-adds) and ImageNet top-1 (%).
PAPER = pd.DataFrame([row._asdict() for row in EFFICIENTNET.values()],
                     index=pd.Index(list(EFFICIENTNET), name="model"))


# The paper's Table 1 numbers nine stages; Keras' layer names (and `compare_stages`) say which
# part of the network each is: stage 1 the stem, stages 2-8 the seven MBConv stages block1 to
# block7, stage 9 the top convolution and the classifier head.
PAPER_STAGE_PARTS = {1: "stem", **{n: f"block{n - 1}" for n in range(2, 9)}, 9: "top + head"}


def b0_stage_table() -> pd.DataFrame:
    """B0 as the paper's Table 1: one row per stage, with the input resolution of each stage and
    the Keras part it is (`PAPER_STAGE_PARTS`)."""
    rows = [{"stage": 1, "operator": "Conv 3x3", "expansion": None, "kernel": 3, "stride": 2,
             "input": f"{BASE_RESOLUTION}x{BASE_RESOLUTION}", "channels": STEM_FILTERS,
             "repeats": 1}]
    size = math.ceil(BASE_RESOLUTION / 2)
    for number, stage in enumerate(B0_STAGES, start=2):
        rows.append({"stage": number, "operator": f"MBConv{stage.expand_ratio} "
                     f"{stage.kernel}x{stage.kernel}", "expansion": stage.expand_ratio,
                     "kernel": stage.kernel, "stride": stage.strides, "input": f"{size}x{size}",
                     "channels": stage.filters_out, "repeats": stage.repeats})
        size = math.ceil(size / stage.strides)
    rows.append({"stage": 9, "operator": "Conv 1x1, pooling, dense", "expansion": None,
                 "kernel": 1, "stride": 1, "input": f"{size}x{size}", "channels": HEAD_FILTERS,
                 "repeats": 1})
    for row in rows:
        row["Keras part"] = PAPER_STAGE_PARTS[row["stage"]]
    table = pd.DataFrame(rows).set_index("stage")
    return table.astype({"expansion": "Int64"})


# --- compound scaling -------------------------------------------------------------------------


def compound_coefficients(phi: float) -> tuple[float, float, float]:
    """(depth, width, resolution) multipliers for a compound coefficient phi."""
    return ALPHA ** phi, BETA ** phi, GAMMA ** phi


def round_filters(filters: int, width: float, divisor: int = DEPTH_DIVISOR) -> int:
    """Channels after width scaling, as Keras and the reference code round them: to the nearest
    multiple of `divisor`, but never more than 10% below the exact product."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """Blocks in a stage after depth scaling: always rounded up."""
    return int(math.ceil(depth * repeats))


def scaling_table() -> pd.DataFrame:
    """B0-B7 as B0 scaled by the coefficients of the paper's table: the phi each coefficient
    implies (depth 1.2**phi, width 1.1**phi, resolution 1.15**phi), and what the rounding makes
    of them (stem and head channels, number of blocks), with analytic parameters and FLOPs."""
    rows = []
    for name, row in PAPER.iterrows():
        cost = analytic_cost(row.width, row.depth, int(row.resolution))
        rows.append({
            "model": name, "depth": row.depth, "width": row.width,
            "resolution": int(row.resolution),
            "phi from depth": math.log(row.depth) / math.log(ALPHA),
            "phi from width": math.log(row.width) / math.log(BETA),
            "phi from resolution": math.log(row.resolution / BASE_RESOLUTION) / math.log(GAMMA),
            "stem channels": round_filters(STEM_FILTERS, row.width),
            "head channels": round_filters(HEAD_FILTERS, row.width),
            "blocks": sum(round_repeats(s.repeats, row.depth) for s in B0_STAGES),
            "params_M": cost["params"] / 1e6, "FLOPs_B": cost["flops"] / 1e9})
    return pd.DataFrame(rows).set_index("model")


def _blocks(width: float, depth: float, stages=B0_STAGES, fix_stem_head: bool = False):
    """Every block of a scaled network as (stage index, block index, arguments), in order.
    `fix_stem_head` (EfficientNet-Lite): the first and last stages keep their block counts."""
    for i, stage in enumerate(stages):
        filters_in = round_filters(stage.filters_in, width)
        filters_out = round_filters(stage.filters_out, width)
        if fix_stem_head and i == 0:
            filters_in = STEM_FILTERS  # the stem is not widened, so neither is what it feeds
        fixed = fix_stem_head and i in (0, len(stages) - 1)
        for j in range(stage.repeats if fixed else round_repeats(stage.repeats, depth)):
            yield i, j, dict(filters_in=filters_in if j == 0 else filters_out,
                             filters_out=filters_out, kernel_size=stage.kernel,
                             strides=stage.strides if j == 0 else 1,
                             expand_ratio=stage.expand_ratio, se_ratio=stage.se_ratio)


def analytic_cost(width: float = 1.0, depth: float = 1.0, resolution: int = BASE_RESOLUTION,
                  include_top: bool = True, classes: int = 1000, stages=B0_STAGES,
                  lite: bool = False) -> dict:
    """Parameters and FLOPs of a scaled EfficientNet from the block table alone, without building
    a model (so any width, depth and resolution costs microseconds).

    Parameters are those of `keras.applications` (all weights, the batch-norm statistics and the
    7 of the input normalisation included). FLOPs are counted as `count_flops` counts them:
    multiply-adds of the convolutions and the dense layer. Both equal the counts over a built
    Keras model exactly (tests/test_architecture.py checks it). `lite=True`: EfficientNet-Lite
    as `efficientnet_lite` builds it (no SE, stem and top not widened, end stages not deepened,
    an input rescaling without weights), equal to the built model's counts too."""
    # input normalisation: mean (3), variance (3), count (1); Lite's rescaling has no weights
    params, flops = (0 if lite else 7), 0
    if lite:
        stages = LITE_STAGES
    size = math.ceil(resolution / 2)
    channels = STEM_FILTERS if lite else round_filters(STEM_FILTERS, width)
    params += 27 * channels + 4 * channels  # 3x3x3 stem convolution, batch norm (4 per channel)
    flops += size * size * 27 * channels
    for _, _, block in _blocks(width, depth, stages, fix_stem_head=lite):
        cin, cout, k = block["filters_in"], block["filters_out"], block["kernel_size"]
        expanded = cin * block["expand_ratio"]
        squeezed = max(1, int(cin * block["se_ratio"]))
        if block["expand_ratio"] != 1:
            params += cin * expanded + 4 * expanded
            flops += size * size * cin * expanded
        size = math.ceil(size / block["strides"])
        params += k * k * expanded + 4 * expanded  # depthwise convolution, batch norm
        flops += size * size * k * k * expanded
        if block["se_ratio"]:
            params += 2 * expanded * squeezed + squeezed + expanded  # SE: two 1x1 convs, biases
            flops += 2 * expanded * squeezed
        params += expanded * cout + 4 * cout  # projection, batch norm
        flops += size * size * expanded * cout
        channels = cout
    head = HEAD_FILTERS if lite else round_filters(HEAD_FILTERS, width)
    params += channels * head + 4 * head
    flops += size * size * channels * head
    if include_top:
        params += head * classes + classes
        flops += head * classes
    return {"params": params, "flops": flops}


# --- counting a Keras model -------------------------------------------------------------------


def count_params(model) -> int:
    """All the weights of a Keras model: trainable ones, batch-norm statistics, the input
    normalisation's mean and variance (what `model.count_params()` and model.summary() report)."""
    return int(model.count_params())


def count_flops(model) -> int:
    """Multiply-adds of a built Keras model for one image, the paper's (and MobileNet's) "FLOPs".

    Counted: every layer with a kernel (Conv2D, DepthwiseConv2D, Dense, also inside nested models):
    kernel size x output positions, that is one multiply-add per kernel weight per output pixel.
    Not counted: biases, batch norm, activations, the SE multiplication, pooling, additions (about
    1-2% more operations for EfficientNet). The count is analytic, from the layers' output shapes,
    so it is instant for B7 and needs nothing but Keras. TensorFlow's v1 profiler on a frozen
    concrete function would be the alternative, but it takes seconds for B0 and, with TF 2.21, it
    reports only the Conv2D operations (nothing for the depthwise convolutions or the dense layer).
    """
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model
            total += count_flops(layer)
            continue
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        positions = int(np.prod(layer.output.shape[1:-1]))  # H x W (1 for a dense layer)
        total += int(np.prod(kernel.shape)) * positions
    return total


def keras_table(names=tuple(PAPER.index)) -> pd.DataFrame:
    """B0-B7 from `keras.applications` (random weights, with the ImageNet classifier) next to the
    paper's figures: parameters (with and without the 1000-class dense layer), FLOPs at the native
    resolution, input size and dropout, and the difference from the paper in %."""
    rows = []
    for name in names:
        model = getattr(keras.applications, f"EfficientNet{name}")(weights=None)
        dense = model.get_layer("predictions").count_params()
        paper = PAPER.loc[name]
        row = {"model": name, "input": model.input_shape[1],
               "dropout": model.get_layer("top_dropout").rate,
               "params_M": count_params(model) / 1e6,
               "params headless_M": (count_params(model) - dense) / 1e6,
               "FLOPs_B": count_flops(model) / 1e9,
               "paper params_M": paper.params_M, "paper FLOPs_B": paper.FLOPs_B,
               "paper input": int(paper.resolution), "paper dropout": paper.dropout}
        row["params diff %"] = 100 * (row["params_M"] / paper.params_M - 1)
        row["headless diff %"] = 100 * (row["params headless_M"] / paper.params_M - 1)
        row["FLOPs diff %"] = 100 * (row["FLOPs_B"] / paper.FLOPs_B - 1)
        rows.append(row)
        del model
        keras.backend.clear_session()  # keep memory flat and layer names unsuffixed
    return pd.DataFrame(rows).set_index("model")


# --- EfficientNet from scratch ----------------------------------------------------------------

# Defaults of the paper and Keras: swish activation, batch norm with Keras' defaults
# (momentum 0.99, epsilon 1e-3, as the reference code), He-style initialisation scaled on fan-out.
CONV_INIT = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="truncated_normal")
DENSE_INIT = keras.initializers.VarianceScaling(1 / 3, mode="fan_out", distribution="uniform")

# Mistakes hand-written EfficientNets often make; each is a value of `mistake=` below.
MISTAKES = {
    "se_after_projection": "squeeze-and-excitation on the block's narrow output, after the 1x1 "
                           "projection, instead of on the expanded features before it",
    "se_ratio_of_expanded": "the SE bottleneck as a quarter of the expanded channels instead of "
                            "a quarter of the block's input channels",
    "drop_as_survival": "the stochastic-depth drop rate passed where the survival probability "
                        "is meant",
    "no_residual_condition": "the skip connection added in every block instead of only where the "
                             "stride is 1 and channels in == channels out",
}


@keras.saving.register_keras_serializable(package="effnet_helpers")
class StochasticDepth(keras.layers.Layer):
    """Stochastic depth ("drop connect" in the reference code) for a residual branch.

    In training, each sample keeps the whole branch with probability `survival_prob` and loses
    it otherwise (the block then passes its input through unchanged); kept branches are divided
    by `survival_prob`, so the expected output is the same as at inference, where nothing is
    dropped. It has no weights. Keras' own EfficientNet does the same with
    `Dropout(drop_rate, noise_shape=(None, 1, 1, 1))`, where drop_rate = 1 - survival_prob.
    """

    def __init__(self, survival_prob: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 < survival_prob <= 1:
            raise ValueError(f"survival_prob must be in (0, 1], not {survival_prob}")
        self.survival_prob = float(survival_prob)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, branch, training=None):
        if not training or self.survival_prob == 1.0:
            return branch
        batch = keras.ops.shape(branch)[0]
        draw = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator)
        keep = keras.ops.cast(draw < self.survival_prob, branch.dtype)  # 1: kept, 0: dropped
        return branch * keep / self.survival_prob

    def get_config(self):
        return {**super().get_config(), "survival_prob": self.survival_prob, "seed": self.seed}


def conv_bn(x, filters, kernel_size, name, strides=1, activation="swish"):
    """Convolution without bias, batch norm, activation: the unit EfficientNet is made of."""
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                            use_bias=False, kernel_initializer=CONV_INIT, name=f"{name}conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}bn")(x)
    return keras.layers.Activation(activation, name=f"{name}activation")(x) if activation else x


def squeeze_excite(x, squeezed, name):
    """Squeeze-and-excitation: average each channel over the image (squeeze), pass the vector
    through a small bottleneck (excite), and scale every channel by the sigmoid it yields."""
    channels = x.shape[-1]
    se = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}se_squeeze")(x)
    se = keras.layers.Conv2D(squeezed, 1, activation="swish", kernel_initializer=CONV_INIT,
                             name=f"{name}se_reduce")(se)
    se = keras.layers.Conv2D(channels, 1, activation="sigmoid", kernel_initializer=CONV_INIT,
                             name=f"{name}se_expand")(se)
    return keras.layers.Multiply(name=f"{name}se_excite")([x, se])


def mbconv_block(inputs, filters_in, filters_out, kernel_size, strides, expand_ratio,
                 se_ratio=0.25, survival_prob=1.0, name="", mistake=None, activation="swish"):
    """MBConv: expand (1x1) -> depthwise (k x k) -> squeeze-and-excitation -> project (1x1),
    with a skip connection (and stochastic depth) when the block keeps the shape.
    `se_ratio=0` leaves squeeze-and-excitation out (EfficientNet-Lite)."""
    expanded = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:                                  # 1. expand: widen with a 1x1 conv
        x = conv_bn(x, expanded, 1, name=f"{name}expand_", activation=activation)
    x = keras.layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same",  # 2. depthwise
                                     use_bias=False, depthwise_initializer=CONV_INIT,
                                     name=f"{name}dwconv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}bn")(x)
    x = keras.layers.Activation(activation, name=f"{name}activation")(x)
    squeezed = max(1, int(filters_in * se_ratio))          # a quarter of the INPUT channels
    if mistake == "se_ratio_of_expanded":
        squeezed = max(1, int(expanded * se_ratio))
    if se_ratio and mistake != "se_after_projection":
        x = squeeze_excite(x, squeezed, name)              # 3. SE on the expanded features
    x = conv_bn(x, filters_out, 1, name=f"{name}project_", activation=None)  # 4. project, linear
    if mistake == "se_after_projection":
        x = squeeze_excite(x, squeezed, name)
    if (strides == 1 and filters_in == filters_out) or mistake == "no_residual_condition":
        if survival_prob < 1:
            x = StochasticDepth(survival_prob, name=f"{name}drop")(x)
        x = keras.layers.Add(name=f"{name}add")([x, inputs])  # 5. residual
    return x


def efficientnet(width: float = 1.0, depth: float = 1.0, resolution: int = BASE_RESOLUTION,
                 dropout: float = 0.2, drop_connect_rate: float = DROP_CONNECT_RATE,
                 include_top: bool = True, classes: int = 1000, stages=B0_STAGES,
                 mistake: str | None = None, name: str = "efficientnet_from_scratch",
                 lite: bool = False):
    """An EfficientNet from the block table: B0 with the defaults, B1-B7 with the paper's width,
    depth and resolution. Takes 0-255 RGB images; its layers have Keras' names.

    Stochastic depth grows linearly with depth: block b of n drops its branch with probability
    drop_connect_rate * b / n (0 for the first block, nearly 0.2 for the last). `mistake` builds
    one of the MISTAKES instead of the right network. `lite=True` builds EfficientNet-Lite
    instead (see `efficientnet_lite`).
    """
    if mistake is not None and mistake not in MISTAKES:
        raise ValueError(f"mistake must be None or one of {sorted(MISTAKES)}, not {mistake!r}")
    activation = LITE_ACTIVATION if lite else "swish"
    inputs = keras.Input((resolution, resolution, 3), name="input_layer")
    if lite:  # the lite builder's MEAN_RGB 127 and STDDEV_RGB 128: pixels to about [-1, 1]
        x = keras.layers.Rescaling(1 / LITE_STDDEV, offset=-LITE_MEAN / LITE_STDDEV,
                                   name="rescaling")(inputs)
    else:  # as keras.applications: ImageNet statistics come with the weights
        x = keras.layers.Rescaling(1 / 255, name="rescaling")(inputs)
        x = keras.layers.Normalization(name="normalization")(x)
    stem = STEM_FILTERS if lite else round_filters(STEM_FILTERS, width)
    x = conv_bn(x, stem, 3, strides=2, name="stem_", activation=activation)
    blocks = list(_blocks(width, depth, LITE_STAGES if lite else stages, fix_stem_head=lite))
    for b, (i, j, args) in enumerate(blocks):
        drop_rate = drop_connect_rate * b / len(blocks)
        survival_prob = drop_rate if mistake == "drop_as_survival" else 1 - drop_rate
        x = mbconv_block(x, **args, survival_prob=survival_prob, mistake=mistake,
                         name=f"block{i + 1}{chr(j + 97)}_", activation=activation)
    top = HEAD_FILTERS if lite else round_filters(HEAD_FILTERS, width)
    x = conv_bn(x, top, 1, name="top_", activation=activation)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(dropout, name="top_dropout")(x)
        x = keras.layers.Dense(classes, activation="softmax", kernel_initializer=DENSE_INIT,
                               name="predictions")(x)
    return keras.Model(inputs, x, name=name)


# EfficientNet-Lite (tensorflow/tpu, models/official/efficientnet/lite): B0's stage table for
# phones and edge accelerators. What it changes, each for integer (int8) arithmetic:
# no squeeze-and-excitation, ReLU6 for swish, the stem and head not widened (and the first and
# last stages not deepened), inputs scaled as (x - 127) / 128.
LITE_STAGES = tuple(Stage(s.kernel, s.repeats, s.filters_in, s.filters_out, s.expand_ratio,
                          s.strides, se_ratio=0.0) for s in B0_STAGES)
LITE_ACTIVATION = "relu6"
LITE_MEAN, LITE_STDDEV = 127.0, 128.0


def efficientnet_lite(width: float = 1.0, depth: float = 1.0, resolution: int = BASE_RESOLUTION,
                      dropout: float = 0.2, include_top: bool = True, classes: int = 1000,
                      name: str = "efficientnet_lite"):
    """EfficientNet-Lite: Lite0 with the defaults; Lite1-4 with their width, depth, resolution
    and dropout (`specs.MODELS`). Same layer names as `efficientnet`, so freezing by block,
    Grad-CAM and the stage tables work unchanged."""
    return efficientnet(width, depth, resolution, dropout, include_top=include_top,
                        classes=classes, name=name, lite=True)


# The published figures of tensorflow/tpu's lite README
# (https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite): parameters
# (millions), multiply-adds (billions, the README's "MAdds"), ImageNet top-1 accuracy (%) of the
# float32 model and of its post-training int8 quantisation.
LITE_PAPER = pd.DataFrame(
    [("lite0", 4.7, 0.407, 75.1, 74.4), ("lite1", 5.4, 0.631, 76.7, 75.9),
     ("lite2", 6.1, 0.899, 77.6, 77.0), ("lite3", 8.2, 1.44, 79.8, 79.0),
     ("lite4", 13.0, 2.64, 81.5, 80.2)],
    columns=["model", "params_M", "FLOPs_B", "top1", "top1 int8"]).set_index("model")

# What Lite changes against B0-B7, and why (the lite README's reasons, for phones' int8 hardware).
LITE_CHANGES = pd.DataFrame([
    ("squeeze-and-excitation", "in every block", "removed",
     "its global average pooling must read the whole feature map before any channel can be "
     "scaled, and its sigmoid is costly in int8: poorly supported by mobile accelerators"),
    ("activation", "swish (x * sigmoid(x))", "ReLU6 (min(max(x, 0), 6))",
     "ReLU6's output is always in [0, 6], so int8 quantisation has a fixed range: easier "
     "post-training quantisation"),
    ("stem and top channels", "widened with the width coefficient", "always 32 and 1,280",
     "keeps the scaled models small and fast"),
    ("first and last stage", "deepened with the depth coefficient", "always 1 block each",
     "part of the same fixed stem and head: the scaled models stay small and fast"),
    ("input scaling", "x / 255, then ImageNet's mean and variance", "(x - 127) / 128",
     "the lite builder's MEAN_RGB and STDDEV_RGB: pixels to about [-1, 1]"),
], columns=["what", "B0-B7", "Lite0-Lite4", "why"]).set_index("what")

_ACTIVATION_NAMES = {"silu": "swish"}  # Keras 3 calls swish silu


def _input_scaling(model) -> str:
    """The preprocessing layers before the stem, in words."""
    steps = []
    for layer in model.layers:
        if layer.name.startswith("stem_"):
            break
        if isinstance(layer, keras.layers.Rescaling):
            scale, offset = float(layer.scale), float(layer.offset)
            steps.append(f"x / {1 / scale:g}" if offset == 0
                         else f"(x - {-offset / scale:g}) / {1 / scale:g}")
        elif isinstance(layer, keras.layers.Normalization):
            steps.append("(x - mean) / std per channel")
    return ", then ".join(steps)


def anatomy(model) -> dict:
    """What a built EfficientNet (ours or Keras') is made of, read from its layers: input size and
    scaling, stem and top channels, blocks per stage, squeeze-and-excitation blocks and their
    parameters, the activations of the backbone, parameters and multiply-adds."""
    names = [layer.name for layer in model.layers]
    blocks = stage_summary(model)["blocks"]
    activations = {getattr(getattr(layer, "activation", None), "__name__", "linear")
                   for layer in model.layers if layer.name != "predictions"}
    return {
        "input (px)": model.input_shape[1], "input scaling": _input_scaling(model),
        "stem channels": model.get_layer("stem_conv").filters,
        "blocks per stage (block1-7)": " ".join(str(blocks[f"block{i}"]) for i in range(1, 8)),
        "squeeze-and-excitation blocks": sum(name.endswith("_se_excite") for name in names),
        "squeeze-and-excitation params": sum(layer.count_params() for layer in model.layers
                                             if layer.name.endswith(("_se_reduce", "_se_expand"))),
        "activations": ", ".join(sorted(_ACTIVATION_NAMES.get(a, a) for a in activations
                                        if a != "linear")),
        "top channels": model.get_layer("top_conv").filters,
        "params": count_params(model), "FLOPs": count_flops(model)}


def _build_named(name: str, resolution: int | None = None):
    """B0-B7 (the paper's coefficients) or Lite0-Lite4 (`specs.MODELS`) from scratch, at their
    native size unless `resolution` is given, with the 1000-class classifier, random weights."""
    spec = specs.model_spec(name)
    if specs.is_lite(name):
        return efficientnet_lite(spec.width, spec.depth, resolution or spec.image_size,
                                 spec.dropout)
    paper = PAPER.loc[specs.canonical_name(name)]
    return efficientnet(paper.width, paper.depth, resolution or int(paper.resolution),
                        paper.dropout)


def lite_comparison(names=("B0", "lite0", "B4", "lite4")) -> pd.DataFrame:
    """`anatomy` of each model, built from scratch at its native size, side by side (one column
    a model). B4 and Lite4 share width 1.4 and depth 1.8: what Lite does not scale shows there."""
    columns = {}
    for name in names:
        model = _build_named(name)
        columns[name] = anatomy(model)
        del model
        keras.backend.clear_session()  # keep memory flat and layer names unsuffixed
    return pd.DataFrame(columns)


def lite_table(resolution: int | None = None) -> pd.DataFrame:
    """Lite0-Lite4 built from scratch at their native sizes (or all at `resolution`, which
    changes the multiply-adds, not the parameters) next to the published figures (`LITE_PAPER`):
    all parameters (Keras' count, batch-norm statistics included), the trainable ones (what the
    README counts), multiply-adds, and the differences in %."""
    rows = []
    for name, paper in LITE_PAPER.iterrows():
        model = _build_named(name, resolution)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        row = {"model": name, "input": model.input_shape[1],
               "blocks": int(stage_summary(model)["blocks"].sum()),
               "params_M": count_params(model) / 1e6, "trainable_M": trainable / 1e6,
               "paper params_M": paper.params_M, "FLOPs_B": count_flops(model) / 1e9,
               "paper FLOPs_B": paper.FLOPs_B, "paper top1": paper.top1,
               "paper top1 int8": paper["top1 int8"]}
        row["trainable diff %"] = 100 * (row["trainable_M"] / paper.params_M - 1)
        row["FLOPs diff %"] = 100 * (row["FLOPs_B"] / paper.FLOPs_B - 1)
        rows.append(row)
        del model
        keras.backend.clear_session()
    return pd.DataFrame(rows).set_index("model")


# --- comparing with keras.applications -------------------------------------------------------

STAGE_ORDER = ["input", "stem", *[f"block{i}" for i in range(1, 8)], "top", "head"]


def stage_of(layer_name: str) -> str:
    """The stage a layer belongs to, from its Keras name: input (rescaling and normalisation),
    stem, block1 ... block7 (the paper's stages 2-8), top (the 1x1 convolution) or head."""
    match = re.match(r"(block\d+)[a-z]+_", layer_name)
    if match:
        return match.group(1)
    if layer_name.startswith(("stem_", "top_conv", "top_bn", "top_activation")):
        return layer_name.split("_")[0]
    if layer_name in ("avg_pool", "max_pool", "top_dropout", "predictions"):
        return "head"
    return "input"


def stage_summary(model) -> pd.DataFrame:
    """Per stage: the output shape (of its last layer), the parameters and the number of blocks."""
    rows = {}
    for layer in model.layers:
        stage = stage_of(layer.name)
        row = rows.setdefault(stage, {"params": 0, "blocks": set()})
        row["params"] += layer.count_params()
        row["output"] = tuple(layer.output.shape[1:])
        if stage.startswith("block"):
            row["blocks"].add(layer.name.split("_")[0])
    table = pd.DataFrame([{"stage": s, "output": rows[s]["output"], "params": rows[s]["params"],
                           "blocks": len(rows[s]["blocks"])} for s in STAGE_ORDER if s in rows])
    return table.set_index("stage")


def compare_stages(mine, reference) -> pd.DataFrame:
    """Stage by stage, the output shapes and parameters of two EfficientNets side by side."""
    ours, theirs = stage_summary(mine), stage_summary(reference)
    table = theirs.add_prefix("keras ").join(ours.add_prefix("ours "), how="outer")
    table = table.reindex([s for s in STAGE_ORDER if s in table.index])
    table["same"] = [a == b and p == q for a, b, p, q in zip(
        table["keras output"], table["ours output"], table["keras params"], table["ours params"])]
    return table


def copy_weights(source, target) -> int:
    """Copy every weight of `source` into `target`, layer by layer in order, checking that each
    pair of layers has the same type and weight shapes. Returns the number of tensors copied."""
    theirs = [layer for layer in source.layers if layer.weights]
    mine = [layer for layer in target.layers if layer.weights]
    if len(theirs) != len(mine):
        raise ValueError(f"{len(theirs)} layers with weights in the source, {len(mine)} here")
    copied = 0
    for other, layer in zip(theirs, mine):
        shapes = [tuple(w.shape) for w in layer.weights]
        other_shapes = [tuple(w.shape) for w in other.weights]
        if type(layer) is not type(other) or shapes != other_shapes:
            raise ValueError(f"{layer.name} {shapes} does not match {other.name} {other_shapes}")
        layer.set_weights(other.get_weights())
        copied += len(shapes)
    return copied


def survival_probabilities(model) -> dict[str, float]:
    """The survival probability of every StochasticDepth layer of a model, by block."""
    return {layer.name.removesuffix("_drop"): layer.survival_prob for layer in model.layers
            if isinstance(layer, StochasticDepth)}


# --- one dimension or all three ---------------------------------------------------------------


def scaling_strategies(phi: float) -> dict[str, tuple[float, float, float]]:
    """(depth, width, resolution) multipliers that spend the same FLOPs budget, the FLOPs of
    compound step phi (about 2**phi times B0's), on one dimension alone or on all three.
    FLOPs grow as depth, as width squared and as resolution squared."""
    step = ALPHA * BETA ** 2 * GAMMA ** 2  # 1.92: the FLOPs factor of one compound step
    return {"depth only": (step ** phi, 1.0, 1.0),
            "width only": (1.0, step ** (phi / 2), 1.0),
            "resolution only": (1.0, 1.0, step ** (phi / 2)),
            "compound": compound_coefficients(phi)}


def scaling_comparison(phis=range(8)) -> pd.DataFrame:
    """Parameters and FLOPs (analytic, with the 1000-class head) of B0 scaled by each strategy of
    `scaling_strategies`, for each phi."""
    rows = []
    for phi in phis:
        for strategy, (depth, width, resolution) in scaling_strategies(phi).items():
            size = round(BASE_RESOLUTION * resolution)
            cost = analytic_cost(width, depth, size)
            rows.append({"strategy": strategy, "phi": phi, "depth": depth, "width": width,
                         "resolution": size, "blocks": sum(round_repeats(s.repeats, depth)
                                                           for s in B0_STAGES),
                         "params_M": cost["params"] / 1e6, "FLOPs_B": cost["flops"] / 1e9})
    return pd.DataFrame(rows)
