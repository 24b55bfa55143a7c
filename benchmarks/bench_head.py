#!/usr/bin/env python3
"""Head-phase benchmark: the head trained on cached backbone features against the frozen backbone
run every epoch, in one process, on the sample data.

Both ways train the same B0 classifier (same initial weights, same seed) for the same head epochs
with augmentation off and the deterministic "resize" view of the images, so both see the same
features; only where the backbone runs differs. It prints the epoch times (the first epoch and the
median of the later ones), their ratio, and the final validation accuracy of each way.

    .venv/bin/python benchmarks/bench_head.py                 # B0 at 64 px, 4 head epochs, 3 seeds
    .venv/bin/python benchmarks/bench_head.py --image-size 224 --epochs 3

Offline there are no ImageNet weights, and a random EfficientNet in inference mode gives
features no head can use (both ways stay at chance). So the benchmark first trains a small B0
from scratch on the digits (at the same size, `--pretrain-epochs`), and both ways warm-start their backbone
from it: features that carry the classes, as pretrained ones do. With `--weights imagenet` on a
connected machine, `--pretrain-epochs 0` compares on ImageNet features instead.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from effnet_helpers import records, training  # noqa: E402
from effnet_helpers.runtime import connect  # noqa: E402

NO_AUGMENT = {"flip": False, "rotate90": False, "zoom": 0.0, "randaugment": False,
              "mixup_alpha": 0.0}


def pretrain(records_dir, work, args, session) -> str | None:
    """A from-scratch digit model whose backbone both ways start from (None: no pretraining)."""
    if not args.pretrain_epochs:
        return None
    config = training.TrainConfig(model="B0", image_size=args.image_size, weights=None,
                                  batch_size=32,
                                  head_epochs=0, total_epochs=args.pretrain_epochs,
                                  augment=NO_AUGMENT, resize_method="resize", seed=0)
    training.train(records_dir, Path(work) / "pretrained", config, runtime=session, verbose=0)
    return str(Path(work) / "pretrained" / training.MODEL_FILE)


def run(records_dir, work, cached: bool, args, session, source, seed: int = 0) -> dict:
    model_dir = Path(work) / ("cached" if cached else "backbone")
    shutil.rmtree(model_dir, ignore_errors=True)
    config = training.TrainConfig(
        model="B0", image_size=args.image_size, weights=args.weights, batch_size=32,
        head_epochs=args.epochs, total_epochs=args.epochs, augment=NO_AUGMENT,
        resize_method="resize", cache_features=cached, warm_start=source, seed=seed)
    started = time.time()
    training.train(records_dir, model_dir, config, runtime=session, verbose=0)
    total = time.time() - started
    history = training.read_history(model_dir)
    # the cached way's first epoch includes computing the features: the history's epoch time
    # does not, so the first epoch is charged with everything outside the later epochs
    later = [row["seconds"] for row in history[1:]]
    first = total - sum(later) if cached else history[0]["seconds"]
    return {"first": first, "later": statistics.median(later), "total": total,
            "val_accuracy": history[-1]["val_accuracy"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--weights", default=None, help="None (default, offline) or imagenet")
    parser.add_argument("--pretrain-epochs", type=int, default=5,
                        help="from-scratch epochs of the digit backbone both ways start from")
    parser.add_argument("--seeds", type=int, default=3,
                        help="train each way with seeds 0..N-1 and compare the mean accuracy "
                        "(one run's accuracy moves by about a point with the shuffling)")
    args = parser.parse_args()
    session = connect(verbose=False)
    with tempfile.TemporaryDirectory() as work:
        records_dir = Path(work) / "records"
        records.convert_dataset(ROOT / "data" / "sample", records_dir, progress=False,
                                log=lambda *a: None)
        source = pretrain(records_dir, work, args, session)
        ways = (("frozen backbone every epoch", False), ("cached features", True))
        runs = {name: [] for name, _ in ways}
        for seed in range(args.seeds):  # the ways alternate, so a slow spell hits both
            for name, cached in ways:
                runs[name].append(run(records_dir, work, cached, args, session, source, seed))
    print(f"\nHead phase, B0 at {args.image_size} px, {args.epochs} epochs, sample data "
          f"(1,438 training images), 2 cores; backbone "
          f"{'from a ' + str(args.pretrain_epochs) + '-epoch digit model' if source else args.weights}"
          f"; seeds 0-{args.seeds - 1} (shuffling and dropout)")
    print(f"{'':30s}{'first epoch s':>14s}{'later epochs s':>16s}{'total s':>9s}"
          f"{'val acc, mean':>15s}  per seed")
    summary = {}
    for name, results in runs.items():
        accuracy = [r["val_accuracy"] for r in results]
        summary[name] = {key: statistics.median(r[key] for r in results)
                         for key in ("first", "later", "total")}
        summary[name]["accuracy"] = statistics.mean(accuracy)
        r = summary[name]
        print(f"{name:30s}{r['first']:14.2f}{r['later']:16.3f}{r['total']:9.1f}"
              f"{r['accuracy']:15.4f}  {' '.join(f'{a:.3f}' for a in accuracy)}")
    base, fast = summary["frozen backbone every epoch"], summary["cached features"]
    ratio = base["later"] / fast["later"]
    spread = [abs(a["val_accuracy"] - b["val_accuracy"]) for a, b in zip(*runs.values())]
    print(f"Per epoch after the first: {ratio:.0f}x faster (target 10x); mean accuracy "
          f"difference {abs(base['accuracy'] - fast['accuracy']) * 100:.2f} points (target < 1; "
          f"same-seed pairs differ by {min(spread) * 100:.1f}-{max(spread) * 100:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
