"""Trainings in the background: launching `python -m catdog train --config FILE` (or `reproduce`),
finding what is training now, and reading its progress for the pages.

A training runs in its own process and session (start_new_session), so page switches, refreshes,
closed tabs and even a restart of the dashboard do not stop it; it reports through its run
directory (history.json per epoch, progress.json per batch), which every page reads.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import streamlit as st

from catdog import runs
from catdog.config import RunConfig
from catdog.errors import CatdogError
from catdog.paths import runs_dir, write_json_atomic

REPO = Path(__file__).resolve().parents[2]
LAUNCHES = ".launches"  # under the runs folder: each launch's settings file and log


@dataclasses.dataclass(frozen=True)
class TrainingState:
    """What is training under the runs folder right now."""

    run: runs.Run | None  # the run in progress, once its process has created it
    starting: bool  # a process this server launched is alive but has not created its run yet

    @property
    def active(self) -> bool:
        return self.run is not None or self.starting


def training_state() -> TrainingState:
    """The training in progress (started from any page, session or the command line)."""
    alive = {pid for pid, process in list(_launched().items()) if process.poll() is None}
    found = runs.list_runs()
    run = next((run for run in found if run.state == runs.RUNNING), None)
    if run is not None:
        return TrainingState(run, False)
    # A launched process that is alive and has no run directory yet is still starting up; one
    # whose run already ended (it is just exiting) is not.
    with_runs = {run.status.get("pid") for run in found}
    return TrainingState(None, bool(alive - with_runs))


def launch_training(config: RunConfig, dataset_root: str | Path) -> dict:
    """Train `config` on `dataset_root` in a background process: {"pid", "log", "config", "started"}.

    The settings travel as one file, `config` in the answer: `config.to_dict()` with `data` set to
    the dataset, read back by `python -m catdog train --config FILE` as the same RunConfig.
    """
    _refuse_a_second_training()
    stem = _launch_stem(config.model)
    settings = stem.parent / f"{stem.name}.json"
    write_json_atomic(settings, config.replace(data=str(dataset_root)).to_dict())
    command = ["train", "--config", str(settings), "--runs-dir", str(runs_dir())]
    return {**_launch(command, stem.parent / f"{stem.name}.log"), "config": str(settings)}


def launch_reproduce(dataset_root: str | Path, epochs: int = 20) -> dict:
    """Start `python -m catdog reproduce` (the tutorial's four models, one after the other) in
    the background; each model's run shows live on the Train page like any training."""
    _refuse_a_second_training()
    stem = _launch_stem("reproduce")
    command = ["reproduce", "--epochs", str(epochs), "--runs-dir", str(runs_dir()), "--data", str(dataset_root)]
    return _launch(command, stem.parent / f"{stem.name}.log")


def launch_error(launch: dict | None) -> str | None:
    """Why a launched training ended before creating its run (its `error:` line), or None."""
    if not launch:
        return None
    process = _launched().get(launch["pid"])
    if process is None or process.poll() in (None, 0):
        return None
    if any(run.status.get("pid") == launch["pid"] for run in runs.list_runs()):
        return None  # it made a run: the run's own state says what happened
    try:
        lines = Path(launch["log"]).read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    return errors[-1] if errors else f"the training process ended with exit code {process.returncode}; see {launch['log']}."


def progress_summary(run: runs.Run) -> tuple[float, str]:
    """(fraction done, one line) for a run in progress, from its progress.json."""
    progress = runs.read_progress(run.path) or {}
    phase = progress.get("phase")
    epochs = progress.get("epochs") or run.epochs_planned
    epoch, batch, batches = progress.get("epoch", 0), progress.get("batch", 0), progress.get("batches", 0)
    eta = progress.get("eta")
    left = f" · {format_duration(eta)} left" if eta is not None else ""
    if phase == "train" and batches:
        fraction = ((epoch - 1) * batches + batch) / (epochs * batches)
        return min(max(fraction, 0.0), 1.0), f"Epoch {epoch} of {epochs} · batch {batch} of {batches}{left}"
    if phase == "features" and batches:
        return batch / batches, f"{progress.get('message') or 'computing features'}: batch {batch} of {batches}{left}"
    if phase == "features":  # a step without batches, e.g. the one-time LiteRT conversion
        return 0.0, f"{progress.get('message') or 'preparing the features'}…"
    if phase == "epoch":
        return min(epoch / epochs, 1.0), f"Epoch {epoch} of {epochs} finished"
    finished = len(run.history)
    return min(finished / max(epochs, 1), 1.0), "Starting (loading the data, building the model)…"


def format_duration(seconds: float) -> str:
    """'about 1 min 20 s' style, rounded to what a person can use."""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return "a few seconds"
    if seconds < 60:
        return f"about {round(seconds / 5) * 5:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"about {minutes} min {rest // 10 * 10} s" if minutes < 10 and rest >= 10 else f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min"


def speed_notes(run: runs.Run) -> list[str]:
    """Which fast paths a run used, from its status: a line each for the dashboard."""
    notes = []
    if run.status.get("fast_path"):
        notes.append(f"fast path: {run.status['fast_path']}")
    if run.status.get("feature_engine"):
        notes.append(f"frozen features computed with {run.status['feature_engine']}")
    if run.status.get("precision") and run.status["precision"] != "float32":
        notes.append(f"{run.status['precision']} arithmetic (saved in float32)")
    if run.status.get("replicas", 1) > 1:
        notes.append(f"{run.status['replicas']} devices ({run.status.get('strategy')})")
    return notes


@st.cache_resource
def _launched() -> dict[int, subprocess.Popen]:
    # Training processes started by this server, shared by all sessions: polled so finished
    # ones are reaped, and so a process still loading its data counts as a training.
    return {}


def _refuse_a_second_training() -> None:
    if training_state().active:
        raise CatdogError("A training is running: wait for it to finish or stop it, then start again.")


def _launch_stem(what: str) -> Path:
    # <runs dir>/.launches/<stamp>-<what>: a launch's settings file and its log, side by side.
    folder = runs_dir() / LAUNCHES
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{what}"


def _launch(arguments: list[str], log_path: Path) -> dict:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "catdog", *arguments],
            cwd=REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _launched()[process.pid] = process
    return {"pid": process.pid, "log": str(log_path), "started": time.time()}
