"""The learning curve: stratified subsets, one row per fraction with an interval around its mean,
Model 4's head-only fast path and a real training for the others, and the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli, tiny_config

from catdog.data import Split, load_dataset
from catdog.errors import CatdogError
from catdog.learning_curve import FRACTIONS, learning_curve, mean_interval, stratified_subset


def _check_rows(rows, fractions, train_images):
    assert [row["fraction"] for row in rows] == list(fractions)
    assert [row["train_images"] for row in rows] == sorted(row["train_images"] for row in rows)
    assert rows[-1]["train_images"] == train_images
    for row in rows:
        assert 0 <= row["low"] <= row["val_accuracy"] <= row["high"] <= 1
        assert row["val_accuracy"] == pytest.approx(np.mean(row["runs"])) and row["seconds"] > 0


def test_model4_curve_trains_only_the_head_on_cached_features(tiny_data, isolated_dirs, training_traces):
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    config = tiny_config(model="model4", epochs=3, data=str(tiny_data))
    seen = []
    rows = learning_curve(config, seeds=2, dataset=dataset, progress=lambda *event: seen.append(event))
    _check_rows(rows, FRACTIONS, len(dataset.train))
    assert [row["train_images"] for row in rows] == [4, 8, 20, 40, 80]  # the same share of each class
    assert [event[0] for event in seen if event[1] == 10] == list(range(1, 11))  # a report per training
    assert seen[-1][2] == 0  # nothing left
    assert len(training_traces) == 10  # each head's step traced once (`models.build_training_state`)
    assert list((isolated_dirs / "cache" / "features").glob("*.npy"))  # the cache training reads too


@pytest.mark.slow
def test_other_models_train_for_real_on_each_subset(tiny_data):
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    rows = learning_curve(tiny_config(epochs=2, data=str(tiny_data)), seeds=2, fractions=(0.25, 1.0), dataset=dataset)
    _check_rows(rows, (0.25, 1.0), len(dataset.train))
    assert rows[-1]["val_accuracy"] >= 0.75  # red against blue is learnt from all 80 images


def test_stratified_subsets_keep_each_class_share():
    split = Split(tuple(f"{i}.jpg" for i in range(100)), tuple([0] * 80 + [1] * 20))
    subset = stratified_subset(split, 0.25, seed=0)
    assert len(subset) == 25 and subset.labels.count(1) == 5
    assert subset == stratified_subset(split, 0.25, seed=0) != stratified_subset(split, 0.25, seed=1)
    assert len(stratified_subset(split, 0.01, seed=0)) == 2  # at least one image of each class


def test_intervals_by_hand():
    low, high = mean_interval([0.8, 0.9, 1.0], validation_images=100)
    spread = 4.302653 * 0.1 / np.sqrt(3)  # t(0.975, 2 degrees of freedom) x standard error
    assert (low, high) == pytest.approx((0.9 - spread, 1.0))  # clipped at 1
    low, high = mean_interval([0.5], validation_images=100)  # one seed: Wilson over the images
    assert low == pytest.approx(0.404, abs=0.002) and high == pytest.approx(0.596, abs=0.002)
    with pytest.raises(CatdogError, match="seeds"):
        learning_curve(tiny_config(), seeds=0)


def test_command_prints_rows_as_json(tiny_data, tmp_path):
    output = tmp_path / "curve.json"
    result = run_cli(
        "learning-curve", "--data", tiny_data, "--image-size", "32", "--random-weights", "--epochs", "2", "--seeds", "2",
        "--fractions", "0.5", "1", "--output", output, "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [set(row) >= {"fraction", "train_images", "val_accuracy", "low", "high", "seconds"} for row in rows] == [True, True]
    assert json.loads(output.read_text()) == rows
    wrong = run_cli("learning-curve", "--model", "model9")
    assert wrong.returncode == 2 and "unknown model" in wrong.stderr
