"""The Data health page: counts, galleries with "Leave out of training" boxes that write the
exclusion list, and the embedding map.

Model 4's base runs with random weights at 32 pixels here (the page's own ImageNet base at 160
pixels needs the weights file): the check itself is the real one.
"""

from __future__ import annotations

import pytest
from helpers import tiny_config
from helpers_app import metrics, plotly_specs
from PIL import Image

from catdog import exclusions, health
from catdog.ui import health as page_helpers


@pytest.fixture
def small_base(monkeypatch):
    def check(config, progress=None):
        return health.check_health(config=tiny_config(model="model4", data=config.data), progress=progress)

    monkeypatch.setattr(page_helpers, "check_health", check)
    page_helpers._results().clear()


def test_page_counts_findings_and_a_box_leaves_a_duplicate_out_of_training(app, app_dataset, small_base):
    original = app_dataset / "train" / "dogs" / "dogs.3.jpg"
    copy = app_dataset / "validation" / "cats" / "copy.png"
    Image.open(original).save(copy)  # the same photo, re-encoded, in another split (and class)
    at = app.run().switch_page("pages/health.py").run()
    assert not at.exception and at.title[0].value == "Data health"
    shown = metrics(at)
    assert shown["Images"] == "129" and int(shown["Near-duplicate pairs"]) >= 1 and shown["Left out of training"] == "0"
    assert any("across splits" in markdown.value for markdown in at.markdown)

    box = at.checkbox(key="health_out_duplicate_0_1")  # the second image of the first pair: the copy
    assert box.label == "Leave out of training" and box.value is False
    box.check().run()
    assert not at.exception
    assert exclusions.load(app_dataset) == {str(copy.resolve())}
    assert metrics(at)["Left out of training"] == "1"
    assert at.checkbox(key="health_out_duplicate_0_1").value is True

    at.checkbox(key="health_out_duplicate_0_1").uncheck().run()
    assert exclusions.load(app_dataset) == frozenset()


def test_embedding_map_colours_by_class_split_or_flag(app, small_base):
    at = app.run().switch_page("pages/health.py").run()
    (spec,) = plotly_specs(at)
    assert {trace["name"].split(" (")[0] for trace in spec["data"]} == {"cats", "dogs"}
    assert sum(len(trace["hovertext"]) for trace in spec["data"]) == 128  # one point per image
    assert any("PCA of 128 images" in caption.value for caption in at.caption)
    at.radio(key="health_colour").set_value("split").run()
    (spec,) = plotly_specs(at)
    assert {trace["name"].split(" (")[0] for trace in spec["data"]} == {"train", "validation", "test"}


def test_without_a_dataset_the_page_points_to_the_data_page(app_factory):
    at = app_factory().run().switch_page("pages/health.py").run()
    assert not at.exception
    assert "Choose one on the Data page" in at.info[0].value or "No dataset" in at.info[0].value
