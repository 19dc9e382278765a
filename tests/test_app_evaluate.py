"""Evaluate and Runs pages under AppTest: metrics, the confusion-matrix gallery, Grad-CAM,
comparison, settings back into Train, delete."""

from __future__ import annotations

import pytest

from catdog import runs
from catdog.evaluate import evaluate

pytest_plugins = ("fixtures_app",)


def _metrics(at) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


@pytest.mark.parametrize("page", ["pages/evaluate.py", "pages/runs.py"])
def test_pages_without_runs_say_what_to_do(app, page):
    at = app.run().switch_page(page).run()
    assert not at.exception
    assert any("Train" in info.value for info in at.info)


def test_evaluate_page_shows_accuracy_interval_and_the_cells_images(app, trained_run):
    at = app.run().switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception
    expected = evaluate(trained_run)
    metrics = _metrics(at)
    assert metrics["Test accuracy"] == f"{expected.accuracy:.1%}"
    assert metrics["Test images"] == str(len(expected.labels)) and "ROC AUC" in metrics
    assert runs.load_run(trained_run.path).evaluation["test_accuracy"] == pytest.approx(expected.accuracy)
    # Each cell's gallery holds exactly that cell's images.
    for true_index in range(2):
        for predicted_index in range(2):
            at.selectbox(key="evaluate_cell").set_value((true_index, predicted_index)).run()
            members = expected.cell(true_index, predicted_index)
            names = [path.rsplit("/", 1)[-1] for path, _ in members]
            # Same images (the order, least confident first, is tested in the core; near-ties may swap).
            assert sorted(caption.split(":")[0] for caption in _captions(at)) == sorted(names[:12])


def _captions(at) -> list[str]:
    return [caption for image in at.image for caption in image.captions]


def test_threshold_slider_moves_the_accuracy(app, trained_run):
    at = app.run().switch_page("pages/evaluate.py").run()
    at.slider(key="evaluate_threshold").set_value(1.0).run()
    expected = evaluate(trained_run).with_threshold(1.0)
    assert _metrics(at)["Test accuracy"] == f"{expected.accuracy:.1%}"


def test_grad_cam_toggle_changes_the_gallery(app, trained_run):
    at = app.run().switch_page("pages/evaluate.py").run()
    cell = next(c for c in [(0, 0), (1, 1), (0, 1), (1, 0)] if evaluate(trained_run).cell(*c))
    at.selectbox(key="evaluate_cell").set_value(cell).run()
    plain = [value for image in at.image for value in image.value]
    at.toggle(key="evaluate_gradcam").set_value(True).run()
    assert not at.exception, at.exception
    explained = [value for image in at.image for value in image.value]
    assert len(plain) == len(explained) and plain != explained


def test_runs_page_lists_loads_settings_and_deletes(app, trained_run):
    at = app.run().switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["run"].tolist() == [trained_run.name] and table["model"][0] == "model3"
    assert at.multiselect(key="runs_compare").value == [trained_run.name]
    at.button(key="runs_load_settings").click().run()
    assert at.session_state["train_model"] == "model3" and at.session_state["train_epochs"] == 2
    assert at.session_state["train_flip_model3"] == "horizontal" and at.session_state["train_fine_tune_epochs"] == 0
    assert at.session_state["train_learning_rate_model3"] == trained_run.config.learning_rate
    at.switch_page("pages/runs.py").run()
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    assert runs.list_runs() == []


def test_predict_page_explains_with_grad_cam(app, trained_run):
    from helpers import png_bytes

    at = app.run().switch_page("pages/predict.py").run()
    at.file_uploader(key="predict_uploads").upload("red.png", png_bytes(0), "image/png").run()
    before = len(at.image)
    at.toggle(key="predict_gradcam").set_value(True).run()
    assert not at.exception, at.exception
    assert len(at.image) == before + 1 and "Grad-CAM" in at.image[-1].captions[0]
    assert "Predicted with TensorFlow." in [caption.value for caption in at.caption]  # the tests turn LiteRT off


def test_augmentation_page_sweeps_rotation_with_a_trained_model(app, trained_run):
    at = app.run().switch_page("pages/augmentation.py").run()
    at.toggle(key="aug_sweep").set_value(True).run()
    assert not at.exception, at.exception
    import json

    sweep = json.loads(at.get("plotly_chart")[-1].proto.spec)
    angles = sweep["data"][0]["x"]
    assert angles[0] == -180 and angles[-1] == 180 and len(sweep["data"]) == 4


@pytest.mark.slow
def test_reproduce_button_starts_the_four_models_in_the_background(app, app_dataset, trained_run):
    import time

    at = app.run().switch_page("pages/runs.py").run()
    table = at.dataframe[-1].value
    assert table["tutorial val accuracy"].tolist() == [0.5606, 0.7079, 0.7698, 0.9827]
    at.button(key="runs_reproduce").click().run()
    assert not at.exception, at.exception
    deadline = time.time() + 120
    while time.time() < deadline and not [r for r in runs.list_runs() if r.config.model == "model1"]:
        time.sleep(0.5)
    started = [r for r in runs.list_runs() if r.config.model == "model1"]
    assert started and started[0].config.epochs == 20
    runs.request_stop(started[0].path)  # a stop ends the reproduction after model 1
    while time.time() < deadline + 60 and runs.running_run() is not None:
        time.sleep(0.5)
    assert runs.load_run(started[0].path).state in (runs.STOPPED, runs.FINISHED)


def _folder_files(root, top="pets"):
    return [(f"{top}/{path.relative_to(root).as_posix()}", path.read_bytes()) for path in sorted(root.rglob("*.jpg"))]


def test_uploaded_folder_becomes_the_dataset(app_factory, tmp_path):
    from helpers import write_class_folders

    root = write_class_folders(tmp_path / "pets", 12, class_names=("birds", "fish"))
    at = app_factory().run()
    at.radio(key="data_kind").set_value("upload").run()
    uploader = at.file_uploader(key="data_upload_folder")
    for name, payload in _folder_files(root):
        uploader.upload(name, payload, "image/jpeg")
    at.run()
    at.button(key="data_use_upload").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["dataset"]["kind"] == "upload"
    assert "classes: birds, fish" in " ".join(str(c.value) for c in at.caption)


def test_uploaded_folder_with_too_few_images_says_what_is_missing(app_factory, tmp_path):
    from helpers import write_class_folders

    root = write_class_folders(tmp_path / "pets", 12, class_names=("birds",))
    write_class_folders(root, 3, class_names=("fish",))
    at = app_factory().run()
    at.radio(key="data_kind").set_value("upload").run()
    uploader = at.file_uploader(key="data_upload_folder")
    for name, payload in _folder_files(root):
        uploader.upload(name, payload, "image/jpeg")
    at.run()
    at.button(key="data_use_upload").click().run()
    assert not at.exception
    assert "'fish' has 3" in at.error[0].value and "at least 10" in at.error[0].value


def test_folder_upload_paths_cannot_escape(tmp_path):
    from catdog.errors import CatdogError
    from catdog.uploads import extract_dataset_files

    with pytest.raises(CatdogError, match="outside the folder"):
        extract_dataset_files([("pets/cats/1.jpg", b"x"), ("../../evil.jpg", b"x")], tmp_path / "uploads")
    assert not (tmp_path / "evil.jpg").exists()


def test_three_classes_work_end_to_end(app_factory, isolated_dirs):
    # Three classes are supported everywhere: training, evaluation, prediction and the pages
    # (the threshold slider and ROC curve are binary-only and are left out, not broken).
    from helpers import png_bytes, write_class_folders

    from catdog.config import RunConfig
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
            assert _metrics(at)["Test accuracy"] == f"{evaluation.accuracy:.1%}"
            assert not [slider for slider in at.slider if slider.key == "evaluate_threshold"]
