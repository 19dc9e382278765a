"""Prediction from any source and evaluation figures, on a run trained on tiny data."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from catdog import runs
from catdog.config import CatdogError, RunConfig
from catdog.data import load_dataset
from catdog.evaluate import Evaluation, evaluate
from catdog.predict import Predictor, probabilities
from catdog.train import train


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from conftest import write_tutorial_layout

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
    result = evaluate(run)
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
