"""The Learning curve page: drawing a curve in a background process, its progress, then the chart
and the table of its rows (shown again at once on the next visit)."""

from __future__ import annotations

import json

import pytest
from helpers_app import plotly_specs, texts

from catdog.ui import learning


@pytest.mark.slow
def test_learning_curve_page_draws_a_curve_in_the_background(app, app_dataset):
    at = app.run().switch_page("pages/learning_curve.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="curve_model").set_value("model3").run()
    at.slider(key="curve_seeds").set_value(1).run()
    at.slider(key="curve_epochs_full").set_value(1).run()
    assert any("trains for real: 5 trainings of 1 epochs" in caption for caption in texts(at.caption))
    at.button(key="curve_draw").click().run()
    assert not at.exception, at.exception
    for process in list(learning._processes().values()):
        assert process.wait(timeout=600) == 0
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    rows = json.loads(learning.curve_files(app_dataset, "model3", 1, 1)["rows"].read_text())
    (chart,) = [
        spec for spec in plotly_specs(at) if spec["layout"].get("xaxis", {}).get("title", {}).get("text") == "training images"
    ]
    assert chart["data"][0]["x"] == [row["train_images"] for row in rows] and len(rows) == 5
    assert len(at.dataframe[0].value) == 5

    again = app.run().switch_page("pages/learning_curve.py").run()  # another visit: the curve is there
    again.selectbox(key="curve_model").set_value("model3").run()
    again.slider(key="curve_seeds").set_value(1).run()
    again.slider(key="curve_epochs_full").set_value(1).run()
    assert len(again.dataframe[0].value) == 5


def test_learning_curve_page_asks_for_a_dataset(app_factory):
    at = app_factory().run().switch_page("pages/learning_curve.py").run()
    assert not at.exception and "Data page" in texts(at.info)[0]
