"""The command line's commands about trusting a model: the learning curve, stress tests and run
diff (`python -m catdog learning-curve | stress | diff`), beside `catdog.commands` and called the
same way: with the parsed arguments, printing text or JSON, returning the exit status.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from catdog.commands import emit
from catdog.config import RunConfig
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.evaluate import disagreements, evaluate
from catdog.models import get_spec
from catdog.paths import write_json_atomic
from catdog.predict import Predictor
from catdog.runs import load_run


def cmd_learning_curve(args):
    spec = get_spec(args.model)  # fail fast, before TensorFlow starts
    epochs = args.epochs if args.epochs is not None else (20 if spec.frozen_base else 5)
    values = dict(model=args.model, epochs=epochs, data=args.data, seed=args.seed, pretrained=args.pretrained)
    if args.image_size is not None:
        values["image_size"] = (args.image_size, args.image_size)
    config = RunConfig(**values)
    if args.output is not None and not Path(args.output).expanduser().parent.is_dir():
        raise CatdogError(f"folder {Path(args.output).parent} does not exist; create it or choose another --output.")
    from tqdm import tqdm

    from catdog.learning_curve import FRACTIONS, learning_curve  # loads Keras

    fractions = tuple(args.fractions) if args.fractions else FRACTIONS
    total = len(fractions) * args.seeds
    with tqdm(total=total, unit="training", file=sys.stderr, disable=not sys.stderr.isatty(), dynamic_ncols=True) as bar:

        def progress(done, of, seconds_left, message):
            bar.set_description(message)
            bar.n = done if of == total else bar.n
            bar.refresh()
            if args.progress_file:  # the dashboard's live view
                write_json_atomic(
                    Path(args.progress_file),
                    {"done": done, "total": of, "seconds_left": seconds_left, "message": message, "time": time.time()},
                )

        rows = learning_curve(config, seeds=args.seeds, fractions=fractions, progress=progress)
    if args.output is not None:
        write_json_atomic(Path(args.output).expanduser(), rows)
    lines = [f"{'fraction':>8} {'images':>7} {'val accuracy':>12} {'95% interval':>15} {'seconds':>8}"]
    lines += [
        f"{row['fraction']:>8.0%} {row['train_images']:>7} {row['val_accuracy']:>12.4f} "
        f"{row['low']:>7.3f}-{row['high']:<7.3f} {row['seconds']:>8.1f}"
        for row in rows
    ]
    emit(args, rows, lines)


def cmd_stress(args):
    from tqdm import tqdm

    from catdog.stress import PERTURBATIONS, accuracy_under_stress

    run = load_run(args.run_dir)
    dataset = load_dataset(run.config.data, batch_size=run.config.batch_size, seed=run.config.seed)
    predictor = Predictor(run)
    with tqdm(unit="image", file=sys.stderr, disable=not sys.stderr.isatty(), dynamic_ncols=True) as bar:

        def progress(done, total, seconds_left):
            bar.total = total
            bar.update(done - bar.n)

        curves = accuracy_under_stress(predictor, dataset.test.paths, dataset.test.labels, args.images, progress)
    rows = [
        {"perturbation": p.name, "unit": p.unit, "strengths": curves[p.name][0], "accuracy": curves[p.name][1]}
        for p in PERTURBATIONS
    ]
    lines = [
        f"{row['perturbation']:<13} ({row['unit']}): "
        + ", ".join(f"{strength:g}: {accuracy:.3f}" for strength, accuracy in zip(row["strengths"], row["accuracy"]))
        for row in rows
    ]
    emit(args, rows, [f"test accuracy under each perturbation, by strength ({run.name}):", *lines])


def cmd_diff(args):
    first, second = load_run(args.first), load_run(args.second)
    found = disagreements(evaluate(first), evaluate(second))
    names = first.class_names
    rows = [
        {
            "path": item.path,
            "label": names[item.label],
            "first": {"label": names[int(item.first.argmax())], "probabilities": dict(zip(names, item.first.tolist()))},
            "second": {"label": names[int(item.second.argmax())], "probabilities": dict(zip(names, item.second.tolist()))},
        }
        for item in found
    ]
    lines = [f"{len(rows)} test images classified differently by {first.name} (first) and {second.name} (second):"]
    lines += [
        f"{row['path']}: truly {row['label']}; first {row['first']['label']} {max(row['first']['probabilities'].values()):.0%}, "
        f"second {row['second']['label']} {max(row['second']['probabilities'].values()):.0%}"
        for row in rows
    ]
    emit(args, rows, lines)
