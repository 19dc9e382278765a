"""Training: one function for the CLI, the dashboard and the tests.

    run = train(RunConfig(model="model4", epochs=3), progress=print)

Progress leaves through a plain callable (`TrainingProgress` per batch and per epoch); a stop
request (a callable, or a STOP file in the run directory) ends training after the current batch
and keeps the finished epochs.

Frozen-base models (Model 4) take a fast path by default. Their frozen MobileNetV2 computes the
same function every epoch, so the tutorial pays for the expensive part twenty times. Here the
pooled features of every training image and of its mirror image are computed once (and cached on
disk, keyed by the files, the image size and the weights); the head is then trained on them, with
each epoch picking the original or the mirror of each image at random, which is exactly what
RandomFlip("horizontal") does. Rotation is not replayed on this path (measure it with
`fast=False`); the saved model is the complete model, augmentation layers included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import hashlib
import math
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np

from catdog import runs
from catdog.architectures import split_frozen
from catdog.config import RunConfig
from catdog.data import (
    Dataset,
    Split,
    length_unknown_to_keras,
    load_dataset,
    load_sample,
    make_tf_dataset,
    without_autotuning,
)
from catdog.errors import CatdogError
from catdog.models import compile_model, create_model, get_spec, training_precision
from catdog.paths import cache_dir


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


FAST_PATH_NOTE = "head trained on frozen-base features computed once (flips replayed, rotation not)"
ProgressFn = Callable[[TrainingProgress], None]


class _StopNow(Exception):
    """Raised from a callback to leave `fit` right after the current batch."""


def train(
    config: RunConfig,
    dataset: Dataset | None = None,
    runs_root: str | Path | None = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> runs.Run:
    """Train a registered model and save the run.

    Args:
        config: the run's settings.
        dataset: an already loaded dataset; None loads `config.data` (or the tutorial's).
        runs_root: where the run directory goes (default: `$CATDOG_RUNS_DIR` or ./runs).
        progress: called with a `TrainingProgress` per batch, per epoch and at phase changes.
        should_stop: polled after every batch; True ends training, keeping finished epochs.

    Returns:
        The saved `Run` (state "finished", or "stopped" when asked to stop).
    """
    import keras

    report = progress or (lambda _: None)
    spec = get_spec(config.model)  # fails on an unknown key before any slow work
    if dataset is None:
        report(TrainingProgress("data", message="loading and checking the dataset"))
        dataset = load_dataset(
            config.data,
            batch_size=config.batch_size,
            seed=config.seed,
            progress=lambda done, total, what: report(TrainingProgress("data", batch=done, batches=total, message=what)),
        )
    runs_root = Path(runs_root) if runs_root is not None else None
    with runs.training_lock(runs_root):
        keras.utils.set_random_seed(config.seed)
        run_dir = runs.create_run(config, dataset.class_names, runs_root)
        started = time.perf_counter()
        stop = _stop_check(run_dir, should_stop)
        try:
            precision = training_precision(config.model, config.precision)
            strategy = distribution_strategy(config.strategy)
            # Variables (model, optimizer, fine-tuning's new optimizer) must be made in the
            # strategy's scope; the default strategy's scope changes nothing.
            with strategy.scope():
                model = create_model(
                    config.model,
                    config.image_size,
                    len(dataset.class_names),
                    config.learning_rate,
                    flip=config.flip,
                    rotation=config.rotation,
                    pretrained=config.pretrained,
                    precision=precision,
                )
                if spec.fit_to_images is not None:
                    report(TrainingProgress("data", message="setting the first layer from the training images"))
                    spec.fit_to_images(model, load_sample(dataset.train, config.image_size))
                fast = config.fast and spec.frozen_base
                runs.update_status(
                    run_dir,
                    fast_path=FAST_PATH_NOTE if fast else None,
                    precision=precision,
                    strategy=config.strategy,
                    replicas=int(strategy.num_replicas_in_sync),
                )
                trainer = _fit_on_features if fast else _fit_on_images
                callback = trainer(model, config, dataset, run_dir, report, stop, started)
                if config.fine_tune_epochs and spec.frozen_base and not callback.stopped:
                    callback.restore_kept_weights()
                    callback = _fine_tune(model, config, dataset, run_dir, report, stop, started, callback.history)
            if callback.history:
                callback.restore_kept_weights()
                if callback.checkpointed_last:
                    runs.sync_model(run_dir)  # the epoch checkpoints skip the fsync
                else:
                    _save_model(run_dir, model)
            state = runs.STOPPED if callback.stopped else runs.FINISHED
        except KeyboardInterrupt:
            runs.update_status(
                run_dir, state=runs.STOPPED, note="interrupted from the keyboard", seconds=time.perf_counter() - started
            )
            raise
        except BaseException as error:
            with contextlib.suppress(OSError):  # the disk may be the problem
                runs.update_status(run_dir, state=runs.FAILED, error=str(error), seconds=time.perf_counter() - started)
            if isinstance(error, OSError) and error.errno == errno.ENOSPC:
                raise CatdogError(
                    f"the disk is full while saving {run_dir.name}; free some space and train again (earlier runs are untouched)."
                ) from None
            raise
        seconds = time.perf_counter() - started
        runs.update_status(run_dir, state=state, seconds=seconds, ended=time.strftime("%Y-%m-%d %H:%M:%S"))
        report(
            TrainingProgress("done", str(run_dir), len(callback.history), callback.total_epochs, elapsed=seconds, message=state)
        )
        return runs.load_run(run_dir)


def distribution_strategy(name: str = "default"):
    """The tf.distribute strategy for `name`.

    "default" is TensorFlow's default strategy: one device, the first GPU when there is one, so a
    GPU machine trains on its GPU with no flag. "mirrored" copies the model to every GPU of the
    machine and splits each batch between them (`config.batch_size` is the global batch); on a
    machine without GPUs it runs on the CPU as a single replica.
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise CatdogError(f"strategy must be default or mirrored; got {name!r}.")


def _save_model(run_dir: Path, model, durable: bool = True) -> None:
    """Save `model`'s layers and weights as the run's model, through an uncompiled float32 twin.

    The file serves prediction, evaluation and export, never resuming, so the optimizer's state
    stays out: Adam keeps two numbers per weight, so Model 1's checkpoint would be 511 MB instead
    of 170 MB, written every epoch. A mixed-precision model's twin is the same float32 model a
    float32 run saves (mixed precision keeps float32 weights anyway), so prediction, Grad-CAM
    and TFLite export work on it unchanged. `durable=False` skips the fsync (see
    `runs.save_model`).
    """
    global _saved_twin
    source, twin = _saved_twin
    if source is None or source() is not model:
        twin = _float32_twin(model)
        _saved_twin = (weakref.ref(model), twin)
    _copy_weights(model, twin)
    runs.save_model(run_dir, twin, durable=durable)


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


_saved_twin: tuple = (None, None)  # (weak reference to the model in training, its uncompiled float32 twin)


def _float32_twin(model):
    def to_float32(value):
        if isinstance(value, dict):
            if value.get("class_name") == "DTypePolicy":
                return {**value, "config": {**value["config"], "name": "float32"}}
            return {key: to_float32(item) for key, item in value.items()}
        if isinstance(value, list):
            return [to_float32(item) for item in value]
        return value

    return model.__class__.from_config(to_float32(model.get_config()))


def _stop_check(run_dir: Path, should_stop):
    def stop() -> bool:
        return runs.stop_requested(run_dir) or (should_stop is not None and should_stop())

    return stop


def _fit_on_images(model, config, dataset, run_dir, report, stop, started, history=None, phase="train"):
    train_ds = make_tf_dataset(dataset.train, config.image_size, config.batch_size, shuffle=True, seed=config.seed)
    validation_ds = make_tf_dataset(dataset.validation, config.image_size, config.batch_size)
    steps = math.ceil(len(dataset.train) / config.batch_size)
    if phase == "train" and get_spec(config.model).cosine_decay:
        compile_model(model, config.learning_rate, decay_steps=steps * config.epochs)
    history = history if history is not None else []
    # Checkpoint every epoch: a killed process still leaves its finished epochs loadable.
    callback = _RunCallback(model, config, run_dir, report, stop, started, steps, checkpoint=True, history=history, phase=phase)
    epochs = config.epochs if phase == "train" else len(history) + config.fine_tune_epochs
    try:
        with length_unknown_to_keras():
            model.fit(
                train_ds,
                initial_epoch=len(history),
                epochs=epochs,
                validation_data=validation_ds,
                callbacks=[callback],
                shuffle=False,
                verbose=0,
            )
    except _StopNow:
        pass
    return callback


def _fine_tune(model, config, dataset, run_dir, report, stop, started, history):
    """Second stage: unfreeze the base from layer `fine_tune_from`, train at `fine_tune_rate`.

    BatchNorm layers stay frozen, which in Keras 3 also keeps them in inference mode with their
    ImageNet statistics, as TensorFlow's transfer-learning tutorial requires. (The base's
    `training=False` call alone does not: Keras 3 passes fit's training=True through a
    functional model, and unfrozen BatchNorm layers then re-learn their statistics from each
    batch, which cost ~1 point of validation accuracy, measured.)
    """
    import keras

    wrapper = model.get_layer("mobilenet_v2_base")
    wrapper.trainable = True
    base = wrapper.layers[-1]
    base.trainable = True
    for index, layer in enumerate(base.layers):
        layer.trainable = index >= config.fine_tune_from and not isinstance(layer, keras.layers.BatchNormalization)
    compile_model(model, config.fine_tune_rate)
    runs.update_status(run_dir, fine_tune_from_epoch=len(history) + 1)
    return _fit_on_images(model, config, dataset, run_dir, report, stop, started, history=history, phase="fine-tune")


def _fit_on_features(model, config, dataset, run_dir, report, stop, started):
    import tensorflow as tf

    features, head = split_frozen(model)
    weights_key = _weights_key(features, config)  # hashed once: it keys both caches

    @functools.cache
    def base():  # made on the first cache miss only: a warm cache needs no conversion
        announce = lambda message: report(TrainingProgress("features", str(run_dir), message=message))  # noqa: E731
        forward, engine = frozen_forward(features, weights_key, config, announce)
        runs.update_status(run_dir, feature_engine=engine)
        return forward, engine

    flips = _flip_variants(config.flip if config.flip is not None else get_spec(config.model).flip)
    train_features = cached_features(weights_key, base, dataset.train, config, flips, report, stop, started, run_dir, "training")
    validation_features = cached_features(
        weights_key, base, dataset.validation, config, ((False, False),), report, stop, started, run_dir, "validation"
    )[:, 0]
    runs.update_status(run_dir, feature_seconds=time.perf_counter() - started)
    variants = train_features.shape[1]
    labels = np.asarray(dataset.train.labels, np.int32)
    steps = math.ceil(len(labels) / config.batch_size)
    # A batch of the head is ~0.1 ms of arithmetic and ~2 ms of Python per step: run the whole
    # epoch in one graph call (0.2 s -> 0.05 s an epoch); progress and stop then come per epoch.
    compile_model(head, config.learning_rate, steps_per_execution=steps)
    train_ds = without_autotuning(
        tf.data.Dataset.from_tensor_slices((train_features, labels))
        .shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        # Each epoch sees each image once, as itself or mirrored: RandomFlip's distribution.
        # Picked per row of a batch (one map call per batch, not per image).
        .map(
            lambda f, y: (
                tf.gather(f, tf.random.uniform(tf.shape(y), 0, variants, dtype=tf.int32, seed=config.seed), batch_dims=1),
                y,
            )
        )
        .prefetch(2)
    )
    validation = (validation_features, np.asarray(dataset.validation.labels, np.int32))
    callback = _RunCallback(head, config, run_dir, report, stop, started, steps, checkpoint=False)
    try:
        head.fit(
            train_ds,
            epochs=config.epochs,
            validation_data=validation,
            batch_size=config.batch_size,
            callbacks=[callback],
            shuffle=False,
            verbose=0,
        )
    except _StopNow:
        pass
    return callback


def _flip_variants(flip: str) -> tuple[tuple[bool, bool], ...]:
    """(horizontal, vertical) mirror combinations that RandomFlip(flip) can produce."""
    horizontal = (False, True) if flip in ("horizontal", "horizontal_and_vertical") else (False,)
    vertical = (False, True) if flip in ("vertical", "horizontal_and_vertical") else (False,)
    return tuple((h, v) for v in vertical for h in horizontal)


def cached_features(
    weights_key: str, base, split: Split, config: RunConfig, flips, report, stop, started, run_dir, label: str
) -> np.ndarray:
    """Pooled base features of every image in `split` under each flip: (images, variants, dims).

    `weights_key` is `_weights_key` of the frozen base; `base()` returns its `frozen_forward`
    and is called only when the cache misses.

    Cached on disk under `$CATDOG_CACHE_DIR/features`, keyed by the image files (path, size,
    modification time), the image size, the flips and a hash of the frozen weights, so a second
    run on the same data starts in seconds.
    """
    key = _feature_key(weights_key, split, flips)
    path = cache_dir() / "features" / f"{key}.npy"
    if path.is_file():
        try:
            cached = np.load(path)
            if cached.shape[:2] == (len(split), len(flips)):
                return cached
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed
    forward, engine = base()
    images = make_tf_dataset(split, config.image_size, config.batch_size, cache=False)
    batches = math.ceil(len(split) / config.batch_size)
    chunks = []
    tick = time.perf_counter()
    for index, (batch, _) in enumerate(images):
        batch = batch.numpy()
        # Every flip of the batch in one call: (variants * n, dims) -> (n, variants, dims).
        variants = [batch[:, :: -1 if vertical else 1, :: -1 if horizontal else 1] for horizontal, vertical in flips]
        out = forward(np.concatenate(variants).astype(np.float32))
        chunks.append(out.reshape(len(flips), -1, out.shape[-1]).transpose(1, 0, 2))
        done = index + 1
        per_batch = (time.perf_counter() - tick) / done
        report(
            TrainingProgress(
                "features",
                str(run_dir),
                batch=done,
                batches=batches,
                elapsed=time.perf_counter() - started,
                eta=per_batch * (batches - done),
                message=f"computing {label} features once ({engine})",
            )
        )
        if stop():
            raise _StopNow()
    result = np.concatenate(chunks).astype(np.float32)
    if result.shape[0] != len(split):
        raise CatdogError(
            f"{len(split) - result.shape[0]} {label} images could not be decoded; run `python -m catdog data` to list them."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp.npy")
    np.save(temporary, result)
    temporary.replace(path)
    return result


def frozen_forward(features, weights_key: str, config: RunConfig, announce: Callable[[str], None] = lambda message: None):
    """(forward, engine): the frozen base as a function from float32 pixels to NumPy features.

    LiteRT (XNNPACK) on a CPU-only machine: about twice TensorFlow's speed for MobileNetV2 there
    (see `catdog.lite`), converted once per set of weights and cached on disk under
    `weights_key`. Elsewhere (a GPU, `CATDOG_LITERT=0`) one traced TensorFlow graph: 2.7x faster
    per image than calling the model eagerly batch by batch; XLA (jit_compile) and bfloat16 were
    slower on a CPU, so unused.
    `engine` names which one runs.
    """
    import tensorflow as tf

    from catdog import lite

    if lite.available():
        if not lite.cached_path(weights_key).is_file():
            announce("converting the frozen base to LiteRT once (cached for later runs)")
        return lite.LiteModel(lite.cached_conversion(features, weights_key)), "LiteRT"
    graph = tf.function(
        lambda batch: features(batch, training=False),
        input_signature=[tf.TensorSpec((None, *config.image_size, 3), tf.float32)],
        reduce_retracing=True,
    )
    return (lambda batch: graph(batch).numpy()), "TensorFlow"


def _weights_key(features, config: RunConfig) -> str:
    """A digest of the frozen model's weights, dtype policies and input size."""
    digest = hashlib.sha256()
    policies = tuple(layer.dtype_policy.name for layer in features.layers)  # float32 vs bfloat16 features
    digest.update(repr((tuple(config.image_size), policies)).encode())
    for weight in features.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:32]


def _feature_key(weights_key: str, split: Split, flips) -> str:
    import os

    digest = hashlib.sha256()
    digest.update(repr((weights_key, flips)).encode())
    for path in split.paths:
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def _keras_callback_base():
    import keras

    return keras.callbacks.Callback


class _RunCallback(_keras_callback_base()):
    """Reports progress, records history, checkpoints, honours stop requests and early stopping."""

    def __init__(self, trained, config, run_dir, report, stop, started, steps, checkpoint, history=None, phase="train"):
        super().__init__()
        self.phase = phase
        self.total_epochs = config.epochs + (config.fine_tune_epochs if get_spec(config.model).frozen_base else 0)
        self.trained = trained  # the model being fitted (the full model, or the head)
        self.config, self.run_dir, self.report, self.stop = config, run_dir, report, stop
        self.started, self.steps, self.checkpoint = started, steps, checkpoint
        self.history: list[dict] = history if history is not None else []
        self.stopped = False
        self.checkpointed_last = False
        self.kept_weights = None  # weights of the last finished (or, with early stopping, best) epoch
        self.best = -math.inf
        self.epoch_times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.epoch_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1
        now = time.perf_counter()
        seconds_per_batch = (now - self.epoch_started) / done
        if self.epoch_times:  # whole epochs (with validation) are the better estimate
            eta = (self.steps - done) * seconds_per_batch + np.mean(self.epoch_times) * (self.total_epochs - self.epoch)
        else:
            eta = seconds_per_batch * (self.steps * (self.total_epochs - self.epoch + 1) - done)
        self.report(
            TrainingProgress(
                "train",
                str(self.run_dir),
                self.epoch,
                self.total_epochs,
                done,
                self.steps,
                now - self.started,
                eta,
                _floats(logs),
            )
        )
        if self.stop():
            self.stopped = True
            raise _StopNow()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.epoch_started
        self.epoch_times.append(seconds)
        entry = {"epoch": epoch + 1, **_floats(logs), "seconds": round(seconds, 3), "phase": self.phase}
        self.history.append(entry)
        score = entry.get("val_accuracy", entry.get("accuracy", 0.0))
        patience = self.config.early_stopping
        if not patience or score > self.best:
            self.kept_weights = self.trained.get_weights()
        if patience:
            if score > self.best:
                self.best, self.best_epoch = score, epoch + 1
            elif epoch + 1 - self.best_epoch >= patience:
                self.trained.stop_training = True
                runs.update_status(self.run_dir, note=f"early stopping: best epoch {self.best_epoch} restored")
        if self.checkpoint and not patience:
            _save_model(self.run_dir, self.trained, durable=False)
            self.checkpointed_last = True
        runs.write_history(self.run_dir, self.history)
        self.report(
            TrainingProgress(
                "epoch",
                str(self.run_dir),
                epoch + 1,
                self.total_epochs,
                self.steps,
                self.steps,
                time.perf_counter() - self.started,
                None,
                entry,
            )
        )
        if self.stop():
            self.stopped = True
            self.trained.stop_training = True

    def restore_kept_weights(self):
        """After a stop mid-epoch or early stopping, go back to the kept epoch's weights."""
        if self.kept_weights is not None and (self.stopped or self.config.early_stopping):
            self.trained.set_weights(self.kept_weights)
            self.checkpointed_last = False


def _floats(logs) -> dict:
    return {key: float(value) for key, value in (logs or {}).items()}
