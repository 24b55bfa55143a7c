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
# # 01 · データセットの構成：クラスごとに1つのフォルダ
#
# 画像分類器づくりは、写真を集めたフォルダから始まります。このノートブックでは、ワークブック全体が前提とする形に写真を並べ、枚数を数え、実際に目で見て、放っておけば何時間も後に「学習が途中で落ちる」「正解率（accuracy）が不自然に高い」といった形で表面化する問題を、先に見つけ出します。
#
# 最後には、チェック済みのデータセット、その問題点のレポート、そして以降のすべてのノートブックが使う**ラベルマップ**（label map：どのクラスに何番を割り当てるかの対応表）が手元に残ります。
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/01_dataset_layout.ipynb)
# [GitHub で見る](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/01_dataset_layout.ipynb)
#
# 英語版（原文）：[01_dataset_layout.ipynb](../01_dataset_layout.ipynb)。この日本語版は英語版から生成しており、コードは英語版と同一です。

# %% [markdown]
# ## セットアップ
#
# このセルは、リポジトリをクローンした環境でも、新しく開いた Colab セッションでも動きます。ワークブックの補助パッケージ `effnet_helpers` が見つからなければ、リポジトリを取得してインストールします。セッションにすでに TensorFlow があれば、それを置き換えることはありません。

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
import json
import shutil
from pathlib import Path

import pandas as pd
from effnet_helpers import datasets, layout, plots, runtime, settings

runtime.ensure_tensorflow()
plots.use_projector_style()
runtime.print_versions()

# %% [markdown]
# ## パラメータ
#
# `DATASET` で使う写真を選びます。
# - `"sample"`：`data/sample` に同梱された、手書き数字の小さな画像 1,797 枚（オフラインで動きます）。
# - `"flowers"`：TensorFlow が公開している 5 クラス・3,670 枚の花の写真。初回に自動でダウンロードし、分割します。
# - 自分のフォルダ。たとえば `from google.colab import drive; drive.mount("/content/drive")` で Google ドライブをマウントしたあとの `"/content/drive/MyDrive/pests"`、あるいはバケット `"gs://my-bucket/pests"`。

# %% tags=["parameters"]
DATASET = "sample"
GRID_PER_CLASS = 6  # クラスごとに表示する見本画像の枚数

# %%
PROFILE = settings.profile()  # EFFNET_PROFILE=ci（テストが設定します）にすると、どのノートブックも小さく実行されます
GRID_PER_CLASS = min(GRID_PER_CLASS, PROFILE["grid_per_class"])
OUTPUT_DIR = settings.work_dir() / "01_layout"
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
DATA_DIR = datasets.get_dataset(DATASET)
print(f"profile: {PROFILE['name']}\ndata:    {DATA_DIR}\noutputs: {OUTPUT_DIR}")

# %% [markdown]
# ## 1. フォルダ構成：`train/` と `validation/`、クラスごとに1フォルダ
#
# ```
# DATA_DIR/
# ├── train/                 モデルが学習に使う画像（訓練データ）
# │   ├── aphid/
# │   │   ├── IMG_0001.jpg
# │   │   └── ...
# │   └── whitefly/
# └── validation/            モデルを公正に測るため学習から外しておく画像（検証データ）
#     ├── aphid/
#     └── whitefly/
# ```
#
# **フォルダ名がそのままラベルになります**。ラベルを書いた表計算ファイルを別に管理して、画像と食い違わないよう気を配る必要はありません。2つの分割（split）には同じクラスのフォルダを置きます。私たちのデータセットの最上位を見てみましょう。

# %%
for split in settings.SPLITS:
    classes = sorted(p.name for p in (Path(DATA_DIR) / split).iterdir() if p.is_dir())
    print(f"{split}/  {len(classes)} class folders: {', '.join(classes)}")
    first = sorted((Path(DATA_DIR) / split / classes[0]).iterdir())[:3]
    print(f"  {classes[0]}/  " + ", ".join(p.name for p in first) + ", ...")

# %% [markdown]
# ## 2. フォルダを走査して表にする
#
# `layout.scan_dataset` は両方の分割をたどり、見つけたファイル1つにつき1行の表を返します。黙って無視されるファイルはありません。`kind` 列は、そのファイルを画像として扱うか（`candidate`）、扱わないならその理由（`hidden`：隠しファイル、`.DS_Store` のような `system`、`outside class folder`：クラスフォルダの外）を示します。

# %%
table = layout.scan_dataset(DATA_DIR)
table[["split", "class", "filename", "bytes", "kind"]].head()

# %% [markdown]
# クラスごと・分割ごとの画像数は `crosstab` 一つで数えられます。補助関数が合計も加えます。

# %%
counts = layout.class_counts(table)
counts.to_csv(OUTPUT_DIR / "class_counts.csv")
counts

# %%
plots.plot_class_counts(counts, title=f"Images per class ({DATASET})");

# %% [markdown]
# **クラス不均衡（class imbalance）。** あるクラスの写真がほかのクラスよりずっと多いと、モデルはほとんど多数派のクラスを答えるだけで高い得点を取れてしまいます。最大の訓練クラスと最小の訓練クラスの比が、気にすべきかどうかの目安です（おおむね 3 倍を超えたら、ノートブック 03 でクラスの重み付けか均衡化したサンプリングを使います）。

# %%
ratio = layout.imbalance(counts)
print(f"largest / smallest training class: {ratio:.1f}x")
print("balanced enough" if ratio <= 3 else "imbalanced: plan class weights in notebook 03")

# %% [markdown]
# ## 3. 画像を見る
#
# 数字だけでは多くのことが隠れてしまいます。ぼやけた写真、おかしな切り抜き、実は2つのクラスが混ざっているクラス。必ず目で見ましょう。

# %%
plots.sample_grid(table, per_class=GRID_PER_CLASS, split="train");

# %% [markdown]
# ## 4. 学習より先に問題を見つける
#
# `layout.check_images` は、ノートブック 02 の TFRecord 変換器と同じ規則ですべての画像を開きます。そのため、ここで報告されるものは、変換時に読み飛ばされるものとちょうど一致します。続いて `layout.find_problems` が、ほかに知っておくべきことをすべて集めます。画像が空のクラスや片方の分割にしかないクラス、訓練データと検証データの間の重複画像（**リーク**（leak）：学習に使った写真でモデルをテストすることになり、検証の正解率が実際より良く見えます）、拡張子と中身の形式が食い違うファイル、紛らわしいクラス名などです。

# %%
checked = layout.check_images(table)
problems = layout.find_problems(checked)
problems.to_csv(OUTPUT_DIR / "problems.csv", index=False)
print(f"{len(problems)} problems in {DATASET}")
problems.head(10)

# %% [markdown]
# サンプルデータはきれいです。しかし実際のフォルダがきれいなことはまずありません。そこで、現実の写真フォルダによくある乱れを1種類ずつ仕込んだ小さなコピーを作ってみましょう。補助関数を読んでみてください。1行が1つの問題を作ります。

# %%
print(inspect.getsource(datasets.make_messy_dataset))

# %%
messy = Path(datasets.make_messy_dataset(DATA_DIR, OUTPUT_DIR / "messy"))

# %%
messy_problems = layout.find_problems(layout.check_images(layout.scan_dataset(messy)))
messy_problems.assign(file=messy_problems["path"].str.replace(str(messy) + "/", ""))[
    ["severity", "problem", "split", "class", "file", "detail"]]

# %% [markdown]
# エラー（error）は学習の前に直す必要があります（リークしたコピーを削除し、壊れたファイルを取り除きます）。警告（warning）は一度見ておく価値があります。情報（info）は、報告したうえで除外されるファイルです。黙って消えるものは何もありません。

# %% [markdown]
# ## 5. 分割されていないフォルダを訓練用と検証用に分ける
#
# 多くのデータセットは、花のダウンロード（`flower_photos/daisy/*.jpg`）のように、分割のないクラスごとのフォルダで配布されています。`layout.split_dataset` は**クラスごとに**一定の割合を検証データに回します（層化分割、stratified split）。シードを固定するので、何度実行しても同じ分割になります。コピーの代わりにリンクを作れば、ディスク容量も節約できます。サンプルの訓練画像を分割なしのフォルダにしたコピーで試してみます。

# %%
flat = OUTPUT_DIR / "flat"
shutil.rmtree(flat, ignore_errors=True)
for path in layout.candidates(table).query("split == 'train'")["path"]:
    (flat / Path(path).parent.name).mkdir(parents=True, exist_ok=True)
    (flat / Path(path).parent.name / Path(path).name).symlink_to(Path(path).resolve())

split_dir = OUTPUT_DIR / "split_demo"
shutil.rmtree(split_dir, ignore_errors=True)
plan = layout.split_dataset(flat, split_dir, validation_fraction=0.2, seed=42, mode="symlink")
pd.crosstab(plan["class"], plan["split"], margins=True)

# %% [markdown]
# どのクラスも、画像のおよそ 20% を検証データに回しています。同じシードでもう一度実行すれば、同じファイルが同じ分割に入ります。これがあるからこそ、実行と実行の結果を比べられるのです。

# %% [markdown]
# ## 6. クラスを統合する
#
# 2つのクラスが写真からは見分けられないことや、あるクラスの画像が少なすぎて学習できないことがあります。このワークブックの元になったシステムでは、JSON の対応表（`--translate_classes`）`{"old": "new"}` でクラスを統合していました。対応表にないクラスは名前がそのまま残ります。たとえば、私たちの手書きでは "one" と "seven" が似すぎているとしましょう。

# %%
mapping = {"one": "one-or-seven", "seven": "one-or-seven"}
mapping_file = OUTPUT_DIR / "merge_classes.json"
mapping_file.write_text(json.dumps(mapping, ensure_ascii=False, indent=2), encoding="utf-8")
merged = layout.apply_class_mapping(table, mapping_file)
layout.class_counts(merged)

# %% [markdown]
# 同じファイルは以降のすべての段階で使えます。`effnet convert --merge-classes merge_classes.json` は統合済みのレコードを書き出し、学習時に読み込みながら統合することもできます。

# %% [markdown]
# ## 7. ラベルマップ：0 番はどのクラス？
#
# モデルが出力するのは数値です。それをクラス名に戻すのがラベルマップです。クラスには**フォルダ名をソートした順**に番号が振られます。これは、このワークブックが互換性を保っている tensorflow/tpu の変換器の規則です。ソートはアルファベット順であって、意味の順ではありません。サンプルデータでは、0 番は "zero" ではなく "eight" です。

# %%
classes = layout.class_names(table)
layout.write_label_map(classes, OUTPUT_DIR / settings.LABEL_MAP_FILE)
print((OUTPUT_DIR / settings.LABEL_MAP_FILE).read_text(encoding="utf-8"))

# %% [markdown]
# このファイルは `ensure_ascii=False` で書いた UTF-8 の JSON なので、どの言語のクラス名も読めるまま残ります。Python の既定のままでも情報は失われませんが、誰にも読めないエスケープ列になってしまいます。

# %%
print(json.dumps({"0": "アブラムシ", "1": "white fly"}))
print(json.dumps({"0": "アブラムシ", "1": "white fly"}, ensure_ascii=False))

# %% [markdown]
# ## 自分で確かめる
#
# サンプルデータのクラス、その順序、そして枚数です。このセルの出力が変わったら、レッスンの内容も変わったということです。

# %%
# NBVAL_CHECK_OUTPUT
if DATASET == "sample":
    print(dict(enumerate(classes)))
    print(counts.loc["total"].to_dict())
    print(sorted(set(messy_problems["problem"])))

# %% [markdown]
# ## 次のステップ
#
# 出力は `OUTPUT_DIR`（冒頭で表示したフォルダ）にあります。`class_counts.csv`、`problems.csv`、`synset_id2label.json`、`merge_classes.json` です。次の [02 · TFRecord 変換](02_tfrecord_conversion.ipynb) では、画像を TPU が高速に読める、シャードに分けた TFRecord ファイルにまとめます。
