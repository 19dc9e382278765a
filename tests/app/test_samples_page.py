"""The Samples page: the tutorial's grid, one row of random images per class, titled with the class."""

from __future__ import annotations

from helpers import write_class_folders


def test_sample_grid_has_one_row_per_class_titled_with_the_class(app_factory, isolated_dirs):
    three = write_class_folders(isolated_dirs / "three", 15, class_names=("cats", "dogs", "foxes"))
    at = app_factory(three).run().switch_page("pages/samples.py").run()
    assert [image.captions for image in at.image] == [[name] * 3 for name in ("cats", "dogs", "foxes")]
    at.slider(key="samples_per_class").set_value(5).run()
    assert [len(image.value) for image in at.image] == [5, 5, 5]
    before = [image.value for image in at.image]
    at.button(key="samples_draw").click().run()
    assert [image.value for image in at.image] != before  # new random images
    at.selectbox(key="samples_split").set_value("validation").run()
    assert [image.captions[0] for image in at.image] == ["cats", "dogs", "foxes"]


def test_images_damaged_after_the_check_get_a_message_not_a_traceback(app, app_dataset):
    at = app.run().switch_page("pages/samples.py").run()
    for path in (app_dataset / "train" / "cats").glob("*.jpg"):
        path.write_bytes(b"overwritten")  # same folder listing: the cached check still stands
    at.button(key="samples_draw").click().run()
    assert not at.exception
    assert "not an image catdog can read" in at.error[0].value
    assert [image.captions[0] for image in at.image] == ["dogs"]  # the other row still shows
    at.switch_page("pages/augmentation.py").run()
    assert not at.exception
