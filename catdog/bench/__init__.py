"""Benchmark: the tutorial's pipeline against catdog's training of the same models, same data.

    python -m catdog bench --data DIR --models model1 model4 --epochs 2 --model4-epochs 20 [--json]

For each model it runs, one after the other:

* the reference (`catdog.reference`): the tutorial as written, `image_dataset_from_directory` with
  no cache, the tutorial's model, `fit` with its defaults, in a fresh process with TensorFlow's
  own settings (as a user running the tutorial has them);
* catdog: `catdog.train.train` with the same model, epochs, batch size, image size and optimizer,
  on its default paths (Model 4's features computed once, with LiteRT on a CPU-only machine,
  oneDNN kernels on, bfloat16 where it was measured to help).

Both sides are timed the same way. An epoch's seconds run from the end of the previous epoch (or
the start of the first) to the moment its validation accuracy is known, so anything done between
epochs (catdog's per-epoch checkpoint) is counted. Total wall time runs from loading the data to
the end of training, including building the model and, for catdog, checking every image and
computing Model 4's features; catdog's feature cache (and its LiteRT conversion of the frozen
base) starts empty unless `--warm-cache`. The time to an accuracy is the total wall time at the
end of the first epoch that reached it.

Then, when Model 4 was trained: prediction latency with `catdog.predict.Predictor` (median, model
loaded; on TensorFlow, then on LiteRT after its one timed conversion) and memory (peak resident
memory of a fresh process training Model 4, and the growth of resident memory over five
trainings in one process).

Timings depend on what else the machine runs; the report records the load average with them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from catdog.config import RunConfig
from catdog.errors import CatdogError

TUTORIAL_MODELS = ("model1", "model2", "model3", "model4")
REACH = 0.97  # a second accuracy threshold, besides the tutorial's own (Model 4's target)
TARGETS = {
    "model4_total_speedup": 10.0,  # reference / catdog wall time, 20 epochs
    "model4_accuracy_drop_points": 0.5,  # catdog's final val accuracy at most this far below
    "model4_seconds_to_97": 60.0,
    "cnn_epoch_speedup": 1.3,  # Models 1-3: reference / catdog seconds per epoch
    "predict_500x375_ms": 30.0,
    "predict_12mp_ms": 100.0,
    "predict_batch32_ms": 1000.0,
    "peak_rss_gb": 2.5,
    "rss_growth_percent": 10.0,
}
Progress = Callable[[str], None]


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
    runs_root: str | Path | None = None,
    progress: Progress | None = None,
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
        runs_root: where catdog's runs go (default: a temporary folder, removed afterwards).
        progress: called with one line of text at every step (default: print to stderr).

    Returns:
        {"machine", "settings", "data", "models": [per model], "prediction", "memory", "targets"}.
    """
    from catdog.models import get_spec

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
        },
    }
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="catdog-bench-")))
        if not warm_cache:
            stack.enter_context(_environ(CATDOG_CACHE_DIR=str(scratch / "cache")))
        runs_root = Path(runs_root) if runs_root is not None else scratch / "runs"

        from catdog.data import load_dataset

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
            row = {"model": key, "epochs": count, "tutorial_val_accuracy": get_spec(key).tutorial_val_accuracy}
            if reference:
                say(f"[bench] {key}: reference (the tutorial as written), {count} epochs")
                row["reference"] = _bench_reference(
                    key, data, count, image_size, batch_size, pretrained, row["tutorial_val_accuracy"], say
                )
            say(f"[bench] {key}: catdog, {count} epochs")
            config = RunConfig(
                model=key,
                epochs=count,
                batch_size=batch_size,
                image_size=image_size,
                data=None if data is None else str(data),
                fast=fast,
                pretrained=pretrained,
            )
            row["catdog"], run = _bench_catdog(config, dataset, load_seconds, runs_root, row["tutorial_val_accuracy"], say)
            if key == "model4" and config.fast:
                say("[bench] model4: catdog again, features now cached (a second run)")
                again, run = _bench_catdog(config, dataset, load_seconds, runs_root, row["tutorial_val_accuracy"], lambda _: None)
                row["catdog"]["second_run_total_seconds"] = again["total_seconds"]
            if key == "model4":
                model4_run = run
            if reference:
                row["ratios"] = _ratios(row["reference"], row["catdog"])
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
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    memory_gb = None
    with contextlib.suppress(OSError, StopIteration, ValueError):
        memory_gb = round(
            int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))) / 1024**2, 1
        )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "load_average_before": [round(value, 2) for value in os.getloadavg()],
    }


# ----------------------------------------------------------------------------- the two sides


def _bench_reference(key, data, epochs, image_size, batch_size, pretrained, tutorial_accuracy, say) -> dict:
    """The reference side in a fresh process with TensorFlow's own settings.

    catdog turns TensorFlow's oneDNN kernels on where TensorFlow leaves them off (see
    catdog/__init__.py); the tutorial's code runs as a user running it would: with the
    environment found before catdog touched it. Its progress lines come through `say`.
    """
    import catdog

    settings = {
        "key": key,
        "data": None if data is None else str(data),
        "epochs": epochs,
        "image_size": list(image_size),
        "batch_size": batch_size,
        "pretrained": pretrained,
        "tutorial_accuracy": tutorial_accuracy,
        "onednn": catdog.ONEDNN_SETTING_FOUND,
    }
    code = f"import json, catdog.bench as b; print('RESULT ' + json.dumps(b._reference_child({settings!r})), flush=True)"
    result = None
    with tempfile.TemporaryFile() as errors:
        with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=errors, text=True) as child:
            for line in child.stdout:
                if line.startswith("RESULT "):
                    result = json.loads(line[len("RESULT ") :])
                elif line.startswith("[bench]"):
                    say(line.rstrip("\n"))
        if child.returncode != 0 or result is None:
            errors.seek(0)
            last = errors.read().decode(errors="replace").strip().splitlines()[-1:]
            raise CatdogError(f"the reference run of {key} failed: {last or child.returncode}")
    return result


def _reference_child(settings: dict) -> dict:
    if settings["onednn"] is None:
        os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)
    else:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = settings["onednn"]
    assert "tensorflow" not in sys.modules  # the setting is read when TensorFlow loads
    summary = _train_reference(
        settings["key"],
        settings["data"],
        settings["epochs"],
        tuple(settings["image_size"]),
        settings["batch_size"],
        settings["pretrained"],
        settings["tutorial_accuracy"],
        lambda line: print(line, flush=True),
    )
    summary["tf_enable_onednn_opts"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return summary


def _train_reference(key, data, epochs, image_size, batch_size, pretrained, tutorial_accuracy, say) -> dict:
    from catdog.bench import reference

    ends = []

    def on_epoch(epoch, logs, elapsed):
        ends.append((elapsed, logs))
        say(
            f"[bench]   reference {key} epoch {epoch}/{epochs}  val_accuracy {logs.get('val_accuracy', float('nan')):.4f}  {_epoch_seconds(ends)[-1]:.1f}s  ({elapsed:.0f}s from start)"
        )

    tick = time.perf_counter()
    history = reference.train_reference(key, data, epochs, image_size, batch_size, "imagenet" if pretrained else None, on_epoch)
    total = time.perf_counter() - tick
    gc.collect()
    return _side_summary(ends, history, total, tutorial_accuracy)


def _bench_catdog(config: RunConfig, dataset, load_seconds, runs_root, tutorial_accuracy, say):
    import keras

    from catdog.train import train

    ends = []
    tick = time.perf_counter()

    def progress(event):
        if event.phase == "epoch":
            elapsed = load_seconds + time.perf_counter() - tick
            ends.append((elapsed, event.logs))
            say(
                f"[bench]   catdog {config.model} epoch {event.epoch}/{event.epochs}  val_accuracy {event.logs.get('val_accuracy', float('nan')):.4f}  {_epoch_seconds(ends)[-1]:.1f}s  ({elapsed:.0f}s from start)"
            )
        elif event.phase == "features" and event.batch == event.batches:
            say(
                f"[bench]   catdog {config.model}: {event.message} done, {load_seconds + time.perf_counter() - tick:.0f}s from start"
            )

    run = train(config, dataset=dataset, runs_root=runs_root, progress=progress)
    total = load_seconds + time.perf_counter() - tick
    # The first epoch's own seconds (Keras' epoch begin to end), as for the reference.
    first = [{**entry, "elapsed": end} for entry, (end, _) in zip(run.history, ends, strict=False)]
    summary = _side_summary(ends, first, total, tutorial_accuracy)
    summary.update(
        load_seconds=round(load_seconds, 3),
        fast_path=run.status.get("fast_path"),
        precision=run.status.get("precision"),
        tf_enable_onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        feature_seconds=_round(run.status.get("feature_seconds")),
        run_dir=str(run.path),
    )
    keras.backend.clear_session()
    gc.collect()
    return summary, run


def _epoch_seconds(ends) -> list[float]:
    return [end - (ends[index - 1][0] if index else 0.0) for index, (end, _) in enumerate(ends)]


def _side_summary(ends, history, total, tutorial_accuracy) -> dict:
    """Per-epoch seconds, accuracies and times to the thresholds for one side."""
    epoch_seconds = _epoch_seconds(ends)
    if history:  # the first epoch: Keras' own epoch time, not everything since the start
        epoch_seconds[0] = history[0]["seconds"]
    accuracies = [float(logs.get("val_accuracy", float("nan"))) for _, logs in ends]
    thresholds = {f"{value:.4f}": value for value in (tutorial_accuracy, REACH) if value is not None}
    reach = {
        name: next((round(end, 2) for (end, _), accuracy in zip(ends, accuracies, strict=True) if accuracy >= value), None)
        for name, value in thresholds.items()
    }
    return {
        "epochs": len(ends),
        "epoch_seconds": [round(value, 3) for value in epoch_seconds],
        "seconds_per_epoch": _round(statistics.fmean(epoch_seconds)) if epoch_seconds else None,
        "first_epoch_seconds": _round(epoch_seconds[0]) if epoch_seconds else None,
        "steady_seconds_per_epoch": _round(statistics.fmean(epoch_seconds[1:])) if len(epoch_seconds) > 1 else None,
        "total_seconds": round(total, 2),
        "val_accuracy": [round(value, 4) for value in accuracies],
        "final_val_accuracy": accuracies[-1] if accuracies else None,
        "best_val_accuracy": max(accuracies) if accuracies else None,
        "seconds_to_accuracy": reach,
    }


def _ratios(reference: dict, catdog: dict) -> dict:
    """catdog / reference for times (below 1 is faster) and accuracy; speedups the other way."""

    def ratio(name):
        if reference.get(name) and catdog.get(name) is not None:
            return round(catdog[name] / reference[name], 4)
        return None

    result = {
        name: ratio(name) for name in ("seconds_per_epoch", "steady_seconds_per_epoch", "total_seconds", "final_val_accuracy")
    }
    for name in ("seconds_per_epoch", "steady_seconds_per_epoch", "total_seconds"):
        result[f"{name}_speedup"] = round(1 / result[name], 2) if result[name] else None
    if reference.get("final_val_accuracy") is not None and catdog.get("final_val_accuracy") is not None:
        result["final_val_accuracy_points"] = round(100 * (catdog["final_val_accuracy"] - reference["final_val_accuracy"]), 2)
    return result


# ----------------------------------------------------------------------------- prediction and memory


def measure_prediction(run, dataset, folder: Path, repeats: int = 21) -> dict:
    """Median end-to-end latency of `Predictor.predict` (read, decode, resize, model).

    Cases: one 500x375 JPEG from the validation set (the dataset's typical photo), one
    12-megapixel JPEG (4000x3000, sensor-like noise, EXIF orientation, as a phone writes it) and
    a batch of 32 validation photos in one call.
    """
    import numpy as np
    from PIL import Image

    from catdog.predict import Predictor

    tick = time.perf_counter()
    predictor = Predictor(run)
    load_seconds = time.perf_counter() - tick
    photos = list(dataset.validation.paths)
    typical = next((path for path in photos[:400] if Image.open(path).size == (500, 375)), None)
    if typical is None:  # another dataset: make one
        typical = str(folder / "500x375.jpg")
        Image.open(photos[0]).convert("RGB").resize((500, 375)).save(typical, quality=90)
    phone = str(folder / "phone-12mp.jpg")
    rng = np.random.default_rng(0)
    big = np.asarray(Image.open(photos[1]).convert("RGB").resize((4000, 3000), Image.BICUBIC), np.float32)
    big += rng.normal(0, 6, big.shape).astype(np.float32)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees, as a phone held upright writes it
    Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).save(phone, quality=92, exif=exif)
    batch = photos[:32]

    def median_ms(sources, count):
        predictor.predict(sources)  # warm-up: first-call tracing is not latency
        predictor.predict(sources)
        times = []
        for _ in range(count):
            tick = time.perf_counter()
            predictor.predict(sources)
            times.append((time.perf_counter() - tick) * 1000)
        return {
            "median_ms": round(statistics.median(times), 2),
            "min_ms": round(min(times), 2),
            "max_ms": round(max(times), 2),
            "repeats": count,
        }

    def every_case():
        return {
            "one_500x375_jpeg": {"file": typical, **median_ms([typical], repeats)},
            "one_12mp_jpeg": {"file_megabytes": round(os.path.getsize(phone) / 1e6, 2), **median_ms([phone], repeats)},
            "batch_of_32_photos": median_ms(batch, max(5, repeats // 3)),
        }

    # TensorFlow first (a model as loaded), then the engine the dashboard switches to: LiteRT
    # where it applies, after its one conversion (timed; cached for every later load).
    tensorflow = every_case()
    tick = time.perf_counter()
    converted = predictor.use_litert()
    conversion_seconds = time.perf_counter() - tick
    return {
        "model_load_seconds": round(load_seconds, 2),
        "engine": predictor.engine,
        **(every_case() if converted else tensorflow),
        "tensorflow": tensorflow,
        "litert_conversion_seconds": round(conversion_seconds, 2) if converted else None,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def measure_memory(
    data, epochs, image_size, batch_size, pretrained, fast, trainings: int = 5, progress: Progress | None = None
) -> dict:
    """Resident memory of a fresh process that trains Model 4 `trainings` times in a row.

    The child starts with an empty feature cache, so the first training (the peak) includes
    feature extraction; the later ones read the cache, as a dashboard user's next runs do.
    """
    settings = {
        "data": None if data is None else str(data),
        "epochs": epochs,
        "image_size": list(image_size),
        "batch_size": batch_size,
        "pretrained": pretrained,
        "fast": fast,
        "trainings": trainings,
    }
    with tempfile.TemporaryDirectory(prefix="catdog-memory-") as folder:
        env = {**os.environ, "CATDOG_CACHE_DIR": str(Path(folder) / "cache"), "CATDOG_RUNS_DIR": str(Path(folder) / "runs")}
        code = f"import json, catdog.bench as b; print('RESULT ' + json.dumps(b._memory_child({settings!r})))"
        finished = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=3600)
    line = next((line for line in finished.stdout.splitlines() if line.startswith("RESULT ")), None)
    if finished.returncode != 0 or line is None:
        raise CatdogError(f"the memory measurement failed: {finished.stderr.strip().splitlines()[-1:] or finished.returncode}")
    result = json.loads(line[len("RESULT ") :])
    if progress is not None:
        progress(
            f"[bench]   peak {result['peak_rss_gb']:.2f} GB; after each training {', '.join(f'{v:.0f}' for v in result['rss_mb_after_each'])} MB"
        )
    return result


def _memory_child(settings: dict) -> dict:
    import keras

    from catdog.data import load_dataset
    from catdog.train import train

    dataset = load_dataset(settings["data"], batch_size=settings["batch_size"])
    config = RunConfig(
        model="model4",
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        image_size=tuple(settings["image_size"]),
        data=settings["data"],
        fast=settings["fast"],
        pretrained=settings["pretrained"],
    )
    after = []
    peak_first = None
    for _ in range(settings["trainings"]):
        train(config, dataset=dataset)
        gc.collect()
        after.append(_rss_mb())
        if peak_first is None:
            peak_first = _peak_rss_mb()
    keras.backend.clear_session()
    growth = 100 * (after[-1] - after[0]) / after[0]
    return {
        "peak_rss_gb": round(peak_first / 1024, 3),
        "peak_rss_gb_all": round(_peak_rss_mb() / 1024, 3),
        "rss_mb_after_each": [round(value, 1) for value in after],
        "growth_percent_first_to_last": round(growth, 2),
        "trainings": settings["trainings"],
        "epochs": settings["epochs"],
    }


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS")) / 1024


def _peak_rss_mb() -> float:
    # VmHWM: the peak of this process's own memory. Not ru_maxrss: Linux carries that over from
    # the forked copy of the parent into the exec'd child, so a child of a 4 GB benchmark
    # process "peaks" at 4 GB before it has done anything.
    try:
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


# ----------------------------------------------------------------------------- targets and table


def check_targets(report: dict) -> dict:
    """The issue's targets, each with the measured value and whether it was met."""
    rows = {row["model"]: row for row in report.get("models", [])}
    checks = {}

    def check(name, value, target, at_most=True):
        if value is not None:
            checks[name] = {"value": value, "target": target, "met": bool(value <= target if at_most else value >= target)}

    model4 = rows.get("model4")
    if model4 and "ratios" in model4 and model4["epochs"] >= 20:
        check("model4_total_speedup", model4["ratios"]["total_seconds_speedup"], TARGETS["model4_total_speedup"], at_most=False)
        check(
            "model4_accuracy_drop_points",
            model4["ratios"].get("final_val_accuracy_points"),
            -TARGETS["model4_accuracy_drop_points"],
            at_most=False,
        )
    if model4:
        check(
            "model4_seconds_to_97", model4["catdog"]["seconds_to_accuracy"].get(f"{REACH:.4f}"), TARGETS["model4_seconds_to_97"]
        )
    for key in ("model1", "model2", "model3"):
        if key in rows and "ratios" in rows[key]:
            check(
                f"{key}_epoch_speedup",
                rows[key]["ratios"]["seconds_per_epoch_speedup"],
                TARGETS["cnn_epoch_speedup"],
                at_most=False,
            )
    prediction = report.get("prediction")
    if prediction:
        check("predict_500x375_ms", prediction["one_500x375_jpeg"]["median_ms"], TARGETS["predict_500x375_ms"])
        check("predict_12mp_ms", prediction["one_12mp_jpeg"]["median_ms"], TARGETS["predict_12mp_ms"])
        check("predict_batch32_ms", prediction["batch_of_32_photos"]["median_ms"], TARGETS["predict_batch32_ms"])
    memory = report.get("memory")
    if memory:
        check("peak_rss_gb", memory["peak_rss_gb"], TARGETS["peak_rss_gb"])
        check("rss_growth_percent", memory["growth_percent_first_to_last"], TARGETS["rss_growth_percent"])
    return checks


def format_report(report: dict) -> str:
    """The report as a plain-text table."""
    machine = report["machine"]
    lines = [
        f"catdog bench: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, GPUs: {', '.join(machine['gpus']) or 'none'}; "
        f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}",
        f"load average before {machine['load_average_before']}, after {machine.get('load_average_after')}; "
        f"data {report['data']['root']} ({report['data']['train']} train, {report['data']['validation']} validation); "
        f"catdog checks the images in {report['data']['catdog_load_seconds']:.1f}s (counted in catdog's totals)",
        "",
        f"{'model':<7} {'side':<10} {'epochs':>6} {'s/epoch':>8} {'1st ep':>7} {'steady':>7} {'total s':>8} {'final val':>9} {'best val':>8} {'to tut. acc':>11} {'to 97%':>7}  notes",
    ]

    def side_line(key, name, side, tutorial):
        reach = side["seconds_to_accuracy"]
        notes = []
        onednn = side.get("tf_enable_onednn_opts")
        notes.append("TensorFlow's default oneDNN setting" if onednn is None else f"TF_ENABLE_ONEDNN_OPTS={onednn}")
        if side.get("precision"):
            notes.append(side["precision"])
        if side.get("fast_path"):
            notes.append(
                f"features {side['feature_seconds']:.1f}s, cached rerun {side.get('second_run_total_seconds', float('nan')):.1f}s"
            )
        return (
            f"{key:<7} {name:<10} {side['epochs']:>6} {_f(side['seconds_per_epoch'], 8, 1)} {_f(side['first_epoch_seconds'], 7, 1)} {_f(side['steady_seconds_per_epoch'], 7, 1)} "
            f"{_f(side['total_seconds'], 8, 1)} {_f(side['final_val_accuracy'], 9, 4)} {_f(side['best_val_accuracy'], 8, 4)} "
            f"{_f(reach.get(f'{tutorial:.4f}') if tutorial is not None else None, 11, 1)} {_f(reach.get(f'{REACH:.4f}'), 7, 1)}  {'; '.join(notes)}"
        )

    for row in report["models"]:
        tutorial = row["tutorial_val_accuracy"]
        if "reference" in row:
            lines.append(side_line(row["model"], "reference", row["reference"], tutorial))
        lines.append(side_line(row["model"], "catdog", row["catdog"], tutorial))
        if "ratios" in row:
            ratios = row["ratios"]
            lines.append(
                f"{row['model']:<7} {'catdog/ref':<10} {'':>6} {_f(ratios['seconds_per_epoch'], 8, 3)} {'':>7} {_f(ratios['steady_seconds_per_epoch'], 7, 3)} "
                f"{_f(ratios['total_seconds'], 8, 3)} {_f(ratios['final_val_accuracy'], 9, 4)} {'':>8} {'':>11} {'':>7}  "
                f"speedup {_f(ratios['seconds_per_epoch_speedup'], 0, 2)}x per epoch, {_f(ratios['total_seconds_speedup'], 0, 2)}x total; "
                f"final val {ratios.get('final_val_accuracy_points', float('nan')):+.2f} points"
            )
    lines += ["", "validation accuracy per epoch (tutorial's reported final value in brackets):"]
    for row in report["models"]:
        for name in ("reference", "catdog"):
            if name in row:
                lines.append(
                    f"  {row['model']} {name:<9} [{row['tutorial_val_accuracy']}]: "
                    + " ".join(f"{value:.4f}" for value in row[name]["val_accuracy"])
                )
    prediction = report.get("prediction")
    if prediction:
        lines += [
            "",
            f"prediction, Model 4 loaded ({prediction['model_load_seconds']:.1f}s to load), median end to end (decode, resize, model); load {prediction['load_average']}:",
        ]
        if prediction.get("litert_conversion_seconds") is not None:
            lines.append(
                f"  on LiteRT (converted once in {prediction['litert_conversion_seconds']:.1f}s, cached); TensorFlow's figures in brackets"
            )
        for name, title in (
            ("one_500x375_jpeg", "one 500x375 JPEG"),
            ("one_12mp_jpeg", "one 12-megapixel JPEG"),
            ("batch_of_32_photos", "batch of 32 photos"),
        ):
            entry = prediction[name]
            before = prediction.get("tensorflow", {}).get(name) if prediction.get("engine") != "TensorFlow" else None
            lines.append(
                f"  {title:<24} {entry['median_ms']:>8.1f} ms  (min {entry['min_ms']:.1f}, max {entry['max_ms']:.1f}, {entry['repeats']} runs)"
                + (f"  [TensorFlow {before['median_ms']:.1f} ms]" if before else "")
            )
    memory = report.get("memory")
    if memory:
        lines += [
            "",
            f"memory, Model 4 ({memory['epochs']} epochs) in a fresh process: peak resident {memory['peak_rss_gb']:.2f} GB during the first training "
            f"(cold feature cache); after each of {memory['trainings']} trainings: {', '.join(f'{v:.0f}' for v in memory['rss_mb_after_each'])} MB "
            f"({memory['growth_percent_first_to_last']:+.1f}% first to last)",
        ]
    if report.get("targets"):
        lines += ["", "targets:"]
        for name, check in report["targets"].items():
            lines.append(f"  {'met' if check['met'] else 'MISSED':<6} {name}: {check['value']} (target {check['target']})")
    lines.append(f"\nbenchmark took {report['seconds']:.0f}s")
    return "\n".join(lines)


def _f(value, width, digits) -> str:
    text = "-" if value is None else f"{value:.{digits}f}"
    return f"{text:>{width}}"


def _round(value, digits=3):
    return None if value is None else round(float(value), digits)


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
