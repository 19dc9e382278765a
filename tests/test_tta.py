"""Test-time augmentation (an image and its mirror averaged) in evaluation, prediction and the CLI:
a model blind to left and right by construction gets exactly its own predictions back."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from helpers import png_bytes, run_cli

from catdog import runs
from catdog.config import RunConfig
from catdog.evaluate import evaluate
from catdog.predict import Predictor


def _run_with(model_layers, data, root):
    """A run directory holding a hand-built model (32x32 inputs, two logits)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 32, 3)), *model_layers, keras.layers.Dense(2)])
    config = RunConfig(model="model1", epochs=1, batch_size=8, image_size=(32, 32), data=str(data))
    run_dir = runs.create_run(config, ("cats", "dogs"), root)
    runs.save_model(run_dir, model)
    runs.update_status(run_dir, state=runs.FINISHED)
    return runs.load_run(run_dir)


def _symmetric(data, root):
    import keras

    # The mean colour of the whole image: mirroring moves pixels but never changes their mean.
    return _run_with([keras.layers.Rescaling(1 / 255), keras.layers.GlobalAveragePooling2D()], data, root)


def _lopsided(data, root):
    import keras

    # Only the left half of the image counts: its mirror is a different picture to it.
    return _run_with(
        [keras.layers.Rescaling(1 / 255), keras.layers.Cropping2D(((0, 0), (0, 16))), keras.layers.Flatten()], data, root
    )


def test_tta_of_a_mirror_symmetric_model_changes_nothing(tiny_data, tmp_path):
    run = _symmetric(tiny_data, tmp_path / "runs")
    with_tta = evaluate(run, tta=True)
    assert np.allclose(with_tta.probabilities, with_tta.plain_probabilities, atol=1e-6)
    assert with_tta.tta_summary()["predictions_changed"] == 0
    predictor = Predictor(run)
    photos = [png_bytes(0, seed=3), png_bytes(1, seed=4)]
    for plain, mirrored in zip(predictor.predict(photos), predictor.predict(photos, tta=True)):
        assert mirrored.tta and plain.label == mirrored.label
        assert mirrored.probabilities == pytest.approx(plain.probabilities, abs=1e-6)


def test_tta_of_a_lopsided_model_averages_image_and_mirror(tiny_data, tmp_path):
    run = _lopsided(tiny_data, tmp_path / "runs")
    evaluation = evaluate(run, tta=True)
    assert not np.allclose(evaluation.probabilities, evaluation.plain_probabilities, atol=1e-4)
    predictor = Predictor(run)
    image = np.asarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3)), np.uint8)
    expected = (predictor.predict_arrays(image) + predictor.predict_arrays(image[:, ::-1])) / 2
    assert np.allclose(predictor.predict_arrays(image, tta=True), expected, atol=1e-6)
    summary = evaluation.summary()["tta"]
    assert summary["test_accuracy_with_tta"] == evaluation.accuracy
    assert summary["test_accuracy_without_tta"] == evaluation.without_tta().accuracy


def test_cli_evaluate_reports_calibration_and_tta_and_keeps_the_temperature(tiny_run, tmp_path):
    import shutil

    run, _ = tiny_run
    copy = tmp_path / run.name
    shutil.copytree(run.path, copy)
    result = run_cli("evaluate", copy, "--tta", "--keep-temperature", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["temperature"] > 0 and 0 <= summary["ece_after_temperature"] <= 1 and 0 <= summary["ece"] <= 1
    assert set(summary["tta"]) == {"test_accuracy_without_tta", "test_accuracy_with_tta", "predictions_changed"}
    assert json.loads((copy / "calibration.json").read_text())["temperature"] == pytest.approx(summary["temperature"])
    assert not (copy / "evaluation.json").exists()  # runs are compared on the model alone, without TTA
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(1))
    predicted = run_cli("predict", copy, photo, "--tta")
    assert predicted.returncode == 0, predicted.stderr
    assert "calibrated probabilities (temperature" in predicted.stderr and "test-time augmentation" in predicted.stderr


def test_tta_streams_any_number_of_images_in_bounded_memory(tiny_run):
    run, _ = tiny_run
    pulled = 0

    def endless():
        nonlocal pulled
        while True:
            pulled += 1
            yield png_bytes(pulled % 2, seed=pulled)

    results = list(itertools.islice(Predictor(run).predict_stream(endless(), batch_size=4, tta=True), 10))
    assert len(results) == 10 and all(result.tta and result.label for result in results)
    assert pulled <= 10 + 2 * 4  # decoding runs at most two batches ahead of the results
