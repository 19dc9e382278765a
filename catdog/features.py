"""Frozen-base features, computed once and cached on disk: Model 4's fast path.

A frozen base computes the same function every epoch, so the pooled features of every training
image, and of each mirror image RandomFlip could make of it, are computed once; the head then
trains on them (`catdog.train`). Nothing here knows about runs: progress and stop requests come
in through plain callables.

    key = frozen_weights_key(features, config, calibration=dataset.train)
    base = lambda: frozen_forward(features, key, config, calibration=dataset.train)
    requests = [FeatureRequest(dataset.train, flip_variants("horizontal"), "training"),
                FeatureRequest(dataset.validation, NO_FLIP, "validation")]
    train_features, validation_features = cached_features(key, base, requests, config)

The cache lives under `$CATDOG_CACHE_DIR/features`, keyed by the image files (path, size,
modification time), the image size, the flips and a digest of the frozen weights (for int8, of
the files it is calibrated on too), so a second run on the same data starts in seconds.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from catdog import lite
from catdog.config import RunConfig
from catdog.cpu import has_int8_dot_products
from catdog.data import Split
from catdog.errors import CatdogError
from catdog.paths import cache_dir
from catdog.pipeline import make_tf_dataset
from catdog.readahead import ReadAhead

Flips = tuple[tuple[bool, bool], ...]  # (horizontal, vertical) mirrorings of an image
NO_FLIP: Flips = ((False, False),)  # the images as they are (validation)
# int8 quantization's ranges come from this many training images: each one lengthens the one-time
# conversion, and 16 keep validation accuracy as 32 and 100 did (README, "Speed").
CALIBRATION_IMAGES = 16


class FeatureRequest(NamedTuple):
    """One split's features for `cached_features`."""

    split: Split
    flips: Flips  # the mirrorings to compute, from `flip_variants`, or `NO_FLIP`
    label: str  # the split's name in messages, e.g. "training"


def cached_features(
    weights_key: str,
    base: Callable[[], tuple[Callable, str]],
    requests: Sequence[FeatureRequest],
    config: RunConfig,
    on_batch: Callable[[int, int, float, str], None] | None = None,
) -> list[np.ndarray]:
    """Pooled base features of every image of each request's split under each flip.

    What the cache lacks is computed: its images are decoded in another process from the start
    (`catdog.readahead`), while `base` is made (a LiteRT conversion on a first run), then the
    base runs on them batch by batch.

    Args:
        weights_key: `frozen_weights_key` of the frozen base.
        base: returns the base's `frozen_forward` (forward, engine); called only on a cache miss.
        requests: the splits, their flips and their names.
        config: the run's settings (image size, batch size).
        on_batch: called as `on_batch(done, batches, seconds_left, message)` after each batch
            computed; it may raise to stop. None reports nothing.

    Returns:
        float32 arrays (images, variants, dims), one per request, read from the cache when it
        holds them.

    Raises:
        CatdogError: when images of a split cannot be decoded.
    """
    paths = [cache_dir() / "features" / f"{_feature_key(weights_key, r.split, r.flips)}.npy" for r in requests]
    results = [_cached(path, len(r.split), len(r.flips)) for path, r in zip(paths, requests)]
    missing = [index for index, result in enumerate(results) if result is None]
    if missing:
        jobs = [requests[index].split.paths for index in missing]
        with ReadAhead(jobs, config.image_size, config.batch_size) as reader:
            forward, engine = base()
            for job, index in enumerate(missing):
                batches = reader.job(job)
                results[index] = _compute(forward, engine, batches, requests[index], paths[index], config, on_batch)
    return results


def _cached(path, images: int, variants: int) -> np.ndarray | None:
    if path.is_file():
        try:
            cached = np.load(path, mmap_mode="r")  # pages come in as used: never a second copy
            if cached.shape[:2] == (images, variants):
                return cached
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed
    return None


def _compute(forward, engine: str, batches, request: FeatureRequest, path, config: RunConfig, on_batch) -> np.ndarray:
    """Run `forward` on `batches` (`ReadAhead.job`) and write the features to `path`."""
    split, flips, label = request
    count = math.ceil(len(split) / config.batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npy")
    result, done_rows, tick = None, 0, time.perf_counter()
    try:
        for index, (batch, _) in enumerate(batches):
            # Every flip of the batch in one call: (variants * n, dims) -> (n, variants, dims).
            variants = [batch[:, :: -1 if vertical else 1, :: -1 if horizontal else 1] for horizontal, vertical in flips]
            out = forward(np.concatenate(variants).astype(np.float32))
            rows = out.reshape(len(flips), -1, out.shape[-1]).transpose(1, 0, 2)
            if result is None:  # written batch by batch into the file: memory holds one batch
                shape = (len(split), len(flips), out.shape[-1])
                result = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32, shape=shape)
            result[done_rows : done_rows + len(rows)] = rows
            done_rows += len(rows)
            done = index + 1
            if on_batch is not None:
                seconds_left = (time.perf_counter() - tick) / done * (count - done)
                on_batch(done, count, seconds_left, f"computing {label} features once ({engine})")
        if done_rows != len(split):
            raise CatdogError(
                f"{len(split) - done_rows} {label} images could not be decoded; run `python -m catdog data` to list them."
            )
        result.flush()
        del result
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return np.load(path, mmap_mode="r")


def frozen_forward(
    features,
    weights_key: str,
    config: RunConfig,
    announce: Callable[[str], None] = lambda message: None,
    calibration: Split | None = None,
):
    """(forward, engine): the frozen base as a function from float32 pixels to NumPy features.

    On a CPU-only machine LiteRT (XNNPACK), the faster engine there (see `catdog.lite`),
    converted once per set of weights and cached on disk under `weights_key`; `announce` is told
    before that conversion. When `feature_precision(config)` is "int8" the conversion is quantized,
    calibrated on `CALIBRATION_IMAGES` images of `calibration` (the training split, the one given
    to `frozen_weights_key`). Elsewhere (a GPU, `CATDOG_LITERT=0`) one traced TensorFlow graph in
    float32, much faster than calling the model eagerly batch by batch. `engine` names which one runs.
    """
    import tensorflow as tf  # here, so that importing this module stays cheap

    if lite.available():
        int8 = feature_precision(config) == "int8"
        if int8:
            _required(calibration)
        if not lite.cached_path(weights_key).is_file():
            announce(f"converting the frozen base to LiteRT{' int8' if int8 else ''} once (cached for later runs)")
        sample = (lambda: _calibration_images(calibration, config)) if int8 else None
        return lite.LiteModel(lite.cached_conversion(features, weights_key, sample)), "LiteRT int8" if int8 else "LiteRT"
    graph = tf.function(
        lambda batch: features(batch, training=False),
        input_signature=[tf.TensorSpec((None, *config.image_size, 3), tf.float32)],
        reduce_retracing=True,
    )
    return (lambda batch: graph(batch).numpy()), "TensorFlow"


def feature_precision(config: RunConfig) -> str:
    """The frozen base's precision for `config`: "int8" or "float32".

    "auto" is int8 where LiteRT runs the base on a CPU with int8 dot products (VNNI): 2.5 times
    faster there, and on the tutorial data within 0.3 points of float32's validation accuracy
    (README, "Speed"). Without VNNI, and on TensorFlow (a GPU), float32.
    """
    if not lite.available():
        return "float32"
    if config.feature_precision == "auto":
        return "int8" if has_int8_dot_products() else "float32"
    return config.feature_precision


def frozen_weights_key(features, config: RunConfig, calibration: Split | None = None) -> str:
    """A digest of the frozen model's weights, dtype policies, input size and, where it applies,
    int8 quantization and the image files it is calibrated on: the caches' key.

    `calibration` is the split `frozen_forward` calibrates on (the training split); int8 needs it.
    """
    digest = hashlib.sha256()
    policies = tuple(layer.dtype_policy.name for layer in features.layers)  # float32 vs bfloat16 features
    digest.update(repr((tuple(config.image_size), policies)).encode())
    if feature_precision(config) != "float32":  # float32 keys stay as they were
        digest.update(feature_precision(config).encode())
        # Another calibration sample is another int8 model: its own conversion and features.
        _digest_files(digest, _calibration_sample(_required(calibration)).paths)
    for weight in features.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:32]


def _required(calibration: Split | None) -> Split:
    if calibration is None:
        raise ValueError("int8 features need the training split to calibrate on")
    return calibration


def _calibration_sample(split: Split) -> Split:
    """`CALIBRATION_IMAGES` images of `split`, drawn with a fixed seed rather than the run's, so
    that runs on the same training images share one int8 conversion and its cached features."""
    chosen = np.sort(np.random.default_rng(0).permutation(len(split))[:CALIBRATION_IMAGES])
    return Split([split.paths[i] for i in chosen], [split.labels[i] for i in chosen])


def _calibration_images(split: Split, config: RunConfig) -> np.ndarray:
    """`_calibration_sample(split)` decoded as the features' images are."""
    sample = _calibration_sample(split)
    return np.concatenate(
        [batch.numpy() for batch, _ in make_tf_dataset(sample, config.image_size, config.batch_size, cache=False)]
    )


def flip_variants(flip: str) -> Flips:
    """(horizontal, vertical) mirror combinations that RandomFlip(flip) can produce."""
    horizontal = (False, True) if flip in ("horizontal", "horizontal_and_vertical") else (False,)
    vertical = (False, True) if flip in ("vertical", "horizontal_and_vertical") else (False,)
    return tuple((h, v) for v in vertical for h in horizontal)


def _feature_key(weights_key: str, split: Split, flips: Flips) -> str:
    digest = hashlib.sha256()
    digest.update(repr((weights_key, flips)).encode())
    _digest_files(digest, split.paths)
    return digest.hexdigest()[:32]


def _digest_files(digest, paths: Sequence[str]) -> None:
    """Add each file's path, size and modification time: an edited image changes the digest."""
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
