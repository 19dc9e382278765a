"""How a side is timed and compared: epochs end to end, thresholds reached, catdog over reference."""

from __future__ import annotations

import pytest

from catdog.bench.timing import ratios, side_summary


def test_a_sides_epochs_run_from_the_end_of_the_one_before():
    ends = [(10.0, {"val_accuracy": 0.6}), (14.0, {"val_accuracy": 0.98}), (19.0, {"val_accuracy": 0.97})]
    summary = side_summary(ends, 20.0, 0.9827, first_epoch_seconds=3.0)
    assert summary["epoch_seconds"] == [3.0, 4.0, 5.0]  # the first is Keras' own: set-up is not an epoch
    assert summary["steady_seconds_per_epoch"] == pytest.approx(4.5) and summary["total_seconds"] == 20.0
    assert summary["seconds_to_accuracy"] == {"0.9827": None, "0.9700": 14.0}
    assert summary["final_val_accuracy"] == 0.97 and summary["best_val_accuracy"] == 0.98


def test_ratios_are_catdog_over_reference_and_speedups_the_inverse():
    reference_side = {
        "seconds_per_epoch": 10.0,
        "steady_seconds_per_epoch": 8.0,
        "total_seconds": 200.0,
        "final_val_accuracy": 0.95,
    }
    catdog_side = {
        "seconds_per_epoch": 5.0,
        "steady_seconds_per_epoch": 4.0,
        "total_seconds": 20.0,
        "final_val_accuracy": 0.96,
    }
    result = ratios(reference_side, catdog_side)
    assert result["total_seconds"] == 0.1 and result["total_seconds_speedup"] == 10.0
    assert result["seconds_per_epoch_speedup"] == 2.0 and result["final_val_accuracy_points"] == 1.0
