"""The benchmark: the tutorial's own pipeline against catdog's training of the same models.

    python -m catdog bench --data DIR --models model1 model4 --epochs 2 --model4-epochs 20 [--json]
    report = run_bench(data, models=("model4",), epochs=20); print(format_report(report))

For each model it times the reference (`reference.py`: the tutorial as written, in a fresh process
with TensorFlow's own settings) and then catdog's `train` with the same model, epochs, batch size,
image size and optimizer on its default paths (`timing.py` says how both are timed). Then, when
Model 4 was trained, it measures prediction latency and memory (`measure.py`) and checks the
results against the targets (`report.py`). `python -m catdog reproduce` (`reproduce.py`) trains the
tutorial's models with catdog only and compares with the accuracies the tutorial reported.

Timings depend on what else the machine runs; the report records the load average with them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from catdog.bench.measure import measure_memory, measure_prediction
from catdog.bench.report import TARGETS, check_targets, format_report
from catdog.bench.timing import ratios, time_catdog, time_reference
from catdog.config import RunConfig
from catdog.cpu import cpu_model_name, relevant_flags
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.models import TUTORIAL_MODELS, get_spec
from catdog.precision import bfloat16_pays, bfloat16_speedup

__all__ = [
    "TARGETS",
    "check_targets",
    "format_report",
    "machine_info",
    "measure_memory",
    "measure_prediction",
    "run_bench",
]


def run_bench(
    data: str | Path | None = None,
    models: tuple[str, ...] = TUTORIAL_MODELS,
    epochs: int = 20,
    model_epochs: dict[str, int] | None = None,
    image_size: tuple[int, int] = (160, 160),
    batch_size: int = 32,
    pretrained: bool = True,
    fast: bool = True,
    reference: bool = True,
    prediction: bool = True,
    memory: bool = True,
    warm_cache: bool = False,
    precisions: tuple[str, ...] = ("auto",),
    feature_precisions: tuple[str, ...] = ("auto",),
    runs_root: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run the benchmark and return its report (JSON-ready).

    Args:
        data: dataset folder with train/ and validation/ (None: the tutorial's download).
        models: model keys; with `reference`, among model1-model4 (the models the tutorial defines).
        epochs: epochs per model, unless `model_epochs` names the model.
        model_epochs: per-model epochs, e.g. {"model4": 20}.
        image_size, batch_size: the tutorial's 160x160 and 32 by default (tests use less).
        pretrained: ImageNet weights for Model 4 on both sides (False: random, for tests).
        fast: catdog's Model 4 fast path (False runs the frozen base every epoch, rotation on).
        reference: also run the reference (False: catdog only).
        prediction, memory: measure prediction latency and memory (need Model 4 in `models`).
        warm_cache: keep catdog's feature cache ($CATDOG_CACHE_DIR) instead of an empty one.
        precisions: catdog trains each model once per precision ("auto", "float32",
            "mixed_bfloat16"), beside one reference run: a row each.
        feature_precisions: models with a frozen base (Model 4) train once per feature precision
            too ("auto", "float32", "int8"), each from a cold feature cache.
        runs_root: where catdog's runs go (default: a temporary folder, removed afterwards).
        progress: called with one line of text at every step (default: print to stderr).

    Returns:
        {"machine", "settings", "data", "models": [per model], "prediction", "memory", "targets"}.
    """
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    model_epochs = dict(model_epochs or {})
    for key in models:
        if reference and key not in TUTORIAL_MODELS:
            get_spec(key)  # an unknown key gets the registry's message
            raise CatdogError(f"the tutorial defines {', '.join(TUTORIAL_MODELS)}; {key!r} has no reference to compare with.")
        RunConfig(model=key, epochs=model_epochs.get(key, epochs), image_size=image_size, batch_size=batch_size)
    if data is not None:
        root = Path(data).expanduser()
        if not ((root / "train").is_dir() and (root / "validation").is_dir()):
            raise CatdogError(
                f"the benchmark needs the tutorial's layout in {root}: train/ and validation/ folders of class folders."
            )

    started = time.perf_counter()
    report = {
        "machine": machine_info(),
        "settings": {
            "models": list(models),
            "epochs": {key: model_epochs.get(key, epochs) for key in models},
            "image_size": list(image_size),
            "batch_size": batch_size,
            "pretrained": pretrained,
            "fast": fast,
            "warm_cache": warm_cache,
            "precisions": list(precisions),
            "feature_precisions": list(feature_precisions),
        },
    }
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="catdog-bench-")))
        if not warm_cache:
            stack.enter_context(_environ(CATDOG_CACHE_DIR=str(scratch / "cache")))
        runs_root = Path(runs_root) if runs_root is not None else scratch / "runs"

        say(f"[bench] loading and checking the dataset ({data or 'the tutorial download'})")
        tick = time.perf_counter()
        dataset = load_dataset(data, batch_size=batch_size, seed=RunConfig().seed)
        load_seconds = time.perf_counter() - tick
        report["data"] = {
            "root": str(dataset.root),
            "train": len(dataset.train),
            "validation": len(dataset.validation),
            "test": len(dataset.test),
            "catdog_load_seconds": round(load_seconds, 3),
        }
        say(f"[bench] {len(dataset.train)} training, {len(dataset.validation)} validation images; checked in {load_seconds:.1f}s")

        rows = []
        model4_run = None
        for key in models:
            count = model_epochs.get(key, epochs)
            tutorial = get_spec(key).tutorial_val_accuracy
            if reference:
                say(f"[bench] {key}: reference (the tutorial as written), {count} epochs")
                reference_side = time_reference(key, data, count, image_size, batch_size, pretrained, tutorial, say)
            engines = feature_precisions if get_spec(key).frozen_base and fast else ("auto",)
            for precision, feature_precision in itertools.product(precisions, engines):
                row = {"model": key, "epochs": count, "tutorial_val_accuracy": tutorial}
                if reference:
                    row["reference"] = reference_side
                say(f"[bench] {key}: catdog, {count} epochs, precision {precision}, feature precision {feature_precision}")
                config = RunConfig(
                    model=key,
                    epochs=count,
                    batch_size=batch_size,
                    image_size=image_size,
                    data=None if data is None else str(data),
                    fast=fast,
                    pretrained=pretrained,
                    precision=precision,
                    feature_precision=feature_precision,
                )
                row["catdog"], run = time_catdog(config, dataset, load_seconds, runs_root, tutorial, say)
                if key == "model4" and config.fast:
                    say("[bench] model4: catdog again, features now cached (a second run)")
                    again, run = time_catdog(config, dataset, load_seconds, runs_root, tutorial, lambda _: None)
                    row["catdog"]["second_run_total_seconds"] = again["total_seconds"]
                if key == "model4" and model4_run is None:
                    model4_run = run
                if reference:
                    row["ratios"] = ratios(row["reference"], row["catdog"])
                rows.append(row)
                say(f"[bench] {key} done ({time.perf_counter() - started:.0f}s so far)")
        report["models"] = rows

        if prediction and model4_run is not None:
            say("[bench] prediction latency (Model 4, model loaded)")
            report["prediction"] = measure_prediction(model4_run, dataset, scratch)
        if memory and "model4" in models:
            say("[bench] memory: Model 4 in a fresh process, then five trainings in a row")
            report["memory"] = measure_memory(
                data, model_epochs.get("model4", epochs), image_size, batch_size, pretrained, fast, progress=say
            )
    report["targets"] = check_targets(report)
    report["machine"]["load_average_after"] = [round(value, 2) for value in os.getloadavg()]
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def machine_info() -> dict:
    """What the figures were measured on: CPU, cores, memory, load, library versions, GPUs."""
    cpu = cpu_model_name() or platform.processor() or platform.machine()
    memory_gb = None
    with contextlib.suppress(OSError, StopIteration, ValueError):
        memory_gb = round(
            int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))) / 1024**2, 1
        )
    return {
        "cpu": cpu,
        "cpu_flags": relevant_flags(),
        # what --precision auto goes by (`catdog.precision`); measured only where bfloat16 may pay
        "bfloat16_speedup": bfloat16_speedup(),
        "bfloat16_pays": bfloat16_pays(),
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "load_average_before": [round(value, 2) for value in os.getloadavg()],
    }


@contextlib.contextmanager
def _environ(**values):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
