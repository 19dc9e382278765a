"""Timing the two sides: the tutorial's reference pipeline and catdog's training of the same model.

    summary = time_reference("model1", data, 2, (160, 160), 32, True, 0.7, print)
    summary, run = time_catdog(config, dataset, load_seconds, runs_root, 0.7, print)
    row["ratios"] = ratios(row["reference"], row["catdog"])

Both sides are timed the same way. An epoch's seconds run from the end of the previous epoch (or
the start of the first) to the moment its validation accuracy is known, so anything done between
epochs (catdog's per-epoch checkpoint) is counted; the first epoch's are Keras' own (epoch begin to
end), so building the datasets and the model is not charged to it. Total wall time runs from
loading the data to the end of training, including building the model and, for catdog, checking
every image and computing Model 4's features. The time to an accuracy is the total wall time at
the end of the first epoch that reached it.

The reference runs in a fresh process with TensorFlow's own settings, as a user running the
tutorial has them: catdog turns oneDNN kernels on where TensorFlow leaves them off.
"""

from __future__ import annotations

import gc
import os
import statistics
import time

import keras

import catdog
from catdog.bench.children import run_in_child
from catdog.bench.reference import train_reference
from catdog.bench.report import REACH
from catdog.config import RunConfig
from catdog.train import train


def time_reference(key, data, epochs, image_size, batch_size, pretrained, tutorial_accuracy, say) -> dict:
    """The reference side's summary; its progress lines come through `say` as it trains."""
    settings = {
        "key": key,
        "data": None if data is None else str(data),
        "epochs": epochs,
        "image_size": list(image_size),
        "batch_size": batch_size,
        "pretrained": pretrained,
        "tutorial_accuracy": tutorial_accuracy,
    }
    return run_in_child(
        _reference_child,
        settings,
        failure=f"the reference run of {key}",
        environ={"TF_ENABLE_ONEDNN_OPTS": catdog.ONEDNN_SETTING_FOUND},
        on_line=lambda line: say(line) if line.startswith("[bench]") else None,
    )


def time_catdog(config: RunConfig, dataset, load_seconds, runs_root, tutorial_accuracy, say):
    """catdog's side: (summary, run), its clock started `load_seconds` ago (loading the data)."""
    ends = []
    tick = time.perf_counter()

    def progress(event):
        if event.phase == "epoch":
            ends.append((load_seconds + time.perf_counter() - tick, event.logs))
            say(_epoch_line("catdog", config.model, event.epoch, event.epochs, ends))
        elif event.phase == "features" and event.batch == event.batches:
            elapsed = load_seconds + time.perf_counter() - tick
            say(f"[bench]   catdog {config.model}: {event.message} done, {elapsed:.0f}s from start")

    run = train(config, dataset=dataset, runs_root=runs_root, progress=progress)
    total = load_seconds + time.perf_counter() - tick
    first = run.history[0]["seconds"] if run.history else None
    summary = side_summary(ends, total, tutorial_accuracy, first_epoch_seconds=first)
    summary.update(
        load_seconds=round(load_seconds, 3),
        fast_path=run.status.get("fast_path"),
        precision=run.status.get("precision"),
        tf_enable_onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        feature_seconds=_round(run.status.get("feature_seconds")),
        feature_engine=run.status.get("feature_engine"),
        run_dir=str(run.path),
    )
    keras.backend.clear_session()
    gc.collect()
    return summary, run


def side_summary(ends, total, tutorial_accuracy, first_epoch_seconds=None) -> dict:
    """Per-epoch seconds, accuracies and times to the thresholds for one side.

    Args:
        ends: (seconds from the start, logs) at the end of each epoch.
        total: the side's wall time in seconds.
        tutorial_accuracy: the tutorial's reported accuracy, a threshold besides `REACH` (or None).
        first_epoch_seconds: Keras' own time for the first epoch (default: from the start).
    """
    epoch_seconds = epoch_durations(ends)
    if first_epoch_seconds is not None and epoch_seconds:
        epoch_seconds[0] = first_epoch_seconds
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


def ratios(reference_side: dict, catdog_side: dict) -> dict:
    """catdog / reference for times (below 1 is faster) and accuracy; speedups the other way."""

    def ratio(name):
        if reference_side.get(name) and catdog_side.get(name) is not None:
            return round(catdog_side[name] / reference_side[name], 4)
        return None

    result = {
        name: ratio(name) for name in ("seconds_per_epoch", "steady_seconds_per_epoch", "total_seconds", "final_val_accuracy")
    }
    for name in ("seconds_per_epoch", "steady_seconds_per_epoch", "total_seconds"):
        result[f"{name}_speedup"] = round(1 / result[name], 2) if result[name] else None
    final = reference_side.get("final_val_accuracy"), catdog_side.get("final_val_accuracy")
    if None not in final:
        result["final_val_accuracy_points"] = round(100 * (final[1] - final[0]), 2)
    return result


def epoch_durations(ends) -> list[float]:
    """Each epoch's seconds from the end of the one before (the first: from the start)."""
    return [end - (ends[index - 1][0] if index else 0.0) for index, (end, _) in enumerate(ends)]


class EpochClock(keras.callbacks.Callback):
    """Records each epoch's logs and times for `on_epoch(epoch, logs, seconds_since_start)`.

    The clock starts when it is made, so what happens before `fit` (datasets, model) is counted.
    It does nothing else to training.
    """

    def __init__(self, on_epoch=None):
        super().__init__()
        self.started, self.on_epoch = time.perf_counter(), on_epoch
        self.history: list[dict] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        entry = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        entry.update(seconds=now - self.epoch_started, elapsed=now - self.started)
        self.history.append(entry)
        if self.on_epoch is not None:
            self.on_epoch(epoch + 1, entry, now - self.started)


def _reference_child(settings: dict) -> dict:
    # Runs in the fresh process `time_reference` starts; its progress goes to stdout, line by line.
    key, epochs, ends = settings["key"], settings["epochs"], []

    def on_epoch(epoch, logs, elapsed):
        ends.append((elapsed, logs))
        print(_epoch_line("reference", key, epoch, epochs, ends), flush=True)

    clock = EpochClock(on_epoch)
    train_reference(
        key,
        settings["data"],
        epochs,
        tuple(settings["image_size"]),
        settings["batch_size"],
        "imagenet" if settings["pretrained"] else None,
        callbacks=[clock],
    )
    total = time.perf_counter() - clock.started
    first = clock.history[0]["seconds"] if clock.history else None
    summary = side_summary(ends, total, settings["tutorial_accuracy"], first_epoch_seconds=first)
    summary["tf_enable_onednn_opts"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return summary


def _epoch_line(side, key, epoch, epochs, ends) -> str:
    elapsed, logs = ends[-1]
    return (
        f"[bench]   {side} {key} epoch {epoch}/{epochs}  val_accuracy {logs.get('val_accuracy', float('nan')):.4f}  "
        f"{epoch_durations(ends)[-1]:.1f}s  ({elapsed:.0f}s from start)"
    )


def _round(value, digits=3):
    return None if value is None else round(float(value), digits)
