"""--precision auto: bfloat16 only where it was measured faster on this machine."""

from __future__ import annotations

import json
import math

import pytest
import tensorflow as tf

from catdog import cpu, models, precision

ON_GPU = bool(tf.config.list_physical_devices("GPU"))


@pytest.fixture
def measured(monkeypatch):
    """A CPU with AVX512_BF16 whose probe returns `ratio["value"]`; counts the measurements."""
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    ratio = {"value": 1.0, "calls": 0}

    def measure():
        ratio["calls"] += 1
        return ratio["value"]

    monkeypatch.setattr(precision, "measure_speedup", measure)
    precision._cached_speedup.cache_clear()
    yield ratio
    precision._cached_speedup.cache_clear()  # later tests measure this machine for real


@pytest.mark.skipif(ON_GPU, reason="on a GPU auto stays float32 without measuring")
@pytest.mark.parametrize(("speedup", "expected"), [(0.6, "float32"), (1.1, "float32"), (1.9, "mixed_bfloat16")])
def test_auto_trains_in_bfloat16_only_where_the_probe_was_fast_enough(measured, speedup, expected):
    measured["value"] = speedup
    assert [models.training_precision(key) for key in ("model1", "model2", "model3", "model5")] == [expected] * 4
    assert models.training_precision("model4") == "float32"  # not registered for it: its head is tiny
    assert models.training_precision("model1", "mixed_bfloat16") == "mixed_bfloat16"  # asked for, not measured
    assert measured["calls"] == 1


def test_a_cpu_without_bfloat16_arithmetic_is_not_measured(measured, monkeypatch):
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_vnni"}))
    measured["value"] = 3.0
    assert models.training_precision("model1") == "float32"
    assert precision.bfloat16_speedup() is None
    assert measured["calls"] == 0


def test_with_a_gpu_visible_the_cpu_probe_is_not_run(measured, monkeypatch, isolated_dirs):
    # It would time the GPU's kernels and keep that ratio under the CPU's name, for a later run
    # on the same machine with the GPU hidden.
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["/physical_device:GPU:0"])
    measured["value"] = 3.0
    assert precision.bfloat16_speedup() is None
    assert models.training_precision("model1") == "float32"
    assert measured["calls"] == 0
    assert not (isolated_dirs / "cache" / precision.CACHE_NAME).exists()


def test_the_ratio_is_measured_once_a_machine_and_kept_on_disk(measured, monkeypatch, isolated_dirs):
    measured["value"] = 0.61
    assert precision.bfloat16_speedup() == 0.61
    saved = json.loads((isolated_dirs / "cache" / precision.CACHE_NAME).read_text())
    assert saved == {precision.machine_key(): 0.61}

    precision._cached_speedup.cache_clear()  # a new process: reads the file
    measured["value"] = 1.9
    assert precision.bfloat16_speedup() == 0.61 and measured["calls"] == 1

    # Another CPU (as after a virtual machine moved) is measured again, beside the first.
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}))
    assert precision.bfloat16_speedup() == 1.9 and measured["calls"] == 2
    assert len(json.loads((isolated_dirs / "cache" / precision.CACHE_NAME).read_text())) == 2

    # A damaged file, or a damaged entry, is measured again, not an error.
    (isolated_dirs / "cache" / precision.CACHE_NAME).write_text("{not json")
    precision._cached_speedup.cache_clear()
    assert precision.bfloat16_speedup() == 1.9 and measured["calls"] == 3
    (isolated_dirs / "cache" / precision.CACHE_NAME).write_text(json.dumps({precision.machine_key(): "fast"}))
    precision._cached_speedup.cache_clear()
    assert precision.bfloat16_speedup() == 1.9 and measured["calls"] == 4


def test_the_probe_times_real_kernels_in_both_precisions():
    speedup = precision.measure_speedup(input_shape=(2, 12, 12, 4), kernel_shape=(3, 3, 4, 8))
    assert math.isfinite(speedup) and speedup > 0
