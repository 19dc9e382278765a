"""Keras callbacks for a training run, one job each, and the session of the run they serve.

`catdog.train` makes one `TrainingSession` per run, and these callbacks for each `fit`:

    callbacks = [RecordRun(session), EarlyStopping(run_dir, patience), ReportProgress(session, steps), StopOnRequest(session)]

Their order is the order of the work at an epoch's end: record the epoch, decide on early
stopping, report the epoch (with its record), then look for a stop request, so that a stop
asked for from that report is honoured at once. A stop request mid-epoch raises
`StopTraining`; `fit` then skips `on_train_end`, so the caller runs those hooks itself (they
put back the weights the run keeps).

In a multi-worker run every worker runs these callbacks on the same steps, and whatever they
decide must be the same everywhere, or the workers wait on each other for ever: they decide
from the logs (the same on every worker), and a stop request counts at the end of an epoch,
once the workers have agreed on it (`TrainingSession.stop_agreed`).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from catdog import runs
from catdog.cluster import Cluster
from catdog.config import RunConfig
from catdog.data import Dataset


@dataclasses.dataclass(frozen=True)
class TrainingProgress:
    """One progress report."""

    phase: str  # "data", "features", "train" (a batch), "epoch" (an epoch ended), "done"
    run_dir: str | None = None
    epoch: int = 0  # 1-based; 0 before training starts
    epochs: int = 0
    batch: int = 0  # 1-based, within the epoch (or within feature extraction)
    batches: int = 0
    elapsed: float = 0.0  # seconds since the run started
    eta: float | None = None  # estimated seconds left
    logs: dict = dataclasses.field(default_factory=dict)
    message: str = ""


ProgressFn = Callable[[TrainingProgress], None]


class StopTraining(Exception):
    """Raised after a batch to leave training at once, keeping the finished epochs."""


class ModelSaver:
    """Saves a model's layers and weights as a run's model.keras, through an uncompiled float32 twin.

    The file serves prediction, evaluation and export, never resuming, so the optimizer's state
    stays out (Adam's would triple the size of a file written every epoch). A mixed-precision
    model's twin is the float32 model a float32 run saves, so whatever loads a run works on it
    unchanged. The twin is made once per model and reused by every later save.

    An epoch's checkpoint is written on a thread while the next epoch trains (`background=True`):
    the weights are copied into the twin first, so training cannot change what is being written,
    and each save waits for the one before. `wait` returns once the last one is on disk.
    """

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self._source = None  # the model the twin was made from
        self._twin = None
        self._writing: threading.Thread | None = None
        self._error: BaseException | None = None

    def save(self, model, durable: bool = True, background: bool = False) -> None:
        """Save `model`; `durable=False` skips the fsync (see `runs.save_model`)."""
        self.wait()  # the twin is about to change: the save reading it must be done
        if not background and _is_own_twin(model):  # Model 4's fast path: no second MobileNetV2 to build
            runs.save_model(self.run_dir, model, durable=durable)
            return
        if self._source is not model:
            self._source, self._twin = model, _float32_twin(model)
        _copy_weights(model, self._twin)
        if not background:
            runs.save_model(self.run_dir, self._twin, durable=durable)
            return
        # Not a daemon: a process that ends mid-save still finishes the file it was writing.
        self._writing = threading.Thread(target=self._write, args=(durable,), name="catdog-checkpoint")
        self._writing.start()

    def wait(self) -> None:
        """Return once the background save, if any, is written; raise what it raised."""
        if self._writing is not None:
            self._writing.join()
            self._writing = None
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _write(self, durable: bool) -> None:
        try:
            runs.save_model(self.run_dir, self._twin, durable=durable)
        except BaseException as error:  # raised again by `wait`, in the training thread
            self._error = error


@dataclasses.dataclass(frozen=True)
class TrainingSession:
    """What the stages and callbacks of one run share; `train` makes one per run."""

    config: RunConfig
    dataset: Dataset
    run_dir: Path
    report: ProgressFn  # gets every progress report of the run
    started: float  # time.perf_counter() when the run started
    should_stop: Callable[[], bool] | None = None  # the caller's stop request, polled with the STOP file
    history: list[dict] = dataclasses.field(default_factory=list)  # finished epochs, both stages
    saver: ModelSaver = dataclasses.field(init=False)  # one per run, so its twin serves every save
    # Multi-worker runs (catdog.cluster): this worker's place, and a collective that is True on
    # every worker when any of them passes True. None on one machine.
    cluster: Cluster | None = None
    any_worker: Callable[[bool], bool] | None = None

    def __post_init__(self):
        object.__setattr__(self, "saver", ModelSaver(self.run_dir))

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def stop_requested(self) -> bool:
        """A stop asked of this process; only on one machine may it end training on its own."""
        return runs.stop_requested(self.run_dir) or (self.should_stop is not None and self.should_stop())

    @property
    def stops_mid_epoch(self) -> bool:
        """Whether a stop request may end training after any batch: on one machine only."""
        return self.any_worker is None

    def stop_agreed(self) -> bool:
        """`stop_requested`, the same on every worker: any worker's request stops them all.

        In a multi-worker run a collective, so every worker calls it at the same point.
        """
        requested = self.stop_requested()
        return requested if self.any_worker is None else self.any_worker(requested)

    def progress(self, phase: str, **fields) -> None:
        """Report `TrainingProgress(phase, run_dir, **fields)`."""
        self.report(TrainingProgress(phase, str(self.run_dir), **fields))


class RecordRun(keras.callbacks.Callback):
    """Appends each finished epoch to the run's history.json and checkpoints the model.

    Args:
        session: the run; epochs go to `session.history`.
        phase: recorded with each epoch: "train" (default) or "fine-tune".
        checkpoint: save the model after every epoch (default True), so that a killed process
            still leaves its finished epochs loadable. Never with early stopping, whose best
            epoch is saved at the end instead.
    """

    def __init__(self, session: TrainingSession, phase: str = "train", checkpoint: bool = True):
        super().__init__()
        self.session, self.phase = session, phase
        self.checkpoint = checkpoint and not session.config.early_stopping
        self.checkpointed_last = False  # model.keras holds the last finished epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.epoch_started
        self.session.history.append({"epoch": epoch + 1, **_floats(logs), "seconds": round(seconds, 3), "phase": self.phase})
        if self.checkpoint:
            self.session.saver.save(self.model, durable=False, background=True)  # `train` syncs the last one
            self.checkpointed_last = True
        runs.write_history(self.session.run_dir, self.session.history)


# Not keras.callbacks.EarlyStopping: it watches one metric (ours falls back to accuracy without
# validation) and cannot leave the note in the run's status.
class EarlyStopping(keras.callbacks.Callback):
    """Stops once the score has not improved for `patience` epochs; the best epoch's weights return.

    The score is val_accuracy (accuracy without validation data); only a strictly higher score
    counts as better. The best weights come back at the end of training, whether it stopped
    early or not, and the run's status notes which epoch that was.

    Args:
        run_dir: the run whose status gets the note.
        patience: epochs without a better score before training stops.
    """

    def __init__(self, run_dir: Path, patience: int):
        super().__init__()
        self.run_dir, self.patience = run_dir, patience
        self.best, self.best_epoch, self.best_weights = -math.inf, 0, None

    def on_epoch_end(self, epoch, logs=None):
        logs = _floats(logs)
        score = logs.get("val_accuracy", logs.get("accuracy", 0.0))
        if score > self.best:
            self.best, self.best_epoch, self.best_weights = score, epoch + 1, self.model.get_weights()
        elif epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True
            runs.update_status(self.run_dir, note=f"early stopping: best epoch {self.best_epoch} restored")

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ReportProgress(keras.callbacks.Callback):
    """Reports each batch, with an estimate of the time left, and each finished epoch.

    Args:
        session: the run; reports go to `session.report`.
        steps: batches in an epoch.
    """

    def __init__(self, session: TrainingSession, steps: int):
        super().__init__()
        self.session, self.steps = session, steps
        self.epoch_seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_started = epoch + 1, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        done, epochs = batch + 1, self.session.config.total_epochs
        now = time.perf_counter()
        seconds_per_batch = (now - self.epoch_started) / done
        if self.epoch_seconds:  # whole epochs (with validation) are the better estimate
            eta = (self.steps - done) * seconds_per_batch + np.mean(self.epoch_seconds) * (epochs - self.epoch)
        else:
            eta = seconds_per_batch * (self.steps * (epochs - self.epoch + 1) - done)
        self.session.progress(
            "train",
            epoch=self.epoch,
            epochs=epochs,
            batch=done,
            batches=self.steps,
            elapsed=now - self.session.started,
            eta=eta,
            logs=_floats(logs),
        )

    def on_epoch_end(self, epoch, logs=None):
        record = self.session.history[-1]  # RecordRun's, which runs before this callback
        self.epoch_seconds.append(record["seconds"])
        self.session.progress(
            "epoch",
            epoch=epoch + 1,
            epochs=self.session.config.total_epochs,
            batch=self.steps,
            batches=self.steps,
            elapsed=self.session.elapsed(),
            logs=record,
        )


class StopOnRequest(keras.callbacks.Callback):
    """Ends training after the current batch once a stop is requested (STOP file or `should_stop`).

    A stop mid-epoch raises `StopTraining`: Keras' `stop_training` would still validate the
    partial epoch and report it as finished. The run must then keep the last finished epoch's
    weights, so that the saved model is the one the history describes: a run that checkpoints
    every epoch has them on disk already; otherwise this callback copies them at each epoch's
    end and puts them back. A multi-worker run stops at the end of the epoch instead, once the
    workers agree (one collective an epoch, not a batch).

    Args:
        session: the run whose stop requests count.
        keep_weights: copy the weights at each epoch's end, to put back after a stop mid-epoch
            (default True). False when the last finished epoch is kept elsewhere: the epoch
            checkpoint, or EarlyStopping's best epoch. (A copy of Model 1's 42 million weights
            costs a few tenths of a second an epoch.)
    """

    def __init__(self, session: TrainingSession, keep_weights: bool = True):
        super().__init__()
        self.session, self.keep_weights = session, keep_weights
        self.stopped = False
        self.kept_weights = None

    def on_train_batch_end(self, batch, logs=None):
        if self.session.stops_mid_epoch and self.session.stop_requested():
            self.stopped = True
            raise StopTraining()

    def on_epoch_end(self, epoch, logs=None):
        if self.keep_weights:
            self.kept_weights = self.model.get_weights()
        if self.session.stop_agreed():
            self.stopped = True
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped and self.kept_weights is not None:
            self.model.set_weights(self.kept_weights)


def _float32_twin(model):
    return model.__class__.from_config(_float32_config(model.get_config()))


def _is_own_twin(model) -> bool:
    """True when `model` would save as its twin does: uncompiled, and float32 throughout."""
    return not model.compiled and all(layer.dtype_policy.name == "float32" for layer in _layers(model))


def _layers(model):
    # Every layer, nested models' included: what `_float32_config` reaches through the config.
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def _float32_config(value):
    # A model's config with every dtype policy in it made float32.
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return {**value, "config": {**value["config"], "name": "float32"}}
        return {key: _float32_config(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    return value


def _copy_weights(source, target) -> None:
    # Layer by layer name (nested models recursively), so the order of trainable and frozen
    # weights, which fine-tuning changes, cannot mix them up.
    for layer in target.layers:
        original = source.get_layer(layer.name)
        if hasattr(layer, "layers"):
            _copy_weights(original, layer)
        else:
            for weight, value in zip(layer.weights, original.weights, strict=True):
                weight.assign(value)


def _floats(logs) -> dict:
    return {key: float(value) for key, value in (logs or {}).items()}
