"""Prediction from any source and evaluation figures, on a run trained on tiny data."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from catdog import runs
from catdog.config import RunConfig
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.evaluate import Evaluation, evaluate
from catdog.models import probabilities
from catdog.predict import Predictor
from catdog.train import train


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from helpers import write_tutorial_layout

    root = tmp_path_factory.mktemp("predict")
    data = write_tutorial_layout(root / "data")
    config = RunConfig(model="model1", epochs=3, batch_size=8, image_size=(32, 32), seed=2, data=str(data))
    return train(config, runs_root=root / "runs"), data


def test_predict_accepts_paths_bytes_files_and_pil_images(tiny_run):
    run, data = tiny_run
    predictor = Predictor(run)
    path = next((data / "validation" / "cats").iterdir())
    raw = path.read_bytes()
    results = predictor.predict([path, raw, io.BytesIO(raw), Image.open(path)])
    assert len({r.label for r in results}) == 1
    for result in results:
        assert set(result.probabilities) == {"cats", "dogs"}
        assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert results[0].probabilities == pytest.approx(results[1].probabilities)


def test_bad_image_gets_error_and_others_still_predicted(tiny_run):
    run, data = tiny_run
    good = next((data / "validation" / "dogs").iterdir())
    results = Predictor(run).predict([b"", good.read_bytes(), b"GIF89a broken"], names=["empty.jpg", "dog.jpg", "bad.gif"])
    assert results[0].error and "empty" in results[0].error and results[0].label is None
    assert results[1].error is None and results[1].label in ("cats", "dogs")
    assert results[2].error and results[2].to_dict() == {"path": "bad.gif", "error": results[2].error}


def test_probabilities_from_logits_and_sigmoid():
    np.testing.assert_allclose(probabilities(np.array([[0.0, 0.0], [10.0, -10.0]])), [[0.5, 0.5], [1, 0]], atol=1e-6)
    np.testing.assert_allclose(probabilities(np.array([[0.8]])), [[0.2, 0.8]])


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


def test_runs_that_are_not_runs_are_refused(tmp_path):
    with pytest.raises(CatdogError, match="not a catdog run"):
        runs.load_run(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(CatdogError, match="not a catdog run"):
        runs.load_run(tmp_path)


def test_a_model_file_carrying_code_is_refused_by_safe_mode(tiny_run, tmp_path):
    """A run folder whose model.keras holds a Lambda layer (arbitrary Python) is not loaded."""
    import shutil

    import keras

    run, _ = tiny_run
    planted = tmp_path / run.path.name
    shutil.copytree(run.path, planted)
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(keras.layers.GlobalAveragePooling2D()(inputs))
    keras.Model(inputs, outputs).save(planted / runs.MODEL_FILE)
    with pytest.raises(CatdogError, match="cannot be loaded.*delete the run"):
        runs.load_model(runs.load_run(planted))
    assert runs.load_model(run) is not None  # the real run still loads


def test_streamlit_keeps_xsrf_protection_on_and_usage_statistics_off():
    import tomllib
    from helpers import REPO

    settings = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert settings["server"]["enableXsrfProtection"] is True
    assert settings["browser"]["gatherUsageStats"] is False
    assert "authenticating reverse proxy" in " ".join((REPO / "README.md").read_text().split())


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


def test_tflite_export_matches_keras(tiny_run):
    import zipfile

    from catdog.export import tflite_bundle, tflite_bytes, tflite_probabilities
    from catdog.images import load_image

    run, data = tiny_run
    images = np.stack([load_image(p, (32, 32)) for p in sorted((data / "validation" / "cats").iterdir())[:6]])
    keras_probabilities = Predictor(run).predict_arrays(images)
    np.testing.assert_allclose(tflite_probabilities(tflite_bytes(run), images), keras_probabilities, atol=1e-3)
    with zipfile.ZipFile(io.BytesIO(tflite_bundle(run))) as bundle:
        assert bundle.read("labels.txt").decode() == "cats\ndogs\n"
        assert {"model.tflite", "catdog.json"} <= set(bundle.namelist())


def test_litert_predicts_like_tensorflow_and_its_conversion_is_reused(tiny_run, litert, monkeypatch):
    import os

    from catdog import lite

    run, data = tiny_run
    paths = sorted(str(p) for p in (data / "validation").rglob("*.jpg"))[:6]
    predictor = Predictor(run)
    assert predictor.engine == "TensorFlow"  # nothing converted yet
    on_tensorflow = predictor.predict(paths)
    assert predictor.use_litert() and predictor.engine == "LiteRT"
    # Batch sizes change between calls: the interpreter is resized each time.
    on_litert = predictor.predict(paths) + predictor.predict(paths[:1])
    for expected, got in zip(on_tensorflow + on_tensorflow[:1], on_litert, strict=True):
        assert got.label == expected.label
        assert got.probabilities == pytest.approx(expected.probabilities, abs=1e-4)

    converted = []
    monkeypatch.setattr(lite, "convert", lambda model: converted.append(model) or b"")
    assert Predictor(run).engine == "LiteRT" and converted == []  # the cached conversion, at load
    model_file = run.path / runs.MODEL_FILE
    stat = model_file.stat()
    try:
        os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the model saved again
        assert Predictor(run).engine == "TensorFlow"
    finally:
        os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_litert_is_not_used_when_turned_off(tiny_run):
    predictor = Predictor(tiny_run[0])  # the tests' default: CATDOG_LITERT=0
    assert predictor.use_litert() is False and predictor.engine == "TensorFlow"
