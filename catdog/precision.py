"""Whether bfloat16 pays on this CPU: measured once a machine, not read from its flags.

bfloat16 instructions are not enough. oneDNN runs the same `avx512_core_bf16` kernels on AMD Zen 4,
where a training step is much faster in bfloat16, and on an Intel Xeon whose hypervisor hides AMX,
where it is slower than float32 (README, "Speed"). So `--precision auto` times a convolution's
forward pass and both its gradients, the work most of a step is made of, in each precision, and
trains in bfloat16 only where that is at least `MIN_SPEEDUP` faster. The ratio is kept in the cache
directory under the CPU's name, flags, core count and TensorFlow version.
"""

from __future__ import annotations

import functools
import json
import statistics
import time

import numpy as np
import tensorflow as tf

from catdog.cpu import cpu_signature, has_bfloat16_arithmetic
from catdog.paths import cache_dir, write_json_atomic

# Model 1's second convolution (32 to 64 channels on 79x79 images) at batch 16: quick to time in
# both precisions, and the same ratio as at the training batch of 32.
PROBE_INPUT, PROBE_KERNEL = (16, 79, 79, 32), (3, 3, 32, 64)
WARM_UP, REPEATS = 2, 5
# A step also runs work bfloat16 does not shorten (augmentation, element-wise layers, casts, Adam's
# float32 update), so it gains less than its convolutions: a smaller gain would barely show in an epoch.
MIN_SPEEDUP = 1.25
CACHE_NAME = "bfloat16-speedup.json"


def bfloat16_pays() -> bool:
    """True where mixed bfloat16 trains measurably faster than float32 here: `bfloat16_speedup()`
    measured and at `MIN_SPEEDUP` or more."""
    speedup = bfloat16_speedup()
    return speedup is not None and speedup >= MIN_SPEEDUP


def bfloat16_speedup() -> float | None:
    """float32's time over bfloat16's for the probe convolution on this machine's CPU (above 1:
    bfloat16 is faster); measured on the first call for a machine, then read from the cache.

    None where nothing is measured: a CPU without bfloat16 arithmetic, or a visible GPU, where the
    probe would time the GPU and keep its ratio under the CPU's name.
    """
    if not has_bfloat16_arithmetic() or tf.config.list_physical_devices("GPU"):
        return None
    return _cached_speedup(machine_key())


def machine_key() -> str:
    """What the ratio depends on: the CPU (`cpu_signature`) and TensorFlow's version (its oneDNN)."""
    return f"{cpu_signature()}; TensorFlow {tf.__version__}"


@functools.cache  # once a process, so many runs in one process (tests, bench) measure once
def _cached_speedup(key: str) -> float:
    path = cache_dir() / CACHE_NAME
    known = _read(path)
    if key not in known:
        known = {**known, key: round(measure_speedup(), 3)}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, known)
    return known[key]


def measure_speedup(input_shape=PROBE_INPUT, kernel_shape=PROBE_KERNEL) -> float:
    """Median time of the probe in float32 over its median in bfloat16, the two alternated so that
    a busy moment on a shared machine falls on both."""
    rng = np.random.default_rng(0)
    operands = {
        dtype: [tf.cast(rng.standard_normal(shape, np.float32), dtype) for shape in (input_shape, kernel_shape)]
        for dtype in ("float32", "bfloat16")
    }
    times = {dtype: [] for dtype in operands}
    for repeat in range(WARM_UP + REPEATS):
        for dtype, (x, kernel) in operands.items():
            tick = time.perf_counter()
            for value in _convolution_gradients(x, kernel):
                value.numpy()  # waits for the work
            if repeat >= WARM_UP:
                times[dtype].append(time.perf_counter() - tick)
    return statistics.median(times["float32"]) / statistics.median(times["bfloat16"])


@tf.function
def _convolution_gradients(x, kernel):
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        total = tf.reduce_sum(tf.nn.conv2d(x, kernel, 1, "VALID"))
    return tape.gradient(total, [x, kernel])


def _read(path) -> dict:
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: measure again
    if not isinstance(known, dict):
        return {}
    return {key: value for key, value in known.items() if isinstance(value, int | float)}
