"""Plotly figures for the pages: plain functions of plain values that return a figure.

No Streamlit here (pages pass the figures to `st.plotly_chart`), so each chart is tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    from catdog.explain import Sweep
    from catdog.runs import Run

METRICS = (("accuracy", "Accuracy"), ("loss", "Loss"))  # (history key, subplot title), left to right
_TRAINING_COLOR, _VALIDATION_COLOR = "#1c7ed6", "#d9480f"


def label_frequency_figure(frequencies: Mapping[str, float], baseline: float) -> go.Figure:
    """Each class's share of the training images as bars, with the baseline accuracy as a line."""
    shares = list(frequencies.values())
    figure = go.Figure(go.Bar(x=list(frequencies), y=shares, text=[f"{share:.1%}" for share in shares]))
    figure.add_hline(y=baseline, line_dash="dot", annotation_text="baseline accuracy")
    figure.update_layout(
        yaxis_title="share of training images", yaxis_tickformat=".0%", yaxis_range=[0, 1], height=320, margin=dict(t=30, b=30)
    )
    return figure


def history_figure(
    history: Sequence[dict],
    epochs: int,
    baseline: float | None = None,
    tutorial: float | None = None,
    tutorial_label: str = "tutorial",
    fine_tune_from_epoch: int | None = None,
) -> go.Figure:
    """Training and validation accuracy and loss per epoch, side by side, with the baseline and
    the tutorial's reported validation accuracy as horizontal lines on the accuracy plot.

    Args:
        history: the run's history entries (one dict per finished epoch).
        epochs: the planned number of epochs (fixes the x axis, so the curves grow into it).
        baseline: the data's baseline accuracy; None draws no line.
        tutorial: the validation accuracy the tutorial reported for this model; None draws no line.
        tutorial_label: the name on the tutorial's line.
        fine_tune_from_epoch: the first epoch of a fine-tuning stage, marked on both plots; None
            marks nothing.
    """
    figure = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title in METRICS])
    xs = [entry["epoch"] for entry in history]
    for column, (metric, _) in enumerate(METRICS, start=1):
        for prefix, name, dash, color in (
            ("", "training", "solid", _TRAINING_COLOR),
            ("val_", "validation", "dash", _VALIDATION_COLOR),
        ):
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=[entry.get(prefix + metric) for entry in history],
                    mode="lines+markers",
                    name=f"{name} {metric}",
                    line=dict(dash=dash, color=color),
                ),
                row=1,
                col=column,
            )
    if baseline is not None:
        figure.add_hline(y=baseline, line_dash="dot", line_color="gray", annotation_text=f"baseline {baseline:.0%}", row=1, col=1)
    if tutorial is not None:
        figure.add_hline(
            y=tutorial, line_dash="dot", line_color="green", annotation_text=f"{tutorial_label} {tutorial:.1%}", row=1, col=1
        )
    if fine_tune_from_epoch:
        for column in (1, 2):
            figure.add_vline(
                x=fine_tune_from_epoch - 0.5,  # between the last frozen epoch and the first fine-tuning one
                line_dash="dash",
                line_color="purple",
                annotation_text="fine-tuning" if column == 1 else None,
                row=1,
                col=column,
            )
    figure.update_xaxes(title_text="epoch", range=[0.5, max(epochs, len(xs), 1) + 0.5], dtick=max(1, epochs // 10))
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=1)
    figure.update_layout(height=360, margin=dict(t=40, b=40), legend=dict(orientation="h", y=-0.25))
    return figure


def comparison_figure(chosen: Sequence[Run]) -> go.Figure:
    """Validation (solid) and training (dotted) accuracy and loss of several runs, overlaid: one
    colour and one legend entry per run."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title in METRICS])
    for index, run in enumerate(chosen):
        color = qualitative.Plotly[index % len(qualitative.Plotly)]
        xs = [entry["epoch"] for entry in run.history]
        for column, (metric, _) in enumerate(METRICS, start=1):
            for prefix, dash, kind in (("val_", "solid", "validation"), ("", "dot", "training")):
                figure.add_trace(
                    go.Scatter(
                        x=xs,
                        y=[entry.get(prefix + metric) for entry in run.history],
                        mode="lines",
                        name=f"{run.config.model} {kind} ({run.name})",
                        legendgroup=run.name,
                        showlegend=column == 1,  # the loss plot's traces share the accuracy plot's entries
                        line=dict(color=color, dash=dash),
                    ),
                    row=1,
                    col=column,
                )
        if run.status.get("fine_tune_from_epoch"):
            figure.add_vline(
                x=run.status["fine_tune_from_epoch"] - 0.5, line_dash="dash", line_color=color, annotation_text="fine-tuning"
            )
    figure.update_xaxes(title_text="epoch")
    figure.update_yaxes(tickformat=".0%", row=1, col=1)
    figure.update_layout(height=380, margin=dict(t=40, b=40), legend=dict(orientation="h", y=-0.3))
    return figure


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str]) -> go.Figure:
    """The confusion matrix as an annotated heat map (rows: true class, columns: predicted)."""
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=[f"predicted {name}" for name in class_names],
            y=[f"true {name}" for name in class_names],
            text=matrix,
            texttemplate="%{text}",
            colorscale="Oranges",
            showscale=False,
        )
    )
    figure.update_yaxes(autorange="reversed")  # the first class on top, as the matrix is printed
    figure.update_layout(height=320, margin=dict(t=20, b=20))
    return figure


def roc_figure(fpr: np.ndarray, tpr: np.ndarray, auc: float, threshold_point: tuple[float, float] | None = None) -> go.Figure:
    """The ROC curve with its AUC in its name, the chance diagonal and, optionally, the point of
    the chosen threshold as (false positive rate, true positive rate)."""
    figure = go.Figure(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"ROC (AUC {auc:.3f})"))
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="gray"), name="chance"))
    if threshold_point is not None:
        figure.add_trace(
            go.Scatter(x=[threshold_point[0]], y=[threshold_point[1]], mode="markers", marker=dict(size=12), name="threshold")
        )
    figure.update_layout(height=320, margin=dict(t=20, b=20), xaxis_title="false positive rate", yaxis_title="true positive rate")
    return figure


def sweep_figure(sweep: Sweep, class_names: Sequence[str]) -> go.Figure:
    """Probability of each class as the image turns from -180 to 180 degrees, plain (solid) and
    mirrored (dotted)."""
    figure = go.Figure()
    angles = sweep.angles.tolist()
    for index, name in enumerate(class_names):
        figure.add_trace(go.Scatter(x=angles, y=sweep.probabilities[:, index].tolist(), mode="lines+markers", name=name))
        figure.add_trace(
            go.Scatter(
                x=angles, y=sweep.mirrored[:, index].tolist(), mode="lines", line=dict(dash="dot"), name=f"{name} (mirrored)"
            )
        )
    figure.update_layout(
        height=340, margin=dict(t=20, b=20), xaxis_title="rotation (degrees)", yaxis_title="probability", yaxis_range=[0, 1.02]
    )
    return figure
