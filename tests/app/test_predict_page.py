"""The Predict page: uploaded and camera photos get a label and a bar per class, with the best run
chosen by default and Grad-CAM on request."""

from __future__ import annotations

import io
import json
import shutil

from helpers import jpeg_bytes, png_bytes
from helpers_app import texts
from PIL import Image

from catdog.predict import Predictor
from catdog.ui import inference


def _labels(at) -> list[str]:
    return [markdown.value for markdown in at.markdown if markdown.value.startswith("### ")]


def test_predict_without_runs_says_what_to_do(app):
    at = app.run().switch_page("pages/predict.py").run()
    (message,) = texts(at.info)
    assert "Train page" in message and "Model 4" in message and "about a minute" in message
    assert not at.file_uploader


def test_uploaded_photos_get_a_label_and_a_bar_per_class(app, trained_run):
    at = app.run().switch_page("pages/predict.py").run()
    assert at.selectbox(key="predict_run").value == trained_run.name
    at.file_uploader(key="predict_uploads").set_value(
        [("red.png", png_bytes(0), "image/png"), ("blue.png", png_bytes(1, seed=9), "image/png")]
    ).run()
    assert not at.exception and not at.error, texts(at.error)
    assert _labels(at) == ["### cats", "### dogs"]
    bars = at.get("progress")
    assert len(bars) == 4 and all(":" in bar.text and bar.text.endswith("%") for bar in bars)
    assert bars[0].text.startswith("cats: ") and bars[0].value > 50
    assert [image.captions for image in at.image] == [["red.png"], ["blue.png"]]


def test_an_unreadable_upload_gets_its_message_and_the_others_still_work(app, trained_run):
    at = app.run().switch_page("pages/predict.py").run()
    at.file_uploader(key="predict_uploads").set_value(
        [
            ("notes.jpg", b"these are not pixels", "image/jpeg"),
            ("empty.png", b"", "image/png"),
            ("red.png", png_bytes(0), "image/png"),
        ]
    ).run()
    assert not at.exception
    errors = texts(at.error)
    assert errors[0].startswith("notes.jpg: not an image catdog can read")
    assert errors[1].startswith("empty.png: the file is empty")
    assert _labels(at) == ["### cats"]


def test_a_camera_photo_is_classified(app, trained_run):
    at = app.run().switch_page("pages/predict.py").run()
    at.toggle(key="predict_use_camera").set_value(True).run()
    at.camera_input(key="predict_camera").upload("photo.jpg", jpeg_bytes(1)).run()
    assert _labels(at) == ["### dogs"]


def test_the_best_run_is_chosen_by_default(app, trained_run, isolated_dirs):
    worse = isolated_dirs / "runs" / "29991231-000000-model3-beef"  # newer, listed first
    shutil.copytree(trained_run.path, worse)
    history = json.loads((worse / "history.json").read_text())
    history[-1]["val_accuracy"] = 0.1
    (worse / "history.json").write_text(json.dumps(history))
    at = app.run().switch_page("pages/predict.py").run()
    assert at.selectbox(key="predict_run").options[0].endswith(trained_run.name)
    assert at.selectbox(key="predict_run").value == trained_run.name


def test_predict_page_explains_with_grad_cam(app, trained_run):
    at = app.run().switch_page("pages/predict.py").run()
    at.file_uploader(key="predict_uploads").upload("red.png", png_bytes(0), "image/png").run()
    before = len(at.image)
    at.toggle(key="predict_gradcam").set_value(True).run()
    assert not at.exception, at.exception
    assert len(at.image) == before + 1 and "Grad-CAM" in at.image[-1].captions[0]
    assert "Predicted with TensorFlow." in [caption.value for caption in at.caption]  # the tests turn LiteRT off


def test_classify_helper_keeps_order_and_errors(trained_run):
    class Upload(io.BytesIO):
        def __init__(self, name, payload):
            super().__init__(payload)
            self.name = name

    answers = inference.classify(trained_run, [Upload("a.png", png_bytes(1, seed=4)), Upload("b.gif", b"GIF89a broken")])
    assert [answer.name for answer in answers] == ["a.png", "b.gif"]
    assert answers[0].prediction.label == "dogs" and answers[1].prediction.error
    assert Image.open(io.BytesIO(answers[0].preview)).format == "JPEG" and answers[1].preview is None


def test_a_photo_is_classified_once_across_reruns_and_sessions(app_factory, app_dataset, trained_run, monkeypatch):
    classified = []
    predict = Predictor.predict

    def counting(self, sources, names=None, **options):
        classified.extend(names)
        return predict(self, sources, names=names, **options)

    monkeypatch.setattr(Predictor, "predict", counting)
    inference._answer.clear()
    at = app_factory(app_dataset).run().switch_page("pages/predict.py").run()
    at.file_uploader(key="predict_uploads").upload("red.png", png_bytes(0), "image/png").run()
    both = [("red.png", png_bytes(0), "image/png"), ("blue.png", png_bytes(1, seed=9), "image/png")]
    at.file_uploader(key="predict_uploads").set_value(both).run()
    at.toggle(key="predict_gradcam").set_value(True).run()
    other = app_factory(app_dataset).run().switch_page("pages/predict.py").run()  # a second person, same photo
    other.file_uploader(key="predict_uploads").upload("red.png", png_bytes(0), "image/png").run()
    assert not at.exception and not other.exception
    assert _labels(at) == ["### cats", "### dogs"] and _labels(other) == ["### cats"]
    assert classified == ["red.png", "blue.png"]


def test_keras_is_not_reset_after_every_rerun(app, trained_run, monkeypatch):
    import keras

    resets = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: resets.append(args))
    at = app.run().switch_page("pages/predict.py").run()
    at.file_uploader(key="predict_uploads").upload("red.png", png_bytes(0), "image/png").run()
    at.toggle(key="predict_gradcam").set_value(True).run()
    assert not at.exception and _labels(at) == ["### cats"]
    assert resets == []  # the shared model and TensorFlow's kernel cache survive every rerun
