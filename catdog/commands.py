"""The command line's commands: one function per `python -m catdog COMMAND`, called with the
parsed arguments (the parser is in `catdog.__main__`). Each prints text, or JSON with --json, and
returns the exit status; a CatdogError ends the command with its one-line message.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from catdog import export
from catdog.batch import open_output, predict_files
from catdog.calibration import save_temperature
from catdog.config import RunConfig
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.evaluate import calibration_summary, evaluate
from catdog.models import MODELS, count_params, create_model, get_spec
from catdog.paths import write_bytes_atomic
from catdog.predict import Predictor
from catdog.runs import list_runs, load_model, load_run, save_evaluation, write_progress


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


def emit(args, value, lines):
    """Print `value` as one JSON line with --json, else `lines` for people."""
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
    if summary["excluded"]:
        lines.append(f"left out of training: {len(summary['excluded'])} (python -m catdog exclude to list or change)")
    emit(args, summary, lines)


def cmd_health(args):
    from tqdm import tqdm

    from catdog.health import check_health, report_lines  # builds Model 4's base (Keras)

    with tqdm(total=0, unit="batch", file=sys.stderr, disable=not sys.stderr.isatty(), dynamic_ncols=True) as bar:

        def progress(done, total, seconds_left, message):
            if not total:  # a step without batches: say what comes next
                if not bar.disable:
                    bar.write(f"{message}…", file=sys.stderr)
                return
            if bar.total != total or bar.desc != message:  # a new split: tqdm's ETA starts again
                bar.reset(total=total)
                bar.set_description(message)
            bar.n = done
            bar.refresh()

        report, _ = check_health(args.data, progress=progress)
    emit(args, report.to_dict(), report_lines(report, args.limit))


def cmd_exclude(args):
    from catdog import exclusions

    dataset = load_dataset(args.data, progress=_console_progress, honour_exclusions=False)
    if args.clear:
        exclusions.clear(dataset.root)
    elif args.paths:
        known = {path for name in ("train", "validation", "test") for path in dataset.split(name).paths}
        given = [os.path.abspath(os.path.expanduser(path)) for path in args.paths]
        given = [path if path in known else os.path.realpath(path) for path in given]  # through a link
        unknown = [typed for typed, path in zip(args.paths, given) if path not in known]
        if unknown:
            raise CatdogError(f"not images of the dataset in {dataset.root}: {', '.join(unknown)} (see `python -m catdog data`).")
        (exclusions.remove if args.remove else exclusions.add)(dataset.root, given)
    excluded = sorted(exclusions.load(dataset.root))
    lines = [f"left out of training ({len(excluded)} images of {dataset.root}):"] + [f"  {path}" for path in excluded]
    emit(args, {"root": str(dataset.root), "excluded": excluded}, lines)


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
    emit(
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
    where = str(run.path)
    if not run.path.exists():  # a worker of a multi-worker run: its scratch copy is gone, the chief has the run
        summary["run_dir"], where = None, "this worker's part of a multi-worker run (the chief's machine saved the run)"
    emit(
        args,
        summary,
        [
            f"{run.state}: {where}  ({summary['epochs']} epochs, {summary['seconds']:.1f}s, val_accuracy {summary['val_accuracy']})"
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
    emit(args, rows, lines)


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
        precisions=tuple(args.precision),
        feature_precisions=tuple(args.feature_precision),
        runs_root=args.runs_dir,
    )
    emit(args, report, [format_report(report)])


def cmd_bench_predict(args):
    from catdog.bench.scale import run_scale_bench  # the bench package loads Keras

    rows = run_scale_bench(args.run_dir, args.data, tuple(args.counts), say=(lambda line: None) if args.json else print)
    if args.json:
        print(json.dumps(rows))


def cmd_bench_data(args):
    from catdog.bench.scale import run_data_bench  # the bench package loads Keras

    row = run_data_bench(args.images, say=(lambda line: None) if args.json else print)
    if args.json:
        print(json.dumps(row))


def cmd_bench_epoch(args):
    get_spec(args.model)  # fail fast, before TensorFlow starts
    from catdog.bench.epoch import run_epoch_bench  # the bench package loads Keras

    say = (lambda line: None) if args.json else print
    report = run_epoch_bench(args.model, args.data, tuple(args.precision), ops=args.ops, say=say)
    if args.json:
        print(json.dumps(report))


def cmd_bench_load(args):
    from catdog.bench.load import run_load_bench  # the bench package loads Keras

    say = (lambda line: None) if args.json else print
    report = run_load_bench(args.run, tuple(args.people), args.rounds, args.photos, args.tensorflow, say=say)
    if args.json:
        print(json.dumps(report))


def cmd_runs(args):
    found = [run.summary() for run in list_runs(Path(args.runs_dir) if args.runs_dir else None)]
    emit(
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
    own = args.data is None  # the run's own data, split as when it trained
    dataset = load_dataset(run.config.data if own else args.data, batch_size=run.config.batch_size, seed=run.config.seed)
    model = load_model(run)
    test = evaluate(run, dataset, model=model, tta=args.tta)
    # The temperature is fitted on the validation split, so the test split still judges it fairly.
    validation = evaluate(run, dataset, "validation", model=model, tta=args.tta)
    summary = {**test.summary(), **calibration_summary(test, validation)}
    summary["run_dir"] = str(run.path)
    if own and not args.tta:  # the run's own test split, the model alone: kept for comparisons between runs
        save_evaluation(run, summary)
    if args.keep_temperature:
        save_temperature(
            run.path,
            summary["temperature"],
            fitted_on="validation",
            tta=args.tta,
            ece=summary["ece"],
            ece_after_temperature=summary["ece_after_temperature"],
        )
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
    lines.append(
        f"calibration: ECE {summary['ece']:.4f}; temperature {summary['temperature']:.3f} (fitted on the validation split) "
        f"-> ECE {summary['ece_after_temperature']:.4f}"
    )
    if args.keep_temperature:
        lines.append("kept the temperature: this run's predictions show calibrated probabilities from now on")
    if summary["tta"] is not None:
        tta = summary["tta"]
        lines.append(
            f"test-time augmentation (image and mirror averaged): accuracy {tta['test_accuracy_without_tta']:.4f} without, "
            f"{tta['test_accuracy_with_tta']:.4f} with; {tta['predictions_changed']} predictions changed"
        )
    emit(args, summary, lines)


def cmd_export(args):
    run = load_run(args.run_dir)
    default = f"{run.name}.keras" if args.format == "keras" else f"{run.name}-tflite.zip"
    output = Path(args.output or default).expanduser()
    if not output.parent.is_dir():
        raise CatdogError(f"folder {output.parent} does not exist; create it or choose another --output.")
    payload = export.keras_bytes(run) if args.format == "keras" else export.tflite_bundle(run)
    write_bytes_atomic(output, payload)
    emit(
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
            summary = predict_files(predictor, args.images, writer.write, args.batch_size, tta=args.tta)
        finally:
            writer.close()
        emit(args, {**dataclasses.asdict(summary), "output": str(args.output)}, [f"wrote {args.output}: {summary.line()}"])
    elif args.json:  # one JSON array, printed piece by piece as results come
        print("[", end="", flush=True)
        separator = ""

        def write(prediction):
            nonlocal separator
            print(separator + json.dumps(prediction.to_dict()), end="", flush=True)
            separator = ", "

        summary = predict_files(predictor, args.images, write, args.batch_size, tta=args.tta)
        print("]", flush=True)
    else:
        summary = predict_files(
            predictor, args.images, lambda result: print(_result_line(result), flush=True), args.batch_size, tta=args.tta
        )
        if summary.images > 1 or summary.temperature is not None or summary.tta:
            print(summary.line(), file=sys.stderr)
    return 1 if summary.failed else 0


def _result_line(result) -> str:
    if result.error:
        return f"{result.source}: error: {result.error}"
    return f"{result.source}: {result.label} (" + ", ".join(f"{k} {v:.3f}" for k, v in result.probabilities.items()) + ")"
