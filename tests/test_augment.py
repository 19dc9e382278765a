"""Augmentation: Keras layers, deterministic previews that follow the parameters."""

from __future__ import annotations

import numpy as np
import pytest

from catdog.augment import augmentation_layers, preview, rotation_degrees
from catdog.errors import CatdogError


@pytest.fixture
def image():
    gradient = np.linspace(0, 255, 48, dtype=np.float32)
    return np.stack([np.tile(gradient, (48, 1)), np.tile(gradient[:, None], (1, 48)), np.full((48, 48), 90.0)], axis=-1).astype(
        np.uint8
    )


def test_preview_returns_original_then_variants(image):
    variants = preview(image, "horizontal", 0.2, count=4, seed=1)
    assert len(variants) == 5 and all(v.shape == image.shape and v.dtype == np.uint8 for v in variants)
    np.testing.assert_array_equal(variants[0], image)
    assert any(not np.array_equal(v, image) for v in variants[1:])


def test_preview_is_repeatable_and_follows_parameters(image):
    first = preview(image, "none", 0.2, count=3, seed=5)
    again = preview(image, "none", 0.2, count=3, seed=5)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    larger = preview(image, "none", 0.45, count=3, seed=5)
    assert any(not np.array_equal(a, b) for a, b in zip(first[1:], larger[1:]))


def test_no_augmentation_leaves_image_alone(image):
    for variant in preview(image, "none", 0.0, count=2):
        np.testing.assert_array_equal(variant, image)


def test_vertical_flip_only_mirrors_rows(image):
    variants = preview(image, "vertical", 0.0, count=8, seed=0)
    for variant in variants[1:]:
        assert np.array_equal(variant, image) or np.array_equal(variant, image[::-1])
    assert any(np.array_equal(v, image[::-1]) for v in variants[1:])


def test_layers_and_degrees():
    assert [type(layer).__name__ for layer in augmentation_layers("horizontal_and_vertical", 0.1)] == [
        "RandomFlip",
        "RandomRotation",
    ]
    assert augmentation_layers("none", 0.0) == []
    assert rotation_degrees(0.2) == pytest.approx(72.0)
    with pytest.raises(CatdogError, match="flip"):
        augmentation_layers("sideways", 0.1)
