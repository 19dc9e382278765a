"""The learning curve: "how many images do I need?"

    python -m catdog learning-curve --model model4 --data DIR --seeds 3 --json

A model is trained on 5, 10, 25, 50 and 100% of the training images (the same share of each
class), a few times with different seeds, and judged on the whole validation split. A frozen-base
model (Model 4) trains only its head, on the base's features computed once and cached
(`catdog.features`, the cache training uses), so the whole curve takes seconds; any other model
trains for real with `catdog.train.train`, into a temporary runs folder.

Progress leaves through a plain callable, `progress(done, total, seconds_left, message)`.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from catdog.architectures import split_frozen
from catdog.config import RunConfig
from catdog.data import Dataset, Split, load_dataset
from catdog.errors import CatdogError
from catdog.features import NO_FLIP, FeatureRequest, cached_features, flip_variants, frozen_forward, frozen_weights_key
from catdog.models import build_training_state, compile_model, create_model, get_spec, probabilities
from catdog.train import train

FRACTIONS = (0.05, 0.1, 0.25, 0.5, 1.0)
Progress = Callable[[int, int, float | None, str], None]


def learning_curve(
    config: RunConfig,
    seeds: int = 3,
    fractions: Sequence[float] = FRACTIONS,
    dataset: Dataset | None = None,
    progress: Progress | None = None,
) -> list[dict]:
    """Validation accuracy against the number of training images.

    Args:
        config: the settings each model trains with (model, epochs, data, image size, ...); its
            seed is the first of `seeds` consecutive ones.
        seeds: trainings per size (at least 1); each draws its own subset and initial weights.
        fractions: shares of the training images, each in (0, 1].
        dataset: an already loaded dataset; None loads `config.data`.
        progress: called as `progress(done, total, seconds_left, message)` after each training
            (and while features are computed); None reports nothing.

    Returns:
        One row per fraction: {"fraction", "train_images", "val_accuracy" (the mean over seeds),
        "low", "high" (its 95% interval), "seconds" (mean seconds to train one model), "runs"
        (each seed's accuracy)}.
    """
    if seeds < 1:
        raise CatdogError(f"--seeds must be at least 1, got {seeds}.")
    if not fractions or any(not (0 < fraction <= 1) for fraction in fractions):
        raise CatdogError("each fraction of the training images must be above 0 and at most 1.")
    report = progress or (lambda done, total, left, message: None)
    spec = get_spec(config.model)
    if dataset is None:
        dataset = load_dataset(config.data, batch_size=config.batch_size, seed=config.seed)
    fit = _HeadOnFeatures(config, dataset, report) if spec.frozen_base and config.fast else _FullTraining(config, dataset)
    total, done, started, rows = len(fractions) * seeds, 0, time.perf_counter(), []
    for fraction in fractions:
        accuracies, seconds = [], []
        for seed in range(config.seed, config.seed + seeds):
            chosen = stratified_subset(dataset.train, fraction, seed)
            tick = time.perf_counter()
            accuracies.append(fit(chosen, seed))
            seconds.append(time.perf_counter() - tick)
            done += 1
            left = (time.perf_counter() - started) / done * (total - done)
            report(done, total, left, f"{fraction:.0%} of the training images, seed {seed}")
        low, high = mean_interval(accuracies, len(dataset.validation))
        rows.append(
            {
                "fraction": float(fraction),
                "train_images": len(chosen),
                "val_accuracy": float(np.mean(accuracies)),
                "low": low,
                "high": high,
                "seconds": float(np.mean(seconds)),
                "runs": [float(value) for value in accuracies],
            }
        )
    return rows


def stratified_subset(split: Split, fraction: float, seed: int) -> Split:
    """`fraction` of each class's images of `split` (at least one each), drawn with `seed`."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(split.labels, int)
    kept = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        kept.extend(rng.choice(members, max(1, round(len(members) * fraction)), replace=False).tolist())
    kept.sort()
    return Split(tuple(split.paths[i] for i in kept), tuple(split.labels[i] for i in kept))


def mean_interval(accuracies: Sequence[float], validation_images: int, confidence: float = 0.95) -> tuple[float, float]:
    """The interval of the mean accuracy over seeds.

    Student's t over the seeds: what varies between trainings (subset, initial weights) is the
    question here, and with a handful of seeds t widens the interval honestly where a normal one
    would not. One seed has no spread to measure, so it falls back to the Wilson interval of its
    accuracy over the validation images.
    """
    from scipy import stats

    values = np.asarray(accuracies, np.float64)
    mean = float(values.mean())
    if len(values) == 1:
        right = round(mean * validation_images)
        wilson = stats.binomtest(right, max(validation_images, 1)).proportion_ci(confidence, method="wilson")
        return min(float(wilson.low), mean), max(float(wilson.high), mean)
    spread = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return max(0.0, mean - spread), min(1.0, mean + spread)


class _HeadOnFeatures:
    """Model 4's fast path: the frozen base's features once, then a fresh head per training."""

    def __init__(self, config: RunConfig, dataset: Dataset, report: Progress):
        model = create_model(config.model, config.image_size, len(dataset.class_names), pretrained=config.pretrained)
        features, self.head = split_frozen(model)
        key = frozen_weights_key(features, config, calibration=dataset.train)
        base = lambda: frozen_forward(features, key, config, calibration=dataset.train)  # noqa: E731

        def on_batch(done, batches, seconds_left, message):
            report(0, 1, seconds_left, f"{message}: batch {done} of {batches}")

        flips = flip_variants(config.flip if config.flip is not None else get_spec(config.model).flip)
        requests = [FeatureRequest(dataset.train, flips, "training"), FeatureRequest(dataset.validation, NO_FLIP, "validation")]
        self.train_features, validation_features = cached_features(key, base, requests, config, on_batch)
        self.validation_features = np.asarray(validation_features[:, 0])
        self.validation_labels = np.asarray(dataset.validation.labels, int)
        self.index = {path: row for row, path in enumerate(dataset.train.paths)}
        self.config = config

    def __call__(self, chosen: Split, seed: int) -> float:
        config = self.config
        keras.utils.set_random_seed(seed)
        head = keras.models.clone_model(self.head)  # same layers, fresh weights
        rows = np.asarray([self.index[path] for path in chosen.paths])
        features, labels = np.asarray(self.train_features[rows]), np.asarray(chosen.labels, np.int32)
        steps = math.ceil(len(labels) / config.batch_size)
        compile_model(head, config.learning_rate, steps_per_execution=steps)
        variants = features.shape[1]
        # As training does: each epoch sees each image once, as itself or as one of its mirrors.
        train_ds = (
            tf.data.Dataset.from_tensor_slices((features, labels))
            .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
            .batch(config.batch_size)
            .map(
                lambda f, y: (
                    tf.gather(f, tf.random.uniform(tf.shape(y), 0, variants, dtype=tf.int32, seed=seed), batch_dims=1),
                    y,
                )
            )
        )
        build_training_state(head, train_ds)
        head.fit(train_ds, epochs=config.epochs, verbose=0)
        # One eager call: a dense layer over a few thousand rows needs no traced predict loop.
        predicted = probabilities(np.asarray(head(self.validation_features, training=False))).argmax(axis=1)
        return float((predicted == self.validation_labels).mean())


@dataclasses.dataclass
class _FullTraining:
    """Any other model: a real training on the subset, in a temporary runs folder."""

    config: RunConfig
    dataset: Dataset

    def __call__(self, chosen: Split, seed: int) -> float:
        with tempfile.TemporaryDirectory(prefix="catdog-learning-curve-") as root:
            run = train(self.config.replace(seed=seed), dataset=dataclasses.replace(self.dataset, train=chosen), runs_root=root)
            accuracy = run.final("val_accuracy")
        if accuracy is None:
            raise CatdogError("a training of the learning curve ended before its first epoch; see the messages above.")
        return float(accuracy)
