"""Plotly figures for the Data health page: the embedding map. No Streamlit here (see charts.py)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

COLOUR_BY = ("class", "split", "flagged")  # what the map's colours can show
NOT_FLAGGED = "not flagged"


def embedding_figure(
    points: np.ndarray,
    paths: Sequence[str],
    classes: Sequence[str],
    splits: Sequence[str],
    flags: Sequence[str],
    colour_by: str = "class",
    method: str = "UMAP",
) -> go.Figure:
    """Every image as a point of the 2-D map, one trace (and legend entry) per colour group.

    Args:
        points: (images, 2) coordinates (`catdog.embedding`).
        paths, classes, splits: each image's file, given class and split.
        flags: what data health flagged each image for ("label error, duplicate"), or "" when nothing.
        colour_by: "class", "split" or "flagged".
        method: the projection's name, for the axis titles.

    Each point's customdata is its index in `paths`, so a selection on the chart maps back to
    the images whichever trace it hits.
    """
    if colour_by not in COLOUR_BY:
        raise ValueError(f"colour_by must be one of {', '.join(COLOUR_BY)}; got {colour_by!r}.")
    points = np.asarray(points, float).reshape(-1, 2)
    groups = {
        "class": list(classes),
        "split": list(splits),
        "flagged": [flag or NOT_FLAGGED for flag in flags],
    }[colour_by]
    order = sorted(set(groups), key=lambda name: (name == NOT_FLAGGED, name))  # flagged groups first in the legend
    figure = go.Figure()
    for number, group in enumerate(order):
        members = np.flatnonzero(np.asarray(groups, dtype=object) == group)
        hover = [
            f"{os.path.basename(paths[i])}<br>{classes[i]} · {splits[i]}" + (f"<br>flagged: {flags[i]}" if flags[i] else "")
            for i in members
        ]
        quiet = colour_by == "flagged" and group == NOT_FLAGGED
        figure.add_trace(
            go.Scattergl(
                x=points[members, 0],
                y=points[members, 1],
                mode="markers",
                name=f"{group} ({len(members)})",
                customdata=members,
                hovertext=hover,
                hoverinfo="text",
                marker=dict(
                    size=5 if quiet else 7,
                    opacity=0.35 if quiet else 0.85,
                    color="#adb5bd" if quiet else qualitative.Plotly[number % len(qualitative.Plotly)],
                ),
            )
        )
    figure.update_layout(
        height=560,
        margin=dict(t=30, b=30),
        dragmode="lasso",
        legend_title_text=colour_by,
        xaxis=dict(title=f"{method} 1", showticklabels=False, zeroline=False),
        yaxis=dict(title=f"{method} 2", showticklabels=False, zeroline=False),
    )
    return figure


def selected_indices(event) -> list[int]:
    """The images a selection on `embedding_figure` holds (its points' customdata), in order."""
    selection = (event or {}).get("selection") or {}
    found = []
    for point in selection.get("points") or []:
        value = point.get("customdata")
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None and int(value) not in found:
            found.append(int(value))
    return found
