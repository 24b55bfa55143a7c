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
# # 05 · 推論、判断根拠の可視化、書き出し
#
# ノートブック 03 と 04 で、学習済みで評価済みのモデルディレクトリができました。ここではそれを**使います**。モデルディレクトリだけを頼りに、どんな形式の新しい写真でも予測し、**モデルがどこを見ているか**（Grad-CAM）を確かめ、モデルを**書き出し**（export）ます。書き出すのは、スマートフォン向けの TensorFlow Lite ファイル（すべての検証画像で Keras モデルと照合します）と、エンコードされた画像を TensorFlow Serving が受け取って実行できる SavedModel です。
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/05_inference_and_export.ipynb)
# [GitHub で見る](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/05_inference_and_export.ipynb)
#
# 英語版（原文）：[05_inference_and_export.ipynb](../05_inference_and_export.ipynb)。この日本語版は英語版から生成しており、コードは英語版と同一です。

# %% [markdown]
# ## セットアップ
#
# 新しい Colab セッションでは、このセルがワークブックの補助パッケージをインストールします（TPU ランタイムでは TensorFlow とその TPU 版も）。予測と書き出しは、どのランタイムでも CPU で動きます。

# %%
import importlib.util
import subprocess
import sys

REPO_URL = "https://github.com/effnet-workbook/effnet-workbook"  # フォークした場合は、そのリポジトリの URL
if importlib.util.find_spec("effnet_helpers") is None:
    subprocess.run(["git", "clone", "-q", "--depth", "1", REPO_URL, "effnet-workbook"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "effnet-workbook"],
                   check=True)
    sys.path.insert(0, "effnet-workbook")

# %%
import inspect
import os

import numpy as np

from effnet_helpers import datasets, evaluation, explain, export, inference, plots, runtime
from effnet_helpers import settings, stages, storage, training

runtime.ensure_tensorflow()
import tensorflow as tf

plots.use_projector_style()
runtime.print_versions()

# %% [markdown]
# ## パラメータ
#
# - `DATASET` と `MODEL`：ノートブック 03 と同じ値にします（モデルディレクトリの名前がこれで決まります）。
# - `PHOTOS`：自分で用意した新しい写真のフォルダ（またはファイル）。`None` なら、スマートフォンやスキャナーが作るさまざまな形式に検証画像を変えたデモ用フォルダを作ります。
# - `TOP_K`：写真1枚ごとに何クラスまで表示するか。
# - `QUANTIZATIONS`：書き出して検証する TensorFlow Lite の量子化（quantization）の種類。

# %% tags=["parameters"]
DATASET = "sample"
MODEL = "B0"
PHOTOS = None
TOP_K = 3
QUANTIZATIONS = ("none", "float16", "int8")

# %% [markdown]
# ノートブック 03 のモデルとノートブック 02 のレコードです（このセッションになければ、ここで作ります）。

# %%
PROFILE = settings.profile()
if PROFILE["name"] != "full":
    MODEL = PROFILE["model"]
RECORDS_DIR = stages.ensure_records(DATASET)
MODEL_DIR = stages.ensure_model(DATASET, MODEL)
DATA_DIR = datasets.get_dataset(DATASET)
print(f"profile {PROFILE['name']}\nmodel: {MODEL_DIR}")

# %% [markdown]
# ## 1. 写真1枚を、一歩ずつ
#
# 必要なものはすべてモデルディレクトリに入っています。モデル（`model.keras`。画素の正規化はモデル自身が行います）、クラス名（`synset_id2label.json`）、そして画像をどう切り抜いて縮小したか（`config.json`）です。写真1枚の予測は、次の 4 段階です。
#
# 1. バイト列を読み込む。
# 2. `inference.prepare`：どんな形式（PNG、CMYK、16 ビット、スマートフォンの EXIF による回転）でも、正しい向きの RGB の JPEG にします。ノートブック 02 の変換器が訓練画像を格納したのとまったく同じ処理です。
# 3. `predictor.preprocess`：ノートブック 03 の評価時の切り出し方（中央の切り抜きか画像全体）で、モデルの解像度に縮小します。
# 4. モデル：クラスごとの確率を1つずつ出力します。

# %%
predictor = inference.load_predictor(MODEL_DIR)
CLASSES = predictor.classes
path = sorted(storage.glob(os.path.join(DATA_DIR, "validation", CLASSES[-1], "*")))[0]

jpeg = inference.prepare(storage.read_bytes(path))          # 2. どんな画像も -> 正しい向きの RGB の JPEG
image = predictor.preprocess(jpeg)                          # 3. 切り抜いて縮小：float32、0..255
probabilities = predictor.model.predict(image[np.newaxis], verbose=0)[0]   # 4. [クラス数]
for i in np.argsort(-probabilities)[:TOP_K]:
    print(f"{CLASSES[i]:>10}  {probabilities[i]:.1%}")

# %% [markdown]
# `inference.show_prediction` は同じことをして、結果を図に描きます。

# %%
inference.show_prediction(predictor, path, top_k=TOP_K);

# %% [markdown]
# ## 2. 新しい写真のフォルダ
#
# 実際の新しい写真は、あらゆる形でやってきます。デモ用フォルダには、クラスごとに1枚の検証画像と、扱いにくい例が入っています。PNG、CMYK の JPEG、EXIF タグ付きで横倒しに保存された縦長の写真、大きな写真、グレースケールの写真、そしてダウンロードに失敗した壊れたファイルです。

# %%
if PHOTOS is None:
    PHOTOS = datasets.make_new_photos(DATA_DIR, os.path.join(settings.work_dir(), "new_photos"))
plots.image_grid([plots.load_for_display(p, 160) for p in inference.find_images(PHOTOS)
                  if "broken" not in p][:12], ncols=6, size=1.8, suptitle="New photos (upright)");

# %% [markdown]
# `predictor.predict` はフォルダを読み、モデルが前のバッチを処理している間に、次の画像をスレッドで準備します。返すのはファイルごとに1行の表です。壊れたファイルには `error` 列に理由が入り、それ以外のファイルはすべて予測されます。この CSV は、`effnet predict MODEL_DIR PHOTOS --output predictions.csv` が書き出すものと同じです。

# %%
predictions = predictor.predict([PHOTOS], top_k=TOP_K)
predictions_csv = os.path.join(settings.work_dir(), "new_photos_predictions.csv")
storage.write_atomic(predictions_csv, predictions.to_csv(index=False))
predictions.assign(path=predictions["path"].map(os.path.basename)).round(3)

# %% [markdown]
# ## 3. 評価と同じ答えになること
#
# ファイルからの予測とレコードからの評価は一致しなければなりません。さもないと、ノートブック 04 の数値は利用者が実際に得る結果を表していないことになります。すべての検証ファイルを予測し、同じ画像に対する評価時の予測と比べます。

# %%
from_files = predictor.predict([os.path.join(DATA_DIR, "validation")], top_k=1)
from_records = evaluation.evaluate(MODEL_DIR, records_dir=RECORDS_DIR, write=False)
by_name = dict(zip(from_records.names, (CLASSES[i] for i in from_records.predictions)))
agree = np.mean([by_name[os.path.basename(p)] == label
                 for p, label in zip(from_files["path"], from_files["label"])])
print(f"{len(from_files)} files; top-1 equal to the records' evaluation for {agree:.1%}")

# %% [markdown]
# ## 4. モデルはどこを見ているか：Grad-CAM
#
# モデルは間違った理由で正解することがあります。元のシステムの害虫分類器は、作者が背景を取り除くまで、葉やトラップの背景を学習していました。**Grad-CAM** は、画像のどの部分が予測を決めたのかを示します。バックボーンの最後の畳み込み層の特徴マップ（feature map）を取り出し、各マップを、それが増えるとクラスのスコアがどれだけ増えるか（勾配をマップ全体で平均したもの）で重み付けし、足し合わせて正の部分だけを残します。コードは次のとおりです。

# %%
print(inspect.getsource(explain.grad_cams))

# %% [markdown]
# 赤いところが、予測したクラスの根拠がある場所です。良いモデルなら数字の筆跡の上にあり、近道（shortcut）を学んでしまったモデルなら背景や縁にあります。

# %%
picked = list(from_files["path"])[::60][:6]  # 検証写真 6 枚（60 枚おきに 1 枚）
sample = np.stack([predictor.preprocess(inference.prepare(storage.read_bytes(p))) for p in picked])
truth = [os.path.basename(os.path.dirname(p)) for p in picked]  # クラスのフォルダ名
explain.show_grad_cam(predictor.model, sample, CLASSES, labels=truth);

# %% [markdown]
# ## 5. スマートフォンや小型デバイス向けの TensorFlow Lite
#
# TensorFlow Lite のファイルに入っているのはモデルだけです。アプリは、上の手順 3 と同じように写真をデコードし、切り抜き、縮小してから、0〜255 の float32 の画素を渡します。3 種類の書き出し方で、サイズと正確さを引き換えにします。
#
# | quantize | 重み | サイズ |
# |---|---|---|
# | `none` | float32 | 基準 |
# | `float16` | float16 | 約半分 |
# | `int8` | int8（ダイナミックレンジ量子化）、活性化は浮動小数点 | 約 4 分の 1 |
#
# `export.parity_table` はそれぞれを書き出し、**すべての**検証画像で実行します。top-1 の予測が Keras モデルと 99% 以上の画像で一致すれば、その種類は合格です。

# %%
parity = export.parity_table(MODEL_DIR, RECORDS_DIR, formats=QUANTIZATIONS)
parity.drop(columns=["file"]).round(3)

# %% [markdown]
# アプリと同じように、写真1枚を `.tflite` ファイルで予測します。

# %%
tflite_file = parity.loc["tflite-int8", "file"]  # parity_table が書き出したファイル
print(os.path.basename(tflite_file), "->",
      CLASSES[int(np.argmax(export.tflite_predict(tflite_file, image)))], "| Keras ->",
      CLASSES[int(np.argmax(probabilities))])

# %% [markdown]
# **Why EfficientNet-Lite exists.** Phones and edge accelerators compute fastest in 8-bit
# integers. Lite0 is B0 made for that: ReLU6 (bounded, so activations quantise into a known
# range) instead of swish, and no squeeze-and-excitation (its global pooling and sigmoid are slow
# on such chips). Below, this notebook's model beside the other family's smallest member (B0 for
# a Lite model, Lite0 for a B model) at the same input size, float32 and int8, each as a
# `.tflite` file, one image per call as an app runs it. The other model has random weights: size
# and speed do not depend on the weights' values, only its predictions would mean nothing (and
# none are shown).
#
# *（この節は翻訳待ちのため、英語の原文のままです）*

# %%
config = training.saved_config(MODEL_DIR)
OTHER = "B0" if config["model"].startswith("lite") else "lite0"
other_dir = export.untrained_model_dir(stages.model_dir(DATASET, f"{OTHER}-untrained"), OTHER,
                                       config["image_size"], CLASSES,
                                       config["input"]["resize_method"])
footprint = export.footprint_table({config["model"]: MODEL_DIR, OTHER: other_dir},
                                   quantizations=("none", "int8"), image=image)
footprint.round(2)

# %%
ours, other = footprint.loc[config["model"]], footprint.loc[OTHER]
for weights in ours.index:
    print(f"{weights}: {config['model']} {ours.loc[weights, 'size_mb']:.1f} MB, "
          f"{ours.loc[weights, 'latency_ms']:.1f} ms | {OTHER} "
          f"{other.loc[weights, 'size_mb']:.1f} MB, {other.loc[weights, 'latency_ms']:.1f} ms "
          "per image")
print(f"{config['model']} int8 agrees with Keras on "
      f"{parity.loc['tflite-int8', 'top1_agreement']:.1%} of the validation images")

# %% [markdown]
# ## 6. TensorFlow Serving 用の SavedModel
#
# サーバーが受け取るのは、画素ではなくエンコードされた写真です。書き出した SavedModel の `serving_default` シグネチャは、画像の**バイト列**（JPEG または PNG）のバッチを受け取り、評価時の前処理を内部で行ってから、確率とクラスの番号・名前を返します。もう一つのシグネチャ `serving_images` は、前処理済みの浮動小数点の画像を受け取ります。

# %%
saved_model_dir = export.export_saved_model(MODEL_DIR)
served = tf.saved_model.load(saved_model_dir)
serve = served.signatures["serving_default"]
print(serve.structured_input_signature)
files = list(from_files["path"])[:4]
answer = serve(tf.constant([storage.read_bytes(p) for p in files]))
for p, name in zip(files, answer["class_name"].numpy()):
    print(os.path.basename(p), "->", name.decode())

# %% [markdown]
# TensorFlow Serving がこのフォルダをモデル `digits` として動かしていれば、クライアントは base64 でエンコードしたバイト列を REST で送ります。
#
# ```bash
# curl -d '{"instances": [{"b64": "'$(base64 -w0 photo.jpg)'"}]}' \
#      http://localhost:8501/v1/models/digits:predict
# ```

# %% [markdown]
# ## 自分で確かめる
#
# フォルダのすべてのファイルに行があり、エラーは壊れたファイルだけにあり、ファイルとレコードの結果が一致し、TFLite のどの種類も検証画像の 99% 以上で Keras と一致します。

# %%
# NBVAL_CHECK_OUTPUT
print("rows:", len(predictions), "| errors:",
      [os.path.basename(p) for p in predictions.loc[predictions["error"] != "", "path"]])
print("files = records:", agree == 1.0, "| validation files:", len(from_files))
print("top-1 agreement >= 99%:", (parity["top1_agreement"] >= 0.99).to_dict())
print("export:", sorted(storage.listdir(os.path.join(MODEL_DIR, export.EXPORT_DIR))))
print("serving input:", serve.structured_input_signature[1])

# %% [markdown]
# ## 次のステップ
#
# `MODEL_DIR/export/` に TensorFlow Lite のファイルと SavedModel があり、新しい写真の予測は作業ディレクトリの `new_photos_predictions.csv` にあります。ターミナルからは `effnet predict MODEL_DIR photos/ --output predictions.csv` と `effnet export MODEL_DIR --format tflite --quantize float16` で同じことができます。EfficientNet の内部の作りと、B0〜B7 がなぜ違うのかを知りたければ、ノートブック 06 に進みましょう。
