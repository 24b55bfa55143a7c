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
# このワークブックは実在のシステムから生まれました。以下ではこれを**元のシステム**（このワークブックの元になったシステム）と呼びます。農研機構（NARO：日本の国立研究開発法人 農業・食品産業技術総合研究機構。写真はその病害虫被害画像データベースで公開されています）の AI 病害虫診断システムの昆虫分類器です。これは tensorflow/tpu の EfficientNet 学習プログラムのフォーク（fork）で、このワークブックはその変換器、学習スケジュール、フラグを引き継いでいるので、レコードも使い慣れたやり方もそのまま通用します。
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/01_dataset_layout.ipynb)
# [GitHub で見る](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/01_dataset_layout.ipynb)
#
# 英語版（原文）：[01_dataset_layout.ipynb](../01_dataset_layout.ipynb)。この日本語版は英語版から生成しており、コードは英語版と同一です。

# %% [markdown]
# <a id="words-used-here"></a>
# ## このワークブックで使う用語
#
# 6 つのノートブックで使う用語を、1 行に 1 つずつまとめました。今は読み飛ばし、知らない用語に出会ったときに戻ってきてください。以降のノートブックはここにリンクしています。
#
# | 用語 | 意味 | 詳しくは |
# |---|---|---|
# | **クラス**（class）、**ラベル**（label） | モデルが見分ける対象の種類（ここではフォルダ名）と、その番号。クラス名をソートした順に 0, 1, 2, ... と振ります | 第 8 節 |
# | **ラベルマップ**（label map） | ラベルの番号をクラス名に戻すファイル `synset_id2label.json` | 第 8 節 |
# | **訓練 / 検証 / テストの分割**（train / validation / test split） | モデルが学習する画像 / 設定を選ぶのに使う画像 / 最後に一度だけ測る画像 | 第 1 節、第 6 節 |
# | **ImageNet** | 日常的な 1,000 クラスの写真 128 万枚を集めた公開データセット（ILSVRC-2012 ベンチマーク）。「ImageNet の重み」とは、これを学習した後のネットワークの重みのことです | 03 |
# | **synset** | ImageNet でのクラスの呼び名（WordNet の「同義語集合（synonym set）」）。レコードはクラス名を `image/class/synset` に保持します | 02 |
# | **TFRecord** | レコードの長い並びを収める TensorFlow のファイル形式。ここでは画像 1 枚につき 1 レコード（JPEG のバイト列、ラベル、名前）で、順番にも並列にも高速に読めます | 02 |
# | **シャード**（shard） | 1 つの分割のレコードを分けて収める複数のファイルの 1 つ（`train-00000-of-00002`、...）。複数の読み手が同時に読めるようにするためです | 02 |
# | **tensorflow/tpu の変換器** | Google の tensorflow/tpu リポジトリにある `imagenet_to_gcs.py`。EfficientNet の参照実装の学習プログラム向けに ImageNet を TFRecord として書き出します。ノートブック 02 はその形式で書き出します | 02 |
# | **元のシステム**（the original system） | 農研機構の AI 病害虫診断システムの昆虫分類器。tensorflow/tpu の EfficientNet 学習プログラムのフォークです（このノートブックの冒頭を参照） | |
# | **バックボーン**（backbone） | 分類器を除いた事前学習済みのネットワーク。画像を特徴量に変えます | 03 |
# | **ステム**（stem） | バックボーンの最初の畳み込みで、画像を受け取ります | 03, 06 |
# | **ブロック**（block） | バックボーンが繰り返す単位（MBConv ブロック）。B0 には 7 つのステージに 16 個あり、`block1` から `block7` と名付けられています | 03, 06 |
# | **トップ**（top）、**ヘッド**（head） | トップ：バックボーンの最後の 1x1 畳み込み。ヘッド：その後に続く部分で、プーリングと、クラスごとに 1 つの出力を持つ分類器。自分のクラス用に新しく作ります | 03, 06 |
# | **バッチ正規化**（batch normalization） | 各畳み込みの後に、各チャネルを、学習中は現在のバッチの平均と分散で、推論時はそれらの移動平均でスケールし直します | 03, 06 |
# | **確率的深さ**（stochastic depth） | 学習中にブロックをまるごとランダムに飛ばす、ドロップアウトに似た正則化。推論時には何も飛ばしません | 03, 06 |
# | **転移学習**（transfer learning） | 別のタスク（ImageNet）で学習したバックボーンを再利用し、自分のクラス用の新しいヘッドだけを学習すること | 03 |
# | **凍結**（freezing）、**ファインチューニング**（fine-tuning） | 凍結した重みは学習で変化しません。ファインチューニングでは、その後バックボーン（の一部）も小さな学習率で学習します | 03 |
# | **エポック**（epoch） | すべての訓練画像を 1 回ずつ使う学習の 1 巡。数百枚の画像では、ヘッドの段階のエポックはこれより長くなります（ヘッドの段階は少なくとも 100 ステップ行うため） | 03 |
# | **プロファイル**（profile） | 実行全体の規模：`full`（Colab の GPU または TPU）、`cpu`（ノートパソコン）、`ci`（テスト）。`EFFNET_PROFILE` で選びます | README |

# %% [markdown]
# ## セットアップ
#
# このセルは、リポジトリのチェックアウトでも新しい Colab セッションでも動きます。ワークブックの補助パッケージ `effnet_helpers` が見つからないときは、ワークブックのリリース `RELEASE` をクローンしてインストールします。セッションにすでに TensorFlow があれば、それを置き換えることはありません。**TPU ランタイム**には 2025 年以降 TensorFlow が入っていないため、`runtime.ensure_tensorflow()` が TensorFlow とその TPU 版をインストールし、そこで止まって、セッションを一度だけ再起動するよう求めます。
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
import json
import shutil
from pathlib import Path

import pandas as pd
from effnet_helpers import datasets, layout, plots, runtime, settings

runtime.ensure_tensorflow()
plots.use_projector_style()
runtime.print_versions()

# %%
KEEP_ON_DRIVE = True  # Colab では出力を Google ドライブに置く（VM が再割り当てされても失われない）
print(f"outputs go to {settings.work_dir(drive=KEEP_ON_DRIVE)}")

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
# ## 1. フォルダ構成：`train/`、`validation/`、`test/`、クラスごとに1フォルダ
#
# ```
# DATA_DIR/
# ├── train/                 モデルが学習に使う画像（訓練データ）
# │   ├── aphid/
# │   │   ├── IMG_0001.jpg
# │   │   └── ...
# │   └── whitefly/
# ├── validation/            選ぶために学習から外しておく画像（検証データ）：エポック、設定、しきい値
# │   ├── aphid/
# │   └── whitefly/
# └── test/                  （任意）最終モデルを一度だけ測るために外しておく画像（テストデータ）
#     ├── aphid/
#     └── whitefly/
# ```
#
# **フォルダ名がそのままラベルになります**。ラベルを書いた表計算ファイルを別に管理して、画像と食い違わないよう気を配る必要はありません。どの分割（split）にも同じクラスのフォルダを置きます。`test/` は任意です。2つの分割だけでもすべて動きますが、3つ目の分割が画像を割くだけの価値をもつ理由は第 6 節で説明します。私たちのデータセットの最上位を見てみましょう。

# %%
for split in [s for s in settings.SPLITS if (Path(DATA_DIR) / s).is_dir()]:
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
plots.plot_class_counts(counts, title=f"Images per class ({Path(DATASET).name})");

# %% [markdown]
# **クラス不均衡（class imbalance）。** あるクラスの写真がほかのクラスよりずっと多いと、モデルはほとんど多数派のクラスを答えるだけで高い得点を取れてしまいます。最大の訓練クラスと最小の訓練クラスの比が、気にすべきかどうかの目安です（おおむね 3 倍を超えたら、ノートブック 03 のパラメータで `BALANCE` を設定します。`"weights"` は少ないクラスに損失の中でより大きな重みを与え、`"sampling"` はその画像をより頻繁に取り出します）。

# %%
ratio = layout.imbalance(counts)
print(f"largest / smallest training class: {ratio:.1f}x")
print("balanced enough" if ratio <= 3 else "imbalanced: set BALANCE in notebook 03")

# %% [markdown]
# ## 3. 画像を見る
#
# 数字だけでは多くのことが隠れてしまいます。ぼやけた写真、おかしな切り抜き、実は2つのクラスが混ざっているクラス。必ず目で見ましょう。

# %%
plots.sample_grid(table, per_class=GRID_PER_CLASS, split="train");

# %% [markdown]
# ## 4. 学習より先に問題を見つける
#
# `layout.check_images` は、ノートブック 02 の TFRecord 変換器と同じ規則ですべての画像を開きます。そのため、ここで報告されるものは、変換時に読み飛ばされるものとちょうど一致します。続いて `layout.find_problems` が、ほかに知っておくべきことをすべて集めます。画像が空のクラスや1つの分割にしかないクラス、分割をまたぐ重複画像（**リーク**（leak）：学習に使った写真でモデルをテストすることになり、検証の正解率が実際より良く見えます）、拡張子と中身の形式が食い違うファイル、紛らわしいクラス名などです。

# %%
checked = layout.check_images(table)
problems = layout.find_problems(checked)
problems.to_csv(OUTPUT_DIR / "problems.csv", index=False)
print(f"{len(problems)} problems in {DATASET}")
problems.head(10)

# %% [markdown]
# **ほぼ重複した画像（near-duplicate）。** リークした写真が同じファイルであることはまれです。メールに添付するために縮小されたり、切り抜かれたり、保存し直されたりしています。バイト列の一致ではそれを見抜けないため、`check_images` は各画像の*知覚ハッシュ*（perceptual hash）も計算します。画像の大まかな形を表す 256 ビットで（最も低い周波数のコサイン成分の符号、`imagehash` ライブラリの pHash）、画像全体と、それを軽く切り抜いた 72 通りの画像について求めます。ハッシュの違いが `settings.NEAR_DUPLICATE_BITS` ビット以下の2枚の画像は、ほぼ重複として報告されます。訓練画像を1枚、コピーが作られるときのように保存し直して、元の画像および別の画像と比べてみましょう。

# %%
import io

from PIL import Image

from effnet_helpers import storage


def re_saved(data: bytes, crop=0.05, size=96, quality=60) -> bytes:
    """The photo cropped by 5% on each side, resized and saved again, as copies often are."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    image = image.crop((round(crop * w), round(crop * h), w - round(crop * w), h - round(crop * h)))
    buffer = io.BytesIO()
    image.resize((size, size)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


# %%
first, other = (storage.read_bytes(p) for p in layout.candidates(table)["path"].iloc[:2])
original = layout.perceptual_hashes(first)
for name, data in {"re-saved copy": re_saved(first), "another image": other}.items():
    bits = layout.hash_distance(original, layout.perceptual_hashes(data))
    verdict = "near-duplicate" if bits <= settings.NEAR_DUPLICATE_BITS else "a different image"
    print(f"{name:>14}: {bits:3d} of 256 bits from the original -> {verdict}")
near = problems[problems["problem"].str.startswith("near-duplicate")]
print(f"near-duplicate pairs across the splits of {DATASET}: {len(near)}")

# %% [markdown]
# このしきい値をどう選んだかは docs/evaluation.md に書いてあります。再エンコード、縮小、軽い切り抜き（1辺、2辺、または4辺すべてから最大 8%）をしたコピーはしきい値の内側に収まり、一方でサンプルデータの異なる数字どうしがそこまで近づくことはありません。数字の画像は、たいていの写真よりも互いに似ているにもかかわらず、です。
#
# 実際のフォルダがきれいなことはまずありません。そこで、このデータセットの2つのクラスについて、現実の写真フォルダによくある乱れを1種類ずつ仕込んだ小さなコピーを作ってみましょう。補助関数を読んでみてください。`notes.txt` を書く行から下は、1行が1つの問題を作ります。

# %%
print(inspect.getsource(datasets.make_messy_dataset))

# %%
messy = Path(datasets.make_messy_dataset(DATA_DIR, OUTPUT_DIR / "messy"))

# %%
messy_problems = layout.find_problems(layout.check_images(layout.scan_dataset(messy)))
messy_problems.assign(file=messy_problems["path"].str.replace(str(messy) + "/", ""))[
    ["severity", "problem", "split", "class", "file", "detail"]]

# %% [markdown]
# エラー（error）は学習の前に直す必要があります（リークしたコピーを削除し、壊れたファイルを取り除きます）。警告（warning）は一度見ておく価値があります。情報（info）は、報告したうえで除外されるファイルです。黙って消えるものは何もありません。1つの乱れが何行にもなることがあります。`validation/` にコピーした写真は、`really_a_png.jpg` が PNG として持っている写真でもあるので、その PNG はそれぞれのコピーの近似重複として報告されます（バイト列は違っても、写っている絵は同じです）。

# %% [markdown]
# ## 5. 分割されていないフォルダを訓練用・検証用・テスト用に分ける
#
# 多くのデータセットは、花のダウンロード（`flower_photos/daisy/*.jpg`）のように、分割のないクラスごとのフォルダで配布されています。`layout.split_dataset` は**クラスごとに**一定の割合を検証データに回し、`test_fraction` を指定すればテストデータにも回します（層化分割、stratified split）。シードを固定するので、何度実行しても同じ分割になります。コピーの代わりにリンクを作れば、ディスク容量も節約できます。サンプルの訓練画像を分割なしのフォルダにしたコピーで試してみます。

# %%
flat = OUTPUT_DIR / "flat"
shutil.rmtree(flat, ignore_errors=True)
for path in layout.candidates(table).query("split == 'train'")["path"]:
    (flat / Path(path).parent.name).mkdir(parents=True, exist_ok=True)
    (flat / Path(path).parent.name / Path(path).name).symlink_to(Path(path).resolve())

split_dir = OUTPUT_DIR / "split_demo"
shutil.rmtree(split_dir, ignore_errors=True)
plan = layout.split_dataset(flat, split_dir, validation_fraction=0.2, test_fraction=0.15,
                            seed=42, mode="symlink")
pd.crosstab(plan["class"], plan["split"], margins=True)[["train", "validation", "test", "All"]]

# %% [markdown]
# 各クラスから画像の約 20% が検証データに、15% がテストデータに回ります。同じシードでもう一度実行すれば、同じファイルが同じ分割に入ります。だからこそ、実行どうしの結果を比べられるのです。
#
# **1つの個体の写真は一緒にしておきます。** 元のシステム（このノートブックの冒頭で紹介した農研機構の昆虫分類器）の害虫写真には、`100000_20201231123456_01.JPG` のような名前が付いています。個体、時刻、撮影番号です。1匹の虫を何枚か撮った写真はほとんど同じ画像なので、1枚目を訓練データに、2枚目を検証データに入れるようなランダムな分割はリークを生みます。しかも、どんな重複チェックでも証明できない形のリークです。`group_by` は、最初のグループが個体を表す正規表現で、各グループを1つの分割にまとめておきます。ここで使う画像には個体がないので、見立てを使います。各クラスの連続する3枚の画像を、1つの「個体」を撮った3枚の「写真」とみなし、`<class>-<specimen>_<shot>.jpg` という名前を付けます。

# %%
specimens = OUTPUT_DIR / "specimens"
shutil.rmtree(specimens, ignore_errors=True)
for name, files in layout.candidates(table).query("split == 'train'").groupby("class"):
    (specimens / name).mkdir(parents=True)
    stem = name.replace("_", "-")  # "_" で個体の名前が終わります
    for i, path in enumerate(sorted(files["path"])):
        shot = specimens / name / f"{stem}-{i // 3:03d}_{i % 3 + 1:02d}.jpg"  # 例：one-007_02.jpg
        shot.symlink_to(Path(path).resolve())
GROUP_BY = r"^([^_]+)_"  # 個体：最初の "_" より前のすべて
names = [*sorted(p.name for p in sorted(specimens.iterdir())[0].iterdir())[:4],
         "100000_20201231123456_01.JPG"]
for file, specimen in zip(names, layout.group_keys(names, GROUP_BY)):
    print(f"{file:30} -> specimen {specimen}")

# %%
for name, group_by in (("random", None), ("grouped", GROUP_BY)):
    out = OUTPUT_DIR / f"split_{name}"
    shutil.rmtree(out, ignore_errors=True)
    grouped_plan = layout.split_dataset(specimens, out, validation_fraction=0.2, seed=42,
                                        mode="symlink", test_fraction=0.15, group_by=group_by)
    found = layout.find_problems(layout.scan_dataset(out), group_by=GROUP_BY)
    spanning = found[found["problem"].str.startswith("group in")]
    print(f"{name:>8} split: {len(spanning):3d} specimens with photos in two splits")

# %% [markdown]
# グループ単位の分割が、指定した割合にどこまで近づいたかを見ます。グループごとまとめて移るので、各クラスの割合は 65 / 20 / 15 に近づくことしかできません。

# %%
shares, report = layout.split_report(grouped_plan)
print(report)
shares.tail(4)

# %% [markdown]
# ## 6. テスト用の分割は最後の最後まで取っておく
#
# 検証データは**選ぶ**ための場所です。最良のエポック（ノートブック 04）、確信度を正直にする温度、それを下回るとモデルが「不明」と答えるしきい値などを選びます。どの選択も検証画像に少しずつ合わせ込むことになるので、選んだモデルの検証データでの数値は楽観的です。同じ画像で何度か試したうちの最良の結果だからです。テスト用の分割はどの選択にも関わりません。最後に一度だけ測り、報告すべきなのはその数値です。
#
# サンプルデータには `train/` と `validation/` しか含まれていません（そのテストとベンチマークが測っているのはそれです）。ワークブックの残りの部分では、`stages.dataset_dir` が、**訓練**画像からテスト用の分割を切り出したコピーを渡します。各クラスの 15% が `test/` に移り、検証データはまったくそのままです。自分のフォルダでは、`test/` フォルダを作るか、`test_fraction` を指定して分割してください。テスト用の分割がないデータセットも、これまでどおり動きます。

# %%
from effnet_helpers import stages

WORKBOOK_DATA = stages.dataset_dir(DATASET)  # 作業ディレクトリの下に一度だけ作る
workbook_counts = layout.class_counts(layout.scan_dataset(WORKBOOK_DATA))
print(f"notebooks 02-05 use {WORKBOOK_DATA}")
workbook_counts.tail(3)

# %% [markdown]
# ## 7. クラスを統合する
#
# 2つのクラスが写真からは見分けられないことや、あるクラスの画像が少なすぎて学習できないことがあります。元のシステムでは、JSON の対応表（`--translate_classes`）`{"old": "new"}` でクラスを統合していました。対応表にないクラスは名前がそのまま残ります。たとえば、2つのクラスが似すぎているとしましょう（サンプルデータでは、私たちの手書きの "one" と "seven" です）。

# %%
alike = ["one", "seven"] if DATASET == "sample" else layout.class_names(table)[:2]
mapping = {name: "-or-".join(alike) for name in alike}
print(mapping)
mapping_file = OUTPUT_DIR / "merge_classes.json"
mapping_file.write_text(json.dumps(mapping, ensure_ascii=False, indent=2), encoding="utf-8")
merged = layout.apply_class_mapping(table, mapping_file)
layout.class_counts(merged)

# %% [markdown]
# 同じファイルは以降のすべての段階で使えます。`effnet convert --merge-classes merge_classes.json` は統合済みのレコードを書き出します。また、ノートブック 03 の `MERGE_CLASSES` パラメータは同じ対応表（またはそのファイル）を受け取り、レコードを読み込みながら統合するので、フォルダもレコードもそのまま残ります。

# %% [markdown]
# ## 8. ラベルマップ：0 番はどのクラス？
#
# モデルが出力するのは数値です。それをクラス名に戻すのがラベルマップです。クラスには**フォルダ名をソートした順**に番号が振られます。これは、このワークブックが互換性を保っている tensorflow/tpu の変換器の規則です。ソートは文字のコードポイントの順であって、意味の順ではありません。サンプルデータでは、0 番は "zero" ではなく "eight" です。日本語の名前は、かなや漢字の文字コードの順に並びます。

# %%
classes = layout.class_names(table)
layout.write_label_map(classes, OUTPUT_DIR / settings.LABEL_MAP_FILE)
print(f"label 0 is {classes[0]!r}, label {len(classes) - 1} is {classes[-1]!r}")
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
    print("with the test split:", workbook_counts.loc["total"].to_dict())

# %% [markdown]
# ## 次のステップ
#
# 出力は `OUTPUT_DIR`（冒頭で表示したフォルダ）にあります。`class_counts.csv`、`problems.csv`、`synset_id2label.json`、`merge_classes.json` です。次の [02 · TFRecord 変換](02_tfrecord_conversion.ipynb) では、画像を TPU が高速に読める、シャードに分けた TFRecord ファイルにまとめます。
