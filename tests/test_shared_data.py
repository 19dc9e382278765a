"""Real data and real ImageNet weights from ../shared (skipped without it)."""

from __future__ import annotations

import pytest

from catdog.config import RunConfig
from catdog.data import load_dataset
from catdog.evaluate import evaluate
from catdog.train import train

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def test_tutorial_data_counts(shared_data):
    dataset = load_dataset(shared_data)
    assert dataset.counts()["train"] == {"cats": 1000, "dogs": 1000}
    assert len(dataset.validation) + len(dataset.test) == 1000 and len(dataset.test) == 192
    assert dataset.baseline_accuracy() == 0.5


def test_model4_reaches_the_tutorial_accuracy(shared_data, shared_keras_home, tmp_path):
    run = train(RunConfig(model="model4", epochs=3, data=str(shared_data)), runs_root=tmp_path / "runs")
    assert run.final("val_accuracy") >= 0.95
    assert evaluate(run).accuracy >= 0.93
