"""Training: `train(config)`, one function for the CLI, the dashboard and the tests.

    run = train(RunConfig(model="model4", epochs=3), progress=print)

The plan of a run:

1. Load and check the dataset (unless one is given); take the training lock; make the run
   directory.
2. Build the model in the distribution strategy's scope (Model 5 sets its first layer from the
   training images).
3. Fit it on the images; or, for a frozen base (Model 4), fit its head on the base's features,
   computed once and cached (`catdog.features`). Then, if asked, fine-tune the top of the base.
4. Save the model of the last finished epoch (the best one, with early stopping) and mark the
   run finished, stopped or failed.

Progress leaves through a plain callable (`TrainingProgress` per batch, per epoch and at phase
changes); a stop request (a callable, or a STOP file in the run directory) ends training after
the current batch and keeps the finished epochs (`catdog.callbacks`).

With `strategy="multi-worker"` the same plan runs on every machine of a cluster (`catdog.cluster`):
each worker trains on its shard of the images (or of their frozen features), batches of
`batch_size` images in all; the chief takes the lock and writes the run, the other workers
write theirs to a scratch folder they remove at the end.

The frozen-base fast path replays RandomFlip("horizontal") exactly: each epoch takes the
features of the original or of the mirror of each image, at random. It does not replay rotation
(measure that with `fast=False`); the saved model is the complete model, augmentation included.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from catdog import cluster, runs
from catdog.architectures import split_frozen
from catdog.callbacks import (
    EarlyStopping,
    ProgressFn,
    RecordRun,
    ReportProgress,
    StopOnRequest,
    StopTraining,
    TrainingProgress,
    TrainingSession,
)
from catdog.cluster import Cluster
from catdog.config import RunConfig
from catdog.data import Dataset, load_dataset, load_sample
from catdog.errors import CatdogError
from catdog.features import NO_FLIP, FeatureRequest, cached_features, flip_variants, frozen_forward, frozen_weights_key
from catdog.models import ModelSpec, build_training_state, compile_model, create_model, get_spec, training_precision
from catdog.pipeline import forward_batch_size, length_unknown_to_keras, make_tf_dataset, one_workers_share, without_autotuning

__all__ = ["FAST_PATH_NOTE", "ProgressFn", "TrainingProgress", "distribution_strategy", "train"]

FAST_PATH_NOTE = "head trained on frozen-base features computed once (flips replayed, rotation not)"


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
        The saved `Run` (state "finished", or "stopped" when asked to stop). On a worker of a
        multi-worker run other than the chief, its scratch copy, read just before it is removed.
    """
    report = progress or (lambda _: None)
    spec = get_spec(config.model)  # fails on an unknown key before any slow work
    place = cluster.from_tf_config() if config.strategy == "multi-worker" else None
    if place is not None:
        # MultiWorkerMirroredStrategy must come before any other TensorFlow operation.
        report(TrainingProgress("data", message=f"waiting for the other workers ({place.task} of {place.workers})"))
    strategy = distribution_strategy(config.strategy)
    if dataset is None:
        report(TrainingProgress("data", message="loading and checking the dataset"))
        dataset = load_dataset(
            config.data,
            batch_size=config.batch_size,
            seed=config.seed,
            progress=lambda done, total, what: report(TrainingProgress("data", batch=done, batches=total, message=what)),
        )
    if place is not None:
        _require_same_everywhere(config, dataset, strategy, place)
    runs_root = Path(runs_root) if runs_root is not None else None
    with _runs_folder(runs_root, place) as root:
        keras.utils.set_random_seed(config.seed)
        run_dir = runs.create_run(config, dataset.class_names, root)
        any_worker = None if place is None else (lambda flag: cluster.sum_over_workers(strategy, float(flag)) > 0)
        session = TrainingSession(
            config, dataset, run_dir, report, time.perf_counter(), should_stop, cluster=place, any_worker=any_worker
        )
        try:
            state = runs.STOPPED if _build_and_fit(session, spec, strategy) else runs.FINISHED
        except KeyboardInterrupt:
            runs.update_status(run_dir, state=runs.STOPPED, note="interrupted from the keyboard", seconds=session.elapsed())
            raise
        except BaseException as error:
            lost = cluster.lost_worker(error, place) if place is not None else None
            with contextlib.suppress(OSError):  # the disk may be the problem
                runs.update_status(run_dir, state=runs.FAILED, error=str(lost or error), seconds=session.elapsed())
            if isinstance(error, OSError) and error.errno == errno.ENOSPC:
                raise CatdogError(
                    f"the disk is full while saving {run_dir.name}; free some space and train again (earlier runs are untouched)."
                ) from None
            if lost is not None:
                raise lost from None
            raise
        seconds = session.elapsed()
        runs.update_status(run_dir, state=state, seconds=seconds, ended=time.strftime("%Y-%m-%d %H:%M:%S"))
        session.progress("done", epoch=len(session.history), epochs=config.total_epochs, elapsed=seconds, message=state)
        return runs.load_run(run_dir)


def distribution_strategy(name: str = "default"):
    """The tf.distribute strategy for `name`.

    "default" is TensorFlow's default strategy: one device, the first GPU when there is one, so a
    GPU machine trains on its GPU with no flag. "mirrored" copies the model to every GPU of the
    machine and splits each batch between them (`config.batch_size` is the global batch); on a
    machine without GPUs it runs on the CPU as a single replica. "multi-worker" does the same
    over the machines that TF_CONFIG lists (`catdog.cluster`); it must be made before any other
    TensorFlow operation of the process, and waits until every worker has started.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        return cluster.multi_worker_strategy()
    raise CatdogError(f"strategy must be default, mirrored or multi-worker; got {name!r}.")


@contextlib.contextmanager
def _runs_folder(runs_root: Path | None, place: Cluster | None):
    """Where this process's run goes, for the duration: `runs_root`, holding its training lock.

    A worker of a multi-worker run other than the chief gets a scratch folder instead, without a
    lock, removed at the end: the run is the chief's. It saves and checkpoints as the chief does
    all the same, since those saves take part in the workers' collectives.
    """
    if place is None or place.is_chief:
        with runs.training_lock(runs_root):
            yield runs_root
        return
    scratch = Path(tempfile.mkdtemp(prefix="catdog-worker-"))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _Stage(NamedTuple):
    stopped: bool  # a stop request ended it
    checkpointed: bool  # model.keras already holds the weights it ended with


def _build_and_fit(session: TrainingSession, spec: ModelSpec, strategy) -> bool:
    """Build, fit (both stages) and save the model; True when a stop request ended training."""
    config, dataset = session.config, session.dataset
    precision = training_precision(config.model, config.precision)
    fast = config.fast and spec.frozen_base
    # Variables (model, optimizer, fine-tuning's new optimizer) must be made in the strategy's
    # scope; the default strategy's scope changes nothing.
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
            compile=not fast,  # the fast path compiles the head it trains; left alone, the model saves as it is
        )
        if spec.fit_to_images is not None:
            session.report(TrainingProgress("data", message="setting the first layer from the training images"))
            spec.fit_to_images(model, load_sample(dataset.train, config.image_size))
        runs.update_status(
            session.run_dir,
            fast_path=FAST_PATH_NOTE if fast else None,
            precision=precision,
            strategy=config.strategy,
            replicas=int(strategy.num_replicas_in_sync),
            excluded=list(dataset.excluded),  # the images left out of training (catdog.exclusions)
            **({"workers": session.cluster.workers} if session.cluster else {}),
        )
        stage = _fit_on_features(model, session) if fast else _fit_on_images(model, session)
        if config.fine_tune_epochs and spec.frozen_base and not stage.stopped:
            stage = _fine_tune(model, session)
    if session.history:
        # A stop puts back the last finished epoch, which is the last checkpoint.
        if stage.checkpointed:
            runs.sync_model(session.run_dir)  # the epoch checkpoints skip the fsync
        else:
            session.saver.save(model)
    return stage.stopped


def _fit_on_images(model, session: TrainingSession, phase: str = "train") -> _Stage:
    config, dataset = session.config, session.dataset
    shard = session.cluster.shard if session.cluster else None
    train_ds = make_tf_dataset(
        dataset.train, config.image_size, config.batch_size, shuffle=True, seed=config.seed, shard=shard, repeat=bool(shard)
    )
    validation_ds = make_tf_dataset(
        dataset.validation, config.image_size, forward_batch_size(config.batch_size, config.image_size), shard=shard
    )
    steps = _steps_per_epoch(len(dataset.train), session)
    if phase == "train" and get_spec(config.model).cosine_decay:
        compile_model(model, config.learning_rate, decay_steps=steps * config.epochs)
    epochs = config.epochs if phase == "train" else len(session.history) + config.fine_tune_epochs
    return _fit(model, session, train_ds, validation_ds, steps, epochs, phase=phase)


def _fine_tune(model, session: TrainingSession) -> _Stage:
    """Second stage: unfreeze the base from layer `fine_tune_from`, train at `fine_tune_rate`.

    BatchNorm layers stay frozen, which in Keras 3 also keeps them in inference mode with their
    ImageNet statistics, as TensorFlow's transfer-learning tutorial requires: the base's
    `training=False` call alone does not, since fit's training=True reaches unfrozen BatchNorm
    layers through a functional model, and they would re-learn their statistics from each batch.
    """
    config = session.config
    wrapper = model.get_layer("mobilenet_v2_base")
    wrapper.trainable = True
    base = wrapper.layers[-1]
    base.trainable = True
    for index, layer in enumerate(base.layers):
        layer.trainable = index >= config.fine_tune_from and not isinstance(layer, keras.layers.BatchNormalization)
    compile_model(model, config.fine_tune_rate)
    runs.update_status(session.run_dir, fine_tune_from_epoch=len(session.history) + 1)
    return _fit_on_images(model, session, phase="fine-tune")


def _fit_on_features(model, session: TrainingSession) -> _Stage:
    """The fast path: the head trains on the frozen base's features; the full model is saved."""
    config, dataset = session.config, session.dataset
    features, head = split_frozen(model)
    try:
        train_features, validation_features = _frozen_features(features, session)
    except StopTraining:  # stopped before the first epoch: a stopped run with no epochs
        return _Stage(stopped=True, checkpointed=False)
    runs.update_status(session.run_dir, feature_seconds=session.elapsed())
    variants = train_features.shape[1]
    train_split, validation_split = _shares(session)
    labels = np.asarray(train_split.labels, np.int32)
    steps = _steps_per_epoch(len(dataset.train), session)
    # A step of the head is far less arithmetic than Python's overhead per step: run a whole
    # epoch per graph call (progress and stop requests then come per epoch). Not across workers:
    # Keras' loop of steps in one graph fails there, and each step waits on the others anyway.
    compile_model(head, config.learning_rate, steps_per_execution=1 if session.cluster else steps)
    # Each epoch sees each image once, as itself or mirrored: RandomFlip's distribution.
    # Picked per row of a batch (one map call per batch, not per image).
    train_ds = (
        tf.data.Dataset.from_tensor_slices((train_features, labels))
        .shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size, drop_remainder=session.cluster is not None)
        .map(
            lambda f, y: (
                tf.gather(f, tf.random.uniform(tf.shape(y), 0, variants, dtype=tf.int32, seed=config.seed), batch_dims=1),
                y,
            )
        )
    )
    # A dataset, not arrays: Keras makes a validation iterator every epoch, and from arrays each
    # one copies them into a new pipeline (README, "Speed").
    validation_labels = np.asarray(validation_split.labels, np.int32)
    validation = tf.data.Dataset.from_tensor_slices((validation_features, validation_labels)).batch(config.batch_size)
    # No checkpoints: the head is not the run's model; `_build_and_fit` saves the whole model.
    if session.cluster is None:
        # Endless, each epoch a whole pass (`steps` batches): Keras then keeps one iterator for the
        # whole fit instead of making two an epoch, each a few milliseconds (the flip's function).
        train_ds = without_autotuning(train_ds.repeat().prefetch(2))
        return _fit(
            head, session, train_ds, without_autotuning(validation), steps, config.epochs, checkpoint=False, steps_per_epoch=steps
        )
    # As `make_tf_dataset` does for a worker's images: endless whole batches, a set number of steps.
    train_ds = one_workers_share(without_autotuning(train_ds.repeat().prefetch(2)))
    return _fit(head, session, train_ds, one_workers_share(validation), steps, config.epochs, checkpoint=False)


def _frozen_features(features, session: TrainingSession) -> tuple[np.ndarray, np.ndarray]:
    """Training features under each flip (images, variants, dims); validation ones (images, dims).

    In a multi-worker run, of this worker's shards only (`_shares`): each worker computes, and
    caches, the features of the images it trains and validates on, so the work divides among them.
    """
    config = session.config
    train_split, validation_split = _shares(session)
    key = frozen_weights_key(features, config, calibration=session.dataset.train)  # hashed once: it keys both caches

    def base():  # made on a cache miss only: a warm cache needs no conversion
        announce = lambda message: session.progress("features", message=message)  # noqa: E731
        # Calibrated on the whole training split, as every worker has it: each converts alike.
        forward, engine = frozen_forward(features, key, config, announce, calibration=session.dataset.train)
        runs.update_status(session.run_dir, feature_engine=engine)
        return forward, engine

    def on_batch(done, batches, seconds_left, message):
        session.progress("features", batch=done, batches=batches, elapsed=session.elapsed(), eta=seconds_left, message=message)
        if session.stops_mid_epoch and session.stop_requested():
            raise StopTraining()

    flips = flip_variants(config.flip if config.flip is not None else get_spec(config.model).flip)
    requests = [FeatureRequest(train_split, flips, "training"), FeatureRequest(validation_split, NO_FLIP, "validation")]
    train_features, validation_features = cached_features(key, base, requests, config, on_batch)
    return train_features, validation_features[:, 0]


def _shares(session: TrainingSession):
    """(training, validation) splits of this worker: all of them on one machine."""
    dataset = session.dataset
    if session.cluster is None:
        return dataset.train, dataset.validation
    return dataset.train.shard(*session.cluster.shard), dataset.validation.shard(*session.cluster.shard)


def _steps_per_epoch(images: int, session: TrainingSession) -> int:
    """Batches of an epoch: every one on one machine; in a multi-worker run, the whole batches of
    the smallest shard, the same number on every worker (else the others wait for ever)."""
    batch_size, place = session.config.batch_size, session.cluster
    if place is None:
        return math.ceil(images / batch_size)
    # A worker's batch is split between the replicas of all the workers, so it lasts `workers` steps.
    return place.workers * (images // place.workers // batch_size)


def _require_same_everywhere(config: RunConfig, dataset: Dataset, strategy, place: Cluster) -> None:
    """Stop every worker of a multi-worker run, before it trains, when they cannot train together.

    Splits come from the files each machine finds, so a copy of the data with a file missing
    would give the workers shards that overlap; the settings must be the same (the data folder's
    path may differ); and every replica needs an image of each batch.
    """
    settings = {key: value for key, value in config.to_dict().items() if key != "data"}
    files = [
        f"{name} {os.path.relpath(path, dataset.root)} {label}"
        for name, split in (("train", dataset.train), ("validation", dataset.validation))
        for path, label in zip(split.paths, split.labels)
    ]
    cluster.require_same(strategy, place, json.dumps(settings, sort_keys=True) + "\n" + "\n".join(files))
    replicas, smallest = int(strategy.num_replicas_in_sync), len(dataset.train) // place.workers
    if config.batch_size < replicas or smallest < config.batch_size:
        raise CatdogError(
            f"a batch of {config.batch_size} does not fit {place.workers} workers with {replicas} replicas and "
            f"{smallest} training images each; use a --batch-size from {replicas} (32 per replica or more trains best) "
            f"to {smallest}."
        )


def _fit(
    model, session: TrainingSession, train_ds, validation, steps: int, epochs: int, phase="train", checkpoint=True, **options
):
    """`model.fit` from the run's last epoch to `epochs`, with the run's callbacks."""
    if session.cluster is not None:
        cluster.fit_across_workers(model)
        options["steps_per_epoch"] = steps  # the workers' training data is endless (`_steps_per_epoch`)
    patience = session.config.early_stopping
    recording = RecordRun(session, phase, checkpoint)
    # After a stop mid-epoch, the checkpoint or EarlyStopping holds the last epoch to keep, if either is on.
    stopping = StopOnRequest(session, keep_weights=not (recording.checkpoint or patience))
    early_stopping = [EarlyStopping(session.run_dir, patience)] if patience else []
    callbacks = [recording, *early_stopping, ReportProgress(session, steps), stopping]  # in this order: see catdog.callbacks
    build_training_state(model, train_ds)
    try:
        with length_unknown_to_keras():
            model.fit(
                train_ds,
                initial_epoch=len(session.history),
                epochs=epochs,
                validation_data=validation,
                callbacks=callbacks,
                shuffle=False,
                verbose=0,
                **options,
            )
    except StopTraining:
        for callback in callbacks:  # fit skips these when a callback raises; they put back the kept weights
            callback.on_train_end()
    except BaseException:
        with contextlib.suppress(Exception):  # the error that ended training is the one to report
            session.saver.wait()
        raise
    session.saver.wait()  # the last epoch's checkpoint is written: model.keras holds it
    return _Stage(stopping.stopped, recording.checkpointed_last)
