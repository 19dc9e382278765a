"""Run diff for the Runs page: pick two runs, see the test images they classify differently, each
with both runs' predictions and Grad-CAM heat maps side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from catdog import runs
from catdog.evaluate import disagreements
from catdog.images import load_image
from catdog.ui import inference, run_views, state


def run_diff(candidates: Sequence[runs.Run], key: str) -> None:
    """Two run pickers and the gallery of the test images they disagree on.

    Args:
        candidates: usable runs to choose from (at least two are needed).
        key: the page's prefix for the widgets' keys (`<key>_diff_first`, `<key>_diff_second`, ...).
    """
    if len(candidates) < 2:
        st.caption("Train a second run to compare two runs image by image.")
        return
    left, right = st.columns(2)
    with left:
        first = run_views.run_picker("First run", candidates, key=f"{key}_diff_first")
    with right:
        second = run_views.run_picker(
            "Second run", [run for run in candidates if run.name != first.name], key=f"{key}_diff_second"
        )
    explain = st.toggle("Show their Grad-CAM heat maps", value=True, key=f"{key}_diff_gradcam")
    with state.reported_errors():
        found = disagreements(inference.evaluation_for(first), inference.evaluation_for(second))
        class_names = first.class_names
        st.caption(
            f"{len(found)} test images get different classes from the two runs "
            f"({sum(item.first.argmax() == item.label for item in found)} of them the first run gets right, "
            f"{sum(item.second.argmax() == item.label for item in found)} the second); the surest clashes first."
        )
        if not found:
            return
        shown = (
            st.slider("Images to show", 1, min(30, len(found)), min(6, len(found)), key=f"{key}_diff_count")
            if len(found) > 1
            else 1
        )
        for item in found[:shown]:
            columns = st.columns(3)
            columns[0].image(
                load_image(item.path, first.config.image_size), caption=f"{Path(item.path).name}: truly {class_names[item.label]}"
            )
            for column, run, scores in ((columns[1], first, item.first), (columns[2], second, item.second)):
                image = load_image(item.path, run.config.image_size)
                if explain:
                    image, _ = inference.grad_cam_overlay(run, image)
                verdict = "right" if scores.argmax() == item.label else "wrong"
                column.image(
                    image,
                    caption=f"{run.config.model} ({run.name}): {class_names[int(scores.argmax())]} {scores.max():.0%}, {verdict}",
                    width="stretch",
                )
