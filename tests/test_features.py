"""Frozen-base features: computed once per image and mirror, cached by the files, served again
from the cache, the same on LiteRT as on TensorFlow; the model saved is still the whole model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_config

from catdog import runs
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.features import NO_FLIP, FeatureRequest, cached_features, flip_variants
from catdog.images import load_image
from catdog.predict import Predictor
from catdog.train import train


def test_cached_features_hold_each_mirror_and_follow_the_image_files(tiny_data):
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    split = dataset.validation
    config = tiny_config(model="model4")
    made = []

    def base():  # a stand-in for the frozen network: the top-left pixel, which a mirror moves
        made.append(True)
        return (lambda pixels: pixels[:, 0, 0, :]), "test"

    def one(flips, split=split):
        return cached_features("weights", base, [FeatureRequest(split, flips, "validation")], config)[0]

    features = one(flip_variants("horizontal"))
    images = np.stack([load_image(path, config.image_size) for path in split.paths]).astype(np.float32)
    assert features.shape == (len(split), 2, 3) and features.dtype == np.float32
    np.testing.assert_array_equal(features[:, 0], images[:, 0, 0])
    np.testing.assert_array_equal(features[:, 1], images[:, 0, -1])  # the mirror's top-left is the top-right
    again = one(flip_variants("horizontal"))
    assert len(made) == 1 and np.array_equal(again, features)  # read back, the base not even made
    assert one(NO_FLIP).shape == (len(split), 1, 3)
    assert len(made) == 2  # other flips, other features
    # Several splits in one call: the base made once, each split's features its own, in order.
    requests = [FeatureRequest(dataset.train, NO_FLIP, "training"), FeatureRequest(split, NO_FLIP, "validation")]
    both = cached_features("weights", base, requests, config)
    assert len(made) == 3 and both[0].shape == (len(dataset.train), 1, 3) and np.array_equal(both[1], one(NO_FLIP))
    edited = split.paths[0]
    os.utime(edited, ns=(os.stat(edited).st_atime_ns, os.stat(edited).st_mtime_ns + 10**9))
    one(NO_FLIP)
    assert len(made) == 4  # a changed file is not served from the cache


def test_an_image_that_no_longer_decodes_stops_the_features_with_a_message(tiny_data):
    split = load_dataset(tiny_data, batch_size=8, seed=1).validation
    Path(split.paths[3]).write_bytes(b"not an image any more")
    base = lambda: ((lambda pixels: pixels[:, 0, 0, :]), "test")  # noqa: E731
    with pytest.raises(CatdogError, match="1 validation images could not be decoded"):
        cached_features("weights", base, [FeatureRequest(split, NO_FLIP, "validation")], tiny_config(model="model4"))
    assert not list((Path(os.environ["CATDOG_CACHE_DIR"]) / "features").glob("*"))  # nothing half-written


def test_frozen_base_fast_path_caches_features_and_saves_the_full_model(tiny_data, tmp_path):
    config = tiny_config(model="model4", epochs=3, data=str(tiny_data))
    run = train(config, runs_root=tmp_path / "runs")
    assert run.status["fast_path"] and run.state == runs.FINISHED
    cached = list((tmp_path / "cache" / "features").glob("*.npy"))
    assert len(cached) == 2  # training (with mirrors) and validation
    train_features = next(np.load(path) for path in cached if np.load(path).shape[0] == 80)
    assert train_features.shape[1] == 2  # each image and its mirror
    # The saved model is the whole model: raw pixels in, same validation accuracy out.
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    predictor = Predictor(run)
    labels = [predictor.predict([p])[0].label for p in dataset.validation.paths]
    accuracy = np.mean([label == dataset.class_names[y] for label, y in zip(labels, dataset.validation.labels)])
    assert accuracy == pytest.approx(run.final("val_accuracy"), abs=0.03)
    events = []
    again = train(config, runs_root=tmp_path / "runs2", progress=events.append)
    assert not [e for e in events if e.phase == "features"]  # served from the cache
    assert again.final("val_accuracy") == pytest.approx(run.final("val_accuracy"), abs=1e-6)


def test_frozen_features_on_litert_match_tensorflow(tiny_data, tmp_path, litert, monkeypatch):
    config = tiny_config(model="model4", epochs=1, data=str(tiny_data))

    def features_by_split(cache):
        return {np.load(path).shape[0]: np.load(path) for path in (cache / "features").glob("*.npy")}

    monkeypatch.setenv("CATDOG_CACHE_DIR", str(tmp_path / "cache-litert"))
    events = []
    on_litert = train(config, runs_root=tmp_path / "runs", progress=events.append)
    assert on_litert.status["feature_engine"] == "LiteRT"
    # The one-time conversion is announced before the first batch of features, and shown as such.
    phases = [(event.phase, event.batches) for event in events if event.phase == "features"]
    assert phases[0] == ("features", 0) and "LiteRT" in events[[e.phase for e in events].index("features")].message
    from catdog.ui import training as ui_training  # Streamlit-aware: imported only here

    conversion = next(event for event in events if event.phase == "features")
    runs.write_progress(on_litert.path, conversion)
    assert ui_training.progress_summary(on_litert) == (0.0, f"{conversion.message}…")
    assert len(list((tmp_path / "cache-litert" / "litert").glob("*.tflite"))) == 1  # converted once, for both splits
    monkeypatch.setenv("CATDOG_LITERT", "0")
    monkeypatch.setenv("CATDOG_CACHE_DIR", str(tmp_path / "cache-tensorflow"))
    on_tensorflow = train(config, runs_root=tmp_path / "runs")
    assert on_tensorflow.status["feature_engine"] == "TensorFlow"
    litert_features, tensorflow_features = (
        features_by_split(tmp_path / "cache-litert"),
        features_by_split(tmp_path / "cache-tensorflow"),
    )
    assert sorted(litert_features) == sorted(tensorflow_features) and len(litert_features) == 2  # training, validation
    for count, expected in tensorflow_features.items():
        assert np.abs(expected).max() > 0
        np.testing.assert_allclose(litert_features[count], expected, atol=1e-4 * np.abs(expected).max())


def test_int8_features_are_a_second_engine_with_their_own_caches(tiny_data, tmp_path, litert, shared_keras_home):
    # ImageNet weights: a random base's activations are too small for int8 to tell apart.
    settings = dict(model="model4", epochs=2, data=str(tiny_data), pretrained=True, image_size=(160, 160))
    float32, int8 = tiny_config(**settings), tiny_config(**settings, feature_precision="int8")
    exact = train(float32, runs_root=tmp_path / "runs")
    quantized = train(int8, runs_root=tmp_path / "runs")
    assert (exact.status["feature_engine"], quantized.status["feature_engine"]) == ("LiteRT", "LiteRT int8")
    assert quantized.config.feature_precision == "int8"  # recorded with the run
    conversions = sorted((tmp_path / "cache" / "litert").glob("*.tflite"), key=lambda path: path.stat().st_size)
    assert len(conversions) == 2 and conversions[0].stat().st_size < conversions[1].stat().st_size / 2  # int8 weights
    cached = [np.load(path) for path in (tmp_path / "cache" / "features").glob("*.npy")]
    assert len(cached) == 4  # training and validation, once per engine
    # The same images through both engines: alike (quantization error), not equal. (Whether the
    # head learns as well is a question for real photos: README, "Speed".)
    by_shape = {}
    for features in cached:
        by_shape.setdefault(features.shape, []).append(features.reshape(len(features), -1))
    for first, second in by_shape.values():
        assert not np.array_equal(first, second)
        assert np.corrcoef(first.ravel(), second.ravel())[0, 1] > 0.7


def test_int8_caches_are_keyed_by_the_images_the_quantization_is_calibrated_on(tiny_data, monkeypatch):
    import keras

    from catdog import features, lite

    monkeypatch.setattr(lite, "available", lambda: True)  # the key only: nothing is converted
    base = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(2, 3)])
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    int8 = tiny_config(model="model4", feature_precision="int8")

    def key(config=int8, calibration=dataset.train):
        return features.frozen_weights_key(base, config, calibration=calibration)

    first = key()
    assert key() == first and key(tiny_config(model="model4", feature_precision="int8", seed=7)) == first  # not the run's seed
    assert key(calibration=dataset.validation) != first  # other photos, another int8 model
    float32 = tiny_config(model="model4", feature_precision="float32")
    assert key(float32) == key(float32, None) != first  # float32 needs no calibration
    with pytest.raises(ValueError, match="calibrate"):
        key(calibration=None)
    sample = set(features._calibration_sample(dataset.train).paths)
    assert 0 < len(sample) < len(dataset.train)
    other = next(path for path in dataset.train.paths if path not in sample)
    calibrating = next(iter(sample))
    for path in (other, calibrating):
        os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
        assert (key() == first) == (path == other)  # only the calibration images change the int8 model


@pytest.mark.parametrize(
    ("flags", "litert_on", "expected"),
    [
        ({"avx2", "avx512f", "avx512_vnni"}, "1", "int8"),  # Zen 4, Cascade Lake and later
        ({"avx2", "avx_vnni"}, "1", "int8"),
        ({"avx2", "amx_int8"}, "1", "int8"),
        ({"avx2", "fma"}, "1", "float32"),  # no int8 dot products (Zen 2/3)
        ({"avx2", "avx512_vnni"}, "0", "float32"),  # TensorFlow runs the base: float32 only
    ],
)
def test_auto_feature_precision_quantizes_only_where_the_cpu_has_int8_dot_products(flags, litert_on, expected, monkeypatch):
    from catdog import cpu, features, lite

    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setenv("CATDOG_LITERT", litert_on)
    if litert_on == "1" and not lite.available():
        pytest.skip("LiteRT is not the engine here (a GPU is visible or ai-edge-litert is missing)")
    assert features.feature_precision(tiny_config(feature_precision="auto")) == expected
    for forced in ("float32", "int8"):  # a setting, whatever the CPU, where LiteRT runs
        assert features.feature_precision(tiny_config(feature_precision=forced)) == (forced if litert_on == "1" else "float32")
