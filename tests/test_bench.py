"""The benchmark's front door: run_bench times both sides comparably, format_report tabulates, the CLI."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli, write_class_folders

import catdog
from catdog.bench import format_report, run_bench
from catdog.cpu import has_bfloat16_arithmetic
from catdog.errors import CatdogError

SIDE_KEYS = {
    "epochs",
    "epoch_seconds",
    "seconds_per_epoch",
    "first_epoch_seconds",
    "steady_seconds_per_epoch",
    "total_seconds",
    "val_accuracy",
    "final_val_accuracy",
    "best_val_accuracy",
    "seconds_to_accuracy",
}


def test_bench_times_both_sides_and_tabulates_them(tiny_data):
    lines = []
    report = run_bench(
        tiny_data,
        models=("model1", "model4"),
        epochs=1,
        model_epochs={"model4": 2},
        image_size=(32, 32),
        batch_size=8,
        pretrained=False,
        memory=False,
        progress=lines.append,
    )
    rows = {row["model"]: row for row in report["models"]}
    assert list(rows) == ["model1", "model4"]
    for key, epochs in (("model1", 1), ("model4", 2)):
        for side in ("reference", "catdog"):
            assert SIDE_KEYS <= set(rows[key][side])
            assert rows[key][side]["epochs"] == epochs and len(rows[key][side]["val_accuracy"]) == epochs
            assert 0 < sum(rows[key][side]["epoch_seconds"]) <= rows[key][side]["total_seconds"]
        ratios = rows[key]["ratios"]
        assert ratios["total_seconds"] == pytest.approx(
            rows[key]["catdog"]["total_seconds"] / rows[key]["reference"]["total_seconds"], rel=1e-3
        )
        assert ratios["seconds_per_epoch_speedup"] > 0
    assert rows["model4"]["catdog"]["fast_path"] and rows["model4"]["catdog"]["second_run_total_seconds"] > 0
    # auto's choice is the one the machine's measurement made, and the report says what it measured.
    machine = report["machine"]
    assert rows["model1"]["catdog"]["precision"] == ("mixed_bfloat16" if machine["bfloat16_pays"] else "float32")
    assert (machine["bfloat16_speedup"] is None) is (not has_bfloat16_arithmetic() or bool(machine["gpus"]))
    # The tutorial's code runs with TensorFlow's own oneDNN setting (a fresh process), catdog with its own.
    for row in rows.values():
        assert row["reference"]["tf_enable_onednn_opts"] == catdog.ONEDNN_SETTING_FOUND
        assert row["catdog"]["tf_enable_onednn_opts"] == (catdog.ONEDNN_SETTING_FOUND or "1")
    assert set(rows["model4"]["catdog"]["seconds_to_accuracy"]) == {"0.9827", "0.9700"}
    assert {"one_500x375_jpeg", "one_12mp_jpeg", "batch_of_32_photos"} <= set(report["prediction"])
    assert report["prediction"]["one_500x375_jpeg"]["median_ms"] > 0
    assert "predict_12mp_ms" in report["targets"]
    assert any("reference model1 epoch 1/1" in line for line in lines)  # progress while it runs
    table = format_report(report)
    assert "catdog/ref" in table and "model4  reference" in table and "validation accuracy per epoch" in table
    assert ("bfloat16 measured" in table) is (machine["bfloat16_speedup"] is not None)
    json.dumps(report)  # JSON-ready


def test_bench_refuses_what_it_cannot_compare(tiny_data, tmp_path):
    with pytest.raises(CatdogError, match="no reference"):
        run_bench(tiny_data, models=("model5",), epochs=1)
    # Without the reference side any registered model can be timed (Model 5 next to Model 2).
    report = run_bench(
        tiny_data,
        models=("model5",),
        epochs=1,
        image_size=(32, 32),
        batch_size=8,
        reference=False,
        prediction=False,
        memory=False,
    )
    assert [row["model"] for row in report["models"]] == ["model5"] and report["models"][0]["catdog"]["total_seconds"] > 0
    single = write_class_folders(tmp_path / "single", 12)
    with pytest.raises(CatdogError, match="train/ and validation/"):
        run_bench(single, models=("model1",), epochs=1)


def test_bench_trains_model4_once_per_feature_precision_and_other_models_once(tiny_data, litert):
    report = run_bench(
        tiny_data,
        models=("model1", "model4"),
        epochs=1,
        image_size=(32, 32),
        batch_size=8,
        pretrained=False,
        reference=False,
        prediction=False,
        memory=False,
        feature_precisions=("float32", "int8"),
    )
    rows = [(row["model"], row["catdog"]["feature_engine"]) for row in report["models"]]
    assert rows == [("model1", None), ("model4", "LiteRT"), ("model4", "LiteRT int8")]
    assert report["settings"]["feature_precisions"] == ["float32", "int8"]
    assert "LiteRT int8 [0.9827]:" in format_report(report)  # its curve, labelled by engine


def test_bench_command_prints_json(tiny_data):
    finished = run_cli(
        "bench",
        "--data",
        tiny_data,
        "--models",
        "model3",
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--batch-size",
        "8",
        "--no-memory",
        "--precision",
        "float32",
        "mixed_bfloat16",
        "--json",
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    # One reference run, catdog once per precision asked for, each row compared with it.
    first, second = report["models"]
    assert first["model"] == second["model"] == "model3" and "ratios" in first and "ratios" in second
    assert (first["catdog"]["precision"], second["catdog"]["precision"]) == ("float32", "mixed_bfloat16")
    assert first["reference"] == second["reference"]
    table = format_report(report)
    assert table.count("model3  reference") == 1 and table.count("model3  catdog/ref") == 2
    assert "mixed_bfloat16" in table and " ".join(report["machine"]["cpu_flags"]) in table.splitlines()[0]
    assert "[bench]" in finished.stderr
    mistaken = run_cli("bench", "--data", tiny_data, "--epochs", "0")
    assert mistaken.returncode == 2 and "epochs" in mistaken.stderr
