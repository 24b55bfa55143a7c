"""The `effnet` command: the notebooks' functions, one sub-command per stage.

Exit status: 0 when a run finished (bad image files are reported, not fatal), 2 for a wrong call
or a missing or unusable input.
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from . import settings

EXIT_OK, EXIT_USAGE = 0, 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _keep(text: str) -> int | None:
    """--keep-checkpoints N (at least 1) or all (None)."""
    return None if text.strip().lower() == "all" else _positive_int(text)


def _model_name(text: str) -> str:
    """--model: a model name the workbook knows, in its canonical spelling."""
    from .models import canonical_name
    try:
        return canonical_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


GROUP_HELP = ("a regular expression whose first group names the specimen in a file name, "
              "e.g. '^([^_]+)_' for 100000_20201231123456_01.JPG")


def _fraction(text: str) -> float:
    """A share from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, not {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, not {value}")
    return value


def _reject_below(text: str):
    """--reject-below auto, or a probability from 0 to 1."""
    return "auto" if text.strip().lower() == "auto" else _fraction(text)


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {value}")
    return value


def cmd_layout(args) -> int:
    from . import layout
    table = layout.scan_dataset(args.data_dir)
    if args.merge_classes:
        table = layout.apply_class_mapping(table, args.merge_classes)
    if not args.no_check:
        table = layout.check_images(table, workers=args.workers)
    counts = layout.class_counts(table)
    print(f"Images per class and split in {args.data_dir}:\n{counts.to_string()}\n")
    if "train" in counts:
        print(f"Imbalance (largest / smallest training class): {layout.imbalance(counts):.1f}x")
    problems = layout.find_problems(table, group_by=args.group_by)
    if problems.empty:
        print("No problems found.")
    else:
        summary = problems.groupby(["severity", "problem"], sort=False).size()
        print(f"Problems ({len(problems)}):\n{summary.to_string()}")
        with pd.option_context("display.max_colwidth", 80, "display.width", 200):
            print(problems.head(args.show).to_string(index=False))
    if args.problems_csv:
        problems.to_csv(args.problems_csv, index=False, encoding="utf-8")
        print(f"Problems written to {args.problems_csv}")
    if args.label_map:
        layout.write_label_map(layout.class_names(table), args.label_map)
        print(f"Label map written to {args.label_map}")
    return EXIT_OK


def cmd_split(args) -> int:
    from . import layout
    plan = layout.split_dataset(args.source_dir, args.output_dir, args.validation_fraction,
                                args.seed, args.mode, test_fraction=args.test_fraction,
                                group_by=args.group_by)
    placed = plan[plan["split"] != "skipped"]
    columns = [s for s in settings.SPLITS if s in set(placed["split"])]
    print(pd.crosstab(placed["class"], placed["split"]).reindex(columns=columns).to_string())
    shares, text = layout.split_report(plan)
    print(f"\nShare of each class per split (%):\n{shares.to_string()}\n{text}.")
    skipped = plan[plan["split"] == "skipped"]
    for _, row in skipped.iterrows():
        print(f"  not copied: {row['source']} ({row['target']})")
    print(f"Split {len(placed)} files into {args.output_dir} ({len(skipped)} not copied).")
    return EXIT_OK


def cmd_convert(args) -> int:
    import atexit
    import gc
    from . import records
    # At exit, Python's last garbage collections walk every object TensorFlow made: about 0.7 s
    # on 2 cores, whatever the dataset. Frozen objects are skipped (docs/conversion.md, section 5).
    atexit.unregister(gc.freeze)  # once, however often convert runs in one process
    atexit.register(gc.freeze)
    records.convert_dataset(args.data_dir, args.output_dir, shard_size_mb=args.shard_size_mb,
                            shards=args.shards, max_side=args.max_side, workers=args.workers,
                            class_mapping=args.merge_classes, max_pixels=args.max_pixels,
                            overwrite=args.overwrite, progress=not args.no_progress)
    return EXIT_OK


def cmd_inspect(args) -> int:
    from . import records
    table = records.inspect_records(args.records_dir)
    pivot = table.pivot_table(index=["label", "class"], columns="split", values="records",
                              aggfunc="sum", fill_value=0)
    pivot = pivot.reindex(columns=[s for s in settings.SPLITS if s in pivot.columns])
    pivot.loc[("", "total"), :] = pivot.sum()
    print(pivot.astype(int).to_string())
    return EXIT_OK


def _augment(text: str) -> dict:
    """--augment flip,zoom,... (or none) -> the pipeline.Augment fields."""
    names = [] if text.strip().lower() == "none" else [n.strip() for n in text.split(",") if n]
    unknown = sorted(set(names) - set(settings.AUGMENTATIONS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown augmentation {unknown}; choose from "
                                         f"{', '.join(settings.AUGMENTATIONS)} or none")
    return {"flip": "flip" in names, "rotate90": "rotate90" in names,
            "zoom": settings.DEFAULT_ZOOM if "zoom" in names else 0.0,
            "randaugment": "randaugment" in names}


def cmd_train(args) -> int:
    from . import pipeline, training
    from .runtime import connect
    head, total = training.parse_schedule(args.schedule)
    augment = {**vars(pipeline.Augment()), **args.augment, "mixup_alpha": args.mixup_alpha}
    config = training.TrainConfig(
        model=args.model, image_size=args.image_size, batch_size=args.batch_size,
        weights=None if args.weights == "none" else args.weights, hub_handle=args.hub,
        head_epochs=head, total_epochs=total, unfreeze_from=args.unfreeze_from,
        learning_rate=args.learning_rate, finetune_learning_rate=args.finetune_learning_rate,
        augment=augment, resize_method=args.resize_method, balance=args.balance,
        include_validation=args.include_validation, class_mapping=args.merge_classes,
        warm_start=args.warm_start, steps_per_execution=args.steps_per_execution,
        seed=args.seed)
    runtime = connect(tpu=args.tpu, cpu_replicas=args.cpu_replicas, precision=args.precision,
                      jit=args.jit)
    print(f"Training {config.model} at {config.image_size} px: {training.epochs_text(config)}.")
    training.train(args.records_dir, args.model_dir, config, overwrite=args.overwrite,
                   runtime=runtime, keep_checkpoints=args.keep_checkpoints, verbose=2,
                   calibrate=args.calibrate)
    print(f"Model, label map, config and history are in {args.model_dir}")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from . import evaluation
    if (args.records_dir is None) == (args.data_dir is None):
        raise evaluation.EvaluationError("give RECORDS_DIR (TFRecords of notebook 02) or "
                                         "--data-dir DIR (a folder with validation/<class>/).")
    common = dict(records_dir=args.records_dir, data_dir=args.data_dir, split=args.split,
                  class_mapping=args.merge_classes, top_k=args.top_k, batch_size=args.batch_size)
    result = evaluation.evaluate(args.model_dir, **common)
    with pd.option_context("display.max_rows", 200, "display.width", 120):
        print(result.per_class.round(3).to_string())
    print("\n" + "\n".join(f"{k:>20}  {v}" for k, v in result.metrics.items()))
    for path, reason in result.skipped.items():
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if args.checkpoints:
        table = evaluation.evaluate_checkpoints(args.model_dir, which=args.checkpoints, **common)
        print("\n" + table.drop(columns=["checkpoint"]).round(4).to_string(index=False))
    print(f"\nmetrics.json, per_class.csv, confusion_matrix.csv, reliability.csv, "
          f"risk_coverage.csv and pictures are in "
          f"{evaluation.results_dir(args.model_dir, args.split)}")
    return EXIT_OK


def cmd_calibrate(args) -> int:
    from . import calibration
    if (args.records_dir is None) == (args.data_dir is None):
        raise calibration.CalibrationError("give RECORDS_DIR (TFRecords of notebook 02) or "
                                           "--data-dir DIR (a folder with validation/<class>/).")
    result = calibration.calibrate(
        args.model_dir, records_dir=args.records_dir, data_dir=args.data_dir,
        target_precision=args.target_precision, target_coverage=args.target_coverage,
        class_mapping=args.merge_classes, batch_size=args.batch_size, bins=args.bins,
        progress=not args.no_progress, confidence=args.confidence or None)
    print(calibration.summary_text(result.calibration))
    print(f"\n{result.thresholds().round(4).to_string(index=False)}")
    print(f"\n{settings.CALIBRATION_FILE} written to {args.model_dir}; `effnet predict "
          "--reject-below auto` uses its threshold.")
    return EXIT_OK


def cmd_predict(args) -> int:
    from . import inference
    table = inference.predict(args.model_dir, args.paths, top_k=args.top_k, output=args.output,
                              batch_size=args.batch_size, progress=not args.no_progress,
                              reject_below=args.reject_below)
    failed = table[table["error"] != ""]
    with pd.option_context("display.max_rows", args.show, "display.width", 160,
                           "display.max_colwidth", 60):
        print(table.drop(columns=["error"]).head(args.show).to_string(index=False))
    if len(table) > args.show:
        print(f"... and {len(table) - args.show} more" + (f" (all in {args.output})"
                                                           if args.output else ""))
    for _, row in failed.iterrows():
        print(f"not predicted: {row['path']}: {row['error']}", file=sys.stderr)
    if "threshold" in table.attrs:
        unknown = int((table["label"] == settings.UNKNOWN_LABEL).sum())
        print(f"{unknown} of {len(table) - len(failed)} predicted images are "
              f"{settings.UNKNOWN_LABEL} (top-1 probability below {table.attrs['threshold']:.6f}); "
              "their best guess is in best_guess")
    print(f"{len(table) - len(failed)} of {len(table)} images predicted"
          + (f"; {len(failed)} could not be read (listed above)" if len(failed) else "")
          + (f"; table written to {args.output}" if args.output else ""))
    return EXIT_OK


def cmd_export(args) -> int:
    from . import export
    path = export.export(args.model_dir, format=args.format, quantize=args.quantize,
                         out=args.output)
    print(f"Exported {args.format} ({args.quantize}) to {path}")
    return EXIT_OK


def _option(*flags, **options) -> argparse.ArgumentParser:
    """A parent parser holding one option, for the sub-commands that share it (`parents=`)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(*flags, **options)
    return parent


def _shared_options() -> dict:
    """The options several sub-commands take, each defined once."""
    trained = _option("model_dir", help="the model directory that training wrote")
    data = argparse.ArgumentParser(add_help=False, parents=[trained])
    data.add_argument("records_dir", nargs="?", help="TFRecords of notebook 02")
    data.add_argument("--data-dir", help="or: a folder with <split>/<class>/ images")
    return {
        "trained": trained, "data": data,
        "merge": _option("--merge-classes", metavar="FILE.json",
                         help='merge classes: {"old": "new"} (evaluate, calibrate: as the '
                         "model's were merged)"),
        "workers": _option("--workers", type=_positive_int, help="threads (default: all cores)"),
        "no_progress": _option("--no-progress", action="store_true", help="no progress bar"),
        "top_k": _option("--top-k", type=_positive_int, default=settings.DEFAULT_TOP_K,
                         help="classes per image and top-k accuracy (default %(default)s)"),
        "evaluation_batch": _option("--batch-size", type=_positive_int,
                                    default=settings.EVALUATION_BATCH_SIZE,
                                    help="default %(default)s"),
    }


def build_parser() -> argparse.ArgumentParser:
    from . import export, runtime
    shared = _shared_options()
    parser = argparse.ArgumentParser(
        prog="effnet", description="EfficientNet transfer-learning workbook: the notebooks' steps "
        "as commands. Run `effnet COMMAND --help` for each.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("layout", parents=[shared["merge"], shared["workers"]],
                       help="count images per split and class and report problems",
                       description="Scan DATA_DIR/{train,validation,test}/<class>/ (test/ is "
                       "optional) and report counts and problems (undecodable files, identical "
                       "and near-duplicate images in two splits, naming issues).")
    p.add_argument("data_dir", help="folder holding train/ and validation/")
    p.add_argument("--no-check", action="store_true", help="skip opening every image (faster)")
    p.add_argument("--problems-csv", metavar="FILE", help="also write the problems as CSV")
    p.add_argument("--label-map", metavar="FILE", help="also write synset_id2label.json here")
    p.add_argument("--show", type=int, default=20, help="problem rows to print (default 20)")
    p.add_argument("--group-by", metavar="REGEX", help=GROUP_HELP + "; report groups that are in "
                   "two splits")
    p.set_defaults(run=cmd_layout)

    p = sub.add_parser("split", help="split a flat <class>/ folder into train/, validation/ "
                       "(and test/)",
                       description="Stratified, seeded split of SOURCE_DIR/<class>/<image> into "
                       "OUTPUT_DIR/{train,validation,test}/<class>/<image> (test/ with "
                       "--test-fraction); --group-by keeps each specimen's photos in one split.")
    p.add_argument("source_dir")
    p.add_argument("output_dir", help="a new or empty folder")
    p.add_argument("--validation-fraction", type=float, default=settings.VALIDATION_FRACTION,
                   help=f"share of each class for validation (default {settings.VALIDATION_FRACTION})")
    p.add_argument("--seed", type=int, default=settings.SPLIT_SEED,
                   help=f"random seed (default {settings.SPLIT_SEED})")
    p.add_argument("--test-fraction", type=_fraction, default=settings.TEST_FRACTION,
                   help="share of each class for a test/ split (default 0: no test split)")
    p.add_argument("--group-by", metavar="REGEX", help=GROUP_HELP + "; a group's files land in "
                   "one split")
    p.add_argument("--mode", choices=settings.SPLIT_MODES, default=settings.SPLIT_MODES[0],
                   help="copy files (default) or link them to save space")
    p.set_defaults(run=cmd_split)

    p = sub.add_parser("convert", parents=[shared["merge"], shared["workers"],
                                           shared["no_progress"]],
                       help="convert an image folder to sharded TFRecords",
                       description="Write DATA_DIR's images as TFRecord shards in the tensorflow/tpu "
                       "converter's schema, with synset_id2label.json, manifest.json and skipped.csv. "
                       "Resumable: rerun after an interruption.")
    p.add_argument("data_dir", help="folder holding train/ and validation/")
    p.add_argument("output_dir", help="folder for the records (local or gs://)")
    p.add_argument("--shard-size-mb", type=_positive_float, default=settings.DEFAULT_SHARD_SIZE_MB,
                   help=f"target shard size (default {settings.DEFAULT_SHARD_SIZE_MB} MB)")
    p.add_argument("--shards", type=_positive_int,
                   help="shards per split (overrides --shard-size-mb)")
    p.add_argument("--max-side", type=_positive_int,
                   help="shrink images whose longer side exceeds this many pixels")
    p.add_argument("--max-pixels", type=_positive_int, default=settings.MAX_PIXELS,
                   help=f"skip images with more pixels (default {settings.MAX_PIXELS:,})")
    p.add_argument("--overwrite", action="store_true",
                   help="replace records of another conversion in OUTPUT_DIR")
    p.set_defaults(run=cmd_convert)

    p = sub.add_parser("inspect", help="count TFRecords per split and class",
                       description="Read every record in RECORDS_DIR (this workbook's or the "
                       "tensorflow/tpu converter's) and count them per split and class.")
    p.add_argument("records_dir")
    p.set_defaults(run=cmd_inspect)

    defaults = _train_defaults()
    p = sub.add_parser("train", parents=[shared["merge"]],
                       help="transfer-train an EfficientNet on TFRecords",
                       description="Train a new head on a frozen backbone, then fine-tune (the "
                       "--schedule H,F), with a checkpoint every epoch. Run it again on the same "
                       "MODEL_DIR to resume after an interruption.")
    p.add_argument("records_dir", help="folder of train-/validation- shards (notebook 02)")
    p.add_argument("model_dir", help="folder for the model, checkpoints and logs (or gs://)")
    p.add_argument("--model", default=defaults.model, type=_model_name,
                   help="B0..B7, lite0..lite4 (also efficientnet-lite0), V2B0..V2B3, V2S "
                        "(default B0)")
    p.add_argument("--image-size", type=_positive_int, help="default: the model's native size")
    p.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size,
                   help=f"per replica (default {defaults.batch_size})")
    p.add_argument("--weights", default="imagenet", help="imagenet (default), none, or a file")
    p.add_argument("--hub", metavar="HANDLE", help="a TF-Hub handle or folder as the backbone")
    p.add_argument("--schedule", default=f"{defaults.head_epochs},{defaults.total_epochs}",
                   help="H,F: H head-only epochs, then fine-tuning up to F epochs in total; "
                   "0,F trains everything from the start (default %(default)s)")
    p.add_argument("--unfreeze-from", type=int, default=defaults.unfreeze_from,
                   help="fine-tune blocks from this one on (default 1: all blocks)")
    p.add_argument("--learning-rate", type=_positive_float, default=defaults.learning_rate,
                   help="head phase, for a global batch of 256 (default %(default)s)")
    p.add_argument("--finetune-learning-rate", type=_positive_float,
                   default=defaults.finetune_learning_rate, help="default %(default)s")
    p.add_argument("--warm-start", metavar="MODEL.keras",
                   help="start the backbone from a previous model of this workbook")
    p.add_argument("--augment", type=_augment, default=_augment("flip"),
                   help="comma-separated: flip,rotate90,zoom,randaugment, or none (default flip)")
    p.add_argument("--mixup-alpha", type=float, default=0.0, help="mixup strength (0: off)")
    p.add_argument("--resize-method", choices=settings.RESIZE_METHODS,
                   default=defaults.resize_method,
                   help="random crops (default), plain resize, or pad to square")
    p.add_argument("--balance", choices=settings.BALANCE_METHODS,
                   help="counter class imbalance with class weights or balanced sampling")
    p.add_argument("--include-validation", action="store_true",
                   help="train on train + validation")
    p.add_argument("--calibrate", action="store_true",
                   help="at the end, fit the temperature and the unknown threshold on "
                   "validation (as `effnet calibrate`)")
    p.add_argument("--steps-per-execution", type=_positive_int,
                   default=defaults.steps_per_execution,
                   help="steps per call on the device (more is faster on TPUs)")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--tpu", help='a TPU name or grpc:// address ("local" on a TPU VM)')
    p.add_argument("--precision", choices=runtime.PRECISIONS,
                   default="auto", help="number format: auto (default) is mixed_bfloat16 on a "
                   "TPU, mixed_float16 on a GPU, float32 on the CPU")
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="XLA compilation on or off (default: on for one GPU, off for several "
                   "GPUs and the CPU; TPUs always compile)")
    p.add_argument("--cpu-replicas", type=_positive_int, default=1, metavar="N",
                   help="split the CPU into N devices under MirroredStrategy, to try the "
                   "multi-replica path of a TPU without one (default 1)")
    p.add_argument("--keep-checkpoints", type=_keep, default=settings.KEEP_CHECKPOINTS,
                   metavar="N|all", help="epoch checkpoints to keep besides the best one "
                   f"(default {settings.KEEP_CHECKPOINTS}; all: every epoch's)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a different run in MODEL_DIR")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", parents=[shared["data"], shared["merge"], shared["top_k"],
                                            shared["evaluation_batch"]],
                       help="accuracy, per-class figures and the confusion matrix",
                       description="Evaluate MODEL_DIR's model on every image of a split and write "
                       "metrics.json, per_class.csv, confusion_matrix.csv, predictions.csv and "
                       "pictures into MODEL_DIR.")
    p.add_argument("--split", choices=list(settings.SPLITS), default="validation",
                   help="default validation")
    p.add_argument("--checkpoints", metavar="latest|all|N",
                   help="also evaluate checkpoints: the latest, all, or all from epoch N "
                   "(writes checkpoint_metrics.csv)")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("calibrate", parents=[shared["data"], shared["merge"],
                                             shared["evaluation_batch"], shared["no_progress"]],
                       help="temperature scaling and the \"unknown\" threshold",
                       description="Fit the temperature (one number that makes the probabilities "
                       "honest) and choose the confidence threshold below which `predict "
                       "--reject-below auto` answers unknown, both on the validation split; "
                       "store them in MODEL_DIR/calibration.json and write the validation "
                       "figures before and after.")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--target-precision", type=_fraction, metavar="P",
                        help="named images right at least this often on validation (default "
                        f"{settings.TARGET_PRECISION})")
    target.add_argument("--target-coverage", type=_fraction, metavar="C",
                        help="or: name this share of the images, the most confident first")
    p.add_argument("--confidence", type=_fraction, default=settings.THRESHOLD_CONFIDENCE,
                   help="the target precision must hold as a lower confidence bound at this "
                   f"level (default {settings.THRESHOLD_CONFIDENCE}; 0: the observed precision)")
    p.add_argument("--bins", type=_positive_int, default=settings.CALIBRATION_BINS,
                   help=f"confidence bins of the ECE (default {settings.CALIBRATION_BINS})")
    p.set_defaults(run=cmd_calibrate)

    p = sub.add_parser("predict", parents=[shared["trained"], shared["top_k"],
                                           shared["no_progress"]],
                       help="predict image files or folders",
                       description="Top-k classes of each image (folders are searched), with "
                       "MODEL_DIR alone. A file that cannot be read is reported; the others are "
                       "still predicted.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--output", metavar="FILE.csv",
                   help="write the table: path, label, probability, ..., error")
    p.add_argument("--batch-size", type=_positive_int, default=settings.PREDICTION_BATCH_SIZE,
                   help="default %(default)s")
    p.add_argument("--show", type=_positive_int, default=20, help="rows to print (default 20)")
    p.add_argument("--reject-below", type=_reject_below, metavar="auto|P",
                   help="label an image unknown when its top-1 probability is below P, or below "
                   "the threshold `effnet calibrate` chose (auto); its top-k stay in the table")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("export", parents=[shared["trained"]],
                       help="TensorFlow Lite or SavedModel for serving",
                       description="Export MODEL_DIR's model: a .tflite file (float32, float16 or "
                       "dynamic-range int8) or a SavedModel whose serving signature takes encoded "
                       "image bytes (TF Serving).")
    p.add_argument("--format", choices=export.FORMATS, default="tflite",
                   help="default tflite")
    p.add_argument("--quantize", choices=export.QUANTIZATIONS, default=export.QUANTIZATIONS[0],
                   help="TFLite only: none (float32, default), float16 or int8 (dynamic range)")
    p.add_argument("--output", metavar="PATH", help="default: MODEL_DIR/export/...")
    p.set_defaults(run=cmd_export)
    return parser


def _train_defaults() -> argparse.Namespace:
    """TrainConfig's field defaults (read from the dataclass's fields: nothing is built, no
    TensorFlow is imported), for --help and the options' defaults."""
    import dataclasses

    from .training import TrainConfig
    return argparse.Namespace(**{f.name: f.default for f in dataclasses.fields(TrainConfig)
                                 if f.default is not dataclasses.MISSING})


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .layout import DatasetError
    from .runtime import AcceleratorError
    from .training import TrainingError
    from .evaluation import EvaluationError
    from .inference import InferenceError
    from .export import ExportError
    from .confidence import CalibrationError
    try:
        return args.run(args)
    except (DatasetError, FileNotFoundError, NotADirectoryError, TrainingError,
            AcceleratorError, EvaluationError, InferenceError, ExportError,
            CalibrationError) as error:
        print(f"effnet {args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\neffnet {args.command}: interrupted. Run the same command again to carry on.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
