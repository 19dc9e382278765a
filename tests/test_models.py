"""Models: every registered model builds, runs and trains a step; the tutorial's exact sizes."""

from __future__ import annotations

import numpy as np
import pytest

from catdog.architectures import WHITENING_COMPONENTS, fit_whitening_stem
from catdog.errors import CatdogError
from catdog.models import MODELS, count_params, create_model, get_spec, list_models, probabilities

# Small enough to be quick, large enough for Model 2's five valid convolutions.
TINY = (80, 80)


@pytest.mark.parametrize("key", list_models())
def test_every_model_builds_predicts_and_trains_a_step(key):
    model = create_model(key, TINY, num_classes=2, pretrained=False)
    images = np.random.default_rng(0).integers(0, 256, (4, *TINY, 3)).astype("float32")
    outputs = model(images, training=False).numpy()
    assert outputs.shape in ((4, 2), (4, 1)) and np.isfinite(outputs).all()
    loss = model.train_on_batch(images, np.array([0, 1, 0, 1]))
    assert np.isfinite(np.ravel(loss)[0])


@pytest.mark.parametrize("key", list_models())
def test_three_classes_get_three_outputs(key):
    model = create_model(key, TINY, num_classes=3, pretrained=False)
    assert model.output_shape[-1] == 3


@pytest.mark.parametrize(
    "key, total, trainable",
    [
        ("model1", 42_561_346, 42_561_346),
        ("model2", 3_338_562, 3_338_562),
        ("model3", 14_086_721, 14_086_721),
        ("model4", 2_260_546, 2_562),
    ],
)
def test_parameter_counts_match_the_tutorial(key, total, trainable):
    assert count_params(create_model(key, (160, 160), 2, pretrained=False)) == (total, trainable)


def test_unknown_model_names_the_valid_keys():
    with pytest.raises(CatdogError, match="model1, model2, model3, model4"):
        get_spec("model9")


def smooth_images(count, size, seed=0):
    """Photo-like images: coloured blobs (a low-resolution noise upsampled), so neighbouring
    pixels and channels correlate the way a whitening layer must undo."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, size // 4, size // 4, 3)).astype("uint8")
    return np.stack([np.asarray(Image.fromarray(c).resize((size, size), Image.BICUBIC)) for c in coarse])


def test_model5_whitening_stem_projects_patches_onto_their_principal_components():
    model = create_model("model5", TINY, pretrained=False)
    images = smooth_images(24, TINY[0])
    stem = model.get_layer("whitening")
    before = stem.get_weights()[0]
    fit_whitening_stem(model, images)
    kernel = stem.get_weights()[0]
    half = WHITENING_COMPONENTS
    assert kernel.shape == (3, 3, 3, 2 * half) and not np.allclose(kernel, before)
    assert np.array_equal(kernel[..., half:], -kernel[..., :half])  # both signs survive the ReLU
    components = kernel[..., :half].reshape(27, half)
    assert np.allclose(components.T @ components, np.eye(half), atol=1e-5)  # orthonormal directions
    # The layer computes patch . component at every other pixel (the kernel's layout is right) ...
    pixels = images.astype("float32") / 255
    windows = np.lib.stride_tricks.sliding_window_view(pixels, (3, 3), axis=(1, 2))[:, ::2, ::2]
    patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 27)
    rows = windows.shape[1]
    outputs = stem(pixels).numpy()[:, :rows, :rows, :half].reshape(-1, half)
    assert np.allclose(outputs, patches @ components, atol=1e-4)
    # ... and keeps as much of the patches' variance as 16 directions can: the top principal ones.
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(patches, rowvar=False)))[::-1]
    kept = np.cov(outputs, rowvar=False).trace()
    assert kept == pytest.approx(eigenvalues[:half].sum(), rel=0.01)
    assert kept > np.cov(patches @ np.linalg.qr(np.random.default_rng(0).normal(size=(27, half)))[0], rowvar=False).trace()
    # Frozen: training does not move it.
    assert not stem.trainable_weights
    model.train_on_batch(images.astype("float32"), np.arange(len(images)) % 2)
    assert np.array_equal(stem.get_weights()[0], kernel)


def test_augmentation_only_in_training_mode():
    model = create_model("model2", TINY, pretrained=False)
    image = np.random.default_rng(1).integers(0, 256, (1, *TINY, 3)).astype("float32")
    assert np.allclose(model(image, training=False), model(image, training=False))


def test_missing_imagenet_weights_give_a_clear_error(monkeypatch):
    import urllib.error

    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    with pytest.raises(CatdogError, match="KERAS_HOME"):
        create_model("model4", (160, 160), pretrained=True)


@pytest.mark.shared
def test_model4_loads_cached_imagenet_weights(shared_keras_home):
    model = create_model("model4", (160, 160), pretrained=True)
    assert count_params(model) == (2_260_546, 2_562)
    assert any(np.abs(w.numpy()).sum() > 0 for w in model.get_layer("mobilenet_v2_base").weights)
    assert "ImageNet" in MODELS["model4"].description


@pytest.mark.shared
def test_model4_uses_the_160_pixel_weights_at_any_input_size(shared_keras_home):
    # Only the 160-pixel file is in the cache, and the network is unreachable: a 192x192 Model 4
    # must still build, with the same convolution weights as at 160x160.
    assert [path.name for path in (shared_keras_home / "models").iterdir()] == [
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5"
    ]
    at_160 = create_model("model4", (160, 160), pretrained=True).get_layer("mobilenet_v2_base")
    at_192 = create_model("model4", (192, 192), pretrained=True).get_layer("mobilenet_v2_base")
    assert at_192.input_shape[1:3] == (192, 192)
    assert len(at_160.weights) == len(at_192.weights)
    for expected, found in zip(at_160.weights, at_192.weights):
        np.testing.assert_array_equal(expected.numpy(), found.numpy())


def test_probabilities_from_logits_and_sigmoid():
    np.testing.assert_allclose(probabilities(np.array([[0.0, 0.0], [10.0, -10.0]])), [[0.5, 0.5], [1, 0]], atol=1e-6)
    np.testing.assert_allclose(probabilities(np.array([[0.8]])), [[0.2, 0.8]])
