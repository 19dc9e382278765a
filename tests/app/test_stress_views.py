"""Stress tests on the Augmentation page's robustness view: one image's probability under each
perturbation, its occlusion map, and the test split's accuracy under each perturbation."""

from __future__ import annotations

import json

import pytest

from catdog import stress
from catdog.evaluate import evaluate


def test_stress_views_show_each_perturbation_and_the_occlusion_map(app, trained_run):
    at = app.run().switch_page("pages/augmentation.py").run()
    at.toggle(key="aug_stress").set_value(True).run()
    assert not at.exception, at.exception
    charts = [json.loads(element.proto.spec) for element in at.get("plotly_chart")]
    (one_image,) = [chart for chart in charts if [trace["name"] for trace in chart["data"]] == stress.perturbation_names()]
    assert all(0 <= value <= 1 for trace in one_image["data"] for value in trace["y"])
    assert any(caption.startswith("Occlusion: warm") for image in at.image for caption in image.captions)

    at.toggle(key="aug_stress_split").set_value(True).run()
    assert not at.exception, at.exception
    charts = [json.loads(element.proto.spec) for element in at.get("plotly_chart")]
    split = charts[-1]
    assert split["layout"]["yaxis"]["title"]["text"] == "test accuracy"
    accuracy = evaluate(trained_run).accuracy
    assert [trace["y"][0] for trace in split["data"]] == pytest.approx([accuracy] * len(stress.PERTURBATIONS))
