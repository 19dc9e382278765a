"""Evaluation figures: the fixed test split, confusion cells, ROC and threshold."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from catdog.data import load_dataset
from catdog.evaluate import Evaluation, evaluate


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
