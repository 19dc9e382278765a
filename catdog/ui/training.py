"""Trainings in the background: queueing `python -m catdog train --config FILE` (or launching
`reproduce`), finding what is training now and what waits, and reading progress for the pages.

Start puts the training in the queue of the runs folder (`catdog.queue`), whose runner process
starts it as soon as a training slot is free: at once when nothing trains. A training runs in its
own process and session, so page switches, refreshes, closed tabs and even a restart of the
dashboard do not stop it; it reports through its run directory (history.json per epoch,
progress.json per batch), which every page reads. Who queued what is the browser session
(`who_am_i`): there are no accounts.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from catdog import queue, runs
from catdog.config import RunConfig
from catdog.errors import CatdogError
from catdog.models import MODELS
from catdog.paths import runs_dir, write_json_atomic
from catdog.ui import state

REPO = Path(__file__).resolve().parents[2]
LAUNCHES = ".launches"  # under the runs folder: each launch's settings file and log


@dataclasses.dataclass(frozen=True)
class TrainingState:
    """What is training under the runs folder right now."""

    run: runs.Run | None  # the run in progress, once its process has created it (the oldest, with more slots)
    starting: bool  # a training process is alive but has not created its run yet
    running: tuple[runs.Run, ...] = ()  # every run in progress (more than one with more training slots)
    waiting: tuple[dict, ...] = ()  # the queue, first to start first (`catdog.queue` entries)

    @property
    def active(self) -> bool:
        return self.run is not None or self.starting

    @property
    def busy(self) -> bool:
        """Something trains, starts or waits: the live views keep refreshing."""
        return self.active or bool(self.waiting)


def training_state() -> TrainingState:
    """The trainings in progress (started from any page, session or the command line) and the queue.

    Also starts the queue's runner when entries wait without one (after a restart of the machine).
    """
    alive = {pid for pid, process in list(_launched().items()) if process.poll() is None}
    found = runs.list_runs()
    running = tuple(sorted((run for run in found if run.state == runs.RUNNING), key=lambda run: run.name))
    waiting = tuple(queue.waiting())
    if waiting:
        queue.ensure_runner()
    # A launched process that is alive and has no run directory yet is still starting up; one
    # whose run already ended (it is just exiting) is not.
    with_runs = {run.status.get("pid") for run in found}
    starting = bool(alive - with_runs) or bool(queue.starting())
    return TrainingState(running[0] if running else None, starting and not running, running, waiting)


def who_am_i() -> tuple[str, str]:
    """(owner, label) of this browser session: a random id made on its first use, and a short name."""
    if get_script_run_ctx() is None:  # called outside a page (a test, a script)
        return "", "no browser"
    owner = st.session_state.setdefault(state.OWNER, secrets.token_hex(8))
    return owner, f"browser {owner[:4]}"


def may_stop(run: runs.Run) -> bool:
    """Whether this session may stop `run`: it queued it or launched it (or `$CATDOG_ANYONE_MAY_STOP`)."""
    owner, _ = who_am_i()
    launched = (st.session_state.get(state.TRAIN_LAUNCH) or {}).get("pid")
    return queue.may_stop(run, owner) or (launched is not None and launched == run.status.get("pid"))


def launch_training(config: RunConfig, dataset_root: str | Path) -> dict:
    """Queue `config` to train on `dataset_root`: {"entry", "log", "config", "started"}.

    It starts at once when a training slot is free. The settings travel as one file, `config` in
    the answer: `config.to_dict()` with `data` set to the dataset, read back by
    `python -m catdog train --config FILE` as the same RunConfig.
    """
    stem = _launch_stem(config.model)
    settings = stem.parent / f"{stem.name}.json"
    write_json_atomic(settings, config.replace(data=str(dataset_root)).to_dict())
    owner, label = who_am_i()
    spec = MODELS.get(config.model)
    epochs = config.total_epochs
    what = f"{spec.short_name if spec else config.model}, {epochs} epoch{'s' if epochs != 1 else ''}"
    entry = queue.enqueue(["train", "--config", str(settings)], owner, label, what)
    queue.ensure_runner()
    return {"entry": entry["id"], "log": entry["log"], "config": str(settings), "started": time.time()}


def launch_reproduce(dataset_root: str | Path, epochs: int = 20) -> dict:
    """Start `python -m catdog reproduce` (the tutorial's four models, one after the other) in
    the background; each model's run shows live on the Train page like any training."""
    _refuse_a_second_training()
    stem = _launch_stem("reproduce")
    command = ["reproduce", "--epochs", str(epochs), "--runs-dir", str(runs_dir()), "--data", str(dataset_root)]
    return _launch(command, stem.parent / f"{stem.name}.log")


def launch_error(launch: dict | None) -> str | None:
    """Why a launched or queued training ended before creating its run (its `error:` line), or None."""
    if not launch:
        return None
    if "entry" in launch:  # queued: its process is the runner's child
        entry = next((entry for entry in queue.started() if entry["id"] == launch["entry"]), None)
        if entry is None or queue.position(launch["entry"]) is not None:
            return None  # still waiting, or cancelled
        pid, ended, code = entry["pid"], not queue.alive(entry["pid"]), None
    else:
        process = _launched().get(launch["pid"])
        if process is None:
            return None
        pid, code = launch["pid"], process.poll()
        ended = code not in (None, 0)
    if not ended or any(run.status.get("pid") == pid for run in runs.list_runs()):
        return None  # still going, or it made a run: the run's own state says what happened
    try:
        lines = Path(launch["log"]).read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if errors:
        return errors[-1]
    return f"the training process ended{f' with exit code {code}' if code is not None else ''}; see {launch['log']}."


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
    if training_state().busy:
        raise CatdogError("A training is running or queued: wait for it to finish or stop it, then start again.")


def _launch_stem(what: str) -> Path:
    # <runs dir>/.launches/<stamp>-<random>-<what>: a launch's settings file and its log, side by side.
    folder = runs_dir() / LAUNCHES
    folder.mkdir(parents=True, exist_ok=True)
    # The random part keeps two people who queue in the same second from sharing a settings file.
    return folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}-{what}"


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
