"""Faults: hard kills at random moments and a full disk never leave a half-written run."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from helpers import REPO, write_tutorial_layout

from catdog import runs
from catdog.config import RunConfig
from catdog.errors import CatdogError
from catdog.predict import Predictor
from catdog.train import train


def _check_every_run_is_complete_or_marked(root):
    listed = runs.list_runs(root)
    for run in listed:
        assert run.state in (runs.FINISHED, runs.STOPPED, runs.INTERRUPTED, runs.FAILED), run.state
        if run.state == runs.FINISHED:
            assert run.has_model and len(run.history) == run.config.epochs
        if run.has_model:  # whatever was saved loads and predicts
            prediction = Predictor(run).predict_arrays(__import__("numpy").zeros((1, 32, 32, 3), "uint8"))
            assert prediction.shape == (1, 2)
    return listed


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_broken_run(tmp_path):
    data = write_tutorial_layout(tmp_path / "data")
    root = tmp_path / "runs"
    command = [
        sys.executable,
        "-m",
        "catdog",
        "train",
        "--model",
        "model1",
        "--epochs",
        "4",
        "--batch-size",
        "8",
        "--image-size",
        "32",
        "--data",
        str(data),
        "--runs-dir",
        str(root),
    ]
    rng = random.Random(7)
    outcomes = []
    for attempt in range(20):
        before = set(root.iterdir()) if root.exists() else set()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if attempt % 2:
            time.sleep(rng.uniform(0.5, 9.0))  # any moment: start-up, run creation, training, saving
        else:
            # Every other kill lands once this training is under way, however slow the machine
            # is today (start-up alone is ~3 s on a quiet 2-core one, much more on a busy one).
            _wait_for_progress(root, before, process)
            time.sleep(rng.uniform(0.0, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        outcomes.append(process.returncode)
    listed = _check_every_run_is_complete_or_marked(root)
    states = {run.state for run in listed}
    assert runs.INTERRUPTED in states  # some kills landed mid-training
    assert not [
        p
        for p in root.iterdir()
        if p.name.endswith(".keras") or (p.is_dir() and not p.name.startswith(".") and not (p / "config.json").exists())
    ]
    _dashboard_lists(listed)
    for run in listed:  # incomplete runs can still be deleted
        if run.state == runs.INTERRUPTED:
            runs.delete_run(run)
    assert all(run.state != runs.INTERRUPTED for run in runs.list_runs(root))
    # After all that, a new training still runs: the lock died with its holders.
    assert (
        train(RunConfig(model="model1", epochs=1, batch_size=8, image_size=(32, 32), data=str(data)), runs_root=root).state
        == runs.FINISHED
    )


def _wait_for_progress(root, before, process, timeout=120.0):
    """Until the process's new run has written progress (or the process has ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        current = set(root.iterdir()) if root.exists() else set()
        if any((path / runs.PROGRESS_FILE).exists() for path in current - before if path.is_dir()):
            return
        time.sleep(0.05)


def _dashboard_lists(listed):
    """The Runs and Train pages render over these runs and show each with its state."""
    from streamlit.testing.v1 import AppTest

    expected = {run.name: run.state for run in listed}
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180).run().switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert dict(zip(table["run"], table["state"])) == expected
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of a few MB (needs root to mount; skipped otherwise)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()

    def mount(size_bytes: int):
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(mount_point)], capture_output=True
        )
        if result.returncode != 0:
            pytest.skip("cannot mount a small tmpfs here (needs root)")
        return mount_point

    yield mount
    subprocess.run(["umount", str(mount_point)], capture_output=True)


def test_full_disk_gives_a_clear_error_and_keeps_earlier_runs(tiny_data, tmp_path, small_disk):
    config = RunConfig(model="model1", epochs=1, batch_size=8, image_size=(32, 32), data=str(tiny_data))
    earlier = train(config, runs_root=tmp_path / "staging")
    size = sum(f.stat().st_size for f in earlier.path.rglob("*"))
    disk = small_disk(size + 300_000)  # room for the earlier run and a little more, not a second model
    shutil.copytree(earlier.path, disk / earlier.name)
    before = Predictor(runs.load_run(disk / earlier.name)).predict_arrays(__import__("numpy").zeros((1, 32, 32, 3), "uint8"))
    with pytest.raises(CatdogError, match="disk"):
        train(config, runs_root=disk)
    kept = runs.load_run(disk / earlier.name)
    assert kept.state == runs.FINISHED
    after = Predictor(kept).predict_arrays(__import__("numpy").zeros((1, 32, 32, 3), "uint8"))
    assert (before == after).all()
    assert not [p for p in os.listdir(disk) if "tmp" in p and not p.startswith(".")]


@pytest.mark.slow
def test_two_trainings_started_at_once_one_runs_the_other_is_told_to_wait(tmp_path):
    data = write_tutorial_layout(tmp_path / "data")
    root = tmp_path / "runs"
    # Ten epochs hold the lock for several seconds: far longer than the two start-ups can differ.
    command = [
        sys.executable,
        "-m",
        "catdog",
        "train",
        "--model",
        "model1",
        "--epochs",
        "10",
        "--batch-size",
        "8",
        "--image-size",
        "32",
        "--data",
        str(data),
        "--runs-dir",
        str(root),
    ]
    first, second = (
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    )
    outcomes = [(process.wait(timeout=300), process.stderr.read()) for process in (first, second)]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    refused = next(err for code, err in outcomes if code == 2)
    assert "another training is running" in refused and "Traceback" not in refused
    assert [run.state for run in runs.list_runs(root)] == [runs.FINISHED]
