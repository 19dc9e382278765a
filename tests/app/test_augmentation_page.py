"""The Augmentation page: Keras' own random flips and rotations on a sample or an upload, and a
trained model's confidence as the image turns."""

from __future__ import annotations

import json

from helpers import png_bytes
from helpers_app import texts


def test_rotation_slider_changes_the_preview_and_shows_degrees(app):
    at = app.run().switch_page("pages/augmentation.py").run()
    (preview,) = at.image
    assert preview.captions == ["original", "variant 1", "variant 2", "variant 3", "variant 4"]
    assert "±36°" in " ".join(texts(at.caption))
    at.slider(key="aug_rotation").set_value(0.4).run()
    (moved,) = at.image
    assert moved.value[0] == preview.value[0]  # same original
    assert moved.value[1:] != preview.value[1:]  # new variants
    assert "±144°" in " ".join(texts(at.caption))
    # No flip and no rotation: every variant is the original.
    at.selectbox(key="aug_flip").set_value("none").run()
    at.slider(key="aug_rotation").set_value(0.0).run()
    (still,) = at.image
    assert len(set(still.value)) == 1


def test_augmentation_of_an_uploaded_photo(app):
    at = app.run().switch_page("pages/augmentation.py").run()
    at.radio(key="aug_source").set_value("upload").run()
    at.file_uploader(key="aug_upload").upload("mine.png", png_bytes(1, size=64), "image/png").run()
    at.slider(key="aug_count").set_value(2).run()
    assert at.image[0].captions == ["original", "variant 1", "variant 2"]
    at.file_uploader(key="aug_upload").clear().upload("bad.png", b"not a png", "image/png").run()
    assert "not an image catdog can read" in at.error[0].value and not at.exception


def test_augmentation_page_sweeps_rotation_with_a_trained_model(app, trained_run):
    at = app.run().switch_page("pages/augmentation.py").run()
    at.toggle(key="aug_sweep").set_value(True).run()
    assert not at.exception, at.exception
    sweep = json.loads(at.get("plotly_chart")[-1].proto.spec)
    angles = sweep["data"][0]["x"]
    assert angles[0] == -180 and angles[-1] == 180 and len(sweep["data"]) == 4
