"""The benchmark's targets are judged from the report alone."""

from __future__ import annotations

from catdog.bench.report import check_targets


def test_targets_are_judged_from_the_report():
    report = {
        "models": [
            {
                "model": "model4",
                "epochs": 20,
                "catdog": {"seconds_to_accuracy": {"0.9700": 31.0}},
                "ratios": {"total_seconds_speedup": 11.2, "final_val_accuracy_points": -0.2, "seconds_per_epoch_speedup": 30.0},
            },
            {"model": "model2", "epochs": 2, "catdog": {"seconds_to_accuracy": {}}, "ratios": {"seconds_per_epoch_speedup": 1.1}},
        ]
    }
    targets = check_targets(report)
    assert targets["model4_total_speedup"]["met"] and targets["model4_accuracy_drop_points"]["met"]
    assert targets["model4_seconds_to_97"]["met"]
    assert not targets["model2_epoch_speedup"]["met"]
