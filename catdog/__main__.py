"""The command line: `python -m catdog COMMAND ...`.

    python -m catdog data [--data DIR] [--json]
    python -m catdog health [--data DIR] [--limit N] [--json]
    python -m catdog exclude [PATH...] [--remove | --clear] [--data DIR] [--json]
    python -m catdog models [--json]
    python -m catdog train (--model KEY | --config FILE) [--epochs N] [--data DIR] [--runs-dir DIR] [--json] ...
    python -m catdog reproduce [--data DIR] [--models KEY...] [--epochs N] [--json]
    python -m catdog bench [--data DIR] [--models KEY...] [--epochs N] [--model4-epochs N] [--json]
    python -m catdog bench-predict RUN_DIR [--data DIR] [--counts N...] [--json]
    python -m catdog bench-data [--images N] [--json]
    python -m catdog bench-epoch [--model KEY] [--data DIR] [--precision P...] [--ops N] [--json]
    python -m catdog bench-load --run RUN_DIR [--people N...] [--rounds N] [--photos DIR] [--tensorflow] [--json]
    python -m catdog learning-curve [--model KEY] [--data DIR] [--seeds N] [--epochs N] [--json]
    python -m catdog stress RUN_DIR [--images N] [--json]
    python -m catdog diff RUN_DIR RUN_DIR [--json]
    python -m catdog runs [--runs-dir DIR] [--json]
    python -m catdog evaluate RUN_DIR [--data DIR] [--tta] [--keep-temperature] [--json]
    python -m catdog predict RUN_DIR PATH... [--output FILE.csv|FILE.jsonl] [--batch-size N] [--tta] [--json]
    python -m catdog export RUN_DIR [--format tflite|keras] [--output FILE] [--json]

Mistakes (a wrong path, an unknown model, --epochs 0) end with one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys

import catdog  # noqa: F401  (sets TensorFlow's logging before anything imports it)
from catdog import commands, commands_trust
from catdog.augment import FLIP_MODES
from catdog.config import FEATURE_PRECISIONS, PRECISIONS, STRATEGIES, RunConfig
from catdog.errors import CatdogError
from catdog.models import MODELS, TUTORIAL_MODELS
from catdog.native_logs import filter_native_logs
from catdog.predict import BATCH_SIZE


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.verbose:
        filter_native_logs()
    try:
        return args.command(args) or 0
    except CatdogError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped.", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m catdog", description="Build, train and use binary image classifiers.")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own start-up log lines")
    subcommands = parser.add_subparsers(required=True, metavar="COMMAND")

    data = subcommands.add_parser("data", help="where the data is, classes, counts, baseline, skipped files")
    _data_option(data)
    _json_option(data)
    data.set_defaults(command=commands.cmd_data)

    health = subcommands.add_parser(
        "health", help="likely label errors, near-duplicates across splits and outliers, on Model 4's cached features"
    )
    health.add_argument("--limit", type=int, default=10, help="images listed per finding without --json (default 10)")
    _data_option(health)
    _json_option(health)
    health.set_defaults(command=commands.cmd_health)

    exclude = subcommands.add_parser(
        "exclude", help="leave images out of training and evaluation (the dataset's files stay as they are)"
    )
    exclude.add_argument("paths", nargs="*", metavar="PATH", help="images of the dataset; none: list those left out")
    exclude.add_argument("--remove", action="store_true", help="put the PATHs back into training")
    exclude.add_argument("--clear", action="store_true", help="put every image back into training")
    _data_option(exclude)
    _json_option(exclude)
    exclude.set_defaults(command=commands.cmd_exclude)

    models = subcommands.add_parser("models", help="the registered models and their parameter counts")
    _json_option(models)
    models.set_defaults(command=commands.cmd_models)

    train = subcommands.add_parser(
        "train",
        help="train a model and save the run",
        description="Train a model and save the run. Settings come from --config FILE (a run's config.json, or a "
        "JSON object of its fields) and/or the options below; an option given beside --config overrides the file.",
    )
    _train_options(train)
    train.set_defaults(command=commands.cmd_train)

    defaults = RunConfig()
    reproduce = subcommands.add_parser(
        "reproduce", help="train the tutorial's four models and compare with its reported accuracies"
    )
    reproduce.add_argument("--models", nargs="+", default=list(TUTORIAL_MODELS), help="default: the tutorial's four")
    reproduce.add_argument("--epochs", type=int, default=defaults.epochs, help=f"default {defaults.epochs}, the tutorial's")
    reproduce.add_argument(
        "--no-fast", dest="fast", action="store_false", help="run Model 4's frozen base every epoch, as the tutorial does"
    )
    _data_option(reproduce)
    _runs_option(reproduce)
    _json_option(reproduce)
    reproduce.set_defaults(command=commands.cmd_reproduce)

    bench = subcommands.add_parser("bench", help="time the tutorial's pipeline against catdog's training, same models and data")
    bench.add_argument("--models", nargs="+", default=list(TUTORIAL_MODELS), help="default: the tutorial's four")
    bench.add_argument("--epochs", type=int, default=defaults.epochs, help=f"epochs per model (default {defaults.epochs})")
    bench.add_argument("--model4-epochs", type=int, default=None, help="Model 4's epochs when they differ from --epochs")
    bench.add_argument(
        "--image-size",
        type=int,
        default=defaults.image_size[0],
        help=f"side of the square input (default {defaults.image_size[0]})",
    )
    bench.add_argument("--batch-size", type=int, default=defaults.batch_size)
    bench.add_argument(
        "--no-fast", dest="fast", action="store_false", help="catdog runs Model 4's frozen base every epoch (rotation on)"
    )
    bench.add_argument("--no-reference", dest="reference", action="store_false", help="time catdog only")
    bench.add_argument("--no-prediction", dest="prediction", action="store_false", help="skip the prediction latency")
    bench.add_argument("--no-memory", dest="memory", action="store_false", help="skip the memory measurement")
    bench.add_argument(
        "--precision",
        nargs="+",
        choices=PRECISIONS,
        default=["auto"],
        help="catdog trains each model once per precision given, e.g. float32 mixed_bfloat16 (default auto)",
    )
    bench.add_argument(
        "--feature-precision",
        nargs="+",
        choices=FEATURE_PRECISIONS,
        default=["auto"],
        help="Model 4 trains once per feature precision given, e.g. float32 int8, each from a cold feature cache (default auto)",
    )
    bench.add_argument("--warm-cache", action="store_true", help="keep catdog's feature cache (default: start with an empty one)")
    bench.add_argument(
        "--random-weights", dest="pretrained", action="store_false", help="Model 4 without ImageNet weights (for quick checks)"
    )
    _data_option(bench)
    _runs_option(bench)
    _json_option(bench)
    bench.set_defaults(command=commands.cmd_bench)

    scale = subcommands.add_parser("bench-predict", help="time `predict` over many photos: wall time and peak memory")
    scale.add_argument("run_dir")
    scale.add_argument("--counts", nargs="+", type=int, default=[1000, 20000], help="numbers of photos (default 1000 20000)")
    _data_option(scale)
    _json_option(scale)
    scale.set_defaults(command=commands.cmd_bench_predict)

    data_scale = subcommands.add_parser("bench-data", help="time checking and splitting many generated images")
    data_scale.add_argument("--images", type=int, default=100_000, help="how many (default 100000)")
    _json_option(data_scale)
    data_scale.set_defaults(command=commands.cmd_bench_data)

    epoch = subcommands.add_parser(
        "bench-epoch", help="where one training epoch goes: data, forward, backward, update, validation"
    )
    epoch.add_argument("--model", default="model1", help="a model trained on images (default model1)")
    epoch.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["float32", "mixed_bfloat16"], help="default: both")
    epoch.add_argument(
        "--ops", type=int, default=0, metavar="N", help="also list a step's N slowest TensorFlow operations (profiled)"
    )
    _data_option(epoch)
    _json_option(epoch)
    epoch.set_defaults(command=commands.cmd_bench_epoch)

    load = subcommands.add_parser("bench-load", help="many people on the Predict page at once, in a real browser")
    load.add_argument("--run", required=True, help="the trained run to predict with")
    load.add_argument("--people", nargs="+", type=int, default=[1, 4, 8], help="sessions uploading at once (default 1 4 8)")
    load.add_argument("--rounds", type=int, default=5, help="uploads per person and number of people (default 5)")
    load.add_argument("--photos", default=None, help="a folder of photos (default: the run's dataset)")
    load.add_argument(
        "--tensorflow", action="store_true", help="load TensorFlow into the server first (one Grad-CAM), as a class's server has"
    )
    _json_option(load)
    load.set_defaults(command=commands.cmd_bench_load)

    curve = subcommands.add_parser(
        "learning-curve", help="validation accuracy against the number of training images: how many do I need?"
    )
    curve.add_argument("--model", default="model4", help="model key (default model4: only its head trains, in seconds)")
    curve.add_argument("--seeds", type=int, default=3, help="trainings per size, each on its own subset (default 3)")
    curve.add_argument("--epochs", type=int, default=None, help="epochs per training (default 20 for model4, 5 for the others)")
    curve.add_argument(
        "--fractions", nargs="+", type=float, default=None, help="shares of the training images (default 0.05 0.1 0.25 0.5 1)"
    )
    curve.add_argument("--image-size", type=int, default=None, help="side of the square input (default 160)")
    curve.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")
    curve.add_argument(
        "--random-weights", dest="pretrained", action="store_false", help="Model 4 without ImageNet weights (quick checks)"
    )
    curve.add_argument("--output", default=None, help="also write the rows as JSON to this file")
    curve.add_argument("--progress-file", default=None, help=argparse.SUPPRESS)  # the dashboard's live view
    _data_option(curve)
    _json_option(curve)
    curve.set_defaults(command=commands_trust.cmd_learning_curve)

    stress = subcommands.add_parser(
        "stress", help="test accuracy as brightness, contrast, blur, JPEG quality and zoom degrade the images"
    )
    stress.add_argument("run_dir")
    stress.add_argument("--images", type=int, default=200, help="test images to use, spread over the split (default 200)")
    _json_option(stress)
    stress.set_defaults(command=commands_trust.cmd_stress)

    diff = subcommands.add_parser("diff", help="the test images two runs classify differently")
    diff.add_argument("first", metavar="RUN_DIR")
    diff.add_argument("second", metavar="RUN_DIR")
    _json_option(diff)
    diff.set_defaults(command=commands_trust.cmd_diff)

    runs = subcommands.add_parser("runs", help="list saved runs")
    _runs_option(runs)
    _json_option(runs)
    runs.set_defaults(command=commands.cmd_runs)

    evaluate = subcommands.add_parser("evaluate", help="test accuracy, confusion matrix and calibration of a run")
    evaluate.add_argument("run_dir")
    _tta_option(evaluate)
    evaluate.add_argument(
        "--keep-temperature",
        action="store_true",
        help="keep the temperature fitted on the validation split: the run's predictions are calibrated from now on",
    )
    _data_option(evaluate)
    _json_option(evaluate)
    evaluate.set_defaults(command=commands.cmd_evaluate)

    export = subcommands.add_parser("export", help="write a run's model as .keras, or as TensorFlow Lite with labels.txt")
    export.add_argument("run_dir")
    export.add_argument(
        "--format", choices=("keras", "tflite"), default="tflite", help="tflite: a zip of model.tflite, labels.txt, catdog.json"
    )
    export.add_argument("--output", default=None, help="file to write (default: <run name>.keras or <run name>-tflite.zip here)")
    _json_option(export)
    export.set_defaults(command=commands.cmd_export)

    predict = subcommands.add_parser("predict", help="classify images, and every image in folders, with a run")
    predict.add_argument("run_dir")
    predict.add_argument("images", nargs="+", metavar="PATH", help="image files and folders (searched recursively)")
    predict.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help=f"images per call into the model (default {BATCH_SIZE})"
    )
    predict.add_argument("--output", metavar="FILE", help="write each result as it is known: FILE.csv or FILE.jsonl")
    _tta_option(predict)
    _json_option(predict)
    predict.set_defaults(command=commands.cmd_predict)
    return parser


def _train_options(parser) -> None:
    """`train`'s options, grouped. Each is named after its RunConfig field and left out of the
    parsed arguments unless given (SUPPRESS), so only what the user typed overrides --config."""
    defaults = RunConfig()
    off = argparse.SUPPRESS

    what = parser.add_argument_group("what to train")
    what.add_argument("--config", metavar="FILE", help="settings from a JSON file (a run's config.json or RunConfig fields)")
    what.add_argument("--model", default=off, help=f"model key: {', '.join(MODELS)} (see `models`; needed without --config)")
    what.add_argument("--data", default=off, help="dataset folder (default: the tutorial's, downloaded once)")

    schedule = parser.add_argument_group("schedule")
    schedule.add_argument("--epochs", type=int, default=off, help=f"default {defaults.epochs}")
    schedule.add_argument("--batch-size", type=int, default=off, help=f"default {defaults.batch_size}")
    schedule.add_argument(
        "--learning-rate", type=float, default=off, help="Adam's learning rate (default: the model's own, see `models`)"
    )
    schedule.add_argument(
        "--early-stopping",
        type=int,
        default=off,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without improvement and keep the best (default off)",
    )
    schedule.add_argument("--seed", type=int, default=off, help=f"shuffling, splits, augmentation (default {defaults.seed})")

    images = parser.add_argument_group("images and augmentation")
    images.add_argument(
        "--image-size", type=int, default=off, help=f"side of the square input (default {defaults.image_size[0]})"
    )
    images.add_argument("--flip", choices=FLIP_MODES, default=off, help="override the model's own random flip")
    images.add_argument("--rotation", type=float, default=off, help="override the model's rotation (fraction of a turn)")

    transfer = parser.add_argument_group("frozen-base models (Model 4)")
    transfer.add_argument(
        "--fast",
        action=argparse.BooleanOptionalAction,
        default=off,
        help="compute the frozen base's features once; --no-fast runs it every epoch, as the tutorial does (default on)",
    )
    transfer.add_argument(
        "--feature-precision",
        choices=FEATURE_PRECISIONS,
        default=off,
        help=f"the frozen base on LiteRT for those features: int8 (quantized, faster) or float32 (default {defaults.feature_precision}: int8 on CPUs with VNNI)",
    )
    transfer.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=off,
        help=f"a second stage with the top of the base unfrozen (default {defaults.fine_tune_epochs}: off)",
    )
    transfer.add_argument(
        "--fine-tune-from", type=int, default=off, help=f"first base layer to unfreeze (default {defaults.fine_tune_from})"
    )
    transfer.add_argument(
        "--fine-tune-learning-rate",
        type=float,
        default=off,
        help="the fine-tuning stage's rate (default: a tenth of the first's)",
    )

    hardware = parser.add_argument_group("hardware")
    hardware.add_argument(
        "--precision", choices=PRECISIONS, default=off, help="auto (default): bfloat16 where measured faster, else float32"
    )
    hardware.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=off,
        help="default: one device (the GPU if any); mirrored: all GPUs of this machine; "
        "multi-worker: several machines, each started with its own TF_CONFIG (see README)",
    )

    output = parser.add_argument_group("output")
    _runs_option(output)
    _json_option(output)


def _data_option(parser):
    parser.add_argument("--data", default=None, help="dataset folder (default: the tutorial's, downloaded once)")


def _runs_option(parser):
    parser.add_argument("--runs-dir", default=None, help="where runs are saved (default $CATDOG_RUNS_DIR or ./runs)")


def _tta_option(parser):
    parser.add_argument("--tta", action="store_true", help="test-time augmentation: average each image with its mirror image")


def _json_option(parser):
    parser.add_argument("--json", action="store_true", help="print JSON")


if __name__ == "__main__":
    sys.exit(main())
