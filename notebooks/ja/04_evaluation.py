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
# # 04 · 評価：正解率、クラスごとの指標、混同行列
#
# ノートブック 03 でモデルディレクトリができました。ここではそのモデルを**公正に**評価します。すべての検証画像で、クラスごとに、そしてどこで間違えるのかを実際に見ながら評価します。最後には、モデルディレクトリに `metrics.json`、`per_class.csv`、`confusion_matrix.csv` と図が加わります。元のシステムの評価が書き出していたファイルです。
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/04_evaluation.ipynb)
# [GitHub で見る](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/04_evaluation.ipynb)
#
# 英語版（原文）：[04_evaluation.ipynb](../04_evaluation.ipynb)。この日本語版は英語版から生成しており、コードは英語版と同一です。

# %% [markdown]
# ## セットアップ
#
# 新しい Colab セッションでは、このセルがワークブックの補助パッケージをインストールします（TPU ランタイムでは TensorFlow とその TPU 版も）。評価は軽い処理なので、どのランタイムでもかまいません。

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
import numpy as np
import pandas as pd

from effnet_helpers import evaluation, plots, runtime, settings, stages, storage

runtime.ensure_tensorflow()
plots.use_projector_style()
runtime.print_versions()

# %% [markdown]
# ## パラメータ
#
# - `DATASET` と `MODEL`：ノートブック 03 と同じ値にします（レコードとモデルディレクトリの名前がこれで決まります）。
# - `TOP_K`：正解のクラスが確率の高い上位 k 個に入っていれば、その予測は「top-k で正解」と数えます。
# - `CHECKPOINTS`：あわせて評価するチェックポイント（どのエポックのものか）。`"latest"`（最新）、`"all"`（すべて）、または数値 N（エポック N 以降のすべてのチェックポイント）。元のシステムの `--eval_iterator` と同じです。
# - `MERGE_CLASSES`：クラスを統合して学習したモデルなら、ノートブック 01 の JSON の対応表。

# %% tags=["parameters"]
DATASET = "sample"
MODEL = "B0"
TOP_K = 3
CHECKPOINTS = "all"
MERGE_CLASSES = None

# %% [markdown]
# ノートブック 02 のレコードとノートブック 03 のモデルです。このセッションにどちらもなければ、プロファイルの設定でここで作ります（`cpu` プロファイルの CPU なら数分です）。

# %%
PROFILE = settings.profile()
if PROFILE["name"] != "full":
    MODEL = PROFILE["model"]
RECORDS_DIR = stages.ensure_records(DATASET)
MODEL_DIR = stages.ensure_model(DATASET, MODEL)
print(f"profile {PROFILE['name']}\nrecords: {RECORDS_DIR}\nmodel:   {MODEL_DIR}")

# %% [markdown]
# ## 1. すべての検証画像を予測する
#
# 学習中の検証の正解率は、Keras がバッチごとに計算する移動平均です。最終的な評価にはそれ以上のものが必要です。**画像1枚ごとの予測**があれば、クラスごとに数えたり、間違いを見たりできます。`evaluation.evaluate` は検証レコードを順番に読み、学習時の検証とまったく同じ前処理（どの前処理かはモデルディレクトリの `config.json` に記録されています）を使い、最後の半端なバッチも捨てません。すべての画像がちょうど1回ずつ評価されます。

# %%
result = evaluation.evaluate(MODEL_DIR, records_dir=RECORDS_DIR, top_k=TOP_K,
                             class_mapping=MERGE_CLASSES)
CLASSES = result.classes
pd.Series(result.metrics, name="value").to_frame()

# %% [markdown]
# `result.table()` の各行が画像1枚です。正解は何か、モデルは何と答えたか、そしてどれだけ確信していたか。以下の数値はすべて、この2つの列から数えます。

# %%
result.table().head(8)

# %% [markdown]
# ## 2. 混同行列を自分で作る
#
# 混同行列（confusion matrix）は、（正解のクラス, 予測したクラス）の組を数えた表です。`i` 行 `j` 列には、クラス `i` の画像のうちモデルが `j` と答えた枚数が入ります。対角成分が正解した画像です。numpy で 3 行ほどで作れ、scikit-learn の `confusion_matrix` でも同じものが得られます。

# %%
from sklearn.metrics import confusion_matrix

counts = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
np.add.at(counts, (result.labels, result.predictions), 1)  # （正解, 予測）の組ごとに 1 を数えます
print("same as scikit-learn:", (counts == confusion_matrix(result.labels, result.predictions)).all())
print("accuracy = diagonal / total =", counts.trace(), "/", counts.sum(),
      f"= {counts.trace() / counts.sum():.3f}")

# %% [markdown]
# まずは枚数を図にしてみます。良いモデルなら対角線が濃くなります。対角線から外れた濃いマスは、モデルが取り違えるクラスの組です。

# %%
evaluation.plot_confusion_matrix(result.confusion);

# %% [markdown]
# クラスの大きさがそろっていないと、枚数は誤解を招きます。500 枚のクラスで 20 件の間違いは少ないですが、25 枚のクラスなら大半です。**行ごとに正規化**すると、各行は正解クラスの 100% がどうなったかを示します。このとき対角成分は、各クラスの再現率になります。

# %%
evaluation.plot_confusion_matrix(result.confusion, normalize=True);

# %% [markdown]
# 同じ行列は `confusion_matrix.csv` として保存されています。行が正解、列が予測で、クラス名が見出しと行ラベルになっているので、表計算ソフトでそのまま開けます。

# %%
print(storage.read_bytes(storage.join(MODEL_DIR, evaluation.CONFUSION_FILE)).decode()[:400])

# %% [markdown]
# ## 3. クラスごとの適合率、再現率、F1
#
# あるクラス、たとえば "seven" について：
#
# - **適合率**（precision）：モデルが "seven" と*答えた*画像のうち、本当に 7 だったものの割合（行列の列）。適合率が低いと、モデルは安易に "seven" と答えています。
# - **再現率**（recall）：*本当の* 7 のうち、モデルが見つけられたものの割合（行列の行）。再現率が低いと、7 が見逃されています。
# - **F1**（F1 スコア）：両者の調和平均で、両方が高いときだけ高くなります。**サポート**（support）：本当の 7 の枚数です。
#
# **マクロ平均**（macro average）はすべてのクラスを同じ重みで平均し、**重み付き平均**（weighted average）はサポートで重み付けします。クラスが不均衡なとき、マクロ平均の指標や**バランス正解率**（balanced accuracy：再現率の平均）を見れば、少数のクラスがどれだけうまく扱われているかがわかります。ふつうの正解率ではそれが隠れてしまいます。

# %%
result.per_class.round(3)

# %% [markdown]
# F1 の低い順に、最も弱いクラスです。

# %%
result.per_class.drop(index=["macro avg", "weighted avg"]).sort_values("f1").head(3).round(3)

# %% [markdown]
# ## 4. 最も自信のあった間違い
#
# モデルが*確信して*間違えた予測ほど、学ぶことが多いものです。ラベルの誤り、本当によく似た2つのクラス、あるいはモデルが対象物ではなく背景を学んでしまった場合などが見つかります。

# %%
evaluation.plot_mistakes(result);

# %% [markdown]
# ## 5. すべてのチェックポイント：元のシステムの `--eval_iterator` と同じ
#
# 学習ではエポックごとにチェックポイントを保存しました。それらをすべて評価すると、最後のエポックが最良なのか、それともモデルが過学習（overfitting）し始めていて、もっと前のチェックポイントを残すべきなのかがわかります。この表は `checkpoint_metrics.csv` にも書き出されます。

# %%
per_checkpoint = evaluation.evaluate_checkpoints(MODEL_DIR, RECORDS_DIR, which=CHECKPOINTS,
                                                 top_k=TOP_K, class_mapping=MERGE_CLASSES)
per_checkpoint[["epoch", "phase", "accuracy", f"top_{TOP_K}_accuracy", "balanced_accuracy",
                "macro_f1", "loss"]].round(3)

# %%
evaluation.plot_checkpoint_metrics(per_checkpoint);

# %% [markdown]
# ## 6. レコードではなく画像フォルダを評価する
#
# ノートブック 02 を通していない写真も、ノートブック 01 の構成（`DATA_DIR/validation/<class>/`）に並べてあれば、ファイルから評価できます。レコードの画像とまったく同じ処理（`inference` モジュール）を通るので、評価結果も同じになります。

# %%
from effnet_helpers import datasets

from_folder = evaluation.evaluate(MODEL_DIR, data_dir=datasets.get_dataset(DATASET), top_k=TOP_K,
                                  class_mapping=MERGE_CLASSES, write=False)
print("same confusion matrix as from the records:", from_folder.confusion.equals(result.confusion))

# %% [markdown]
# ## 7. 合わないデータは拒否される
#
# クラス番号は、そのラベルマップと組になって初めて意味を持ちます。クラスの異なるデータ（別のデータセットや、片方だけでクラスを統合したもの）でモデルを評価すると、もっともらしく見えて何の意味もない数値が出てしまいます。そのような評価は拒否され、メッセージにはクラス名が示されます。

# %%
try:
    evaluation.evaluate(MODEL_DIR, records_dir=RECORDS_DIR, class_mapping={CLASSES[0]: CLASSES[1]},
                        write=False)
except evaluation.EvaluationError as error:
    print("EvaluationError:", error)

# %% [markdown]
# ## 自分で確かめる
#
# すべての検証画像が1回ずつ数えられ、行列はクラスごとに1行・1列を持ちます。

# %%
# NBVAL_CHECK_OUTPUT
written = sorted(name for name in storage.listdir(MODEL_DIR)
                 if name.endswith((".json", ".csv", ".png")))
print("images evaluated:", result.metrics["images"], "= matrix total", result.confusion.values.sum())
print("matrix:", result.confusion.shape, "rows = columns = classes:",
      list(result.confusion.index) == list(result.confusion.columns) == CLASSES)
print("per-class rows:", list(result.per_class.index[-2:]), "support", result.per_class["support"].iloc[-1])
print("written:", written)

# %% [markdown]
# ## 次のステップ
#
# モデルディレクトリ（`MODEL_DIR`）には、`metrics.json`、`per_class.csv`、`confusion_matrix.csv`、`predictions.csv`、`checkpoint_metrics.csv` と図も入りました。ターミナルからは `effnet evaluate MODEL_DIR RECORDS_DIR --checkpoints all` で同じことができます。次のノートブック 05 では、新しい写真を予測し、モデルがどこを見ているかを調べ、サーバーやスマートフォン向けにモデルを書き出します。
