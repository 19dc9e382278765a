"""Where one training epoch goes, for a model trained on images (Models 1, 2, 3, 5).

    python -m catdog bench-epoch --model model1 --data DIR [--precision float32 mixed_bfloat16] [--json]

Each part is timed on its own, as catdog's training runs it (same model, precision, batch and
tf.data pipeline): reading and decoding the training images (the first pass, then from the cache
of decoded images), one training step (forward, backward and update), the forward pass alone,
forward and backward without the update, the validation pass, and saving the model as a run's
epoch checkpoint does (`callbacks.ModelSaver`). Steps are the
median of several after warm-up, so a figure is the work itself, not tracing or the first call's
set-up. An epoch's estimate is steps x step + validation + checkpoint; the first epoch adds the
decode pass.

`--ops N` adds a step's N slowest TensorFlow operations, from its profiler (`catdog.bench.ops`).

With both precisions it also times the kernels alone, a matrix product and a convolution of
Model 1's size, in float32 and bfloat16: their ratio is the most bfloat16 can shorten an epoch
on this CPU (`kernel_rates`).
"""

from __future__ import annotations

import functools
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from catdog.bench.ops import format_ops, step_ops
from catdog.callbacks import ModelSaver
from catdog.config import RunConfig
from catdog.cpu import relevant_flags
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.models import create_model, get_spec, training_precision
from catdog.pipeline import forward_batch_size, length_unknown_to_keras, make_tf_dataset

WARM_UP, REPEATS = 3, 8  # steps before timing, steps timed (median)
MATMUL_SIDE = 2048  # a square matrix product, about the size of Model 1's dense layer's
CONV_SHAPES = ((32, 79, 79, 32), (3, 3, 32, 64))  # Model 1's second convolution: batch 32, its input, its kernel


def run_epoch_bench(
    model: str,
    data: str | Path | None,
    precisions: tuple[str, ...] = ("float32", "mixed_bfloat16"),
    image_size: tuple[int, int] = (160, 160),
    batch_size: int = 32,
    ops: int = 0,
    say: Callable[[str], None] = print,
) -> dict:
    """{"machine", "model", "rows": one per precision} with each part's seconds (see the module doc).

    `ops` above 0 also lists that many of a step's slowest operations per precision (`catdog.bench.ops`);
    each row then holds all of them under "ops", as (operation, milliseconds a step).
    """
    spec = get_spec(model)
    if spec.frozen_base:
        raise CatdogError(f"{model} trains on cached features (see `bench`); bench-epoch times the models trained on images.")
    dataset = load_dataset(data, batch_size=batch_size, seed=RunConfig().seed)
    steps = math.ceil(len(dataset.train) / batch_size)
    train_ds = make_tf_dataset(dataset.train, image_size, batch_size, shuffle=True, seed=0)
    validation_ds = make_tf_dataset(dataset.validation, image_size, forward_batch_size(batch_size, image_size))
    decode = _seconds(lambda: _drain(train_ds))  # the first pass decodes and fills the cache
    cached = _seconds(lambda: _drain(train_ds))
    say(f"[bench-epoch] {len(dataset.train)} training images, {steps} steps: decode {decode:.1f}s, from cache {cached:.2f}s")
    images, labels = next(iter(train_ds))
    rows = []
    for requested in precisions:
        precision = training_precision(model, requested)
        keras.utils.set_random_seed(0)
        rate = RunConfig(model=model).learning_rate
        network = create_model(model, image_size, len(dataset.class_names), rate, precision=precision)
        row = {"precision": precision, "steps": steps, "decode_first_pass_seconds": decode, "cached_pass_seconds": cached}
        row.update(_time_parts(network, images, labels, validation_ds))
        row["epoch_estimate_seconds"] = steps * row["step_ms"] / 1000 + row["validation_seconds"] + row["checkpoint_seconds"]
        say(format_row(model, row))
        if ops:
            row["ops"] = step_ops(functools.partial(network.train_on_batch, images, labels))
            say(format_ops(row["ops"], ops))
        rows.append(row)
        keras.backend.clear_session()
    report = {"machine": {"cpu_flags": relevant_flags()}, "model": model, "rows": rows}
    if {"float32", "mixed_bfloat16"} <= {row["precision"] for row in rows}:
        report["kernels"] = {name: kernel_rates(name) for name in ("float32", "bfloat16")}
        say(format_kernels(report["kernels"]))
    return report


def kernel_rates(dtype: str, matmul_side: int = MATMUL_SIDE, conv_shapes=CONV_SHAPES) -> dict:
    """Multiply-adds a second (GMAC/s) of a matrix product and a convolution in `dtype`, alone."""
    rng = np.random.default_rng(0)

    def tensor(shape):
        return tf.cast(rng.standard_normal(shape, np.float32), dtype)

    matmul = tf.function(lambda a, b: tf.matmul(a, b))
    conv = tf.function(lambda x, kernel: tf.nn.conv2d(x, kernel, 1, "VALID"))
    a, b = tensor((matmul_side, matmul_side)), tensor((matmul_side, matmul_side))
    (batch, height, width, channels), (rows, columns, _, filters) = conv_shapes
    x, kernel = tensor(conv_shapes[0]), tensor(conv_shapes[1])
    conv_macs = batch * (height - rows + 1) * (width - columns + 1) * rows * columns * channels * filters
    return {
        "matmul_gmac_per_s": matmul_side**3 / _median_ms(lambda: matmul(a, b)) / 1e6,
        "conv_gmac_per_s": conv_macs / _median_ms(lambda: conv(x, kernel)) / 1e6,
    }


def format_kernels(kernels: dict) -> str:
    """One line: each kernel's rate in both precisions, and their ratio."""
    parts = []
    for key, name in (("matmul_gmac_per_s", "matrix product"), ("conv_gmac_per_s", "convolution")):
        f32, bf16 = kernels["float32"][key], kernels["bfloat16"][key]
        parts.append(f"{name} {f32:.0f} -> {bf16:.0f} GMAC/s ({bf16 / f32:.2f}x)")
    return "[bench-epoch] the kernels alone, float32 -> bfloat16: " + ", ".join(parts)


def _time_parts(network, images, labels, validation_ds) -> dict:
    """One step's parts (milliseconds), a validation pass and a save (seconds)."""
    parts = {"step_ms": _median_ms(lambda: network.train_on_batch(images, labels))}
    parts["forward_ms"] = _median_ms(lambda: network.predict_on_batch(images))
    gradients = _gradients(network)
    parts["forward_backward_ms"] = _median_ms(lambda: gradients(images, labels))
    parts["update_ms"] = parts["step_ms"] - parts["forward_backward_ms"]
    with length_unknown_to_keras():
        network.evaluate(validation_ds, verbose=0)  # the first pass traces and decodes, as an epoch's first does
        parts["validation_seconds"] = _seconds(lambda: network.evaluate(validation_ds, verbose=0))
    with tempfile.TemporaryDirectory(prefix="catdog-bench-epoch-") as scratch:
        saver = ModelSaver(Path(scratch))
        saver.save(network)  # the first save also makes the float32 twin that later saves reuse
        parts["checkpoint_seconds"] = _seconds(lambda: saver.save(network))
    return parts


def format_row(model: str, row: dict) -> str:
    """One line: each part of an epoch in the units people compare."""
    return (
        f"{model} {row['precision']:<14} step {row['step_ms']:.0f} ms (forward {row['forward_ms']:.0f}, "
        f"backward {row['forward_backward_ms'] - row['forward_ms']:.0f}, update {row['update_ms']:.0f}) x {row['steps']} "
        f"+ validation {row['validation_seconds']:.1f}s + checkpoint {row['checkpoint_seconds']:.1f}s "
        f"= {row['epoch_estimate_seconds']:.1f}s an epoch (first epoch + decode {row['decode_first_pass_seconds']:.1f}s)"
    )


def _gradients(network):
    """Forward and backward without the optimizer's update, compiled as `fit` compiles a step."""

    @tf.function
    def gradients(images, labels):
        with tf.GradientTape() as tape:
            outputs = network(images, training=True)
            value = network.compute_loss(x=images, y=labels, y_pred=outputs)
        return tape.gradient(value, network.trainable_variables)

    return gradients


def _median_ms(step: Callable[[], object]) -> float:
    for _ in range(WARM_UP):
        _finish(step())
    times = []
    for _ in range(REPEATS):
        tick = time.perf_counter()
        _finish(step())
        times.append(time.perf_counter() - tick)
    return statistics.median(times) * 1000


def _finish(result) -> None:
    # Values come back lazily from TensorFlow: reading them waits for the work.
    for value in tf.nest.flatten(result):
        np.asarray(value)


def _seconds(work: Callable[[], object]) -> float:
    tick = time.perf_counter()
    work()
    return time.perf_counter() - tick


def _drain(dataset) -> None:
    for _ in dataset:
        pass
