"""catdog.ui.charts: each Plotly figure built from plain values, without Streamlit."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from catdog.ui import charts


def _history(epochs):
    return [
        {"epoch": e, "accuracy": 0.5 + e / 20, "val_accuracy": 0.45 + e / 20, "loss": 1 / e, "val_loss": 1.5 / e} for e in epochs
    ]


def _lines(figure) -> list[dict]:
    return [shape for shape in figure.to_dict()["layout"].get("shapes", []) if shape["type"] == "line"]


def test_charts_need_no_streamlit():
    # Importing charts alone must not load Streamlit (run in a fresh interpreter to be sure).
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", "import sys, catdog.ui.charts; print('streamlit' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_label_frequencies_are_bars_with_the_baseline_as_a_line():
    figure = charts.label_frequency_figure({"cats": 0.25, "dogs": 0.75}, baseline=0.75)
    (bars,) = figure.data
    assert list(bars.x) == ["cats", "dogs"] and list(bars.y) == [0.25, 0.75] and list(bars.text) == ["25.0%", "75.0%"]
    (baseline,) = _lines(figure)
    assert baseline["y0"] == baseline["y1"] == 0.75


def test_history_has_training_and_validation_curves_per_metric_over_the_planned_epochs():
    figure = charts.history_figure(_history([1, 2, 3]), epochs=10)
    names = [(trace.name, trace.xaxis) for trace in figure.data]
    assert names == [
        ("training accuracy", "x"),
        ("validation accuracy", "x"),
        ("training loss", "x2"),
        ("validation loss", "x2"),
    ]
    validation = figure.data[1]
    assert list(validation.x) == [1, 2, 3] and list(validation.y) == pytest.approx([0.5, 0.55, 0.6])
    assert figure.data[0].line.color != validation.line.color and validation.line.dash == "dash"
    layout = figure.to_dict()["layout"]
    # The x axes span the planned epochs, so the curves grow into the chart as epochs finish.
    assert layout["xaxis"]["range"] == layout["xaxis2"]["range"] == [0.5, 10.5]
    assert not _lines(figure)  # no baseline, tutorial or fine-tuning given: no lines


def test_history_past_the_planned_epochs_widens_the_axis():
    figure = charts.history_figure(_history(range(1, 8)), epochs=5)
    assert figure.to_dict()["layout"]["xaxis"]["range"] == [0.5, 7.5]


def test_history_draws_the_baseline_and_the_tutorials_accuracy_on_the_accuracy_plot():
    figure = charts.history_figure(_history([1, 2]), epochs=5, baseline=0.5, tutorial=0.7698, tutorial_label="tutorial's Model 3")
    lines = _lines(figure)
    assert sorted(line["y0"] for line in lines) == pytest.approx([0.5, 0.7698])
    assert {line["yref"] for line in lines} == {"y"}  # the accuracy plot's axis, not the loss plot's
    texts = [annotation["text"] for annotation in figure.to_dict()["layout"]["annotations"]]
    assert "baseline 50%" in texts and "tutorial's Model 3 77.0%" in texts


def test_the_curves_mark_where_fine_tuning_starts():
    history = [{"epoch": e, "accuracy": 0.9, "val_accuracy": 0.9, "loss": 0.2, "val_loss": 0.2} for e in (1, 2, 3)]
    plain = charts.history_figure(history, 5).to_dict()["layout"].get("shapes", [])
    marked = charts.history_figure(history, 5, fine_tune_from_epoch=3).to_dict()["layout"]["shapes"]
    assert [shape["x0"] for shape in marked if shape["type"] == "line"] == [2.5, 2.5] and not plain
    assert {shape["xref"] for shape in marked} == {"x", "x2"}  # on both plots


def _run(name, epochs, status=None):
    return SimpleNamespace(name=name, history=_history(epochs), config=SimpleNamespace(model="model3"), status=status or {})


def test_comparison_has_one_legend_group_and_one_colour_per_run():
    first, second = _run("run-a", [1, 2, 3]), _run("run-b", [1, 2], status={"fine_tune_from_epoch": 2})
    figure = charts.comparison_figure([first, second])
    groups = {}
    for trace in figure.data:
        groups.setdefault(trace.legendgroup, []).append(trace)
    assert list(groups) == ["run-a", "run-b"]
    for name, traces in groups.items():
        assert len(traces) == 4  # validation and training, accuracy and loss
        assert len({trace.line.color for trace in traces}) == 1
        assert [trace.name for trace in traces if trace.showlegend] == [
            f"model3 validation ({name})",
            f"model3 training ({name})",
        ]
    assert groups["run-a"][0].line.color != groups["run-b"][0].line.color
    assert list(groups["run-b"][0].x) == [1, 2]
    # Only the run that fine-tuned is marked, in its colour, on both plots.
    marks = _lines(figure)
    assert sorted(mark["xref"] for mark in marks) == ["x", "x2"]
    assert all(mark["x0"] == 1.5 and mark["line"]["color"] == groups["run-b"][0].line.color for mark in marks)


def test_confusion_heat_map_holds_the_matrix_true_classes_down_the_side():
    matrix = np.array([[40, 3], [5, 52]])
    figure = charts.confusion_figure(matrix, ["cats", "dogs"])
    (heat,) = figure.data
    assert np.array_equal(np.asarray(heat.z), matrix) and np.array_equal(np.asarray(heat.text), matrix)
    assert list(heat.x) == ["predicted cats", "predicted dogs"] and list(heat.y) == ["true cats", "true dogs"]
    assert figure.layout.yaxis.autorange == "reversed"  # the first class on top, as the matrix reads


def test_roc_names_its_auc_and_marks_the_threshold_when_given():
    fpr, tpr = np.array([0.0, 0.1, 0.4, 1.0]), np.array([0.0, 0.6, 0.9, 1.0])
    plain = charts.roc_figure(fpr, tpr, 0.87549)
    assert [trace.name for trace in plain.data] == ["ROC (AUC 0.875)", "chance"]
    assert list(plain.data[0].x) == list(fpr) and list(plain.data[0].y) == list(tpr)
    assert list(plain.data[1].x) == [0, 1] and list(plain.data[1].y) == [0, 1]
    marked = charts.roc_figure(fpr, tpr, 0.87549, threshold_point=(0.1, 0.6))
    assert marked.data[-1].name == "threshold" and (marked.data[-1].x, marked.data[-1].y) == ((0.1,), (0.6,))


def test_sweep_has_a_plain_and_a_mirrored_curve_per_class():
    angles = np.array([-180, -90, 0, 90, 180])
    probabilities = np.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1], [0.5, 0.5], [0.3, 0.7]])
    sweep = SimpleNamespace(angles=angles, probabilities=probabilities, mirrored=probabilities[::-1])
    figure = charts.sweep_figure(sweep, ["cats", "dogs"])
    assert [trace.name for trace in figure.data] == ["cats", "cats (mirrored)", "dogs", "dogs (mirrored)"]
    assert all(list(trace.x) == angles.tolist() for trace in figure.data)
    assert list(figure.data[2].y) == [0.8, 0.6, 0.1, 0.5, 0.7]
    assert list(figure.data[3].y) == [0.7, 0.5, 0.1, 0.6, 0.8] and figure.data[3].line.dash == "dot"
