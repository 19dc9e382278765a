"""The speed paths the benchmark measures: bfloat16 training, the automatic precision, MirroredStrategy.

They test catdog.train and catdog.models rather than the benchmark, and can move next to those
modules' tests.
"""

from __future__ import annotations

import pytest
import tensorflow as tf

from catdog import models
from catdog.config import RunConfig
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.predict import Predictor
from catdog.runs import load_model
from catdog.train import train


def test_bfloat16_training_saves_a_float32_model_that_predicts_the_same(tiny_data, tmp_path):
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
    monkeypatch.setattr(models, "_cpu_has_bfloat16_units", lambda: True)
    expected = "float32" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    assert [models.training_precision(key) for key in ("model1", "model2", "model3")] == [expected] * 3
    assert models.training_precision("model4") == "float32"
    assert models.training_precision("model4", "mixed_bfloat16") == "mixed_bfloat16"
    monkeypatch.setattr(models, "_cpu_has_bfloat16_units", lambda: False)
    assert models.training_precision("model1") == "float32"


def test_mirrored_strategy_trains_and_is_recorded(tiny_data, tmp_path):
    config = RunConfig(model="model3", epochs=1, batch_size=8, image_size=(32, 32), data=str(tiny_data), strategy="mirrored")
    run = train(config, runs_root=tmp_path / "runs")
    assert run.status["strategy"] == "mirrored" and run.status["replicas"] >= 1 and run.has_model
    with pytest.raises(CatdogError, match="strategy"):
        RunConfig(strategy="tpu")
