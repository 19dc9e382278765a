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
                "ratios": {"total_seconds_speedup": 31.2, "final_val_accuracy_points": 0.1, "seconds_per_epoch_speedup": 300.0},
            },
            {"model": "model1", "epochs": 2, "catdog": {"seconds_to_accuracy": {}}, "ratios": {"seconds_per_epoch_speedup": 2.1}},
            {"model": "model2", "epochs": 2, "catdog": {"seconds_to_accuracy": {}}, "ratios": {"seconds_per_epoch_speedup": 1.9}},
        ]
    }
    targets = check_targets(report)
    assert targets["model4_total_speedup"]["met"] and targets["model4_accuracy_drop_points"]["met"]
    assert targets["model4_seconds_to_97"]["met"]
    assert targets["model1_epoch_speedup"]["met"] and not targets["model2_epoch_speedup"]["met"]

    assert targets["model4_accuracy_drop_points"]["value"] == -0.1  # a drop: negative when catdog is better

    # Each variant of a model is judged on its own, under its name.
    int8, float32 = (
        {**report["models"][0], "catdog": {"seconds_to_accuracy": {}, "precision": "float32", "feature_engine": engine}}
        for engine in ("LiteRT int8", "LiteRT")
    )
    float32["ratios"] = {"total_seconds_speedup": 18.7, "final_val_accuracy_points": -0.12}
    targets = check_targets({"models": [int8, float32]})
    assert targets["model4_total_speedup (float32, LiteRT int8)"]["met"]
    assert targets["model4_accuracy_drop_points (float32, LiteRT int8)"]["met"]
    assert not targets["model4_total_speedup (float32, LiteRT)"]["met"]
    assert not targets["model4_accuracy_drop_points (float32, LiteRT)"]["met"]
