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
# # 06 · EfficientNet の内部：複合スケーリングと、ゼロから組み立てる B0
#
# ノートブック 03 の構造の表で、EfficientNet の部分（ステム、ブロック、トップ、ヘッド、バッチ正規化（batch normalization）、確率的深さ（stochastic depth）。どれもノートブック 01 の[このワークブックで使う用語](01_dataset_layout.ipynb#words-used-here)に 1 行ずつ説明があります）を挙げました。その後ノートブック 03〜05 では、ネットワークを箱として使いました（B0、オフラインのプロファイルでは Lite0）。ここではその箱を開けます。ブロックが何でできているか（7 つのステージに並んだ MBConv ブロック）、B0〜B7 がなぜ違うのか（深さ・幅・解像度の**複合スケーリング**（compound scaling））、それがパラメータ数と FLOPs にどう響くのかを見たうえで、Keras で 100 行足らずの B0 をゼロから組み立て、それが正しいことを**証明**します。パラメータ数が Keras のモデルと同じであること、ステージごとの形状が同じであること、そして Keras の重みをコピーすれば出力も同じになることです。最後の節では、オフラインのプロファイルのモデルである EfficientNet-Lite0 を B0 と並べます。
#
# 何も学習せず、何もダウンロードしません。ここで扱うモデルの重みはすべてランダムです。例外は第 9 節の Lite0 の ImageNet の重みで、これはワークブックのパッケージに含まれています。
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/06_inside_efficientnet.ipynb)
# [GitHub で見る](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/06_inside_efficientnet.ipynb)
#
# 英語版（原文）：[06_inside_efficientnet.ipynb](../06_inside_efficientnet.ipynb)。この日本語版は英語版から生成しており、コードは英語版と同一です。

# %% [markdown]
# ## セットアップ
#
# 新しい Colab セッションでは、このセルがワークブックの補助パッケージ（そのリリース `RELEASE`）をインストールします（TPU ランタイムでは TensorFlow とその TPU 版もインストールし、そのあとセッションを一度だけ再起動するよう求めます）。CPU を含め、どのランタイムでもかまいません。このノートブックはモデルを組み立てるだけで、書き出すのは変換した Lite0 の重みのキャッシュ（第 9 節）だけです。

# %%
import importlib.util
import os
import subprocess
import sys

REPO_URL = "https://github.com/effnet-workbook/effnet-workbook"  # フォークした場合は、そのリポジトリの URL
RELEASE = "v0.1.0"  # これらのノートブックが対象とするワークブックのリリース
if importlib.util.find_spec("effnet_helpers") is None:
    if not os.path.isdir("effnet-workbook"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", RELEASE, REPO_URL,
                        "effnet-workbook"], check=True)
    sys.path.insert(0, "effnet-workbook")
    from effnet_helpers import runtime
    runtime.install_workbook("effnet-workbook")  # セッションの TensorFlow を置き換えることはない

# %%
import inspect

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import numpy as np
import pandas as pd

from effnet_helpers import plots, runtime, settings

runtime.ensure_tensorflow()
import keras

from effnet_helpers import architecture as arch  # Keras を import します：ensure_tensorflow の後で

plots.use_projector_style()
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", None)
runtime.print_versions()

# %% [markdown]
# ## パラメータ
#
# - `FROM_SCRATCH`：自分で組み立てて Keras と照合するモデル。`"B0"`〜`"B7"`（大きなモデルほど、組み立てと1回の実行に時間がかかります）。
# - `PHIS`：第 8 節で比べる複合係数（compound coefficient）φ の値。
# - `CHECK_IMAGES`：出力の照合で両方のモデルに分類させるランダム画像の枚数。

# %% tags=["parameters"]
FROM_SCRATCH = "B0"
PHIS = range(0, 8)
CHECK_IMAGES = 4

# %%
PROFILE = settings.profile()  # "ci" では最小のモデルと最少の画像枚数にします
if PROFILE["name"] == "ci":
    FROM_SCRATCH, CHECK_IMAGES = "B0", 2
print(f"profile {PROFILE['name']}: from scratch {FROM_SCRATCH}, {CHECK_IMAGES} check images, "
      f"phi {list(PHIS)}")

# %% [markdown]
# ## 1. EfficientNet とは：7 つのステージに並んだ MBConv ブロック
#
# EfficientNet-B0 は人の手で設計されたものではありません。ニューラルアーキテクチャ探索（neural architecture search、NAS。MnasNet と同じ手法）が、FLOPs の予算の中で最も精度の高いネットワークを探しました。見つかったのは、ノートブック 03 の構造そのものです。**ステム**（stem）の畳み込み、続いて **7 つのステージに並んだ MBConv ブロック**（MobileNetV2 の逆残差（inverted residual）ブロックに squeeze-and-excitation を加えたもの）、そして 1,280 チャネルへの 1x1 畳み込みである**トップ**（top）と、プーリングと分類器からなる**ヘッド**（head）です。次が論文の Table 1 です（`input` はそのステージが受け取る解像度で、ストライドを適用するのは各ステージの最初のブロックだけです）。論文はステムと、トップとヘッドもステージに数えて、9 つのステージに番号を振っています。ステージ 1 がステム、ステージ 2〜8 が 7 つの MBConv のステージで、Keras（とこのノートブックの表）はこれを `block1`〜`block7` と呼びます。ステージ 9 がトップとヘッドです。最後の列がその対応を示しています。

# %%
arch.b0_stage_table()

# %% [markdown]
# 「MBConv6 5x5」は次のように読みます。1x1 畳み込みでチャネル数を 6 倍に広げ（expand）、各チャネルをそれぞれ専用の 5x5 カーネルでフィルタリングし（*depthwise* 畳み込み：チャネルを混ぜないので計算が軽い）、チャネルごとに重みを付け直し（squeeze-and-excitation）、1x1 畳み込みで少ないチャネル数に射影して戻します（project）。中央が広く両端が狭い、ResNet のボトルネックとは逆の形なので「逆」残差（inverted）と呼びます。第 5 節で1つ組み立てます。

# %% [markdown]
# ## 2. 複合スケーリング：B0〜B7 はなぜ違うのか
#
# ネットワークを大きくする方法は 3 つあります。層を増やす（**深さ**（depth）d）、チャネルを増やす（**幅**（width）w）、画像を大きくする（**解像度**（resolution）r）です。FLOPs は d · w² · r² に比例して増えます（畳み込みの計算量は入力と出力の*両方*のチャネル数に比例し、画素数にも縦横の両方向で比例するからです）。論文は、この 3 つを1つのつまみ、複合係数 φ でまとめてスケーリングします。
#
# 深さ d = α^φ、幅 w = β^φ、解像度 r = γ^φ、ただし α = 1.2、β = 1.1、γ = 1.15。
#
# この値は、α · β² · γ² ≈ 2 という条件のもとで B0 に対して小さなグリッドサーチを行って見つけたもので、φ を 1 増やすごとに FLOPs はおよそ 2 倍になります。チャネル数とブロック数は整数でなければならないので、Keras は次のように丸めます。

# %%
print(f"alpha * beta^2 * gamma^2 = {arch.ALPHA * arch.BETA ** 2 * arch.GAMMA ** 2:.3f}")
for phi in (1, 2, 3):
    d, w, r = arch.compound_coefficients(phi)
    print(f"phi={phi}: depth x{d:.2f}, width x{w:.2f}, resolution {224 * r:.0f} px")
print(inspect.getsource(arch.round_filters))
print(inspect.getsource(arch.round_repeats))

# %% [markdown]
# 公開されている B1〜B7 は、論文の表の係数を使っており、整数の φ に対する α^φ、β^φ、γ^φ そのものではありません。それぞれの係数はどの φ に当たるのか、そして丸めた結果はどうなるのでしょうか。

# %%
scaling = arch.scaling_table()
scaling.round(2)

# %% [markdown]
# B_n はおおよそ「φ = n」ですが、ぴったりではありません。B7 では、3つのうちどれが式より先に進み、どれが遅れているでしょうか。

# %%
b7 = scaling.loc["B7"]
for part in ("depth", "width", "resolution"):
    phi = b7[f"phi from {part}"]
    pace = "slower than" if phi < 7 else "faster than"
    print(f"B7's {part:10} {b7[part]:5g} stands for phi = {phi:.2f}: {pace} phi = 7")
print("blocks, B0 to B7:", list(scaling["blocks"]))

# %% [markdown]
# ブロック数は、各ステージの繰り返し数に深さの係数を掛け、ステージごとに切り上げたものです。

# %% [markdown]
# ## 3. `keras.applications` の B0〜B7 を論文と並べる
#
# 各モデルを `weights=None`（ランダムな重み。何もダウンロードせず、B7 でも数秒）で組み立ててから数えます。`count_params` は Keras 自身が数えたパラメータ数、`count_flops` はすべての畳み込み層と全結合層の**積和演算**（multiply-add）の回数を合計したもので、論文が「FLOPs」として数えているものと同じです。数え方は次のとおりです。

# %%
print(inspect.getsource(arch.count_flops))

# %%
built = arch.keras_table()
built[["input", "paper input", "dropout", "paper dropout", "params_M", "paper params_M",
       "params diff %", "FLOPs_B", "paper FLOPs_B", "FLOPs diff %"]].round(2)

# %% [markdown]
# 入力サイズとドロップアウト率は論文どおりです。論文はパラメータ数と FLOPs を有効数字 2 桁に丸めています（Keras が 19.47M と数えるものを「19M」と書くように）。差が 5% を超えるのはどれでしょうか。

# %%
diffs = built[["params diff %", "headless diff %", "FLOPs diff %"]]
print("over 5%:", {column: list(diffs.index[diffs[column].abs() > 5]) for column in diffs})
built[["params_M", "params headless_M", "paper params_M", "headless diff %"]].round(2)

# %% [markdown]
# **ヘッドなし**（headless：`include_top=False`、ノートブック 03 で学習するバックボーン）のパラメータ数が論文と合わないのは、論文が ImageNet の分類器も数えているからです。top のチャンネルから 1,000 クラスへの全結合層で、重みとクラスごとに1つのバイアスを持ちます。それが各モデルに占める割合と、FLOPs の最大の差は次のとおりです。

# %%
dense = built["params_M"] - built["params headless_M"]
for name in ("B0", "B7"):
    print(f"{name}: the 1,000-class dense layer holds {dense[name]:.2f}M of "
          f"{built.loc[name, 'params_M']:.2f}M parameters ({dense[name] / built.loc[name, 'params_M']:.0%})")
worst = built["FLOPs diff %"].abs().idxmax()
print(f"largest FLOPs difference: {worst}, {built.loc[worst, 'FLOPs_B']:.2f}B counted here, "
      f"{built.loc[worst, 'paper FLOPs_B']:g}B in the paper ({built.loc[worst, 'FLOPs diff %']:+.1f}%)")

# %% [markdown]
# つまり全結合層は、小さなモデルでは大きな部分を、大きなモデルでは小さな部分を占めます。ほかに知っておくべき小さな差が 2 つあります。Keras はバッチ正規化の統計量と、入力の正規化に使う平均と分散も数えています（学習はされません）。また、ここでの FLOPs にはバッチ正規化、活性化関数、SE の掛け算、足し算が含まれていません。どれも畳み込みに比べれば小さなものです。

# %% [markdown]
# ## 4. 精度と大きさ：公表されている数値
#
# これらすべての目的はここにあります。論文と Keras が ImageNet の重みについて公表している精度を、パラメータ数と FLOPs に対してプロットします（横軸は対数目盛）。

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
# 1段階ずつ、前のモデルの何倍の FLOPs がかかり、それで top-1 が何ポイント上がるかを見ます。

# %%
steps = pd.DataFrame({"FLOPs x": arch.PAPER["FLOPs_B"] / arch.PAPER["FLOPs_B"].shift(),
                      "top1 gain": arch.PAPER["top1"].diff()}).iloc[1:]
print("under a point of top-1 for the step:", list(steps.index[steps["top1 gain"] < 1]))
steps.round(2)

# %% [markdown]
# どの段階も前の段階のおよそ 2 倍前後の計算量がかかり、後半の段階で得られる伸びはそれぞれ 1 ポイントに届きません。小さなデータセットでの転移学習なら、価値があるのは B0〜B3 です。

# %% [markdown]
# ## 5. MBConv をゼロから
#
# `effnet_helpers/architecture.py` にある（そしてそこでテストされている）ブロックのコードです。5 つの段階があります。expand、depthwise、squeeze-and-excitation、project、そしてブロックが形状を保つときの残差接続（residual connection）です。`mistake` の行は第 7 節のためのものなので、今は無視してください。

# %%
print(inspect.getsource(arch.mbconv_block))

# %% [markdown]
# 注目してほしい点：
#
# - **squeeze-and-excitation** は射影の*前*、広げたあとの特徴に対して行います。そのボトルネックの幅は、広げたあとではなく、ブロックの**入力**チャネル数の 4 分の 1 です。
# - 射影には**活性化関数がありません**。狭い層に ReLU や swish をかけると情報が失われるからです（MobileNetV2 の「線形ボトルネック」（linear bottleneck））。
# - **残差**を足すのは、ストライドが 1 で、入力と出力のチャネル数が等しいときだけです。それ以外では形状が違うので、足し合わせる相手がありません。
# - 畳み込みにはバイアスがありません。直後のバッチ正規化が自分のバイアスを持っているからです。
#
# ブロックが呼び出す 2 つの補助関数です。

# %%
print(inspect.getsource(arch.conv_bn))
print(inspect.getsource(arch.squeeze_excite))

# %% [markdown]
# **確率的深さ**（stochastic depth）は、ノートブック 03 の構造の表に出てきた正則化の手法で、学習中にブロックをまるごとランダムに飛ばします。画像ごとに、残差の分岐を**生存確率**（survival probability）p で残し、それ以外のときは落とすので、ブロックは入力をそのまま通します。残った分岐は p で割るので、何も落とさない推論時にも期待値は同じになります。重みを持たないので、パラメータ数は変わりません。

# %%
print(inspect.getsource(arch.StochasticDepth.call))

# %% [markdown]
# ## 6. ブロックから組み立てた B0 と、その証明
#
# ネットワーク全体は、ブロックの表をループで回すだけです。ステム、各ステージのすべてのブロック（スケーリングしたチャネル数と繰り返し数で）、最上部の畳み込み、そして分類器。確率的深さの落とす確率（drop rate）は、ブロックの位置に比例して 0 から 0.2 まで大きくなります（生存確率は 1 から 0.8）。

# %%
print(inspect.getsource(arch.efficientnet))

# %% [markdown]
# 私たちのモデルと Keras のモデルを並べます。**証明 1**、パラメータ数と形状：分類器ありでもなしでもパラメータ数が同じで、ステージごとの出力の形状とパラメータ数も同じです。

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
# Keras のほうが層の数が多くなっています。Keras は、パディングがバックエンドに依存しないよう、ストライド 2 の畳み込みの前に明示的な `ZeroPadding2D` 層を置き、SE のベクトルを `Reshape` 層で形を変えているからです。パディングと形の変更には重みがなく、TensorFlow の "same" パディングも同じようにパディングするので、形状は（そしてこの後で見るとおり、数値も）一致します。**証明 2**、計算そのもの：Keras の（ランダムな）重みをテンソルごとに私たちのモデルにコピーし、同じ画像を両方で分類します。

# %%
copied = arch.copy_weights(theirs, ours)
images = np.random.default_rng(0).uniform(0, 255, (CHECK_IMAGES, size, size, 3)).astype("float32")
ours_out = ours(images, training=False).numpy()
theirs_out = theirs(images, training=False).numpy()
difference = np.abs(ours_out - theirs_out).max()
print(f"{copied} weight tensors copied; largest output difference {difference:.1e}")
print("same predicted classes:", (ours_out.argmax(1) == theirs_out.argmax(1)).all())

# %% [markdown]
# 同じ重みを入れれば、同じ確率が出てきます。ゼロから組み立てたネットワークは、Keras のものと同じ計算をしています。ただし、これに ImageNet の重みを読み込む前に注意が一つあります。`weights="imagenet"` のとき、Keras は正規化の後ろに重みのない層をもう1つ挿入します（元の TensorFlow のコードの前処理を再現する、1/√std による再スケーリング）。ゼロから組み立てたモデルにも、この層が必要です。

# %% [markdown]
# ## 7. 手書きの EfficientNet によくある間違い
#
# どれも正しいコードと1行しか違わず、どれもビルダーの `mistake=` に指定できる値です。

# %%
pd.Series(arch.MISTAKES, name="what goes wrong").to_frame()

# %% [markdown]
# **squeeze-and-excitation の位置や大きさの間違い。** どちらもエラーなく組み立てられ、学習もできてしまいます。気づく手がかりはパラメータ数だけです。射影の後ろに置くと、SE は 32〜1,152 チャネルではなく 16〜320 チャネルに重みを付け直すことになり、パラメータは少なくなります。広げたあとのチャネル数を基準にすると、ボトルネックが 6 倍広くなり、パラメータはずっと多くなります。

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
# **生存確率のつもりで落とす確率を使う。** 論文と参照実装のコードは生存確率（0.8）で述べていますが、Keras の `drop_connect_rate` は落とす確率（0.2）です。取り違えてもパラメータ数と形状は同じままですが、学習中に残差の分岐を少しではなく大半を落とし、生き残った分岐を何倍にも拡大してしまいます。

# %%
wrong = arch.efficientnet(mistake="drop_as_survival", include_top=False)
survival = pd.DataFrame({"right": arch.survival_probabilities(b0[None]),
                         "mistaken": arch.survival_probabilities(wrong)})
ax = survival.plot.bar(figsize=(12, 4.5), color=["tab:green", "tab:red"], rot=0)
ax.set(title="Stochastic depth: survival probability of each residual block of B0",
       xlabel="block", ylabel="probability the branch is kept")
ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5));

# %% [markdown]
# 学習中にそれが何を引き起こすかを、1つの層について 10,000 サンプルで測ってみます（推論時には何も落とされません）。

# %%
ones = np.ones((10_000, 1, 1, 1), "float32")
for label, p in (("right", survival["right"].min()), ("mistaken", survival["mistaken"].max())):
    kept = arch.StochasticDepth(p, seed=0)(ones, training=True).numpy().ravel()
    print(f"{label:9s} survival {p:.4f}: {np.mean(kept == 0):.1%} of branches dropped, "
          f"survivors x{kept.max():.2f}")
print(f"mistaken, first residual block: survival {survival['mistaken'].min():.4f}, "
      f"survivors x{1 / survival['mistaken'].min():.0f}")

# %% [markdown]
# **残差を足す条件がない。** すべてのブロックでスキップ接続を足すと、最初のブロック（入力 32 チャネル、出力 16 チャネル）で失敗するので、この間違いは少なくとも自分から名乗り出てくれます。より見つけにくいのは、チャネル数だけを確かめてストライドを確かめない版です。B0 ではストライド 2 のブロックはどれもチャネル数も変えるので、チャネル数を保つストライド 2 のブロックを持つ別のブロック表に出会うまで、気づかれないままになります。

# %%
try:
    arch.efficientnet(mistake="no_residual_condition")
except ValueError as error:
    print("ValueError:", str(error).splitlines()[0])

# %% [markdown]
# ## 8. 1つの次元か、3 つすべてか
#
# B0 に同じだけの FLOPs の追加予算（複合スケーリングの φ 段階目に当たる 1.92^φ）を与え、それを深さだけ（d = 1.92^φ）、幅だけ（w = 1.92^(φ/2)）、解像度だけ（r = 1.92^(φ/2)）、あるいは複合スケーリングのやり方で 3 つすべてに使います。計算量は `arch.analytic_cost` から求めます。これはモデルを組み立てずに、ブロックの表から層ごとの計算量を合計する関数です（組み立てたモデルで数えた値とちょうど等しいことをテストで確かめています）。

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
# 同じ FLOPs でも、戦略によってまったく違うネットワークができます。**解像度だけ**ではパラメータは1つも増えません（同じフィルタがより多くの画素の上を動くだけです）。**深さだけ**や**幅だけ**では、予算がはるかに多くのパラメータに変わり（φ = 7 では複合スケーリングの 5〜7 倍）、非常に深いネットワーク、あるいは非常に幅広く浅いネットワークになります。複合スケーリングはその中間にあり、実際の B1〜B7（星印）はその曲線の上に乗っています。なぜそれが重要なのかは論文の実験が示しています。どれか1つの次元だけをスケーリングすると、最初は精度が上がりますが、top-1 が約 80% を超えたあたりですぐに頭打ちになります（論文の Figure 3）。一方、深さと解像度も増やしながら幅をスケーリングすると、同じ FLOPs でより大きく精度が上がります（論文の Figure 4）。大きな画像を全体として捉えるにはより多くの層が、その細部を運ぶにはより多くのチャネルが必要だからです。

# %% [markdown]
# ## 9. EfficientNet-Lite：スマートフォン向けの B0
#
# ノートブック 03〜05 のオフラインのプロファイルが学習するのは **EfficientNet-Lite0** です。B0 のステージの表を、スマートフォンやエッジ向けのアクセラレータ（Coral の Edge TPU、スマートフォンの NPU）に合わせて変えたものです。これらは 8 ビット整数で計算するときに最も速く動きます（**int8**：各テンソルを最小値と最大値の間の 256 段階で格納し、大きさは float32 の 4 分の 1）。tensorflow/tpu の lite の README が、変更点とその理由を挙げています。

# %%
arch.LITE_CHANGES

# %% [markdown]
# int8 で活性化関数に上限があることが重要なのは、モデルを実行する前に、変換器が各テンソルの範囲を決めておかなければならないからです。ReLU6 の範囲は式からわかります。swish の最大値は入力と同じだけ大きくなるので、範囲は見本の画像で測るしかなく、少数の大きな値が、ほかのすべての値のための 256 段階を引き伸ばしてしまいます。

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
# 第 6 節のビルダー（`lite=True`）で組み立てた Lite0 と Lite4 を、B0 と B4 と並べます。数値は組み立てたモデルの層から読み取ります。B4 と Lite4 は幅（1.4）と深さ（1.8）の係数が同じなので、Lite がスケーリングしないものが両者の列に現れます。

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
# Lite0 は squeeze-and-excitation を除いた B0 ですが、積和演算の回数はほとんど変わりません。SE の 1x1 畳み込みは、すべての画素ではなく、ブロックごとにプーリングした1本のベクトルに対して働くからです。Lite がスマートフォンで節約するのは演算量ではありません。SE のプーリングは特徴マップ全体がそろうまで待たなければならず、そのシグモイドと乗算は、swish と同じく、int8 のアクセラレータが苦手とするか、まったく実行できない演算です（README には、SE は「一部のモバイル向けアクセラレータでは十分にサポートされていない」とあります）。積和演算の回数にはそれが表れません。ノートブック 05 では、Lite0 と B0 を TensorFlow Lite のファイルとして測ります。
#
# **Lite0 の証明**：ここで組み立てたネットワークは、パッケージに含まれる PyTorch のファイルから変換した ImageNet のモデルとパラメータ数がぴったり同じで、そのファイルが保持する数値の個数とも一致します（ファイルはワークブックの読み取り関数で読み、ファイルのコードは一切実行しません。バッチの計数値は重みではありません）。初回に使うときにファイルを変換し、その結果をワークブックのキャッシュに保存します。

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
# Lite1〜Lite4 にはパッケージに含まれる重みがありません。それぞれ本来の解像度でゼロから組み立て、公表されている数値（`arch.LITE_PAPER`）と並べます。

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
# README が数えているのは**学習可能な**パラメータです（表示される最初の行）。Keras の数には、各バッチ正規化の移動平均と移動分散（チャネルごとに2つの数値。学習される統計量ですが、オプティマイザが動かす重みではありません）が加わります。README の積和演算の回数は、表示される割合だけ `count_flops` より多く、その向きは常に同じです。一方、論文の B0〜B7 の数値は、この数え方の上下両側にばらついています（第 3 節）。README は何を数えたのかを書いていません（この数え方では、バッチ正規化、活性化関数、加算を除いています）。そして int8 にしても Lite のモデルはほとんど損をしません。最後に表示される top-1 のポイント差です。公表されている float32 の数値から、B0〜B7 に比べて Lite が何を失うのかを、パラメータ数と積和演算の回数に対して見てみます。

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 6), sharey=True)
families = ((arch.PAPER.loc["B0":"B4"], "EfficientNet B0-B4", "tab:green"),
            (arch.LITE_PAPER, "EfficientNet-Lite0-4", "tab:purple"))
label_at = {"B": (6, -16), "l": (6, 8)}  # B のラベルは点の下に、Lite のラベルは点の上に
crowded = {"B0": (-30, 8), "B3": (-30, 8), "lite1": (8, -16), "lite2": (8, -16),
           "lite3": (-50, 2), "lite4": (8, -16)}  # パラメータのパネルで近くにある点どうし
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
# 表は、自分にとって大事な列で読んでください（各 Lite のモデルを、いちばん近い B のモデルと並べています）。その値からまとめると次のとおりです。

# %%
for column, by in (("top1 diff (params)", "B by params"), ("top1 diff (FLOPs)", "B by FLOPs")):
    print(f"against {by[5:]}:", ", ".join(f"{name} {row[column]:+.1f} ({row[by]})"
                                           for name, row in nearest.iterrows()))
lite4 = nearest.loc["lite4"]
print(f"lite4: {lite4.FLOPs_B:g} billion multiply-adds against {lite4['B by FLOPs']}'s "
      f"{lite4['its FLOPs_B']:g}")

# %% [markdown]
# **パラメータ数**（メモリ、ファイルの大きさ）に対しては、2つのファミリーはほぼ互角で、Lite0 が B0 より低くなっています。**積和演算の回数**（画像1枚あたりの計算量）に対しては、どの Lite のモデルもほぼ同じ計算量の B のモデルより低く、Lite4 は B3 とほぼ同じ精度を得るのに B3 より多くの計算量を必要とします。これが squeeze-and-excitation と swish を手放した代償です。Lite で得られるのは、スマートフォンの整数演算ハードウェアでよく動き、量子化してもほとんど精度を失わないモデルです。このワークブックのオフラインのプロファイルには、もう一つ理由があります。Lite0 の ImageNet の重みは PyPI のパッケージに含まれているので、ノートブック 03 はインターネットなしでそこから学習できるのです。

# %% [markdown]
# ## 自分で確かめる
#
# パラメータ数、ステージの形状、計算量。どれも乱数には依存しません。

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
# ## 次のステップ
#
# ディスクに書き出したのは、ワークブックのキャッシュにある変換済みの Lite0 の重み（第 9 節）だけです。このノートブックの結果は、表とグラフそのものです。EfficientNet の各部分は、もう読んだコードになりました。ステムとトップは `conv_bn`、ブロックは squeeze-and-excitation と確率的深さを含む `mbconv_block`、バッチ正規化はすべての畳み込みの後に続き、ヘッドはプーリング、ドロップアウト、1 つの全結合層で、Lite は同じビルダーに `lite=True` を渡したものです。このコードは `effnet_helpers/architecture.py` にあり、`tests/test_architecture.py` には証明がテストとして入っています。パラメータのセルで `FROM_SCRATCH = "B3"` と設定すれば、スケーリングしたモデルも同じように確かめられます。
#
# これがワークブックの最後のノートブックです。これらのモデルのどれかを自分の写真で学習するには、[ノートブック 03](03_transfer_training.ipynb) の `MODEL` パラメータを設定します。第 3 節と第 9 節のどの名前でも指定できます（`"B3"`、`"lite2"`、…。オフラインで ImageNet の重みがあるのは Lite0 だけです）。パラメータ数はメモリを、積和演算の回数は GPU や TPU での速度を決めます。スマートフォンなら、Lite を int8 で（ノートブック 05）。
