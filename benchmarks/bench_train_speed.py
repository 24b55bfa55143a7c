#!/usr/bin/env python3
"""Training throughput: images per second of EfficientNet-B0 at 224 px, everything trainable, on
the accelerator `runtime.connect` finds, with its number format (mixed float16 on GPUs, bfloat16
on TPUs, float32 on CPUs) and Keras' XLA choice, against the published figures
(docs/DESIGN.md, section "Published speed figures": NVIDIA DeepLearningExamples, B0 at 224
with XLA, one GPU: A100-80GB 3,454 img/s mixed precision, V100 868 img/s).

The input is synthetic (random images held on the device, `tf.data` cached and repeated), so the
figure is the model's speed, not the input pipeline's (bench_pipeline.py measures that). The
first --warmup steps (compilation, autotuning) are not timed.

    .venv/bin/python benchmarks/bench_train_speed.py                      # GPU: batch 256
    .venv/bin/python benchmarks/bench_train_speed.py --batch-size 32 --steps 10   # CPU check
    .venv/bin/python benchmarks/bench_train_speed.py --xla off --precision float32   # ablations
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _cpu import machine_text  # noqa: E402

PUBLISHED = {"A100-80GB, mixed precision, XLA": 3454, "A100-80GB, TF32, XLA": 1209,
             "V100, mixed precision, XLA": 868, "V100, FP32, XLA": 752}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=None,
                        help="global batch (default: 256 on a GPU or TPU, 32 on a CPU)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=100, help="timed steps (100)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first (20)")
    parser.add_argument("--xla", choices=["auto", "on", "off"], default="auto",
                        help="Keras' jit_compile: auto (Keras decides: XLA on GPUs), on, off")
    parser.add_argument("--precision", choices=["auto", "float32"], default="auto",
                        help="auto: the runtime's mixed precision; float32: none")
    args = parser.parse_args(argv)

    from effnet_helpers import models, runtime
    session = runtime.connect(mixed_precision=args.precision == "auto")
    import keras
    import tensorflow as tf
    batch = args.batch_size or (32 if session.kind == "cpu" else 256)
    size = args.image_size
    images = tf.random.uniform([batch, size, size, 3], 0, 255, seed=0)
    labels = tf.one_hot(tf.random.uniform([batch], 0, 10, tf.int32, seed=1), 10)
    data = tf.data.Dataset.from_tensors((images, labels)).cache().repeat()  # Keras distributes it
    with session.strategy.scope():
        model = models.build_model("B0", 10, size, weights=None)
        models.set_trainable(model, "full")
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                      loss=keras.losses.CategoricalCrossentropy(),
                      jit_compile={"auto": "auto", "on": True, "off": False}[args.xla])
    print(f"{session.kind}, {session.replicas} replica(s), {session.precision}; B0 at {size}, "
          f"global batch {batch}, XLA {args.xla}; TensorFlow {tf.__version__}, Keras "
          f"{keras.__version__}; {machine_text()}")
    model.fit(data, steps_per_epoch=args.warmup, epochs=1, verbose=0, shuffle=False)
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - started
    rate = args.steps * batch / seconds
    print(f"\ntraining: {rate:,.0f} images/s ({seconds / args.steps * 1e3:.1f} ms per step of "
          f"{batch})")
    for name, published in PUBLISHED.items():
        print(f"  published {name:34s} {published:6,d} img/s   this run: {rate / published:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
