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
# # 03 · 転移学習：TPU・GPU・CPU のどれでも学習する
#
# ノートブック 02 で TFRecord のシャードとラベルマップができました。ここではそれを使い、このワークブックの元になった昆虫分類器（その経緯はノートブック 01 にあります）と同じように、**転移学習**（transfer learning）で EfficientNet を学習します。ImageNet ですでに学習済みのネットワークから出発し、**凍結**（freezing）した**バックボーン**（backbone）の上に**新しいヘッド**（head）を載せて学習し（速く、安全）、続いてバックボーンの後半のブロックを**ファインチューニング**（fine-tuning）します（遅いが、より高精度）。学習の前に事前学習済みのバックボーンが何を知っているかを確かめ、そのレシピを数行の Keras で書き、チェックポイント付きで本番として実行し、ランダムな重みから同じエポック数だけ学習した場合と比べます。エポックごとにチェックポイントを保存するので、Colab の接続が切れても失うのは高々1エポック分です。学習のセルをもう一度実行すれば再開します。
#
# 最後には、学習済みモデル、そのラベルマップ、設定、学習履歴がモデルディレクトリにそろいます。ノートブック 04 と 05 に必要なものがすべて入っています。知らない言葉（バックボーン、ブロック、バッチ正規化、エポックなど）は、ノートブック 01 の[ここで使う言葉](01_dataset_layout.ipynb#words-used-here)にあります。
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/03_transfer_training.ipynb)
# [GitHub で見る](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/03_transfer_training.ipynb)
#
# 英語版（原文）：[03_transfer_training.ipynb](../03_transfer_training.ipynb)。この日本語版は英語版から生成しており、コードは英語版と同一です。

# %% [markdown]
# ## セットアップ
#
# 新しい Colab セッションでは、このセルがワークブックの補助パッケージ（そのリリース `RELEASE`）をインストールします。**TPU ランタイム**には 2025 年以降 TensorFlow が入っていないため、TensorFlow とその TPU 版を対応するバージョンの組でインストールし、そこで止まって、セッションを一度だけ再起動するよう求めます。GPU と CPU のランタイムでは、もともと入っている TensorFlow をそのまま使います。
#
# Colab では出力を **Google ドライブ**（`MyDrive/effnet_work`。マウントの許可を Colab が一度だけ求めます）に保存するので、VM が再割り当てされても何も失われません。新しい VM でもチェックポイントから学習を再開できます。VM の中に置きたいときは `KEEP_ON_DRIVE = False` にしてください。データが `gs://` バケットにある場合は、TensorFlow が読めるように、Colab で最初に一度 `from google.colab import auth; auth.authenticate_user()` を実行してください。

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

import numpy as np
import pandas as pd

from effnet_helpers import models, pipeline, plots, runtime, settings, stages, storage, training

runtime.ensure_tensorflow()

plots.use_projector_style()
runtime.print_versions()

# %%
KEEP_ON_DRIVE = True  # Colab では出力を Google ドライブに置く（VM が再割り当てされても失われない）
print(f"outputs go to {settings.work_dir(drive=KEEP_ON_DRIVE)}")

# %% [markdown]
# ## パラメータ
#
# - `MODEL`：`"B0"`〜`"B7"`、`"lite0"`〜`"lite4"`（スマートフォン向けの EfficientNet-Lite）、または `"V2B0"`〜`"V2B3"`、`"V2S"`。大きいほど高精度で、遅くなります。最初は 224 px の B0 が定番です。
# - `IMAGE_SIZE`：`None` ならモデル本来の解像度（B0 と Lite0 は 224、B7 は 600）。
# - `WEIGHTS`：`"imagenet"`（転移学習）、`None`（ゼロから学習）、または重みファイル。
# - `SCHEDULE = (H, F)`：H エポックはヘッドだけを学習し、その後、合計 F エポックまでファインチューニングします（元のシステムの `--transfer_schedule H,F`。ノートブック 01 を参照）。`(0, F)` なら最初から全体を学習します。
# - `UNFREEZE_FROM`：ファインチューニングでは、このブロック以降を学習します（1 ならすべてのブロック）。
# - `LEARNING_RATE`、`FINETUNE_LEARNING_RATE`：ヘッドの段階とファインチューニングの学習率（learning rate）。256 枚のバッチに対する値で、実際のバッチサイズに合わせて換算されます。
# - `BATCH_SIZE`：レプリカあたりのバッチサイズ。TPU v5e-1 はチップが1つです。全体のバッチサイズ = レプリカあたり × レプリカ数。
# - `RESIZE_METHOD`：`"crop"`（学習時にランダムに切り抜く。写真に対する標準的な手法）、`"resize"`（画像全体を縮小）、`"pad_and_resize"`（正方形に余白を足してから縮小）。
# - `BALANCE`：`None`、`"weights"`（損失にクラスの重みを掛ける）、`"sampling"`（少ないクラスをより頻繁に抜き出す）。ノートブック 01 で測ったクラスの偏りへの対策です。
# - `MERGE_CLASSES`：`None`、または `{"old class": "new class"}`（またはその JSON ファイル）。レコードを読むときにクラスを統合し、ファイルそのものには手を触れません。
# - `COMPARE_FROM_SCRATCH`：ランダムな重みからも同じエポック数だけ学習し、事前学習が何をもたらすかを確かめます。
# - `TPU`：`None` なら TPU VM のチップを自動で見つけます。Cloud TPU では名前か `grpc://` のアドレスを指定します。

# %% tags=["parameters"]
DATASET = "sample"
MODEL = "B0"
IMAGE_SIZE = None
WEIGHTS = "imagenet"
SCHEDULE = (2, 10)
UNFREEZE_FROM = 1
LEARNING_RATE = 0.01
FINETUNE_LEARNING_RATE = 0.001
BATCH_SIZE = 32
RESIZE_METHOD = "crop"
AUGMENT = pipeline.Augment(flip=True)
BALANCE = None
MERGE_CLASSES = None
COMPARE_FROM_SCRATCH = True
TPU = None

# %% [markdown]
# これらすべてが1つの `TrainConfig` にまとまり、それがこの学習の完全な記述になります。オフラインのプロファイル（`make workbook` では `EFFNET_PROFILE=cpu`、テストでは `ci`）は、モデル、解像度、スケジュールを、ノートパソコンの CPU でも動く小さな独自の設定に置き換えます（`settings.PROFILES`）。

# %%
import dataclasses

config = training.TrainConfig(
    model=MODEL, image_size=IMAGE_SIZE, weights=WEIGHTS, head_epochs=SCHEDULE[0],
    total_epochs=SCHEDULE[1], unfreeze_from=UNFREEZE_FROM, learning_rate=LEARNING_RATE,
    finetune_learning_rate=FINETUNE_LEARNING_RATE, batch_size=BATCH_SIZE,
    resize_method=RESIZE_METHOD, augment=AUGMENT, balance=BALANCE, class_mapping=MERGE_CLASSES)
PROFILE = settings.profile()
if PROFILE["name"] != "full":
    config = dataclasses.replace(stages.profile_train_config(), balance=BALANCE,
                                 class_mapping=MERGE_CLASSES)
MODEL_DIR = stages.model_dir(DATASET, config.model)
print(f"profile {PROFILE['name']}: {training.describe(config)}\nmodel directory: {MODEL_DIR}")

# %% [markdown]
# ## 1. アクセラレータに接続する
#
# `runtime.connect` は TPU、次に GPU を探し、どちらもなければ CPU を使います。返すのは**分散戦略**（distribution strategy）です。これはモデルをすべてのレプリカ（TPU v2-8 の 8 コア、v5e-1 のチップ1つ、GPU 1 枚ずつ）に複製し、各バッチをそれらに分配するオブジェクトです。`strategy.scope()` の中で作った変数は、すべてのレプリカに置かれます。数値形式もここで選びます。TPU では bfloat16、GPU では float16（混合精度（mixed precision）：速度は 2 倍、精度は同じ）、CPU では float32 です。

# %%
session = runtime.connect(tpu=TPU)
GLOBAL_BATCH = session.global_batch(config.batch_size)
print(f"global batch: {config.batch_size} per replica x {session.replicas} = {GLOBAL_BATCH}")

# %% [markdown]
# ## 2. 事前学習済みのバックボーンがもたらすもの
#
# **ImageNet** は、日常的な 1,000 クラス（犬、カップ、車、…）の写真 128 万枚を集めたもので、ILSVRC-2012 のベンチマークです。これらのクラスを見分けるよう学習したネットワークは、その過程で、ほとんどどんな写真にも役立つ特徴を身につけます。最初の層ではエッジや色、その先ではテクスチャや部品、最後には物体全体です。最後の 1,000 クラスの層を除いたすべてが**バックボーン**です。*転移学習*はそれを再利用し、新しい部分だけを学習します。
#
# **EfficientNet の構造**（ノートブック 06 ではゼロから組み立てます）：
#
# | 部分 | 役割 | B0 / Lite0 では |
# |---|---|---|
# | ステム（stem） | ストライド 2 の 3x3 畳み込み1つ：画像を半分の大きさ、32 チャネルにする | `stem_*` 層 |
# | ブロック | 7 つのステージに並んだ 16 個の MBConv **ブロック**（`block1a` ... `block7a`）：それぞれ 1x1 畳み込みでチャネルを広げ、3x3 または 5x5 の畳み込みで各チャネルをフィルタリングし、再びチャネルを絞り、形状が合うところでは入力を足し戻す | `block*` 層 |
# | トップ（top） | 1,280 チャネルへの 1x1 畳み込み | `top_*` 層 |
# | ヘッド | 画像全体での平均、ドロップアウト、クラスに対するソフトマックスを出す全結合層1つ | 私たちが新しく付けるもの |
#
# どの畳み込みの後にも**バッチ正規化**（batch normalization、batch norm）の層があります。学習中は現在のバッチの平均と分散で各チャネルを正規化し、それらの移動平均を保持して、推論時にはその移動平均を使います。**確率的深さ**（stochastic depth）は、学習中にブロックをまるごとランダムに飛ばします（ドロップアウトと同じく正則化の手法です）。EfficientNet-**Lite** はこのファミリーのモバイル向けのモデルです。ブロックは同じですが squeeze-and-excitation がなく、swish の代わりに ReLU6 を使うので、スマートフォン向けにうまく量子化（quantization）できます（ノートブック 05）。

# %% [markdown]
# 学習を始める前に、バックボーンが私たちの画像をどう見ているかを確かめます。各画像は、バックボーンが出す 1,280 個の数値（最後の特徴マップ（feature map）を画像全体で平均したもの）になります。ImageNet の重みと、同じネットワークにランダムな重みを入れたものについて、2つの尺度で調べます。
#
# - **線形の読み出し**（linear read-out）：訓練画像の特徴でロジスティック回帰を当てはめ、検証画像で採点します。これは、このあとのヘッドの段階で学習するものとまったく同じです。
# - **図**：検証画像の特徴を t-SNE で2次元に縮めたもの（近くにある点ほど特徴が似ています）を、クラスごとに色分けして描きます。

# %%
RECORDS_DIR = stages.ensure_records(DATASET)
CLASSES = pipeline.read_classes(RECORDS_DIR, config.class_mapping)
print(f"{len(CLASSES)} classes: {CLASSES}")


def pooled_features(backbone, split):
    """Every image of a split through the backbone, averaged over the image."""
    data = pipeline.make_dataset(RECORDS_DIR, split, config.image_size, 64, training=False,
                                 resize_method=config.resize_method,
                                 class_mapping=config.class_mapping)
    pairs = [(backbone(x, training=False).numpy().mean(axis=(1, 2)), y.numpy().argmax(1))
             for x, y in data]
    return np.concatenate([f for f, _ in pairs]), np.concatenate([y for _, y in pairs])


# %%
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE

views, readout = {}, {}
for name, weights in (("ImageNet weights", config.weights), ("random weights", None)):
    backbone = models.build_backbone(config.model, config.image_size, weights)
    (x_train, y_train), (x_val, labels) = (pooled_features(backbone, split)
                                           for split in ("train", "validation"))
    probe = LogisticRegression(max_iter=3000).fit(x_train, y_train)
    readout[name] = probe.score(x_val, labels)
    views[f"{name}: read-out {readout[name]:.3f}"] = TSNE(random_state=0,
                                                          init="pca").fit_transform(x_val)
plots.plot_feature_maps(views, labels, CLASSES,
                        title=f"{config.model} features of {len(labels)} validation images, "
                              "before any training");

# %%
gain = readout["ImageNet weights"] - readout["random weights"]
print(f"linear read-out on validation: ImageNet {readout['ImageNet weights']:.3f}, random "
      f"{readout['random weights']:.3f}: ImageNet features are "
      f"{abs(gain) * 100:.1f} points {'better' if gain > 0 else 'worse'}")

# %% [markdown]
# バックボーンはこれらの画像も私たちのラベルも見たことがないのに、その特徴に直線を1本引くだけで、すでにほとんどのクラスを見分けられます。ランダムな畳み込みも役に立たないわけではありません。小さくきれいな数字の画像では、画素そのものの情報の多くをそのまま伝えるので、2つの図のどちらにもある程度の秩序が見えます。ImageNet がもたらすのは、ヘッドがより読み取りやすい特徴と、さらに大きいのは、そこから速く学習が進むネットワークです。第 5 節では、同じエポック数で両者を並べて比べます（写真ではその差はずっと大きく、keras.io の Stanford Dogs の例では、ヘッドだけで約 0.75、ゼロからの学習では約 0.2 です）。
#
# 凍結した特徴の上で新しいヘッドだけを学習するのが**特徴抽出**（feature extraction）、さらにバックボーン自身の重みも少しだけ調整するのが**ファインチューニング**です。以下のレシピでは、まず前者を、次に後者を行います。

# %% [markdown]
# ## 3. 入力パイプライン
#
# 学習時にはレコードの**シャード**（ノートブック 02 のファイル）を並列に読み、シャッフルします。`RESIZE_METHOD = "crop"` では、訓練画像はすべて**ランダムな切り抜き**になります（面積の 8%〜100%、縦横比もランダムで、`tf.image.decode_and_crop_jpeg` でその領域だけをデコードします）。そのためモデルは毎エポック、同じ写真の違う見え方を学習し、検証では中央を切り抜く固定の領域を1つ使います。`"resize"` では、どちらも画像全体を使います。学習のバッチは常に同じ形状です（`drop_remainder`）。TPU は1つの形状に合わせてコンパイルするからです。

# %%
train_data = pipeline.make_dataset(RECORDS_DIR, "train", config.image_size, GLOBAL_BATCH,
                                   augment=pipeline.Augment(**config.augment),
                                   resize_method=config.resize_method,
                                   class_mapping=config.class_mapping)
images, labels = next(iter(train_data))
print("one batch:", images.shape, images.dtype, "labels", labels.shape,
      f"\nthis run: resize method {config.resize_method!r}")
plots.image_grid(images[:12].numpy().astype("uint8"),
                 [CLASSES[i] for i in np.argmax(labels[:12], axis=1)], ncols=6,
                 suptitle=f"A training batch ({config.resize_method}, {config.image_size} px)");

# %% [markdown]
# **データ拡張**（data augmentation）は `pipeline.Augment` のスイッチで切り替えます。左右反転、90 度回転（昆虫には「上」がありません）、ズーム、RandAugment（色や形をランダムに変える操作）、mixup（2枚の画像を混ぜ合わせ、ラベルも同じ割合で混ぜる）です。この学習でどれが有効になっていて、それぞれが何をするかを見てみましょう。

# %%
switches = pipeline.Augment(**config.augment).switches()
print("augmentation switches on:", ", ".join(switches) if switches else
      "none (digits: a flipped 2 is no 2, a rotated 6 a 9)")
if switches:
    pipeline.show_augmentations(RECORDS_DIR, pipeline.Augment(**config.augment),
                                image_size=config.image_size, resize_method=config.resize_method);

# %% [markdown]
# ## 4. Keras だけで書くレシピ
#
# 転移学習は4つの手順からなります。ここでは実際のデータで、短く、各段階1エポックずつ実行します。
#
# **手順 1：凍結したバックボーンに新しいヘッドを載せる。** `backbone.trainable = False` でバックボーンの重みをすべて固定し、新しい全結合層だけが学習します。Keras では、凍結したバッチ正規化の層は推論モードでも動きます（ImageNet で得た移動平均はそのまま保たれます）。

# %%
import keras

with session.strategy.scope():
    backbone = models.build_backbone(config.model, config.image_size, config.weights)
    inputs = keras.Input((config.image_size, config.image_size, 3))
    x = keras.layers.GlobalAveragePooling2D()(backbone(inputs, training=False))
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax", dtype="float32")(x)
    recipe = keras.Model(inputs, outputs)
    backbone.trainable = False

# %% [markdown]
# **手順 2：ヘッドの学習率でコンパイルし、学習する。** ヘッドはランダムな状態から始まるので、大きな歩幅で進んでかまいません。バックボーンは凍結されているので、損なわれることはありません。

# %%
val_data = pipeline.make_dataset(RECORDS_DIR, "validation", config.image_size, GLOBAL_BATCH,
                                 training=False, resize_method=config.resize_method,
                                 class_mapping=config.class_mapping)
steps = max(1, pipeline.known_total(RECORDS_DIR, "train") // GLOBAL_BATCH)
HEAD_RATE = 1e-3
with session.strategy.scope():
    recipe.compile(keras.optimizers.Adam(HEAD_RATE), "categorical_crossentropy",
                   metrics=["accuracy"])
head_fit = recipe.fit(train_data.repeat(), epochs=1, steps_per_epoch=steps,
                      validation_data=val_data, verbose=0, shuffle=False)  # データはシャッフル済み

# %% [markdown]
# **手順 3：`UNFREEZE_FROM` 以降のブロックの凍結を解除し、バッチ正規化は凍結したままにする。** 凍結したバッチ正規化は ImageNet の統計量を保ち、推論モードのままです。そうしないと、新しい画像の小さなバッチがそれらをノイズの多い値で置き換えてしまいます。

# %%
backbone.trainable = True
for layer in backbone.layers:
    block = models.block_number(layer.name)
    frozen = (isinstance(layer, keras.layers.BatchNormalization)
              or layer.name.startswith("stem_")
              or (block is not None and block < config.unfreeze_from))
    layer.trainable = not frozen

# %% [markdown]
# **手順 4：学習率を約 10 分の 1 にして再コンパイルし、もう一度学習する。** 学習率を下げるのは、バックボーンの重みがすでに良い値だからです。大きな歩幅では、ヘッドの勾配が落ち着く前に、ImageNet で学んだことを壊してしまいます。再コンパイルするのは、Keras がどの重みを学習するかを `compile` の呼び出し時に読み取るからです。`trainable` の変更は、コンパイルし直して初めて効きます（そのとき、新しい学習率の新しいオプティマイザも用意されます）。

# %%
with session.strategy.scope():
    recipe.compile(keras.optimizers.Adam(HEAD_RATE / 10), "categorical_crossentropy",
                   metrics=["accuracy"])
fine_fit = recipe.fit(train_data.repeat(), epochs=2, initial_epoch=1, steps_per_epoch=steps,
                      validation_data=val_data, verbose=0, shuffle=False)
print(f"validation accuracy after the head epoch {head_fit.history['val_accuracy'][-1]:.3f}, "
      f"after the fine-tuning epoch {fine_fit.history['val_accuracy'][-1]:.3f}")

# %% [markdown]
# 各段階で何を学習するかを、重みそのものから数えてみます。

# %%
def trainable_row(phase, model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = model.count_params()
    return {"phase": phase, "trained": trainable, "not trained": total - trainable,
            "trained %": round(100 * trainable / total, 1)}


rows = [trainable_row(f"2: fine-tuning from block {config.unfreeze_from}", recipe)]
backbone.trainable = False
rows.insert(0, trainable_row("1: head only (backbone frozen)", recipe))
backbone.trainable = True
rows.append(trainable_row("from scratch: everything", recipe))
averages = sum(int(np.prod(w.shape)) for layer in backbone.layers
               if isinstance(layer, keras.layers.BatchNormalization)
               for w in layer.non_trainable_weights)
print(f"never trained by gradients, in every phase: {averages:,} batch-norm moving averages")
pd.DataFrame(rows).set_index("phase")

# %% [markdown]
# ## 5. 同じレシピを本番で：`training.train`
#
# `training.train` は、この4つの手順を、本番の学習に必要なものとともに実行します。
#
# - **スケジュール**：`SCHEDULE = (H, F)` で H エポックはヘッドだけ、その後、合計 F エポックまでファインチューニングします。
# - **チェックポイントと再開**：エポックが終わるたびに、チェックポイントと `history.csv` の1行をモデルディレクトリ（ローカル、Google ドライブ、`gs://` のいずれでも）に保存し、チェックポイントは新しい 3 つと最良のもの（検証精度で選びます）を残します。接続が切れた学習は、最後のエポックの次から続きます。
# - **十分なヘッドのステップ数**：ヘッドの段階は全体で少なくとも 100 回の最適化ステップを行います。そのため、数百枚の写真（1 周 8 ステップ）では、ヘッドの各エポックが画像を何周もします。こうして、ファインチューニングが始まる前に新しいヘッドが収束します。
# - **ウォームアップ（warm-up）とコサイン減衰（cosine decay）**：ヘッドの段階の学習率は最初のエポックのあいだに上がり、その後、両方の段階の学習率がコサインに沿ってゼロまで下がります。
# - **バッチに比例する学習率**：TPU でのバッチ 1,024 は、バッチ 256 の 4 倍の学習率で学習します。
# - **ラベル平滑化**（label smoothing、0.1）：クラスが 10 個なら、目標値を 1 と 0 の代わりに、正解クラスで 0.91、それ以外の各クラスで 0.01 にするので、モデルがますます極端な確信度へと押しやられることがありません。そのため、報告される損失は 0 に届きません（下を参照）。
# - **特徴のキャッシュ**：データ拡張がなければ、凍結したバックボーンはヘッドのどのエポックでも同じ特徴を計算するので、特徴は一度だけ計算します。
# - **凍結したバックボーンは推論モードで**：凍結した層でも、学習中は振る舞いが変わることがあります。確率的深さがそうです。keras.io では上のように `base_model(x, training=False)` と書きますが、Keras 3 では Functional モデルの中で `fit` がこのフラグを上書きしてしまいます。そこでヘッドの段階では、常に `training=False` を渡す層でバックボーンを包みます。

# %%
print(inspect.getsource(training.frozen_backbone_model))

# %% [markdown]
# そして各段階の凍結、つまりレシピの手順 3 を関数にしたものです。

# %%
print(inspect.getsource(models.set_trainable))

# %% [markdown]
# セッションの接続が切れたら、次のセルをもう一度実行してください。チェックポイントを見つけて続きから学習します。*別の*学習結果が入ったディレクトリを指定した場合は拒否されるので、古いモデルを誤って上書きすることはありません（置き換えたいときは `overwrite=True`）。

# %%
print(training.epochs_text(config))
model = training.train(RECORDS_DIR, MODEL_DIR, config, runtime=session)
history = pd.DataFrame(training.read_history(MODEL_DIR))

# %% [markdown]
# 同じエポック数をランダムな重みから学習したもの、つまり比較の基準（ベースライン）です（すべての層を学習するのは転移学習よりはるかに高くつくため、オフラインのプロファイルでは画像サイズを小さくしています）。

# %%
if COMPARE_FROM_SCRATCH:
    scratch_config = stages.baseline_config(config)
    print(f"from scratch: {training.describe(scratch_config)}")
    training.train(RECORDS_DIR, stages.baseline_model_dir(DATASET, config.model), scratch_config,
                   runtime=session, verbose=0)
    scratch = pd.DataFrame(training.read_history(stages.baseline_model_dir(DATASET,
                                                                           config.model)))

# %%
plots.plot_history(history, title=f"{config.model} on {DATASET}",
                   baseline=scratch if COMPARE_FROM_SCRATCH else None,
                   baseline_label=(f"from scratch at {scratch_config.image_size} px"
                                   if COMPARE_FROM_SCRATCH else ""));

# %%
print(training.history_summary(history))
head_end = history[history["phase"] == "head"]["val_accuracy"]
if len(head_end):
    final, probe = history["val_accuracy"].iloc[-1], readout["ImageNet weights"]
    print(f"the head phase ends at {head_end.iloc[-1]:.3f}; the linear read-out of section 2 (the "
          f"same head fitted to convergence) reached {probe:.3f}; after fine-tuning {final:.3f}: "
          f"{'past' if final > probe else 'not past'} the read-out")
if COMPARE_FROM_SCRATCH:
    print(f"from scratch, the same {len(scratch)} epochs: validation accuracy "
          f"{scratch['val_accuracy'].iloc[-1]:.3f}")
print(f"label smoothing {config.label_smoothing}: the lowest loss possible with "
      f"{len(CLASSES)} classes is {training.smoothed_loss_floor(config.label_smoothing, len(CLASSES)):.3f}")
if {"head", "finetune"} <= set(history["phase"]):
    last_head = history[history["phase"] == "head"].iloc[-1]
    first_fine = history[history["phase"] == "finetune"].iloc[0]
    print(f"first fine-tuning epoch: training accuracy {last_head['accuracy']:.3f} -> "
          f"{first_fine['accuracy']:.3f} "
          f"({'down' if first_fine['accuracy'] < last_head['accuracy'] else 'up'}), validation "
          f"{last_head['val_accuracy']:.3f} -> {first_fine['val_accuracy']:.3f} "
          f"({'down' if first_fine['val_accuracy'] < last_head['val_accuracy'] else 'up'})")

# %% [markdown]
# ヘッドの段階は小さなステップを数エポック行うだけなので、同じ線形ヘッドを収束するまで当てはめる読み出しに届かずに終わることがあります。ファインチューニングはさらに、バックボーンの後半のブロックをこれらの画像に合わせて調整します。これはどんな線形ヘッドにもできないことです。この実行でそれが読み出しを超えたかどうかは、上の行が示しています。
#
# ファインチューニングが始まるとき、2つの正解率は同じ向きに動くとは限りません（最後の行）。訓練の正解率は、重みが動いている間の、学習モードでのエポック内のバッチの平均です。ヘッドの段階ではバックボーンはキャッシュした特徴量を出すだけでしたが、ファインチューニングではそのブロックが学習され、確率的深さ（stochastic depth）がその一部を飛ばします。検証の正解率はエポックの後に推論モードで、何も飛ばさずに測ります。ファインチューニングの最初のエポックで訓練の正解率が下がり、検証の正解率が上がるのはこのためで、失敗ではありません。
#
# ラベル平滑化のため、ここでの `loss` と `val_loss` は平滑化した目標値に対して測ったもので、ある下限より下がることはありません。ノートブック 04 では正解ラベルに対する普通の対数損失（log loss）を報告し、同じモデルでもそちらのほうが小さくなります。比べるのはこの2つの損失ではなく、正解率（accuracy）にしてください。

# %%
history.round(3)

# %% [markdown]
# もう一度学習を実行してみましょう。ディレクトリにはすでにこの学習結果があるので、何もやり直されません。

# %%
model = training.train(RECORDS_DIR, MODEL_DIR, config, runtime=session)

# %% [markdown]
# ## 6. モデルディレクトリの中身

# %%
def entry_row(name):
    """A file of the model directory, or a folder with its files counted."""
    path = storage.join(MODEL_DIR, name)
    folder = storage.isdir(path)
    inside = [storage.join(path, f) for f in storage.walk_files(path)] if folder else [path]
    return {"entry": name + ("/" if folder else ""), "files": len(inside),
            "KB": round(sum(storage.size(f) for f in inside) / 1e3, 1)}


pd.DataFrame([entry_row(name) for name in storage.listdir(MODEL_DIR)]).set_index("entry")

# %% [markdown]
# ## 自分で確かめる
#
# この学習のクラス、段階ごとのエポック数、出発点の重み、そしてモデルの入力と出力です。

# %%
# NBVAL_CHECK_OUTPUT
saved = training.saved_config(MODEL_DIR)
print(saved["classes"])
print(len(history), "epochs:", list(history["phase"].value_counts().sort_index().items()))
print("model", saved["model"], "weights", saved["run"]["weights"])
print("input", model.input_shape, "output", model.output_shape)

# %% [markdown]
# ## 次のステップ
#
# モデルディレクトリ（冒頭で表示した `MODEL_DIR`）には、`model.keras`、`synset_id2label.json`、`config.json`、`history.csv`、チェックポイント、TensorBoard のログ（`%tensorboard --logdir MODEL_DIR/logs`）が入っています。次のノートブック 04 では、このモデルを評価します。正解率、クラスごとの適合率と再現率、そして混同行列です。
