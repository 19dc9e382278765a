"""Benchmark: the reference is the tutorial's pipeline, and bench reports both sides comparably."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli, write_class_folders

from catdog.bench import check_targets, format_report, measure_memory, reference, run_bench
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


@pytest.mark.parametrize("key", ["model1", "model2", "model3", "model4"])
def test_reference_models_have_the_tutorials_parameter_counts(key):
    model = reference.build_model(key, weights=None)
    if not model.built:  # Model 4 starts with the preprocessor model, as in the tutorial
        model.build((None, 160, 160, 3))
    assert model.count_params() == reference.PARAMS[key]


def test_reference_data_is_the_tutorials_split(tiny_data):
    train_dataset, validation_dataset, test_dataset = reference.load_datasets(tiny_data, image_size=(32, 32), batch_size=8)
    assert train_dataset.class_names == ["cats", "dogs"]
    assert sum(int(images.shape[0]) for images, _ in train_dataset) == 80
    # 48 validation images = 6 batches of 8: the test set takes 6 // 5 = 1 batch of them.
    assert sum(int(images.shape[0]) for images, _ in test_dataset) == 8
    assert sum(int(images.shape[0]) for images, _ in validation_dataset) == 40


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
    assert rows["model1"]["catdog"]["precision"] in ("float32", "mixed_bfloat16")
    # The tutorial's code runs with TensorFlow's own oneDNN setting (a fresh process), catdog with its own.
    import catdog

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


@pytest.mark.slow
def test_memory_is_measured_in_a_fresh_process(tiny_data):
    memory = measure_memory(str(tiny_data), epochs=1, image_size=(32, 32), batch_size=8, pretrained=False, fast=True, trainings=2)
    assert len(memory["rss_mb_after_each"]) == 2
    assert 0.1 < memory["peak_rss_gb"] < 8


def test_a_child_peak_memory_is_its_own_not_its_parents():
    # A big parent (the benchmark after the reference runs) must not inflate the child's peak.
    import subprocess
    import sys

    ballast = bytearray(600 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: resident, not just reserved
    code = "from catdog.bench import _peak_rss_mb; print(_peak_rss_mb())"
    peak = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    del ballast
    assert 10 < peak < 400


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
        "--json",
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["models"][0]["model"] == "model3" and "ratios" in report["models"][0]
    assert "[bench]" in finished.stderr
    mistaken = run_cli("bench", "--data", tiny_data, "--epochs", "0")
    assert mistaken.returncode == 2 and "epochs" in mistaken.stderr


# ----------------------------------------------------------------------------- the speed paths bench measures


def test_bfloat16_training_saves_a_float32_model_that_predicts_the_same(tiny_data, tmp_path):
    from catdog.config import RunConfig
    from catdog.data import load_dataset
    from catdog.predict import Predictor
    from catdog.runs import load_model
    from catdog.train import train

    config = RunConfig(
        model="model3", epochs=3, batch_size=8, image_size=(32, 32), seed=1, data=str(tiny_data), precision="mixed_bfloat16"
    )
    run = train(config, runs_root=tmp_path / "runs")
    assert run.status["precision"] == "mixed_bfloat16"
    assert {layer.dtype_policy.name for layer in load_model(run).layers} == {"float32"}
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    labels = [p.label for p in Predictor(run).predict(list(dataset.validation.paths))]
    accuracy = sum(label == dataset.class_names[y] for label, y in zip(labels, dataset.validation.labels, strict=True)) / len(
        labels
    )
    assert accuracy == pytest.approx(run.final("val_accuracy"), abs=0.05)


def test_auto_precision_is_bfloat16_only_for_the_measured_models_on_amx(monkeypatch):
    from catdog import models

    monkeypatch.setattr(models, "_cpu_has_bfloat16_units", lambda: True)
    import tensorflow as tf

    expected = "float32" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    assert [models.training_precision(key) for key in ("model1", "model2", "model3")] == [expected] * 3
    assert models.training_precision("model4") == "float32"
    assert models.training_precision("model4", "mixed_bfloat16") == "mixed_bfloat16"
    monkeypatch.setattr(models, "_cpu_has_bfloat16_units", lambda: False)
    assert models.training_precision("model1") == "float32"


def test_mirrored_strategy_trains_and_is_recorded(tiny_data, tmp_path):
    from catdog.config import RunConfig
    from catdog.train import train

    config = RunConfig(model="model3", epochs=1, batch_size=8, image_size=(32, 32), data=str(tiny_data), strategy="mirrored")
    run = train(config, runs_root=tmp_path / "runs")
    assert run.status["strategy"] == "mirrored" and run.status["replicas"] >= 1 and run.has_model
    with pytest.raises(CatdogError, match="strategy"):
        RunConfig(strategy="tpu")
