"""Explanations: Grad-CAM for every model kind, and the rotation sweep."""

from __future__ import annotations

import numpy as np
import pytest

from catdog.predict import Predictor


def test_grad_cam_has_image_shape_and_is_not_constant(tiny_run):
    from catdog.explain import grad_cam, overlay
    from catdog.runs import load_model

    run, data = tiny_run
    model = load_model(run)
    from catdog.images import load_image

    image = load_image(next((data / "validation" / "cats").iterdir()), (32, 32))
    heat, explained = grad_cam(model, image)
    assert heat.shape == (32, 32) and heat.min() >= 0 and heat.max() <= 1
    assert heat.std() > 0.01
    assert explained in (0, 1)
    assert overlay(image, heat).shape == (32, 32, 3)


@pytest.mark.parametrize("key", ["model1", "model2", "model3", "model4", "model5"])
def test_grad_cam_for_every_model_kind(key):
    from catdog.explain import _split_at_last_feature_map, grad_cam
    from catdog.models import create_model

    model = create_model(key, (80, 80), pretrained=False)
    image = np.random.default_rng(0).integers(0, 256, (80, 80, 3)).astype(np.uint8)
    heat, _ = grad_cam(model, image)
    assert heat.shape == (80, 80)
    front, _ = _split_at_last_feature_map(model)
    # The map comes from the model's last block of convolutions, not from an earlier one.
    assert front[-1].name == {"model4": "mobilenet_v2_base", "model5": "residual_256"}.get(key, front[-1].name)


def test_robustness_sweep(tiny_run):
    from catdog.explain import robustness_sweep
    from catdog.images import load_image

    run, data = tiny_run
    image = load_image(next((data / "validation" / "dogs").iterdir()), (32, 32))
    sweep = robustness_sweep(Predictor(run), image, step=45)
    assert sweep.angles.tolist() == [-180, -135, -90, -45, 0, 45, 90, 135, 180]
    assert sweep.probabilities.shape == sweep.mirrored.shape == (9, 2)
    np.testing.assert_allclose(sweep.probabilities[4], Predictor(run).predict_arrays(image)[0], atol=1e-5)
