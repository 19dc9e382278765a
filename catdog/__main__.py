"""The command line: `python -m catdog COMMAND ...`.

    python -m catdog data [--data DIR] [--json]
    python -m catdog models [--json]
    python -m catdog train (--model KEY | --config FILE) [--epochs N] [--data DIR] [--runs-dir DIR] [--json] ...
    python -m catdog reproduce [--data DIR] [--models KEY...] [--epochs N] [--json]
    python -m catdog bench [--data DIR] [--models KEY...] [--epochs N] [--model4-epochs N] [--json]
    python -m catdog runs [--runs-dir DIR] [--json]
    python -m catdog evaluate RUN_DIR [--data DIR] [--json]
    python -m catdog predict RUN_DIR PATH... [--output FILE.csv|FILE.jsonl] [--batch-size N] [--json]
    python -m catdog export RUN_DIR [--format tflite|keras] [--output FILE] [--json]

Mistakes (a wrong path, an unknown model, --epochs 0) end with one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import catdog  # noqa: F401  (sets TensorFlow's logging before anything imports it)
from catdog import export
from catdog.augment import FLIP_MODES
from catdog.batch import open_output, predict_files
from catdog.config import PRECISIONS, STRATEGIES, RunConfig
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.evaluate import evaluate
from catdog.models import MODELS, TUTORIAL_MODELS, count_params, create_model, get_spec
from catdog.native_logs import filter_native_logs
from catdog.paths import write_bytes_atomic
from catdog.predict import BATCH_SIZE, Predictor
from catdog.runs import list_runs, load_run, save_evaluation, write_progress


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
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="where the data is, classes, counts, baseline, skipped files")
    _data_option(data)
    _json_option(data)
    data.set_defaults(command=cmd_data)

    models = commands.add_parser("models", help="the registered models and their parameter counts")
    _json_option(models)
    models.set_defaults(command=cmd_models)

    train = commands.add_parser(
        "train",
        help="train a model and save the run",
        description="Train a model and save the run. Settings come from --config FILE (a run's config.json, or a "
        "JSON object of its fields) and/or the options below; an option given beside --config overrides the file.",
    )
    _train_options(train)
    train.set_defaults(command=cmd_train)

    defaults = RunConfig()
    reproduce = commands.add_parser("reproduce", help="train the tutorial's four models and compare with its reported accuracies")
    reproduce.add_argument("--models", nargs="+", default=list(TUTORIAL_MODELS), help="default: the tutorial's four")
    reproduce.add_argument("--epochs", type=int, default=defaults.epochs, help=f"default {defaults.epochs}, the tutorial's")
    reproduce.add_argument(
        "--no-fast", dest="fast", action="store_false", help="run Model 4's frozen base every epoch, as the tutorial does"
    )
    _data_option(reproduce)
    _runs_option(reproduce)
    _json_option(reproduce)
    reproduce.set_defaults(command=cmd_reproduce)

    bench = commands.add_parser("bench", help="time the tutorial's pipeline against catdog's training, same models and data")
    bench.add_argument("--models", nargs="+", default=list(TUTORIAL_MODELS), help="default: the tutorial's four")
    bench.add_argument("--epochs", type=int, default=defaults.epochs, help=f"epochs per model (default {defaults.epochs})")
    bench.add_argument("--model4-epochs", type=int, default=None, help="Model 4's epochs when they differ from --epochs")
    bench.add_argument(
        "--image-size", type=int, default=defaults.image_size[0], help=f"side of the square input (default {defaults.image_size[0]})"
    )
    bench.add_argument("--batch-size", type=int, default=defaults.batch_size)
    bench.add_argument(
        "--no-fast", dest="fast", action="store_false", help="catdog runs Model 4's frozen base every epoch (rotation on)"
    )
    bench.add_argument("--no-reference", dest="reference", action="store_false", help="time catdog only")
    bench.add_argument("--no-prediction", dest="prediction", action="store_false", help="skip the prediction latency")
    bench.add_argument("--no-memory", dest="memory", action="store_false", help="skip the memory measurement")
    bench.add_argument("--warm-cache", action="store_true", help="keep catdog's feature cache (default: start with an empty one)")
    bench.add_argument(
        "--random-weights", dest="pretrained", action="store_false", help="Model 4 without ImageNet weights (for quick checks)"
    )
    _data_option(bench)
    _runs_option(bench)
    _json_option(bench)
    bench.set_defaults(command=cmd_bench)

    runs = commands.add_parser("runs", help="list saved runs")
    _runs_option(runs)
    _json_option(runs)
    runs.set_defaults(command=cmd_runs)

    evaluate = commands.add_parser("evaluate", help="test accuracy and confusion matrix of a run")
    evaluate.add_argument("run_dir")
    _data_option(evaluate)
    _json_option(evaluate)
    evaluate.set_defaults(command=cmd_evaluate)

    export = commands.add_parser("export", help="write a run's model as .keras, or as TensorFlow Lite with labels.txt")
    export.add_argument("run_dir")
    export.add_argument(
        "--format", choices=("keras", "tflite"), default="tflite", help="tflite: a zip of model.tflite, labels.txt, catdog.json"
    )
    export.add_argument("--output", default=None, help="file to write (default: <run name>.keras or <run name>-tflite.zip here)")
    _json_option(export)
    export.set_defaults(command=cmd_export)

    predict = commands.add_parser("predict", help="classify images, and every image in folders, with a run")
    predict.add_argument("run_dir")
    predict.add_argument("images", nargs="+", metavar="PATH", help="image files and folders (searched recursively)")
    predict.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"images per call into the model (default {BATCH_SIZE})")
    predict.add_argument("--output", metavar="FILE", help="write each result as it is known: FILE.csv or FILE.jsonl")
    _json_option(predict)
    predict.set_defaults(command=cmd_predict)
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
    schedule.add_argument("--learning-rate", type=float, default=off, help="Adam's learning rate (default: the model's own, see `models`)")
    schedule.add_argument(
        "--early-stopping",
        type=int,
        default=off,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without improvement and keep the best (default off)",
    )
    schedule.add_argument("--seed", type=int, default=off, help=f"shuffling, splits, augmentation (default {defaults.seed})")

    images = parser.add_argument_group("images and augmentation")
    images.add_argument("--image-size", type=int, default=off, help=f"side of the square input (default {defaults.image_size[0]})")
    images.add_argument("--flip", choices=FLIP_MODES, default=off, help="override the model's own random flip")
    images.add_argument("--rotation", type=float, default=off, help="override the model's rotation (fraction of a turn)")

    transfer = parser.add_argument_group("frozen-base models (Model 4)")
    transfer.add_argument(
        "--fast",
        action=argparse.BooleanOptionalAction,
        default=off,
        help="compute the frozen base's features once; --no-fast runs it every epoch, as the tutorial does (default on)",
    )
    transfer.add_argument("--fine-tune-epochs", type=int, default=off, help=f"a second stage with the top of the base unfrozen (default {defaults.fine_tune_epochs}: off)")
    transfer.add_argument(
        "--fine-tune-from", type=int, default=off, help=f"first base layer to unfreeze (default {defaults.fine_tune_from})"
    )
    transfer.add_argument(
        "--fine-tune-learning-rate", type=float, default=off, help="the fine-tuning stage's rate (default: a tenth of the first's)"
    )

    hardware = parser.add_argument_group("hardware")
    hardware.add_argument(
        "--precision", choices=PRECISIONS, default=off, help="auto (default): bfloat16 where measured faster, else float32"
    )
    hardware.add_argument(
        "--strategy", choices=STRATEGIES, default=off, help="default: one device (the GPU if any); mirrored: all GPUs of this machine"
    )

    output = parser.add_argument_group("output")
    _runs_option(output)
    _json_option(output)


def config_from_args(args) -> RunConfig:
    """The RunConfig that `train`'s --config file and options describe (options win)."""
    fields = {field.name for field in dataclasses.fields(RunConfig)}
    given = {name: value for name, value in vars(args).items() if name in fields}
    if "image_size" in given:
        given["image_size"] = (given["image_size"], given["image_size"])
    if args.config is not None:
        return RunConfig.load(args.config, **given)
    if "model" not in given:
        raise CatdogError("say what to train: --model KEY (see `python -m catdog models`) or --config FILE.")
    return RunConfig(**given)


def _data_option(parser):
    parser.add_argument("--data", default=None, help="dataset folder (default: the tutorial's, downloaded once)")


def _runs_option(parser):
    parser.add_argument("--runs-dir", default=None, help="where runs are saved (default $CATDOG_RUNS_DIR or ./runs)")


def _json_option(parser):
    parser.add_argument("--json", action="store_true", help="print JSON")


def _emit(args, value, lines):
    if args.json:
        print(json.dumps(value))
    else:
        print("\n".join(lines))


def _console_progress(done, total, what):
    if sys.stderr.isatty():
        print(f"\r{what}: {done}/{total}", end="\n" if done >= total else "", file=sys.stderr, flush=True)


def cmd_data(args):
    summary = load_dataset(args.data, progress=_console_progress).summary()
    lines = [f"data: {summary['root']} ({summary['layout']})", f"classes: {', '.join(summary['class_names'])}"]
    for split, counts in summary["counts"].items():
        lines.append(f"{split}: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    lines.append(f"baseline accuracy (most frequent class): {summary['baseline_accuracy']:.3f}")
    lines.append(f"skipped files: {len(summary['skipped'])}")
    lines += [f"  {item['path']}: {item['reason']}" for item in summary["skipped"]]
    _emit(args, summary, lines)


def cmd_models(args):
    entries = []
    for key, spec in MODELS.items():
        # Counting needs no weights: skip the ImageNet download.
        total, trainable = count_params(create_model(key, pretrained=False))
        entries.append(
            {
                "key": key,
                "title": spec.title,
                "description": spec.description,
                "params": total,
                "trainable_params": trainable,
                "learning_rate": spec.learning_rate,
                "tutorial_val_accuracy": spec.tutorial_val_accuracy,
            }
        )
    _emit(
        args,
        entries,
        [
            f"{e['key']}  {e['title']:<34} params {e['params']:>12,}  trainable {e['trainable_params']:>12,}"
            f"  learning rate {e['learning_rate']:g}"
            for e in entries
        ],
    )


def cmd_train(args):
    config = config_from_args(args)
    get_spec(config.model)  # fail fast on an unknown key, before TensorFlow starts
    from catdog.train import train  # here: it loads Keras, which the quick commands do without

    interactive = sys.stderr.isatty()
    last_line = [0.0]

    def progress(event):
        if event.run_dir:  # progress.json: the dashboard's live view of batches and ETA
            write_progress(event.run_dir, event)
        if event.phase == "epoch":
            logs = event.logs
            print(
                f"epoch {event.epoch}/{event.epochs}  loss {logs.get('loss', float('nan')):.4f}  accuracy {logs.get('accuracy', float('nan')):.4f}  "
                f"val_loss {logs.get('val_loss', float('nan')):.4f}  val_accuracy {logs.get('val_accuracy', float('nan')):.4f}  {logs.get('seconds', 0):.1f}s",
                flush=True,
            )
        elif event.phase == "features" and not event.batches:  # a one-time step, e.g. the LiteRT conversion
            print(f"{event.message}…", flush=True)
        elif event.phase in ("train", "features", "data") and interactive and time.monotonic() - last_line[0] > 0.2:
            last_line[0] = time.monotonic()
            eta = f"  ETA {event.eta:.0f}s" if event.eta is not None else ""
            where = f"epoch {event.epoch}/{event.epochs} " if event.phase == "train" else ""
            print(f"\r{event.message or where}batch {event.batch}/{event.batches}{eta}   ", end="", file=sys.stderr, flush=True)
        elif event.phase == "features" and event.batch == event.batches:
            print(f"{event.message}: {event.batches} batches in {event.elapsed:.1f}s", flush=True)

    run = train(config, runs_root=args.runs_dir, progress=progress)
    if interactive:
        print(file=sys.stderr)
    summary = run.summary()
    _emit(
        args,
        summary,
        [
            f"{run.state}: {run.path}  ({summary['epochs']} epochs, {summary['seconds']:.1f}s, val_accuracy {summary['val_accuracy']})"
        ],
    )


def cmd_reproduce(args):
    for key in args.models:
        get_spec(key)
    RunConfig(epochs=args.epochs)  # validate before the long work
    from catdog.bench.reproduce import reproduce_tutorial  # loads Keras

    def progress(event):
        if event.run_dir:  # the dashboard's live view, as for `train`
            write_progress(event.run_dir, event)
        if event.phase == "epoch":
            print(
                f"{event.run_dir.rsplit('/', 1)[-1]}  epoch {event.epoch}/{event.epochs}  val_accuracy {event.logs.get('val_accuracy', float('nan')):.4f}",
                flush=True,
            )

    rows = reproduce_tutorial(args.data, args.epochs, tuple(args.models), args.fast, args.runs_dir, progress)
    lines = [f"{'model':<8} {'tutorial val':>12} {'catdog val':>10} {'catdog test':>11} {'seconds':>8}"]
    for row in rows:
        test = row.get("test_accuracy")
        lines.append(
            f"{row['model']:<8} {row['tutorial_val_accuracy']:>12.4f} {row['val_accuracy'] or float('nan'):>10.4f} {test if test is not None else float('nan'):>11.4f} {row['seconds'] or 0:>8.1f}"
        )
    _emit(args, rows, lines)


def cmd_bench(args):
    RunConfig(epochs=args.epochs, batch_size=args.batch_size, image_size=(args.image_size, args.image_size))  # validate first
    model_epochs = {}
    if args.model4_epochs is not None:
        RunConfig(epochs=args.model4_epochs)
        model_epochs["model4"] = args.model4_epochs
    from catdog.bench import format_report, run_bench  # loads Keras

    report = run_bench(
        data=args.data,
        models=tuple(args.models),
        epochs=args.epochs,
        model_epochs=model_epochs,
        image_size=(args.image_size, args.image_size),
        batch_size=args.batch_size,
        pretrained=args.pretrained,
        fast=args.fast,
        reference=args.reference,
        prediction=args.prediction,
        memory=args.memory,
        warm_cache=args.warm_cache,
        runs_root=args.runs_dir,
    )
    _emit(args, report, [format_report(report)])


def cmd_runs(args):
    found = [run.summary() for run in list_runs(Path(args.runs_dir) if args.runs_dir else None)]
    _emit(
        args,
        found,
        [
            f"{r['name']}  {r['state']:<11} epochs {r['epochs']}/{r['epochs_planned']}  val_accuracy {r['val_accuracy']}"
            for r in found
        ]
        or ["no runs yet"],
    )


def cmd_evaluate(args):
    run = load_run(args.run_dir)
    dataset = None
    if args.data is not None:
        dataset = load_dataset(args.data, batch_size=run.config.batch_size, seed=run.config.seed)
    summary = evaluate(run, dataset).summary()
    summary["run_dir"] = str(run.path)
    if dataset is None:  # the run's own test split: keep the figures for comparisons
        save_evaluation(run, summary)
    low, high = summary["test_accuracy_95ci"]
    lines = [
        f"test accuracy: {summary['test_accuracy']:.4f} (95% CI {low:.3f}-{high:.3f}, {summary['test_images']} images)",
        "confusion matrix (rows: true, columns: predicted):",
    ]
    width = max(10, *(len(name) for name in summary["class_names"]))
    lines.append(" " * (width + 1) + " ".join(f"{name:>{width}}" for name in summary["class_names"]))
    for name, row in zip(summary["class_names"], summary["confusion_matrix"]):
        lines.append(f"{name:>{width}} " + " ".join(f"{value:>{width}}" for value in row))
    for name, figures in summary["per_class"].items():
        lines.append(f"{name}: precision {figures['precision']:.3f}, recall {figures['recall']:.3f}, {figures['support']} images")
    if summary.get("auc") is not None:
        lines.append(f"ROC AUC ({summary['class_names'][1]} as positive): {summary['auc']:.4f}")
    _emit(args, summary, lines)


def cmd_export(args):
    run = load_run(args.run_dir)
    default = f"{run.name}.keras" if args.format == "keras" else f"{run.name}-tflite.zip"
    output = Path(args.output or default).expanduser()
    if not output.parent.is_dir():
        raise CatdogError(f"folder {output.parent} does not exist; create it or choose another --output.")
    payload = export.keras_bytes(run) if args.format == "keras" else export.tflite_bundle(run)
    write_bytes_atomic(output, payload)
    _emit(
        args,
        {"path": str(output), "format": args.format, "bytes": len(payload)},
        [f"wrote {output} ({len(payload) / 1e6:.1f} MB)"],
    )
    return 0


def cmd_predict(args):
    predictor = Predictor.from_run(args.run_dir)
    if args.output:
        writer = open_output(args.output, predictor.class_names)
        try:
            summary = predict_files(predictor, args.images, writer.write, args.batch_size)
        finally:
            writer.close()
        _emit(args, {**dataclasses.asdict(summary), "output": str(args.output)}, [f"wrote {args.output}: {summary.line()}"])
    elif args.json:  # one JSON array, printed piece by piece as results come
        print("[", end="", flush=True)
        separator = ""

        def write(prediction):
            nonlocal separator
            print(separator + json.dumps(prediction.to_dict()), end="", flush=True)
            separator = ", "

        summary = predict_files(predictor, args.images, write, args.batch_size)
        print("]", flush=True)
    else:
        summary = predict_files(predictor, args.images, lambda result: print(_result_line(result), flush=True), args.batch_size)
        if summary.images > 1:
            print(summary.line(), file=sys.stderr)
    return 1 if summary.failed else 0


def _result_line(result) -> str:
    if result.error:
        return f"{result.source}: error: {result.error}"
    return f"{result.source}: {result.label} (" + ", ".join(f"{k} {v:.3f}" for k, v in result.probabilities.items()) + ")"


if __name__ == "__main__":
    sys.exit(main())
