"""The Evaluate page: test accuracy with its interval, the threshold, the confusion matrix's
cells as galleries with Grad-CAM, and more than two classes."""

from __future__ import annotations

import pytest
from helpers import png_bytes, write_class_folders
from helpers_app import metrics

from catdog import runs
from catdog.config import RunConfig
from catdog.evaluate import evaluate


def _captions(at) -> list[str]:
    return [caption for image in at.image for caption in image.captions]


def test_evaluate_page_shows_accuracy_interval_and_the_cells_images(app, trained_run):
    at = app.run().switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception
    expected = evaluate(trained_run)
    shown = metrics(at)
    assert shown["Test accuracy"] == f"{expected.accuracy:.1%}"
    assert shown["Test images"] == str(len(expected.labels)) and "ROC AUC" in shown
    assert runs.load_run(trained_run.path).evaluation["test_accuracy"] == pytest.approx(expected.accuracy)
    # Each cell's gallery holds exactly that cell's images.
    for true_index in range(2):
        for predicted_index in range(2):
            at.selectbox(key="evaluate_cell").set_value((true_index, predicted_index)).run()
            members = expected.cell(true_index, predicted_index)
            names = [path.rsplit("/", 1)[-1] for path, _ in members]
            # Same images (the order, least confident first, is tested in the core; near-ties may swap).
            assert sorted(caption.split(":")[0] for caption in _captions(at)) == sorted(names[:12])


def test_threshold_slider_moves_the_accuracy(app, trained_run):
    at = app.run().switch_page("pages/evaluate.py").run()
    at.slider(key="evaluate_threshold").set_value(1.0).run()
    expected = evaluate(trained_run).with_threshold(1.0)
    assert metrics(at)["Test accuracy"] == f"{expected.accuracy:.1%}"


def test_grad_cam_toggle_changes_the_gallery(app, trained_run):
    at = app.run().switch_page("pages/evaluate.py").run()
    cell = next(c for c in [(0, 0), (1, 1), (0, 1), (1, 0)] if evaluate(trained_run).cell(*c))
    at.selectbox(key="evaluate_cell").set_value(cell).run()
    plain = [value for image in at.image for value in image.value]
    at.toggle(key="evaluate_gradcam").set_value(True).run()
    assert not at.exception, at.exception
    explained = [value for image in at.image for value in image.value]
    assert len(plain) == len(explained) and plain != explained


def test_three_classes_work_end_to_end(app_factory, isolated_dirs):
    # Three classes are supported everywhere: training, evaluation, prediction and the pages
    # (the threshold slider and ROC curve are binary-only and are left out, not broken).
    from catdog.predict import Predictor
    from catdog.train import train

    data = write_class_folders(isolated_dirs / "three", 15, class_names=("cats", "dogs", "foxes"))
    run = train(RunConfig(model="model3", epochs=1, batch_size=8, image_size=(32, 32), data=str(data)))
    evaluation = evaluate(run)
    assert evaluation.confusion_matrix().shape == (3, 3) and evaluation.summary()["auc"] is None
    (result,) = Predictor(run).predict([png_bytes(0)])
    assert sorted(result.probabilities) == ["cats", "dogs", "foxes"]
    for page in ("pages/evaluate.py", "pages/predict.py", "pages/runs.py"):
        at = app_factory(data).run().switch_page(page).run()
        assert not at.exception, (page, at.exception)
        if page == "pages/evaluate.py":
            assert metrics(at)["Test accuracy"] == f"{evaluation.accuracy:.1%}"
            assert not [slider for slider in at.slider if slider.key == "evaluate_threshold"]
