"""catdog.ui.trust_charts: the reliability diagram, the learning curve and the stress-test plots,
built from plain values without Streamlit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from catdog.ui import trust_charts


def test_trust_charts_need_no_streamlit():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, catdog.ui.trust_charts; print('streamlit' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_reliability_diagram_has_a_bar_per_filled_bin_and_the_diagonal():
    before = [
        {"low": 0.5, "high": 0.6, "confidence": 0.55, "accuracy": 0.5, "images": 4},
        {"low": 0.9, "high": 1.0, "confidence": 0.97, "accuracy": 0.8, "images": 10},
    ]
    after = [{"low": 0.7, "high": 0.8, "confidence": 0.75, "accuracy": 0.8, "images": 14}]
    figure = trust_charts.reliability_figure(before, after)
    own, scaled, diagonal = figure.data
    assert list(own.y) == [0.5, 0.8] and list(scaled.y) == [0.8]
    assert own.x[0] < 0.55 < scaled.x[0] + 0.5  # side by side around the bin centres
    assert list(diagonal.x) == [0, 1] and list(diagonal.y) == [0, 1]
    assert len(trust_charts.reliability_figure(before).data) == 2


def test_learning_curve_error_bars_reach_the_interval():
    rows = [
        {"fraction": 0.1, "train_images": 200, "val_accuracy": 0.9, "low": 0.85, "high": 0.93, "seconds": 1.5},
        {"fraction": 1.0, "train_images": 2000, "val_accuracy": 0.97, "low": 0.96, "high": 0.98, "seconds": 4.0},
    ]
    (curve,) = trust_charts.learning_curve_figure(rows).data
    assert list(curve.x) == [200, 2000]
    assert list(curve.error_y.array) == pytest.approx([0.03, 0.01])
    assert list(curve.error_y.arrayminus) == pytest.approx([0.05, 0.01])


def test_stress_figure_has_one_plot_per_perturbation():
    figure = trust_charts.stress_figure({"brightness": ([0, 0.5], [0.9, 0.7]), "blur": ([0, 2], [0.9, 0.4])})
    assert [trace.name for trace in figure.data] == ["brightness", "blur"]
    assert list(figure.data[1].y) == [0.9, 0.4] and list(figure.data[1].x) == ["0", "2"]
