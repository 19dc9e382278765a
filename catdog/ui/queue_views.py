"""The trainings in progress and the queue, as every page's sidebar and the Train page show them.

    queue_views.training_lines(now)       # who trains what, in the sidebar
    queue_views.queue_list(now, key)      # the queue: position, what, who; Cancel on your own entries

Who is who is the browser session (`training.who_am_i`); `$CATDOG_ANYONE_MAY_STOP=1` lets
everyone cancel any entry and stop any training (a teacher's setting, `catdog.queue`).
"""

from __future__ import annotations

import streamlit as st

from catdog import queue
from catdog.errors import CatdogError
from catdog.ui import training


def training_lines(now: training.TrainingState) -> None:
    """A caption per training in progress, with who started it, or that one is starting."""
    owner, _ = training.who_am_i()
    for run in now.running:
        st.caption(f"Training {run.config.model}: {len(run.history)} of {run.epochs_planned} epochs done")
        st.caption(f"started by {starter_label(run, owner)}")
    if now.starting:
        st.caption("A training is starting…")


def starter_label(run, owner: str) -> str:
    """Who started `run`: their label, "you", or "the command line"."""
    entry = queue.starter_of(run)
    if entry is None:
        return "the command line"
    return "you" if entry["owner"] == owner else entry["label"]


def queue_list(now: training.TrainingState, key: str) -> None:
    """The waiting trainings in order, each with its position and who queued it; a Cancel button
    beside each entry this session may cancel."""
    if not now.waiting:
        return
    owner, _ = training.who_am_i()
    st.caption(f"Queue: {len(now.waiting)} waiting, started one after another")
    for position, entry in enumerate(now.waiting, start=1):
        mine = entry["owner"] == owner
        # "1\\." keeps Markdown from turning the line into a numbered list (and dropping the number).
        line = f"{position}\\. {entry['what']} · {'you' if mine else entry['label']}"
        if not (mine or queue.anyone_may_stop()):
            st.caption(line)
            continue
        text, button = st.columns([3, 2] if key == "sidebar" else [4, 1], vertical_alignment="center")  # the sidebar is narrow
        text.caption(line)
        button.button(
            "Cancel",
            key=f"{key}_cancel_{entry['id']}",
            help="Take this training out of the queue.",
            on_click=_cancel,
            args=(entry["id"], owner),
        )


def my_position(now: training.TrainingState, launch: dict | None) -> int | None:
    """Where this session's last queued training stands: 1 = next to start; None when not waiting."""
    if not launch or "entry" not in launch:
        return None
    ids = [entry["id"] for entry in now.waiting]
    return ids.index(launch["entry"]) + 1 if launch["entry"] in ids else None


def _cancel(entry_id: str, owner: str) -> None:
    try:
        queue.cancel(entry_id, owner)
    except CatdogError as error:
        st.toast(str(error), icon=":material/error:")
