"""Export: the TFLite bundle predicts like the Keras model."""

from __future__ import annotations

import io
import json

import numpy as np

from catdog.predict import Predictor


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
        info = json.loads(bundle.read("catdog.json"))
    assert info["class_names"] == ["cats", "dogs"] and info["image_size"] == [32, 32] and info["settings"]["model"] == "model1"
    assert "data" not in info["settings"] and str(data) not in json.dumps(info)  # no local paths in a shared file
