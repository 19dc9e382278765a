"""Prediction from any source, on TensorFlow and LiteRT, with a run trained on tiny data."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from catdog import runs
from catdog.predict import Predictor


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


def test_litert_predicts_like_tensorflow_and_its_conversion_is_reused(tiny_run, litert, monkeypatch):
    import os
    import subprocess
    import sys

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
    # With the conversion cached, a fresh process predicts without loading TensorFlow at all.
    script = (
        "import sys; from catdog.predict import Predictor; "
        f"predictor = Predictor.from_run({str(run.path)!r}); result = predictor.predict([{paths[0]!r}])[0]; "
        "print(predictor.engine, result.label, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=os.environ, timeout=120)
    assert fresh.stdout.split() == ["LiteRT", on_tensorflow[0].label, "False", "False"], fresh.stderr[-2000:]
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
