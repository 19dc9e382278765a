"""The learning curve for the dashboard: `python -m catdog learning-curve` in its own process
(training never runs in the dashboard's process), reporting through files under the cache folder.

One set of files per (dataset, model, seeds, epochs): the rows (JSON), the latest progress and
the log. A curve drawn once is shown again at once, by any session, until it is drawn anew.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import streamlit as st

from catdog.paths import cache_dir

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class CurveState:
    """Where one learning curve stands."""

    rows: list[dict] | None  # the finished curve, if it has been drawn
    running: bool
    progress: dict | None  # {"done", "total", "seconds_left", "message"} while running
    error: str | None  # why the last drawing failed


def curve_files(dataset_root: str | Path, model: str, seeds: int, epochs: int) -> dict[str, Path]:
    """The files of one curve: {"rows", "progress", "log"}."""
    key = hashlib.sha256(json.dumps([str(dataset_root), model, seeds, epochs]).encode()).hexdigest()[:16]
    folder = cache_dir() / "learning_curves"
    return {
        name: folder / f"{model}-{key}{suffix}"
        for name, suffix in (("rows", ".json"), ("progress", ".progress.json"), ("log", ".log"))
    }


def launch(dataset_root: str | Path, model: str, seeds: int, epochs: int) -> None:
    """Start drawing a curve in the background (the previous drawing's files are replaced)."""
    files = curve_files(dataset_root, model, seeds, epochs)
    files["rows"].parent.mkdir(parents=True, exist_ok=True)
    for path in files.values():
        path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "catdog", "learning-curve", "--model", model, "--data", str(dataset_root)]
    command += ["--seeds", str(seeds), "--epochs", str(epochs), "--output", str(files["rows"])]
    command += ["--progress-file", str(files["progress"])]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(files["log"], "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _processes()[str(files["rows"])] = process


def curve_state(files: dict[str, Path]) -> CurveState:
    """What the files of a curve say now."""
    process = _processes().get(str(files["rows"]))
    running = process is not None and process.poll() is None
    rows = _read(files["rows"]) if not running else None
    error = None
    if not running and rows is None and process is not None and process.returncode:
        lines = files["log"].read_text(errors="replace").splitlines() if files["log"].is_file() else []
        errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
        error = (
            errors[-1]
            if errors
            else f"the learning curve's process ended with exit code {process.returncode}; see {files['log']}."
        )
    return CurveState(rows if isinstance(rows, list) else None, running, _read(files["progress"]) if running else None, error)


@st.cache_resource
def _processes() -> dict[str, subprocess.Popen]:
    # The drawings this server started, shared by all sessions: polled, so finished ones are reaped.
    return {}


def _read(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
