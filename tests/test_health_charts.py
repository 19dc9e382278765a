"""catdog.ui.health_charts: the embedding map built from plain values, without Streamlit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from catdog.ui import health_charts

PATHS = [f"/d/{name}.jpg" for name in ("a", "b", "c", "d", "e")]
CLASSES = ["cats", "dogs", "cats", "dogs", "cats"]
SPLITS = ["train", "train", "validation", "test", "train"]
FLAGS = ["", "label error", "", "duplicate", "duplicate, outlier"]


def figure(colour_by):
    points = np.arange(10, dtype=float).reshape(5, 2)
    return health_charts.embedding_figure(points, PATHS, CLASSES, SPLITS, FLAGS, colour_by, "UMAP")


def test_health_charts_need_no_streamlit():
    code = "import sys, catdog.ui.health_charts; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize(
    "colour_by, groups",
    [
        ("class", {"cats (3)": [0, 2, 4], "dogs (2)": [1, 3]}),
        ("split", {"test (1)": [3], "train (3)": [0, 1, 4], "validation (1)": [2]}),
        ("flagged", {"duplicate (1)": [3], "duplicate, outlier (1)": [4], "label error (1)": [1], "not flagged (2)": [0, 2]}),
    ],
)
def test_every_image_is_one_point_in_the_trace_of_its_group(colour_by, groups):
    drawn = figure(colour_by)
    found = {trace.name: list(trace.customdata) for trace in drawn.data}
    assert found == groups
    for trace in drawn.data:  # each point where the projection put it
        assert list(trace.x) == [2.0 * index for index in trace.customdata]
    assert drawn.layout.dragmode == "lasso" and drawn.layout.xaxis.title.text == "UMAP 1"
    assert "b.jpg" in " ".join(text for trace in drawn.data for text in trace.hovertext)


def test_unflagged_images_come_last_and_greyed_out():
    traces = figure("flagged").data
    assert traces[-1].name.startswith("not flagged") and traces[-1].marker.color == "#adb5bd"


def test_unknown_colouring_is_refused():
    with pytest.raises(ValueError, match="class, split, flagged"):
        figure("size")


def test_a_selection_maps_back_to_the_images_whichever_trace_it_hits():
    event = {"selection": {"points": [{"customdata": 4}, {"customdata": [1]}, {"customdata": 4}, {"x": 0}]}}
    assert health_charts.selected_indices(event) == [4, 1]
    assert health_charts.selected_indices({"selection": {"points": []}}) == []
    assert health_charts.selected_indices(None) == []
