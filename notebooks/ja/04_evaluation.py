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
# ノートブック 03 でモデルディレクトリができました。ここではそのモデルを**公正に**評価します。すべての検証画像で、クラスごとに、そしてどこで間違えるのかを実際に見ながら評価します。続いて検証画像の上で3つの選択（残すチェックポイント、確信度を正直にする温度、それを下回るとモデルが「不明」と答えるしきい値）を行い、そのどれにも関わっていないテスト用の分割で、結果を**一度だけ**測ります。最後には、モデルディレクトリに `metrics.json`、`per_class.csv`、`confusion_matrix.csv` と図が加わります。このワークブックの元になったシステム（農研機構の昆虫分類器、[ノートブック 01](01_dataset_layout.ipynb)）の評価が書き出していたファイルで、その横に `calibration.json` とテストデータでの数値も並びます。知らない言葉は、ノートブック 01 の[このワークブックで使う用語](01_dataset_layout.ipynb#words-used-here)にあります。
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/04_evaluation.ipynb)
# [GitHub で見る](https://github.com/effnet-workbook/effnet-workbook/blob/main/notebooks/ja/04_evaluation.ipynb)
#
# 英語版（原文）：[04_evaluation.ipynb](../04_evaluation.ipynb)。この日本語版は英語版から生成しており、コードは英語版と同一です。

# %% [markdown]
# ## セットアップ
#
# 新しい Colab セッションでは、このセルがワークブックの補助パッケージ（そのリリース `RELEASE`）をインストールします（TPU ランタイムでは TensorFlow とその TPU 版もインストールし、そのあとセッションを一度だけ再起動するよう求めます）。評価は軽い処理なので、どのランタイムでもかまいません。
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
import numpy as np
import pandas as pd

from effnet_helpers import (evaluation, modeldir, pipeline, plots, runtime, settings, stages,
                            storage)

runtime.ensure_tensorflow()
plots.use_projector_style()
runtime.print_versions()

# %%
KEEP_ON_DRIVE = True  # Colab では出力を Google ドライブに置く（VM が再割り当てされても失われない）
print(f"outputs go to {settings.work_dir(drive=KEEP_ON_DRIVE)}")

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
storage.remove(storage.join(MODEL_DIR, settings.CALIBRATION_FILE))  # 第 8 節でもう一度選び直す
result = evaluation.evaluate(MODEL_DIR, records_dir=RECORDS_DIR, top_k=TOP_K,
                             class_mapping=MERGE_CLASSES)
CLASSES = result.classes
pd.Series(result.metrics, name="value").to_frame()

# %% [markdown]
# ここでの `loss` は、正解ラベルに対する普通の**対数損失**（log loss）です。同じモデル、同じ検証画像でも、ノートブック 03 の `val_loss` のほうが大きくなります。学習では、ラベル平滑化（label smoothing）をかけた目標値（目標の一部、既定では 0.1 を、すべてのクラスに均等に配ったもの）に対して損失を測るので、どんな予測でもそれを 0 まで下げることはできないからです。このモデルの2つの数値は次のとおりです。

# %%
last_epoch = modeldir.read_history(MODEL_DIR)[-1]
smoothing = modeldir.saved_config(MODEL_DIR)["run"]["label_smoothing"]
print(f"notebook 03, epoch {last_epoch['epoch']}: val_loss {last_epoch['val_loss']:.3f} "
      f"(against targets smoothed by {smoothing})")
print(f"here: log loss {result.metrics['loss']:.3f} (against the true labels)")

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
# モデルが最も高い確率を与えた誤った予測から見ていきましょう。実際のデータセットでは、ラベルの誤り、本当によく似た2つのクラス、あるいはモデルが対象物ではなく背景を学んでしまった場合などが多く見つかります。まず画像を見て、次にその下の数値を見てください。間違いがいくつあり、モデルがそれをどれだけ確信していたかがわかります。

# %%
evaluation.plot_mistakes(result);

# %%
shown = pd.DataFrame([{"image": storage.basename(m["name"] or ""), "true": CLASSES[m["true"]],
                       "predicted": CLASSES[m["predicted"]], "probability": m["probability"]}
                      for m in result.mistakes])
pairs = shown.groupby(["true", "predicted"]).size().sort_values(ascending=False)
wrong = int((~result.table()["correct"]).sum())
print(f"{len(result.mistakes)} mistakes shown, of {wrong} in all; "
      f"confidence {shown['probability'].min():.0%} to {shown['probability'].max():.0%}"
      if len(shown) else "no mistakes on the validation images")
print("most frequent confusions among them:",
      ", ".join(f"{t} -> {p} ({n})" for (t, p), n in pairs.head(3).items()) or "none")

# %% [markdown]
# 見本の数字データでは、これらはごく普通の、正しくラベル付けされた数字です。つまり、データの問題ではなく、この小さなモデルがまだ力の及ばないところを示しています。では、この程度の正解率は良いのでしょうか。物差しがあると判断できます。考えられる最も単純な分類器、つまり同じ画像の生の画素（16x16 に縮小したもの）に対するロジスティック回帰（logistic regression）を、訓練用の分割で学習させてみます。

# %%
from sklearn.linear_model import LogisticRegression


def pixels(split):
    """Every image of a split as 16x16x3 raw pixels in a row, with its label."""
    data = pipeline.make_dataset(RECORDS_DIR, split, 16, 256, training=False,
                                 resize_method="resize", class_mapping=MERGE_CLASSES)
    rows = [(x.numpy().reshape(len(x), -1) / 255.0, y.numpy().argmax(1)) for x, y in data]
    return np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])


pixel_model = LogisticRegression(max_iter=2000).fit(*pixels("train"))
pixel_baseline = pixel_model.score(*pixels("validation"))
print(f"logistic regression on 16x16 pixels: {pixel_baseline:.3f}; "
      f"this model: {result.metrics['accuracy']:.3f}")

# %% [markdown]
# ## 5. すべてのチェックポイント：元のシステムの `--eval_iterator` と同じ
#
# 学習ではエポックごとにチェックポイントを保存し、新しい 3 つと最良のもの（検証精度で選びます）を残しました。下の表は、このモデルディレクトリにあるものの一覧です。それらを評価すると、最後のエポックが最良なのか、それともモデルが過学習（overfitting）し始めていて、もっと前のチェックポイントを残すべきなのかがわかります。この表は `checkpoint_metrics.csv` にも書き出されます。

# %%
per_checkpoint = evaluation.evaluate_checkpoints(MODEL_DIR, RECORDS_DIR, which=CHECKPOINTS,
                                                 top_k=TOP_K, class_mapping=MERGE_CLASSES)
per_checkpoint[["epoch", "phase", "accuracy", f"top_{TOP_K}_accuracy", "balanced_accuracy",
                "macro_f1", "loss"]].round(3)

# %%
evaluation.plot_checkpoint_metrics(per_checkpoint);

# %% [markdown]
# どのチェックポイントを残すかは、**検証画像の上で行う選択**です。検証データでの正解率が最も高いもの（同点なら損失の小さいほう）を選びます。ここから先、較正してテストするのはこの選んだモデルです。それが最後のエポックなら、モデルディレクトリそのものがそのモデルです。

# %%
CHOSEN_EPOCH = evaluation.best_checkpoint(per_checkpoint)
CHOSEN_DIR = evaluation.checkpoint_model_dir(MODEL_DIR, CHOSEN_EPOCH)
chosen_accuracy = per_checkpoint.set_index("epoch").loc[CHOSEN_EPOCH, "accuracy"]
print(f"chosen: epoch {CHOSEN_EPOCH}, validation accuracy {chosen_accuracy:.3f}, "
      f"{'the final model' if CHOSEN_DIR == str(MODEL_DIR) else 'an earlier checkpoint'}")
print("chosen model:", CHOSEN_DIR)

# %% [markdown]
# ## 6. レコードではなく画像フォルダを評価する
#
# ノートブック 02 を通していない写真も、ノートブック 01 の構成（`DATA_DIR/validation/<class>/`）に並べてあれば、ファイルから評価できます。レコードの画像とまったく同じ処理（`inference` モジュール）を通るので、評価結果も同じになります。

# %%
from_folder = evaluation.evaluate(MODEL_DIR, data_dir=stages.dataset_dir(DATASET), top_k=TOP_K,
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
# ## 8. 確信度は正直か：較正（calibration）
#
# モデルが「seven、80%」と言うとき、それは 80% の確率で正しいのでしょうか。検証画像を top-1 の確率（**確信度**（confidence））で 15 個のビンに分け、各ビンの平均の確信度とその正解率を比べます。これが**信頼性図**（reliability diagram）です。対角線の上なら確信度は正直で、その下ではモデルは自信過剰、その上では自信不足です。**期待較正誤差**（expected calibration error、ECE）は、各ビンのずれを、そのビンに入る画像の割合で重み付けして合計したものです。
#
# $$\mathrm{ECE} = \sum_b \frac{n_b}{n}\,\lvert \mathrm{accuracy}_b - \mathrm{confidence}_b \rvert$$
#
# **温度スケーリング**（temperature scaling、Guo et al., 2017）は、1つの数値 T でこれを直します。ソフトマックスの前にロジットを T で割るのです。T > 1 なら自信過剰な確率をなだらかにし、T < 1 なら控えめすぎる確率を鋭くします。最も確率の高いクラスは決して変わらないので、正解率は元のままです。T は検証画像で当てはめ（対数損失が最小になる T）、モデルディレクトリに保存します。その後は `predict`、評価、書き出しがそれを適用します。`calibrate` は第 9 節の「不明」のしきい値も選び、両方を使った検証データでの数値を書き出します。

# %%
from effnet_helpers import calibration, confidence, training

calibrated = calibration.calibrate(CHOSEN_DIR, RECORDS_DIR, class_mapping=MERGE_CLASSES)
print(calibration.summary_text(calibrated.calibration))
T = calibrated.temperature
print("T > 1: the model was over-confident" if T > 1 else "T < 1: the model was under-confident"
      if T < 1 else "T = 1: nothing to correct")
if T < 1 and smoothing:  # 学習のラベル平滑化（セクション 1）
    target, _ = training.smoothed_targets(smoothing, len(CLASSES))
    print(f"as label smoothing {smoothing} trains it to be: its target for the true class is "
          f"{target:.2f}, not 1, so its confidence stays below its accuracy "
          f"({calibrated.metrics['accuracy']:.3f})")

# %%
calibration.plot_reliability_diagram(
    {"before (T = 1)": calibrated.reliability(calibrated=False),
     f"after (T = {T:.2f})": calibrated.reliability()}, title="Reliability on validation");

# %% [markdown]
# 図の「before」の曲線のビンから手で計算した ECE は、補助関数が出す値と一致します。

# %%
bins = calibrated.reliability(calibrated=False)
filled = bins[bins["images"] > 0]
by_hand = (filled["images"] / filled["images"].sum() * (filled["accuracy"]
                                                         - filled["confidence"]).abs()).sum()
helper = calibration.expected_calibration_error(calibrated.raw_probabilities, calibrated.labels)
print(f"ECE by hand {by_hand:.4f}, calibration.expected_calibration_error {helper:.4f}")
filled[["lower", "upper", "images", "confidence", "accuracy"]].round(3)

# %% [markdown]
# ## 9. いつ「不明」と答えるか
#
# モデルが自信を持てない害虫の写真は、間違った名前を付けるより人に回したほうがよいものです。確信度が**しきい値**（threshold）を下回ると、モデルは「不明」と答えます。しきい値を上げるほど名前を付ける画像は減り（**カバー率**（coverage）が下がり）、名前を付けた画像のうち正しいものの割合は上がります。これが**リスクとカバー率**（risk-coverage）のトレードオフです。`calibrate` は、名前を付けた検証画像が少なくとも `settings.TARGET_PRECISION` の割合で正しくなる最も低いしきい値を選びました。しかも運によるものではありません。適合率の信頼下限（信頼度 `settings.THRESHOLD_CONFIDENCE`）がその値に届かなければなりません。そのためには、すべて正しかったとしても、名前を付けた画像がたくさん必要です。別の基準で選ぶには `target_precision=` か `target_coverage=` を渡します。`effnet predict --reject-below auto` は保存されたしきい値を使います。

# %%
fewest = 1
while confidence.precision_lower_bound(fewest, fewest) < settings.TARGET_PRECISION:
    fewest += 1
print(f"target precision {settings.TARGET_PRECISION:.0%} at {settings.THRESHOLD_CONFIDENCE:.0%} "
      f"confidence: at least {fewest} named images, all of them right")

# %%
calibration.plot_risk_coverage(calibrated.risk_coverage(), calibrated.threshold,
                               title="Validation: accuracy of the named images against coverage");

# %% [markdown]
# それぞれのしきい値で、何枚の検証画像が人に回されるかを見ます。

# %%
calibrated.thresholds().round(3)

# %% [markdown]
# ## 10. テスト用の分割は最後に一度だけ
#
# ここまでの数値はすべて、私たちが**選ぶのに使った**画像で測ったものです。検証データでの正解率が最も高いチェックポイント、検証画像に最もよく合う温度、検証画像で目標を満たすしきい値。どの選択も検証画像の偶然に引き寄せられるので、選んだモデルの検証データでの数値は楽観的です。ノイズのある複数のスコアから最良のものを選ぶと、運も一緒に選んでしまうのです（選択バイアス、selection bias）。テスト用の分割はどの選択にも関わっていないので、その数値は新しい写真で見込める性能の正直な推定値です。すべての選択を終えたあとで、一度だけ測ってください。テストデータでの数値を見て何かを変えると、テスト用の分割は2つ目の検証用の分割になってしまい、新しいテスト用の分割が必要になります。

# %%
from effnet_helpers import records

HAS_TEST = bool(records.shard_files(RECORDS_DIR, "test"))
if HAS_TEST:
    test = evaluation.evaluate(CHOSEN_DIR, records_dir=RECORDS_DIR, split="test", top_k=TOP_K,
                               class_mapping=MERGE_CLASSES)
    print(f"{test.metrics['images']} test images; files in "
          f"{evaluation.results_dir(CHOSEN_DIR, 'test')}")
else:
    print("These records have no test split: give the dataset a test/ folder (notebook 01).")


# %%
def headline(e):
    unknown = e.metrics.get("unknown", {})
    return {"images": e.metrics["images"], "accuracy": e.metrics["accuracy"],
            "macro F1": e.metrics["macro_f1"], "ECE": e.metrics["ece"],
            "coverage at the threshold": unknown.get("coverage"),
            "accuracy of the named": unknown.get("accuracy_accepted")}


if HAS_TEST:
    gap = calibrated.metrics["accuracy"] - test.metrics["accuracy"]
    print(f"validation accuracy - test accuracy = {gap:+.3f}: report the test figure")
comparison = pd.DataFrame({"validation (chose by it)": headline(calibrated),
                           "test (chose nothing)": headline(test)}).round(3) if HAS_TEST else None
comparison

# %% [markdown]
# ## 自分で確かめる
#
# すべての検証画像が1回ずつ数えられ、行列はクラスごとに1行・1列を持ちます。すべてのテスト画像も同じく1回ずつ数えられます。

# %%
# NBVAL_CHECK_OUTPUT
written = sorted(name for name in storage.listdir(MODEL_DIR)
                 if name.endswith((".json", ".csv", ".png")))
print("images evaluated:", result.metrics["images"], "= matrix total", result.confusion.values.sum())
print("matrix:", result.confusion.shape, "rows = columns = classes:",
      list(result.confusion.index) == list(result.confusion.columns) == CLASSES)
print("per-class rows:", list(result.per_class.index[-2:]), "support", result.per_class["support"].iloc[-1])
print("written:", written)
test_records = records.inspect_records(RECORDS_DIR).query("split == 'test'")["records"].sum()
print("test images evaluated:", test.metrics["images"] if HAS_TEST else 0,
      "= test records", int(test_records))

# %% [markdown]
# ## 次のステップ
#
# モデルディレクトリ（`MODEL_DIR`）には、`metrics.json`、`per_class.csv`、`confusion_matrix.csv`、`predictions.csv`、`checkpoint_metrics.csv`、`reliability.csv`、`risk_coverage.csv` と図も入りました。選んだモデル（`CHOSEN_DIR`）には `calibration.json` と、`evaluation-test/` の中にテストデータでの数値が入っています。ターミナルからは次のように同じことができます。
#
# ```bash
# effnet evaluate MODEL_DIR RECORDS_DIR --checkpoints all
# effnet calibrate MODEL_DIR RECORDS_DIR              # 温度としきい値（検証データで）
# effnet evaluate MODEL_DIR RECORDS_DIR --split test  # 最後に一度だけ
# ```
#
# 次のノートブック 05 では、新しい写真を予測し（自信がないときは「不明」と答えます）、モデルがどこを見ているかを調べ、サーバーやスマートフォン向けにモデルを書き出します。
