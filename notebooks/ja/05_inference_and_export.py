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
# ノートブック 03 と 04 で、学習済みで評価済みのモデルディレクトリができました。ここではそれを**使います**。モデルディレクトリだけを頼りに、どんな形式の新しい写真でも予測し、**モデルがどこを見ているか**（Grad-CAM）を確かめ、モデルを**書き出し**（export）ます。書き出すのは、スマートフォン向けの TensorFlow Lite ファイル（すべての検証画像で Keras モデルと照合します）と、エンコードされた画像を TensorFlow Serving が受け取って実行できる SavedModel です。知らない言葉は、ノートブック 01 の[このワークブックで使う用語](01_dataset_layout.ipynb#words-used-here)にあります。
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/05_inference_and_export.ipynb)
# [GitHub で見る](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/05_inference_and_export.ipynb)
#
# 英語版（原文）：[05_inference_and_export.ipynb](../05_inference_and_export.ipynb)。この日本語版は英語版から生成しており、コードは英語版と同一です。

# %% [markdown]
# ## セットアップ
#
# 新しい Colab セッションでは、このセルがワークブックの補助パッケージ（そのリリース `RELEASE`）をインストールします（TPU ランタイムでは TensorFlow とその TPU 版もインストールし、そのあとセッションを一度だけ再起動するよう求めます）。予測と書き出しは、どのランタイムでも CPU で動きます。
#
# Colab では出力を **Google ドライブ**（`MyDrive/effnet_work`。マウントの許可を Colab が一度だけ求めます）に保存するので、VM が再割り当てされてもチェックポイントを含めて何も失われません。VM の中に置きたいときは `KEEP_ON_DRIVE = False` にしてください。データが `gs://` バケットにある場合は、TensorFlow が読めるように、Colab で最初に一度 `from google.colab import auth; auth.authenticate_user()` を実行してください。

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
import os

import numpy as np

from effnet_helpers import datasets, evaluation, explain, export, inference, plots, runtime
from effnet_helpers import models, settings, stages, storage, training

runtime.ensure_tensorflow()
import tensorflow as tf

plots.use_projector_style()
runtime.print_versions()

# %%
KEEP_ON_DRIVE = True  # Colab では出力を Google ドライブに置く（VM が再割り当てされても失われない）
print(f"outputs go to {settings.work_dir(drive=KEEP_ON_DRIVE)}")

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
# 必要なものはすべてモデルディレクトリに入っています。モデル（`model.keras`。画素の正規化はモデル自身が行います）、クラス名（`synset_id2label.json`）、そして画像をどう切り抜いて縮小したか（`config.json`）です。写真1枚の予測は、次の 5 段階です。
#
# 1. バイト列を読み込む。
# 2. `inference.prepare`：どんな形式（PNG、CMYK、16 ビット、スマートフォンの EXIF による回転）でも、正しい向きの RGB の JPEG にします。ノートブック 02 の変換器が訓練画像を格納したのとまったく同じ処理です。
# 3. `predictor.preprocess`：ノートブック 03 の評価時の切り出し方（中央の切り抜きか画像全体）で、モデルの解像度に縮小します。
# 4. モデル：クラスごとの確率を1つずつ出力します。
# 5. ノートブック 04 の温度（`calibration.json`）：どのクラスが1位かは変えずに、それらの確率を正直なものにします。このセッションに較正の結果がなければ、ノートブック 04 と同じように、ここで検証画像を使って当てはめます。

# %%
from effnet_helpers import calibration

if calibration.read_calibration(MODEL_DIR) is None:
    print(calibration.summary_text(calibration.calibrate(MODEL_DIR, RECORDS_DIR).calibration))

# %%
predictor = inference.load_predictor(MODEL_DIR)
CLASSES = predictor.classes
path = sorted(storage.glob(os.path.join(DATA_DIR, "validation", CLASSES[-1], "*")))[0]

jpeg = inference.prepare(storage.read_bytes(path))          # 2. どんな画像も -> 正しい向きの RGB の JPEG
image = predictor.preprocess(jpeg)                          # 3. 切り抜いて縮小：float32、0..255
probabilities = predictor.model.predict(image[np.newaxis], verbose=0)[0]   # 4. [クラス数]
probabilities = calibration.apply_temperature(probabilities[None], predictor.temperature)[0]  # 5.
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
DATASET_PHOTOS_MADE = PHOTOS is None  # デモ用のフォルダ（クラスがわかっている）
if PHOTOS is None:
    PHOTOS = datasets.make_new_photos(DATA_DIR, os.path.join(settings.work_dir(), "new_photos"))
shown = [p for p in inference.find_images(PHOTOS) if "broken" not in p][:12]
plots.image_grid([plots.load_for_display(p, 160) for p in shown],
                 [os.path.basename(p)[:16] for p in shown], ncols=6, size=2.0,
                 suptitle="New photos (as the model will see them: upright)");

# %% [markdown]
# `predictor.predict` はフォルダを読み、モデルが前のバッチを処理している間に、次の画像をスレッドで準備します。返すのはファイルごとに1行の表です。壊れたファイルには `error` 列に理由が入り、それ以外のファイルはすべて予測されます。この CSV は、`effnet predict MODEL_DIR PHOTOS --output predictions.csv` が書き出すものと同じです。

# %%
predictions = predictor.predict([PHOTOS], top_k=TOP_K)
predictions_csv = os.path.join(settings.work_dir(), "new_photos_predictions.csv")
storage.write_atomic(predictions_csv, predictions.to_csv(index=False))
expected = datasets.new_photo_classes(DATA_DIR, PHOTOS) if DATASET_PHOTOS_MADE else {}
table = predictions.assign(path=predictions["path"].map(os.path.basename))
table.insert(1, "expected", table["path"].map(expected))
table.round(3)

# %% [markdown]
# `expected` の列は、作った写真それぞれに写っているクラスです。扱いにくい写真こそが学びどころです。どれも、変換器が訓練画像を用意したのと同じように（正しい向きに直し、RGB にし、JPEG にして）準備されるので、モデルは学習したときと同じものを見ます。`large.jpg` は 2000 px の写真です。モデルの大きさに縮小するとき、出力の各画素はそれが覆う入力の画素を平均します（アンチエイリアス、antialiasing）。これをせずに縮小すると、およそ 20 画素に 1 画素しか残らず、筆跡がエイリアシングの模様になって、モデルは読み違えていました。

# %%
for name in ("greyscale.jpg", "large.jpg", "phone_rotated.jpg", "print_cmyk.jpg", "scan.png"):
    row = table[table["path"] == name]
    if len(row) and name in expected:
        said = row.iloc[0].get("label")
        verdict = ("right" if said == expected[name] else "unsure: sent to a person"
                   if said == settings.UNKNOWN_LABEL else "WRONG")
        print(f"{name:18} shows {expected[name]:8} the model says {said}: {verdict}")

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
# ## 4. 「不明」：どのクラスにも属さない写真
#
# 分類器は、別の何かを写した写真に対しても、必ず自分のクラスのどれかの名前を答えます。害虫のモデルに葉を見せたとき、数字のモデルに文字を見せたときなどです。ノートブック 04 では、検証画像で確信度のしきい値を選びました。それを下回ると答えは `unknown` になり、画像は人に回されます。そのときも、最も可能性の高い推測と top-k は表に残ります（`effnet predict --reject-below auto`）。このしきい値は、どのクラスにも属さない画像を捕まえられるでしょうか。数字と同じように（明るい紙に濃いインクで）文字を描き、scikit-learn の2枚のサンプル画像から小さな写真を切り出して、モデルに尋ねてみます。

# %%
from PIL import Image, ImageDraw, ImageFont
from sklearn.datasets import load_sample_images

NO_CLASS = os.path.join(settings.work_dir(), "no_class")
os.makedirs(NO_CLASS, exist_ok=True)
font = ImageFont.load_default(size=44)
for letter in "ACEFHKLMPRUXY":
    paper = Image.new("RGB", (64, 64), (244, 240, 228))
    ImageDraw.Draw(paper).text((32, 32), letter, fill=(28, 40, 90), font=font, anchor="mm")
    paper.save(os.path.join(NO_CLASS, f"letter_{letter}.jpg"), quality=90)
for i, photo in enumerate(load_sample_images().images):  # 寺院と花
    for j, (y, x) in enumerate([(0, 0), (150, 250), (200, 400)]):
        tile = Image.fromarray(photo[y:y + 220, x:x + 220]).resize((64, 64))
        tile.save(os.path.join(NO_CLASS, f"photo_{i}{j}.jpg"), quality=90)

# %%
no_class = predictor.predict([NO_CLASS], top_k=TOP_K, reject_below="auto")
kind = no_class["path"].map(lambda p: os.path.basename(p).split("_")[0])  # 文字か写真か
said_unknown = no_class["label"] == settings.UNKNOWN_LABEL
print(f"threshold (chosen on validation): {predictor.threshold:.4f}")
for name in ("letter", "photo"):
    print(f"{name}s answered unknown: {said_unknown[kind == name].sum()} of {(kind == name).sum()}")
digits = inference.reject_unknown(from_files, predictor.threshold)  # 第 3 節の予測
sent = digits["label"] == settings.UNKNOWN_LABEL
print(f"validation digits answered unknown (sent to a person): {sent.sum()} of {len(digits)}")

# %%
plots.image_grid([plots.load_for_display(p, 64) for p in no_class["path"]],
                 [f"{r.label}\n{r.best_guess} {r.probability:.0%}" for r in no_class.itertuples()],
                 ncols=7, size=1.9, suptitle="Images of no class: answer, then best guess");

# %% [markdown]
# 上の数値は、次のことを念頭に置いて読んでください。確信度のしきい値が見慣れない画像を捕まえられるのは、モデルがその画像に自信を持てないときだけです。ソフトマックスの最大確率は、最も単純な分布外（out-of-distribution）検出器です（Hendrycks and Gimpel, 2017）。そしてモデルは、一度も見たことのないものに対して自信満々に間違えることがあるので、しきい値を超えた、どのクラスにも属さない画像にはクラス名が付いてしまいます。しきい値を上げればそうした画像をより多く捕まえられますが、その代わりに本物の数字もより多く人に回すことになります。その枚数はノートブック 04（第 9 節）の表でわかります。正直なテストになるのは、利用者が実際に送ってくる、どのクラスにも属さない写真をフォルダにまとめておき、このように予測させることです。

# %% [markdown]
# ## 5. モデルはどこを見ているか：Grad-CAM
#
# モデルは間違った理由で正解することがあります。このワークブックの元になったシステムの害虫分類器（農研機構のもの、ノートブック 01）は、作者が背景を取り除くまで、葉やトラップの背景を学習していました。**Grad-CAM** は、画像のどの部分が予測を決めたのかを示します。バックボーンの最後の畳み込み層の特徴マップ（feature map）を取り出し、各マップを、それが増えるとクラスのスコアがどれだけ増えるか（勾配をマップ全体で平均したもの）で重み付けし、足し合わせて正の部分だけを残します。コードは次のとおりです。

# %%
print(inspect.getsource(explain.grad_cams))

# %% [markdown]
# どの特徴マップを使うのでしょうか。バックボーンの最後の活性化 `top_activation` は 224 px の画像で 7x7 ですが、画像とともに小さくなります。各辺は入力の 32 分の 1 です。2〜3 マスしかないマップでは*どこ*かをほとんど言えないので、`explain.cam_layer` はそのとき、まだ `explain.MIN_CAM_SIDE` マス以上の幅がある、いちばん深い活性化を選びます。ネットワークの少し手前で、少し抽象度が低く、マス目が細かい層です。このモデルでの選択を次のセルが表示します。

# %%
layer = explain.cam_layer(predictor.model)
size = predictor.image_size
grid = tuple(layer.output.shape[1:3])
top = models.backbone_of(predictor.model).get_layer(explain.TOP_LAYER)
top_grid = tuple(top.output.shape[1:3])
print(f"input {size}x{size} px: {explain.TOP_LAYER!r} is {top_grid[0]}x{top_grid[1]}")
if layer.name == explain.TOP_LAYER:
    print(f"Grad-CAM uses {layer.name!r}, the backbone's last activation")
else:
    print(f"under {explain.MIN_CAM_SIDE} cells wide, so Grad-CAM uses {layer.name!r}: "
          f"{grid[0]}x{grid[1]}, each cell {size / grid[0]:.0f} px of the image")

# %% [markdown]
# 明るい（黄色の）ところが、予測したクラスの根拠がある場所で、暗いところには根拠がありません。目盛りはカラーバーが示します。良いモデルなら根拠は数字の筆跡の上にあり、近道（shortcut）を学んでしまったモデルなら背景や縁にあります。画像の次のセルでは、それをパネルごとに測ります。ヒートマップのうちインク（紙とインクの中間より暗い画素を、マップが粗いのでマス目の 4 分の 1 だけ広げたもの）の上にある割合を、画像のうちインクが占める割合と比べます。ヒートが均一に広がっていれば、この2つは同じ値になります。

# %%
picked = list(from_files["path"])[::60][:6]  # 検証写真 6 枚（60 枚おきに 1 枚）
sample = np.stack([predictor.preprocess(inference.prepare(storage.read_bytes(p))) for p in picked])
truth = [os.path.basename(os.path.dirname(p)) for p in picked]  # クラスのフォルダ名
explain.show_grad_cam(predictor.model, sample, CLASSES, labels=truth);

# %%
from scipy import ndimage

heat = explain.grad_cams(predictor.model, sample)
grey = sample.mean(axis=-1)                                   # [n, 高さ, 幅]
paper, darkest = grey.max(axis=(1, 2), keepdims=True), grey.min(axis=(1, 2), keepdims=True)
margin = max(1, round(size / grid[0] / 4))                    # マス目の 4 分の 1（px）
ink = np.stack([ndimage.binary_dilation(dark, iterations=margin)
                for dark in grey < (paper + darkest) / 2])
for panel, (path, cam, strokes) in enumerate(zip(picked, heat, ink), start=1):
    on_ink, area = cam[strokes].sum() / max(cam.sum(), 1e-9), strokes.mean()
    verdict = "drawn to the digit" if on_ink > area else "no more on the digit than chance: a shortcut?"
    print(f"panel {panel} ({truth[panel - 1]:>5}, {os.path.basename(path)}): heat on the ink "
          f"{on_ink:4.0%}, ink {area:4.0%} of the image: {verdict}")

# %% [markdown]
# 「a shortcut?」と印の付いたパネルは判定ではなく問いです。1枚の画像ではほとんど何も証明できず、この小さな画像サイズではマップの1マスが多くの画素にまたがります。同じクラスの多くの画像で問いかけてみてください。ヒートが何度も紙や隅や同じ背景に載るなら、モデルは数字ではなく写真の何かを学んでいます。直すのはデータの側です（背景をもっと多様にする、背景を切り落とすように切り抜く）。元のシステムの作者たちがしたようにです。

# %% [markdown]
# ## 6. スマートフォンや小型デバイス向けの TensorFlow Lite
#
# TensorFlow Lite のファイルに入っているのはモデルだけです。アプリは、上の手順 3 と同じように写真をデコードし、切り抜き、縮小してから、0〜255 の float32 の画素を渡します。`calibration.json` の温度はファイルの中に入っている（下の SavedModel の中にも入っています）ので、アプリは較正済みの確率を受け取り、しきい値を自分で適用できます。3 種類の書き出し方で、サイズと正確さを引き換えにします。
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
# **EfficientNet-Lite がある理由。** スマートフォンやエッジ向けのアクセラレータは、8 ビット整数で計算するときに最も速く動きます。Lite0 は、そのために作り直した B0 です。swish の代わりに ReLU6（上限があるので、活性化を既知の範囲に量子化できます）を使い、squeeze-and-excitation を持ちません（その大域プーリングとシグモイドは、そうしたチップでは遅いからです）。以下では、このノートブックのモデルと、もう一方のファミリーの最小のモデル（Lite のモデルなら B0、B のモデルなら Lite0）を、同じ入力サイズで、float32 と int8 のそれぞれ `.tflite` ファイルにして、アプリと同じく1回の呼び出しで画像1枚ずつ並べて比べます。もう一方のモデルの重みはランダムです。大きさと速度は重みの値に左右されず、意味をなさないのはその予測だけです（予測は表示しません）。

# %%
config = training.saved_config(MODEL_DIR)
OTHER = "B0" if models.is_lite(config["model"]) else "lite0"
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
speed = ours.loc["int8 weights", "latency_ms"] / ours.loc["float32 weights", "latency_ms"]
print(f"on this machine, {config['model']}'s int8 file takes {speed:.1f}x the time of its float32 "
      f"file and {ours.loc['int8 weights', 'size_mb'] / ours.loc['float32 weights', 'size_mb']:.0%}"
      " of its size")
print("int8 is", "slower" if speed > 1 else "faster", "than float32 here")

# %% [markdown]
# int8 の行は注意して読んでください。これらのファイルは*ダイナミックレンジ量子化*（dynamic-range quantization）を使っています。重みは 8 ビットで格納します（大きさは 4 分の 1）が、計算は浮動小数点のまま、その場で変換しながら行います。浮動小数点のカーネルが高度に最適化されたデスクトップの CPU では、時間を節約するどころか余計にかかることがあります（ここでどちらだったかは最後の行が示します）。int8 で速くなるのは、*完全整数*量子化（full-integer quantization：重みと活性化の両方を、数百枚の画像で較正して量子化する）を、スマートフォンやエッジ向けチップの整数演算ユニットで実行したときです。Lite の ReLU6 と、squeeze-and-excitation を持たないことが効いてくるのはそこです。

# %% [markdown]
# ## 7. TensorFlow Serving 用の SavedModel
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
