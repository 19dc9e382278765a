"""Calibration: reliability bins and ECE, temperature scaling of an over-confident model, and a run
that keeps its temperature predicting calibrated probabilities."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers import png_bytes

from catdog import calibration, runs
from catdog.calibration import apply_temperature, expected_calibration_error, fit_temperature, reliability
from catdog.errors import CatdogError
from catdog.evaluate import Evaluation, calibration_summary
from catdog.predict import Predictor


def _overconfident(images: int, seed: int, sharpness: float = 4.0):
    """(probabilities, labels) of a model whose logits are `sharpness` times the true ones: right as
    often as a calibrated model, but far surer of itself."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0, 1.5, images)
    labels = (rng.random(images) < 1 / (1 + np.exp(-true_logits))).astype(int)
    said = 1 / (1 + np.exp(-sharpness * true_logits))
    return np.stack([1 - said, said], axis=1), labels


def test_temperature_scaling_lowers_the_ece_of_an_overconfident_model():
    validation, validation_labels = _overconfident(2000, seed=1)
    test, test_labels = _overconfident(2000, seed=2)
    temperature = fit_temperature(validation, validation_labels)
    assert temperature == pytest.approx(4.0, rel=0.2)  # it undoes the over-confidence
    before = expected_calibration_error(test, test_labels)
    after = expected_calibration_error(apply_temperature(test, temperature), test_labels)
    assert before > 0.1 and after < before / 3
    # One parameter: how sure, never which class.
    assert (apply_temperature(test, temperature).argmax(axis=1) == test.argmax(axis=1)).all()


def test_calibration_summary_reports_both_diagrams():
    test, test_labels = _overconfident(500, seed=3)
    validation, validation_labels = _overconfident(500, seed=4)
    as_evaluation = lambda p, y: Evaluation(("cats", "dogs"), tuple(map(str, range(len(y)))), y, p)  # noqa: E731
    summary = calibration_summary(as_evaluation(test, test_labels), as_evaluation(validation, validation_labels))
    assert summary["ece_after_temperature"] < summary["ece"] and summary["temperature"] > 1
    assert sum(row["images"] for row in summary["reliability"]) == 500
    assert sum(row["images"] for row in summary["reliability_after_temperature"]) == 500


def test_reliability_bins_and_ece_by_hand():
    probabilities = np.array([[0.05, 0.95], [0.05, 0.95], [0.4, 0.6], [1.0, 0.0]])
    labels = np.array([1, 0, 1, 0])
    bins = reliability(probabilities, labels)
    assert bins.counts.sum() == 4 and bins.counts[9] == 3 and bins.counts[5] == 1  # 0.95 and 1.0; 0.6
    assert bins.accuracy[9] == pytest.approx(2 / 3) and bins.confidence[9] == pytest.approx((0.95 + 0.95 + 1.0) / 3)
    expected = (3 * abs(2 / 3 - 2.9 / 3) + abs(1 - 0.6)) / 4
    assert bins.ece == pytest.approx(expected)
    assert expected_calibration_error(np.array([[0.0, 1.0]] * 5), np.ones(5, int)) == 0.0  # sure and right


def test_temperature_one_changes_nothing_and_sigmoid_matches_logit_scaling():
    probabilities = np.array([[0.2, 0.8], [0.9, 0.1]])
    assert np.allclose(apply_temperature(probabilities, 1.0), probabilities)
    # For a sigmoid unit, scaling the log-probabilities is sigmoid(logit(p) / T).
    p, temperature = 0.8, 2.5
    expected = 1 / (1 + np.exp(-np.log(p / (1 - p)) / temperature))
    assert apply_temperature(probabilities, temperature)[0, 1] == pytest.approx(expected)


def test_kept_temperature_round_trip_and_damaged_file(tmp_path):
    assert calibration.load_temperature(tmp_path) is None
    calibration.save_temperature(tmp_path, 1.7, ece=0.1)
    assert calibration.load_temperature(tmp_path) == 1.7 and calibration.temperature_stamp(tmp_path)
    (tmp_path / calibration.TEMPERATURE_FILE).write_text("{not json")
    assert calibration.load_temperature(tmp_path) is None
    calibration.forget_temperature(tmp_path)
    assert calibration.temperature_stamp(tmp_path) == 0
    with pytest.raises(CatdogError, match="positive"):
        calibration.save_temperature(tmp_path, -1.0)
    with pytest.raises(CatdogError, match="two validation images"):
        fit_temperature(np.array([[0.5, 0.5]]), np.array([0]))


def test_a_run_that_keeps_a_temperature_predicts_calibrated_probabilities(tiny_run, tmp_path):
    run, _ = tiny_run
    copy = tmp_path / run.name
    shutil.copytree(run.path, copy)  # the session's run stays uncalibrated for the other tests
    photos = [png_bytes(0), png_bytes(1)]
    (plain_cat, plain_dog) = Predictor.from_run(copy).predict(photos)
    calibration.save_temperature(copy, 5.0)
    predictor = Predictor(runs.load_run(copy))
    cat, dog = predictor.predict(photos)
    assert predictor.calibrated and cat.calibrated and cat.to_dict()["calibrated"] is True
    assert "calibrated" not in plain_cat.to_dict()
    for plain, scaled in ((plain_cat, cat), (plain_dog, dog)):
        assert scaled.label == plain.label
        assert max(scaled.probabilities.values()) < max(plain.probabilities.values())  # softer, not flipped
