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
# # 02 · TFRecord 変換：数千枚の写真を少数の大きなファイルに
#
# ノートブック 01 では、チェック済みの画像フォルダとラベルマップができました。ここではそれらの画像を **TFRecord** ファイルにまとめます。TFRecord は、少数の大きなファイルにシャード（shard）分割した形式で、ローカルディスクからでも、Google ドライブからでも、TPU が読む Cloud Storage のバケットからでも、TensorFlow が高速かつ並列に読み込めます。
#
# 最後には、tensorflow/tpu の EfficientNet 変換器と同じ形式の `train-*-of-*` と `validation-*-of-*` のシャード（データセットにテスト用の分割があれば `test-*-of-*` も。サンプルデータにはノートブック 01 以降テスト用の分割があります）が、ラベルマップ、マニフェスト（manifest）、読み飛ばしたファイルのレポートとともに手元に残ります。ここで初めて出てくる用語（TFRecord、シャード、synset、tensorflow/tpu の変換器）は、ノートブック 01 の[このワークブックで使う用語](01_dataset_layout.ipynb#words-used-here)にあります。
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/02_tfrecord_conversion.ipynb)
# [GitHub で見る](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/02_tfrecord_conversion.ipynb)
#
# 英語版（原文）：[02_tfrecord_conversion.ipynb](../02_tfrecord_conversion.ipynb)。この日本語版は英語版から生成しており、コードは英語版と同一です。

# %% [markdown]
# ## セットアップ
#
# リポジトリのチェックアウトでも新しい Colab セッションでも動きます（補助パッケージが見つからないときはワークブックのリリース `RELEASE` をインストールし、セッションの TensorFlow を置き換えることはありません）。**TPU ランタイム**には 2025 年以降 TensorFlow が入っていないため、`runtime.ensure_tensorflow()` が TensorFlow とその TPU 版をインストールし、そこで止まって、セッションを一度だけ再起動するよう求めます。
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

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from effnet_helpers import datasets, images, layout, plots, records, runtime, settings, storage

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
# - `DATASET`：ノートブック 01 と同じく `"sample"`、`"flowers"`、または自分のフォルダ。
# - `SHARD_SIZE_MB`：シャード1つの目標サイズ。バケットから読む TPU には 100 MB 程度が適しています。順次読み出しが速くなるだけの大きさがあり、並列に読めるだけのファイル数にもなります。
# - `MAX_SIDE`：長辺がこれより大きい写真を縮小します（たとえば 224〜380 px で学習するなら `640`）。スマートフォンの写真は幅 4,000 px もあり、それを毎エポックデコードするのは時間の無駄です。
# - `RECORDS_BUCKET`：Cloud TPU 用にレコードをコピーする `gs://` のフォルダ（空ならコピーしません）。

# %% tags=["parameters"]
DATASET = "sample"
SHARD_SIZE_MB = 100
MAX_SIDE = None
RECORDS_BUCKET = ""

# %%
PROFILE = settings.profile()  # cpu と ci のプロファイルはシャードを小さくするので、サンプルでも複数のシャードになります
SHARD_SIZE_MB = min(SHARD_SIZE_MB, PROFILE["shard_size_mb"])
from effnet_helpers import stages  # noqa: E402

DATA_DIR = stages.dataset_dir(DATASET)  # ノートブック 01 のテスト用の分割つき。"flowers" はダウンロードする
RECORDS_DIR = settings.work_dir() / "records" / DATASET.strip("/").replace("/", "_")
print(f"profile: {PROFILE['name']} (shards of about {SHARD_SIZE_MB} MB each)\ndata:    {DATA_DIR}\n"
      f"records: {RECORDS_DIR}")

# %% [markdown]
# ## 1. レコードを1つ手で作る
#
# TFRecord ファイルは、シリアライズ（直列化）した `tf.train.Example` メッセージの並びです。`Example` は名前付きの**特徴量**（feature）の辞書で、各特徴量はバイト列・整数・浮動小数点数のいずれかのリストです。ここでは tensorflow/tpu の EfficientNet 変換器のキーを使うので、できたレコードはその学習プログラムでも、このワークブックの学習でも同じように使えます。
#
# | キー | 内容 |
# |---|---|
# | `image/encoded` | JPEG ファイルのバイト列そのもの（デコードした画素ではありません。何分の 1 かの大きさで、下で表示します） |
# | `image/class/label` | クラス番号。この形式では **1 から数えます** |
# | `image/class/synset` | クラスのフォルダ名 |
# | `image/filename`、`image/height`、`image/width`、... | 画像についての情報 |
#
# 最初の訓練画像について1つ作ってみましょう。保存するバイト列は `images.prepare_image` が返します。正常な JPEG ならファイルのバイト列そのもの、そうでなければそのファイルから作った JPEG です（どんなときにそうなるかは第 2 節で説明します）。

# %%
table = layout.scan_dataset(DATA_DIR)
classes = layout.class_names(table)
first = layout.candidates(table).query("split == 'train'").iloc[0]
prepared = images.prepare_image(storage.read_bytes(first["path"]))
image_bytes = prepared.data
height, width, _ = tf.io.extract_jpeg_shape(image_bytes).numpy()  # ヘッダーだけを読みます
print(first["class"], first["filename"], f"{height}x{width}", f"{len(image_bytes):,} bytes",
      "(converted to JPEG)" if prepared.converted else "(the file's own bytes)")
print(f"decoded, the same image is {height * width * 3:,} bytes of pixels, "
      f"{height * width * 3 / len(image_bytes):.0f}x more")

# %%
def bytes_feature(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def int_feature(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


# %%
example = tf.train.Example(features=tf.train.Features(feature={
    "image/encoded": bytes_feature(image_bytes),
    "image/class/label": int_feature(classes.index(first["class"]) + 1),  # 1 から数えます！
    "image/class/synset": bytes_feature(first["class"].encode("utf-8")),
    "image/filename": bytes_feature(first["filename"].encode("utf-8")),
    "image/height": int_feature(int(height)),
    "image/width": int_feature(int(width)),
    "image/channels": int_feature(3),
    "image/colorspace": bytes_feature(b"RGB"),
    "image/format": bytes_feature(b"JPEG"),
}))
serialized = example.SerializeToString(deterministic=True)  # なぜ "deterministic" なのかは後述します
print(f"one serialized Example: {len(serialized):,} bytes")

# %% [markdown]
# 読み戻すのはその逆で、欲しい特徴量の記述を渡して `tf.io.parse_single_example` を呼びます。学習で読むのは画像のバイト列とラベルだけで、ラベルからは 1 を引きます。

# %%
parsed = records.parse_record(serialized)
print("label (0-based):", int(parsed["label"]), "=", classes[int(parsed["label"])])
print("decoded image:", tf.io.decode_jpeg(parsed["image"]).shape)

# %% [markdown]
# 補助関数 `records.build_example` は、まさにこれを行います。入力が同じならバイト列も同じです。ただし条件が1つあります。特徴量は*マップ*（名前 -> 値）であり、`Example` を書き出す形式であるプロトコルバッファ（protocol buffers）は、マップの要素をどんな順序で書いてもかまわないのです。`deterministic=True` を指定すると名前の順にソートして書きます。変換器はすべてのレコードをこの方法で書くので、同じファイルに対して変換を繰り返せば、同じバイト列が書き出されます。

# %%
print(inspect.getsource(records.build_example))
rebuilt = records.build_example(image_bytes, classes.index(first["class"]) + 1, first["class"],
                                first["filename"], int(height), int(width))
print("identical to the hand-built record:",
      rebuilt.SerializeToString(deterministic=True) == serialized)
print("the same Example, as a message:", rebuilt == example)

# %% [markdown]
# ## 2. データセット全体を変換する
#
# `records.convert_dataset` は、これをすべての画像に対して行い、さらに実際のデータセットで必要になる処理も引き受けます。
#
# - **すべての画像を検査します**。使うのは学習と同じ、TensorFlow 自身の JPEG デコーダです。問題のない JPEG はバイト単位でそのまま格納します。それ以外でもデコードできるもの（PNG、GIF、BMP、WebP、CMYK やグレースケールの JPEG、透過 PNG、16 ビット PNG）は RGB の JPEG に変換し、スマートフォンの写真は EXIF の向き情報に従って正しい向きに直します。使えないファイルは**読み飛ばして理由とともに報告します**。黙って捨てることはありません。見つかった数 = 書き込んだ数 + 読み飛ばした数、が常に成り立ちます。
# - **シャード**：訓練用のシャードには画像をシャッフルして入れ（どのシャードにもすべてのクラスが入るように）、検証用とテスト用のシャードはソート順のままにします。シャードの数は `SHARD_SIZE_MB` から決まります。学習が読むのは訓練用と検証用のシャードだけで、テスト用のシャードはノートブック 04 の最後の節まで出番を待ちます。
# - **並列処理**：画像の検査は CPU の全コアで行い、進捗バーを表示します。
# - **中断しても安全**：各シャードは `.incomplete/` の中に一時的な名前で書き、完成してから名前を変えます。接続が切れたら同じセルをもう一度実行すれば、できあがっているシャードの続きから再開します。最終的な名前のファイルが現れるのは、すべてが終わったときだけです。

# %%
manifest = records.convert_dataset(DATA_DIR, RECORDS_DIR, shard_size_mb=SHARD_SIZE_MB,
                                   max_side=MAX_SIDE)

# %%
pd.DataFrame([{"file": name, "MB": round(storage.size(RECORDS_DIR / name) / 1e6, 2)}
              for name in storage.listdir(RECORDS_DIR)])

# %% [markdown]
# **各シャードに入っているもの。** 各シャードファイルから（マニフェストからではなく、ファイルそのものから）読み戻したラベルを見ると、2 通りの並び方がわかります。訓練データのシャードにはシャッフルした画像が入っているので、どのシャードにもすべてのクラスが混ざります（画像がごく少ないクラスは、あるシャードに入らないこともあります）。一方、検証データとテストデータのシャードはソートした順を保つので、シャードが複数あれば、それぞれが連続したクラスのまとまりを持ちます。

# %%
LABEL_ONLY = {"image/class/label": tf.io.FixedLenFeature([], tf.int64)}


def classes_per_shard(records_dir):
    """Records per class (columns) in every shard file (rows), counted from the files."""
    counts = {}
    for split in settings.SPLITS:
        for path in records.shard_files(records_dir, split):
            batches = tf.data.TFRecordDataset(path).batch(4096).map(
                lambda s: tf.io.parse_example(s, LABEL_ONLY)["image/class/label"])
            labels = np.concatenate([b.numpy() for b in batches]) - 1  # ファイルの中では 1 から数えます
            counts[os.path.basename(path)] = np.bincount(labels, minlength=len(classes))
    return pd.DataFrame(counts, index=classes).T


per_shard = classes_per_shard(RECORDS_DIR)

# %%
fig, ax = plt.subplots(figsize=(max(9, 0.9 * len(classes) + 4), 0.55 * len(per_shard) + 2.5))
heat = ax.imshow(per_shard.to_numpy(), cmap="viridis", vmin=0, aspect="auto")
for (row, column), n in np.ndenumerate(per_shard.to_numpy()):
    ax.text(column, row, n, ha="center", va="center", fontsize=11,
            color="white" if n < per_shard.to_numpy().max() / 2 else "black")
ax.grid(False)
ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
ax.set_yticks(range(len(per_shard)), per_shard.index)
ax.set(title="Records per class in each shard file", xlabel="class", ylabel="shard file")
fig.colorbar(heat, ax=ax, label="records");

# %%
train_shards = per_shard[per_shard.index.str.startswith("train-")]
print(f"{len(train_shards)} train shards; every one holds every class:",
      bool((train_shards > 0).all(axis=None)))
for name, row in per_shard.drop(train_shards.index).iterrows():
    held = [c for c in classes if row[c] > 0]
    print(f"{name}: {len(held)} of {len(classes)} classes, {held[0]} to {held[-1]}")

# %% [markdown]
# シャードの隣には次のファイルがあります。
# - `synset_id2label.json`：0 から始まるラベルマップ（このワークブックの元になったシステム、つまりノートブック 01 で紹介した農研機構の昆虫分類器が読む形式）
# - `manifest.json`：分割・クラス・シャードごとの件数。最後に書くので、これがあれば「完了」を意味します
# - `skipped.csv`：書き込まれなかったすべてのファイルと、その理由

# %%
pd.DataFrame({split: {k: v for k, v in info.items() if k in ("found", "written", "skipped")}
              for split, info in manifest["splits"].items()})

# %% [markdown]
# 変換をもう一度実行しても安全です。フォルダにすでにまったく同じ変換結果があることを確認して、何もしません。

# %%
records.convert_dataset(DATA_DIR, RECORDS_DIR, shard_size_mb=SHARD_SIZE_MB, max_side=MAX_SIDE);

# %% [markdown]
# ## 3. 問題のあるファイルはどうなるか
#
# ノートブック 01 で作った乱れたコピー（テキストファイル、空の JPEG と途中で切れた JPEG、`.jpg` という名前の PNG など）を使うと、変換器がそれぞれをどう扱うかがわかります。PNG は JPEG に変換され、使える画像でないファイルはスキップされ、理由とともに `skipped.csv` に記録されます。リークしたコピーと検証用にしかないクラスは正常な画像なので、書き込まれます。変換器が調べるのはファイルであって、データセットの組み立てではありません。それはノートブック 01 のチェックの役目なので、変換の前に実行してください。

# %%
messy = datasets.make_messy_dataset(DATA_DIR, settings.work_dir() / "02_messy")
messy_records = settings.work_dir() / "02_messy_records"
messy_manifest = records.convert_dataset(messy, messy_records, overwrite=True)
skipped = records.read_skipped(messy_records)
skipped.assign(path=skipped["path"].str.replace(messy + "/", ""))

# %% [markdown]
# ## 4. レコードを読み戻して見る
#
# 入れたものは必ず確かめましょう。最初のいくつかの訓練レコードをデコードし、学習が読むときのラベル（ファイルの 1 始まりのラベルから 1 を引いたもので、ラベルマップと一致します）と並べて表示します。

# %%
items = records.take_examples(RECORDS_DIR, "train", count=12)
plots.image_grid([i["image"] for i in items], [f"{i['label']}: {i['class']}" for i in items],
                 ncols=6, suptitle="Training records (0-based label: class)");

# %% [markdown]
# レコードを分割ごと・クラスごとにすべて数えるのが、最後の突き合わせです。ノートブック 01 のフォルダの枚数から `skipped.csv` に載っているファイルを引いた数と一致しなければなりません。`records.inspect_records` はシャードそのものを読みます（マニフェストは照合に使うだけです）。そのため、tensorflow/tpu の変換器（元のシステムの利用者が使っていたもの）が書いた、マニフェストのない TFRecord にも使えます。その場合、クラス名は `image/class/synset` 特徴量か、隣にある `synset_id2label.json` から取ります。

# %%
counts = records.inspect_records(RECORDS_DIR)
per_class = counts.pivot_table(index="class", columns="split", values="records", aggfunc="sum")
per_class.loc["total"] = per_class.sum()
per_class

# %%
folders = layout.class_counts(table)
print("records read:              ", per_class.loc["total"].astype(int).to_dict())
print("image files in the folders:", folders.loc["total"].drop("total").to_dict())
print("files in skipped.csv:      ", {s: i["skipped"] for s, i in manifest["splits"].items()})

# %% [markdown]
# ## 5. Cloud TPU 用のレコード：バケットにコピーする
#
# Colab の TPU ランタイムはローカルファイルを読めるので、そこではこの手順は不要です。自分で用意した Cloud TPU VM は Google Cloud Storage から読み込みます。`RECORDS_BUCKET = "gs://your-bucket/records"` と設定してください。ワークブックのパスはすべて `tf.io.gfile` を通るので、フォルダが使える場所ならどこでも `gs://` のパスが使えます。バケットに直接変換することもできます（`records.convert_dataset(DATA_DIR, "gs://...")`）。ターミナルからなら、`gsutil -m cp -r RECORDS_DIR gs://your-bucket/records` で同じコピーができます。

# %%
if RECORDS_BUCKET:
    if runtime.in_colab():
        from google.colab import auth
        auth.authenticate_user()
    copied = storage.copy_tree(RECORDS_DIR, RECORDS_BUCKET)
    print(f"copied {copied} files to {RECORDS_BUCKET}")
else:
    print("RECORDS_BUCKET is empty: records stay in", RECORDS_DIR)

# %% [markdown]
# 同じ変換はターミナルからも実行できます（大きなデータセットや定期実行のジョブに便利です）。
#
# ```bash
# effnet convert data/sample outputs/records/sample --shard-size-mb 100 --max-side 640
# effnet inspect outputs/records/sample
# ```

# %% [markdown]
# ## 自分で確かめる
#
# 分割ごとの件数、クラス、各レコードが持つキーです。見つかった数 = 書き込んだ数 + 読み飛ばした数。

# %%
# NBVAL_CHECK_OUTPUT
if DATASET == "sample":
    for split, info in manifest["splits"].items():
        print(split, info["found"], "=", info["written"], "+", info["skipped"])
    print(manifest["classes"])
    print(sorted(tf.train.Example.FromString(serialized).features.feature))
    print("messy copy, files skipped:", {s: i["skipped"] for s, i in messy_manifest["splits"].items()})

# %% [markdown]
# ## 次のステップ
#
# レコードは `RECORDS_DIR`（冒頭で表示したフォルダ）にあり、隣に `synset_id2label.json`、`manifest.json`、`skipped.csv` があります。次の [03 · 転移学習](03_transfer_training.ipynb)では、これを使って EfficientNet を学習します。まず凍結したバックボーンの上で新しいヘッドを学習し、続いてファインチューニングを行います。TPU でも GPU でも CPU でも動きます。
