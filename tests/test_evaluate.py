"""Evaluation figures: the fixed test split, confusion cells, ROC and threshold."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from helpers import run_cli

from catdog import runs
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.evaluate import Evaluation, disagreements, evaluate


def test_evaluation_on_the_fixed_test_split(tiny_run):
    run, data = tiny_run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate(run)
    assert not [w for w in caught if "ran out of data" in str(w.message)]  # Keras' end-of-data noise, silenced
    dataset = load_dataset(data, batch_size=8, seed=2)
    assert result.paths == dataset.test.paths
    matrix = result.confusion_matrix()
    assert matrix.sum() == len(dataset.test) and np.trace(matrix) / matrix.sum() == pytest.approx(result.accuracy)
    low, high = result.accuracy_interval()
    assert low <= result.accuracy <= high


def test_confusion_cells_list_exactly_their_files():
    evaluation = Evaluation(
        class_names=("cats", "dogs"),
        paths=("a", "b", "c", "d"),
        labels=np.array([0, 0, 1, 1]),
        probabilities=np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.45, 0.55]]),
    )
    assert [path for path, _ in evaluation.cell(0, 1)] == ["b"]
    assert [path for path, _ in evaluation.cell(1, 1)] == ["d", "c"]  # least confident first
    assert evaluation.confusion_matrix().tolist() == [[1, 1], [0, 2]]
    assert evaluation.per_class()["cats"] == {"precision": 1.0, "recall": 0.5, "support": 2}
    low, high = evaluation.accuracy_interval()
    assert 0.3 < low < 0.75 < high <= 1.0


def test_roc_auc_and_threshold():
    evaluation = Evaluation(
        class_names=("cats", "dogs"),
        paths=tuple("abcd"),
        labels=np.array([0, 0, 1, 1]),
        probabilities=np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.45, 0.55]]),
    )
    assert evaluation.auc() == pytest.approx(0.75)  # one of four (cat, dog) pairs is ranked wrongly
    fpr, tpr, _ = evaluation.roc_curve()
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert evaluation.with_threshold(0.65).confusion_matrix().tolist() == [[2, 0], [1, 1]]
    assert evaluation.with_threshold(0.65).accuracy == 0.75


def test_disagreements_list_the_images_two_runs_classify_differently():
    def judged(paths, probabilities, labels=(0, 1, 0, 1)):
        return Evaluation(("cats", "dogs"), tuple(paths), np.array(labels[: len(paths)]), np.array(probabilities))

    first = judged("abcd", [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    second = judged("abcd", [[0.8, 0.2], [0.9, 0.1], [0.45, 0.55], [0.4, 0.6]])
    found = disagreements(first, second)
    assert [item.path for item in found] == ["b", "d", "c"]  # surest clash first: min confidence 0.8, 0.6, 0.55
    assert found[0].label == 1 and found[0].first.tolist() == [0.2, 0.8] and found[0].second.tolist() == [0.9, 0.1]
    assert disagreements(first, first) == []
    # Only the images both were tested on count; none in common is an error that says what to do.
    assert [item.path for item in disagreements(first, judged("dxy", [[0.4, 0.6], [0.5, 0.5], [0.5, 0.5]], (1, 0, 0)))] == ["d"]
    with pytest.raises(CatdogError, match="same seed and batch size"):
        disagreements(first, judged("xy", [[0.5, 0.5], [0.5, 0.5]]))


def test_diff_command_lists_the_images_two_runs_disagree_on(tiny_run, tmp_path):
    import keras

    run, _ = tiny_run
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    model.layers[-1].set_weights([np.zeros((3, 2)), np.array([0.0, 3.0])])  # "dogs", whatever the image
    dogs = runs.create_run(run.config, run.class_names, tmp_path / "runs")
    runs.save_model(dogs, model)
    result = run_cli("diff", run.path, dogs, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    expected = [item.path for item in disagreements(evaluate(run), evaluate(runs.load_run(dogs)))]
    assert [row["path"] for row in rows] == expected
    assert all(row["first"]["label"] == "cats" and row["second"]["label"] == "dogs" for row in rows)
