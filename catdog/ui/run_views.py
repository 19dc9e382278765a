"""Saved runs on the pages: the usable ones, a picker, the runs table and the curve overlay (one
version each, shared by the Train and Runs pages), and the comparison with the tutorial."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from catdog import runs
from catdog.models import MODELS
from catdog.ui import charts, state

_PERCENT = ("accuracy", "val accuracy", "best val accuracy", "test accuracy")
_TUTORIAL_EPOCHS, _TUTORIAL_BATCH_SIZE = 20, 32  # the tutorial's settings: runs that repeat it


def usable_runs() -> list[runs.Run]:
    """Runs with a saved model that are not training, best final validation accuracy first."""
    usable = [run for run in runs.list_runs() if run.usable]
    return sorted(usable, key=lambda run: _or_lowest(run.final("val_accuracy")), reverse=True)


def run_label(run: runs.Run) -> str:
    """One line naming a run for pickers: model, validation accuracy, epochs, name."""
    accuracy = run.final("val_accuracy")
    shown = f"val accuracy {accuracy:.1%}" if accuracy is not None else "no validation yet"
    return f"{run.config.model} · {shown} · {len(run.history)} epochs · {run.state} · {run.name}"


def run_picker(label: str, candidates: Sequence[runs.Run], key: str, help: str | None = None) -> runs.Run:
    """A selectbox of runs (the first one chosen by default), labelled by `run_label`."""
    by_name = {run.name: run for run in candidates}
    name = st.selectbox(label, list(by_name), format_func=lambda name: run_label(by_name[name]), key=key, help=help)
    return by_name[name]


def no_runs_yet(message: str) -> None:
    """Say that the page needs a trained run, link to the Train page and end the page here."""
    st.info(message, icon=":material/model_training:")
    st.page_link(state.TRAIN_PAGE, label="Go to Train", icon=":material/model_training:")
    st.stop()


def runs_table(shown: Sequence[runs.Run], key: str) -> None:
    """One row per run: its settings, state, accuracies, wall time and any note.

    Args:
        shown: the runs, in the order to list them.
        key: the page's prefix; the table's widget key is `<key>_runs_table`.
    """
    rows = []
    for run in shown:
        summary = run.summary()
        rows.append(
            {
                "run": run.name,
                "model": summary["model"],
                "state": summary["state"],
                "epochs": f"{summary['epochs']} of {summary['epochs_planned']}",
                "image size": run.config.image_size[0],
                "batch size": summary["batch_size"],
                "learning rate": summary["learning_rate"],
                "accuracy": summary["accuracy"],
                "val accuracy": summary["val_accuracy"],
                "best val accuracy": summary["best_val_accuracy"],
                "test accuracy": summary["test_accuracy"],
                "wall time (s)": summary["seconds"],
                "fast path": "yes" if summary["fast_path"] else "no",
                "note": run.status.get("error") or run.status.get("note") or "",
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            **{name: st.column_config.NumberColumn(format="percent") for name in _PERCENT},
            "wall time (s)": st.column_config.NumberColumn(format="%.1f"),
        },
        key=f"{key}_runs_table",
    )


def curve_overlay(shown: Sequence[runs.Run], key: str, preselected: int = 1) -> None:
    """A multiselect of the runs with finished epochs and their curves overlaid in one chart.

    Args:
        shown: the runs to offer, in order.
        key: the page's prefix; the widgets' keys are `<key>_compare` and `<key>_compare_chart`.
        preselected: how many of the first runs are chosen at first.
    """
    by_name = {run.name: run for run in shown if run.history}
    if not by_name:
        return
    chosen = st.multiselect("Overlay the curves of", list(by_name), default=list(by_name)[:preselected], key=f"{key}_compare")
    if chosen:
        st.plotly_chart(charts.comparison_figure([by_name[name] for name in chosen]), key=f"{key}_compare_chart")


def tutorial_table(every: Sequence[runs.Run], key: str) -> None:
    """The tutorial's reported validation accuracy of each of its models beside catdog's latest
    finished run of that model with the tutorial's epochs and batch size."""
    rows = []
    for model, spec in MODELS.items():
        if spec.tutorial_val_accuracy is None:
            continue
        latest = next((run for run in every if run.config.model == model and _repeats_the_tutorial(run)), None)
        rows.append(
            {
                "model": spec.title,
                "tutorial val accuracy": spec.tutorial_val_accuracy,
                "catdog val accuracy": latest.final("val_accuracy") if latest else None,
                "catdog test accuracy": (latest.evaluation or {}).get("test_accuracy") if latest else None,
                "wall time (s)": round(latest.status.get("seconds", 0), 1) if latest else None,
                "run": latest.name if latest else "not trained yet",
            }
        )
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            name: st.column_config.NumberColumn(format="percent")
            for name in ("tutorial val accuracy", "catdog val accuracy", "catdog test accuracy")
        },
        key=key,
    )


def _repeats_the_tutorial(run: runs.Run) -> bool:
    return run.state == runs.FINISHED and run.config.epochs == _TUTORIAL_EPOCHS and run.config.batch_size == _TUTORIAL_BATCH_SIZE


def _or_lowest(value: float | None) -> float:
    return value if value is not None else -1.0
