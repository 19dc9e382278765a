"""bench-epoch: each part of an epoch timed on its own, for the models trained on images."""

from __future__ import annotations

import pytest

from catdog.bench.epoch import format_kernels, format_row, kernel_rates, run_epoch_bench
from catdog.errors import CatdogError


def test_each_part_of_an_epoch_is_timed_and_adds_up(tiny_data):
    lines = []
    report = run_epoch_bench("model3", tiny_data, ("float32",), image_size=(32, 32), batch_size=8, say=lines.append)
    [row] = report["rows"]
    assert row["precision"] == "float32" and row["steps"] == 10  # 80 training images, 8 a batch
    assert 0 < row["forward_ms"] < row["forward_backward_ms"]
    assert row["step_ms"] == pytest.approx(row["forward_backward_ms"] + row["update_ms"])
    assert row["validation_seconds"] > 0 and row["checkpoint_seconds"] > 0
    total = row["steps"] * row["step_ms"] / 1000 + row["validation_seconds"] + row["checkpoint_seconds"]
    assert row["epoch_estimate_seconds"] == pytest.approx(total)
    assert lines[-1] == format_row("model3", row) and "update" in lines[-1]


def test_models_trained_on_features_are_sent_to_bench(tiny_data):
    with pytest.raises(CatdogError, match="bench-epoch times the models trained on images"):
        run_epoch_bench("model4", tiny_data)


def test_kernel_rates_in_both_precisions():
    kernels = {
        dtype: kernel_rates(dtype, matmul_side=64, conv_shapes=((2, 9, 9, 4), (3, 3, 4, 8))) for dtype in ("float32", "bfloat16")
    }
    assert all(rate > 0 for rates in kernels.values() for rate in rates.values())
    line = format_kernels(kernels)
    ratio = kernels["bfloat16"]["matmul_gmac_per_s"] / kernels["float32"]["matmul_gmac_per_s"]
    assert f"matrix product {kernels['float32']['matmul_gmac_per_s']:.0f} -> " in line and f"({ratio:.2f}x)" in line


def test_a_steps_operations_come_from_the_profiler_slowest_first(tiny_data):
    lines = []
    report = run_epoch_bench("model1", tiny_data, ("float32",), image_size=(32, 32), batch_size=8, ops=3, say=lines.append)
    ops = report["rows"][0]["ops"]
    names = [name for name, _ in ops]
    assert ops[0][1] > 0 and [ms for _, ms in ops] == sorted((ms for _, ms in ops), reverse=True)
    # The step's convolutions, their gradients and Adam's updates, each "layer path:kernel type".
    assert any("Conv2DBackpropFilter" in name for name in names) and any("Adam" in name for name in names)
    printed = lines[-1].splitlines()
    assert len(printed) == 5 and printed[-1].endswith("in all (profiled)") and f"{len(ops) - 3} other operations" in printed[-2]
    assert not any("ExecutorState" in name for name in names)  # the executor's bookkeeping is not an operation
