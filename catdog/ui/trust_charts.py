"""Plotly figures for "can I trust this model?": the reliability diagram, the learning curve and
the stress tests. Plain functions of plain values, without Streamlit, like `catdog.ui.charts`
(kept apart so neither module grows past a readable size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

_BEFORE_COLOR, _AFTER_COLOR = "#d9480f", "#1c7ed6"


def reliability_figure(before: Sequence[dict], after: Sequence[dict] | None = None) -> go.Figure:
    """A reliability diagram: accuracy against confidence per bin, with the diagonal of perfect
    calibration; bars left below it are over-confident.

    Args:
        before: the bins of `catdog.calibration.Reliability.to_dict` (the model's own probabilities).
        after: the same after temperature scaling; None draws only `before`.
    """
    figure = go.Figure()
    for rows, name, color, offset in (
        (before, "model's own", _BEFORE_COLOR, -0.025),
        (after or (), "after temperature scaling", _AFTER_COLOR, 0.025),
    ):
        if not rows:
            continue
        figure.add_trace(
            go.Bar(
                x=[(row["low"] + row["high"]) / 2 + offset for row in rows],
                y=[row["accuracy"] for row in rows],
                width=0.045,
                name=name,
                marker_color=color,
                text=[row["images"] for row in rows],  # a bin of 3 images says little: show how many
                textposition="outside",
                customdata=[[row["confidence"], row["images"]] for row in rows],
                hovertemplate="accuracy %{y:.1%}<br>mean confidence %{customdata[0]:.1%}<br>%{customdata[1]} images<extra></extra>",
            )
        )
    figure.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="gray"), name="perfectly calibrated")
    )
    figure.update_layout(
        height=340,
        margin=dict(t=20, b=20),
        xaxis_title="confidence (top probability)",
        yaxis_title="accuracy",
        xaxis_range=[0, 1],
        yaxis_range=[0, 1.1],
        xaxis_tickformat=".0%",
        yaxis_tickformat=".0%",
        legend=dict(orientation="h", y=-0.25),
    )
    return figure


def learning_curve_figure(rows: Sequence[dict], label: str = "validation accuracy") -> go.Figure:
    """Validation accuracy against the number of training images, with each size's interval as
    error bars and its seconds in the hover (rows as `catdog.learning_curve` returns them)."""
    figure = go.Figure(
        go.Scatter(
            x=[row["train_images"] for row in rows],
            y=[row["val_accuracy"] for row in rows],
            mode="lines+markers",
            name=label,
            error_y=dict(
                type="data",
                symmetric=False,
                array=[row["high"] - row["val_accuracy"] for row in rows],
                arrayminus=[row["val_accuracy"] - row["low"] for row in rows],
            ),
            customdata=[[row["fraction"], row["low"], row["high"], row["seconds"]] for row in rows],
            hovertemplate="%{x} training images (%{customdata[0]:.0%})<br>validation accuracy %{y:.1%} "
            "(%{customdata[1]:.1%} – %{customdata[2]:.1%})<br>%{customdata[3]:.1f} s<extra></extra>",
        )
    )
    figure.update_layout(
        height=360,
        margin=dict(t=20, b=20),
        xaxis_title="training images",
        yaxis_title="validation accuracy",
        yaxis_tickformat=".0%",
    )
    return figure


def stress_figure(curves: Mapping[str, tuple[Sequence, Sequence[float]]], y_title: str = "accuracy") -> go.Figure:
    """One small plot per perturbation: `y_title` against its strength.

    Args:
        curves: {perturbation name: (strengths as shown on the x axis, values in [0, 1])}.
        y_title: what the values are, e.g. "accuracy" or "confidence in the class".
    """
    names = list(curves)
    figure = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=names, shared_yaxes=True)
    for column, name in enumerate(names, start=1):
        strengths, values = curves[name]
        figure.add_trace(
            go.Scatter(
                x=[str(strength) for strength in strengths],
                y=list(values),
                mode="lines+markers",
                name=name,
                showlegend=False,
                line=dict(color=qualitative.Plotly[(column - 1) % len(qualitative.Plotly)]),
            ),
            row=1,
            col=column,
        )
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%")
    figure.update_yaxes(title_text=y_title, row=1, col=1)
    figure.update_xaxes(type="category")
    figure.update_layout(height=300, margin=dict(t=40, b=20))
    return figure
