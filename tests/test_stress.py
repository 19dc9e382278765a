"""Stress tests: every perturbation is the identity at strength 0 and grows with it, the occlusion
map finds the part of the image a model looks at, and accuracy on a split under each perturbation
starts at the model's own accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import make_image, run_cli

from catdog import stress
from catdog.errors import CatdogError
from catdog.evaluate import evaluate
from catdog.predict import Predictor


class _TopLeftPredictor:
    """Says "class 1" as sure as the top-left quarter of the image is bright; sees nothing else."""

    image_size = (32, 32)

    def predict_arrays(self, images):
        brightness = np.asarray(images, np.float64)[:, :16, :16].mean(axis=(1, 2, 3)) / 255
        return np.stack([1 - brightness, brightness], axis=1)


def _image(label=0, seed=0):
    return np.asarray(make_image(label, np.random.default_rng(seed)))


@pytest.mark.parametrize("name", stress.perturbation_names())
def test_strength_zero_is_the_identity_and_more_strength_changes_more(name):
    image = _image()
    assert np.array_equal(stress.perturb(image, name, 0), image)
    strengths = next(p.strengths for p in stress.PERTURBATIONS if p.name == name)
    assert strengths[0] == 0 and list(strengths) == sorted(strengths)
    changes = [np.abs(stress.perturb(image, name, s).astype(int) - image).mean() for s in strengths[1:]]
    assert changes[0] > 0 and changes[-1] >= changes[0]


def test_brightness_darkens_and_unknown_names_are_refused():
    image = _image()
    assert stress.perturb(image, "brightness", 0.6).mean() < image.mean() * 0.5
    with pytest.raises(CatdogError, match="unknown perturbation"):
        stress.perturb(image, "sepia", 1)


def test_occlusion_map_lights_up_where_the_model_looks():
    image = np.full((32, 32, 3), 220, np.uint8)
    heat, drop, followed = stress.occlusion_map(_TopLeftPredictor(), image, patch=8, stride=8)
    assert followed == 1 and drop > 0 and heat.shape == (32, 32)
    assert heat[:16, :16].min() == pytest.approx(1.0)  # every patch there hurts as much
    assert heat[16:, :].max() == 0 and heat[:, 16:].max() == 0  # nothing elsewhere matters


def test_confidence_sweep_follows_the_predicted_class():
    image = np.full((32, 32, 3), 200, np.uint8)
    sweep = stress.confidence_sweep(_TopLeftPredictor(), image)
    assert list(sweep) == stress.perturbation_names()
    strengths, confidence = sweep["brightness"]
    assert strengths[0] == 0 and confidence[0] == pytest.approx(200 / 255)
    assert confidence == sorted(confidence, reverse=True)  # darker, less sure it is bright


def test_accuracy_under_stress_starts_at_the_models_own_accuracy(tiny_run):
    run, _ = tiny_run
    evaluation = evaluate(run)
    seen = []
    curves = stress.accuracy_under_stress(
        Predictor(run), evaluation.paths, evaluation.labels, max_images=None, progress=lambda *a: seen.append(a)
    )
    assert {name: values[0] for name, (_, values) in curves.items()} == pytest.approx(
        {name: evaluation.accuracy for name in stress.perturbation_names()}, abs=1e-9
    )
    assert seen[-1][:2] == (len(evaluation.paths), len(evaluation.paths)) and seen[-1][2] == 0
    with pytest.raises(CatdogError, match="empty"):
        stress.accuracy_under_stress(Predictor(run), [], [])


def test_stress_command_prints_each_perturbation(tiny_run):
    run, _ = tiny_run
    result = run_cli("stress", run.path, "--images", "8", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["perturbation"] for row in rows] == stress.perturbation_names()
    assert all(len(row["strengths"]) == len(row["accuracy"]) and row["strengths"][0] == 0 for row in rows)
    assert len({row["accuracy"][0] for row in rows}) == 1  # strength 0 is the same images for all
