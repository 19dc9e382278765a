"""Training on several machines (`--strategy multi-worker`): two worker processes on this machine,
each with its own TF_CONFIG as two machines would have, on the tiny generated data; and reading
TF_CONFIG."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, tiny_config

from catdog import runs
from catdog.cluster import Cluster, from_tf_config
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.paths import cache_dir
from catdog.predict import Predictor

# tiny_config's settings, as options.
TINY = ("--model", "model3", "--batch-size", "8", "--image-size", "32", "--seed", "1")


@pytest.fixture
def start_workers(tmp_path):
    """Starts two `python -m catdog train --strategy multi-worker` processes, worker 0 (the chief)
    first, sharing a runs folder, each with its own temporary folder; kills what is left of them
    at the end. `start(data, epochs[, the other worker's epochs])` returns (processes, runs folder)."""
    started = []

    def start(data: Path, epochs: int, *other_epochs: int, options: tuple[str, ...] = TINY):
        addresses = [f"localhost:{port}" for port in _free_ports(2)]
        runs_dir = tmp_path / "runs"
        for index in range(2):
            scratch = tmp_path / f"tmp-{index}"
            scratch.mkdir()
            tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
            env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(scratch), "CUDA_VISIBLE_DEVICES": ""}
            with open(tmp_path / f"worker-{index}.log", "w") as log:
                epochs_here = (epochs, *other_epochs)[min(index, len(other_epochs))]
                command = [sys.executable, "-m", "catdog", "train", *options, "--epochs", str(epochs_here), "--data", str(data)]
                command += ["--strategy", "multi-worker", "--runs-dir", str(runs_dir), "--json"]
                started.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        return started, runs_dir

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_two_workers_train_one_run_that_learns(tiny_data, tmp_path, start_workers):
    (chief, worker), runs_dir = start_workers(tiny_data, epochs=4)
    assert chief.wait(timeout=180) == 0, _log(tmp_path, 0)
    assert worker.wait(timeout=60) == 0, _log(tmp_path, 1)
    [run] = runs.list_runs(runs_dir)
    assert run.state == runs.FINISHED and [entry["epoch"] for entry in run.history] == [1, 2, 3, 4]
    assert (run.status["strategy"], run.status["workers"], run.status["replicas"]) == ("multi-worker", 2, 2)
    assert run.final("val_accuracy") >= 0.8  # chance is 0.5
    # The recorded accuracy is the whole validation split's, though each worker validated half of it.
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    labels = [result.label for result in Predictor(run).predict(list(dataset.validation.paths))]
    correct = [label == dataset.class_names[y] for label, y in zip(labels, dataset.validation.labels, strict=True)]
    assert np.mean(correct) == pytest.approx(run.final("val_accuracy"), abs=1e-6)
    # Only the chief wrote in the runs folder; the other worker removed its scratch copy.
    assert sorted(path.name for path in runs_dir.iterdir()) == [".training.lock", run.name]
    assert list((tmp_path / "tmp-1").iterdir()) == []
    assert _json_line(tmp_path, 0)["run_dir"] == str(run.path) and _json_line(tmp_path, 1)["run_dir"] is None


def test_two_workers_train_model4_on_their_shares_of_the_frozen_features(tiny_data, tmp_path, start_workers):
    settings = tmp_path / "model4.json"  # random weights: no download, and the path is the same
    settings.write_text(json.dumps({"model": "model4", "pretrained": False}))
    options = ("--config", str(settings), "--batch-size", "8", "--image-size", "32", "--seed", "1")
    (chief, worker), runs_dir = start_workers(tiny_data, 3, options=options)
    assert chief.wait(timeout=180) == 0, _log(tmp_path, 0)
    assert worker.wait(timeout=60) == 0, _log(tmp_path, 1)
    [run] = runs.list_runs(runs_dir)
    assert run.state == runs.FINISHED and len(run.history) == 3
    assert (run.config.model, run.config.fast, run.status["workers"]) == ("model4", True, 2)
    assert "feature_seconds" in run.status  # the fast path ran: the head trained on frozen features
    # Each worker computed and cached the features of its own shares only (training, validation).
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    cached = sorted(len(np.load(path, mmap_mode="r")) for path in (cache_dir() / "features").glob("*.npy"))
    halves = [len(split) // 2 for split in (dataset.train, dataset.validation)]
    assert len(cached) == 4 and all(size in (half, half + 1) for size, half in zip(cached, sorted(halves * 2)))
    assert sum(cached) == len(dataset.train) + len(dataset.validation)
    assert runs.load_model(run) is not None


def test_a_worker_killed_mid_training_fails_the_chiefs_run_with_a_message(tiny_data, tmp_path, start_workers):
    (chief, worker), runs_dir = start_workers(tiny_data, epochs=200)
    deadline = time.monotonic() + 180
    while not _chiefs_history(runs_dir) and chief.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _chiefs_history(runs_dir), _log(tmp_path, 0)
    worker.send_signal(signal.SIGKILL)  # TensorFlow notices by its missing heartbeats, in some 10-20 s
    killed = time.monotonic()
    assert chief.wait(timeout=90) == 2, _log(tmp_path, 0)  # a CatdogError: one line, exit status 2
    assert time.monotonic() - killed < 90
    assert "error: a worker was lost: worker 1 stopped mid-training" in _log(tmp_path, 0)
    [run] = runs.list_runs(runs_dir)
    assert run.state == runs.FAILED and "worker was lost" in run.status["error"]
    assert "start the training again on every machine" in run.status["error"]
    # The epochs finished before are kept, with the model of the last one, whole.
    assert 1 <= len(run.history) < 200 and runs.load_model(run) is not None


def test_workers_started_with_different_settings_all_stop_with_a_message(tiny_data, tmp_path, start_workers):
    (chief, worker), runs_dir = start_workers(tiny_data, 2, 3)
    for index, process in enumerate((chief, worker)):
        assert process.wait(timeout=120) == 2, _log(tmp_path, index)
        assert "error: the workers were given different settings or see different data" in _log(tmp_path, index)
    assert runs.list_runs(runs_dir) == []


def test_tf_config_says_which_worker_is_the_chief_and_how_many_there_are():
    two = {"cluster": {"worker": ["host1:12345", "host2:12345"]}}
    assert from_tf_config(json.dumps({**two, "task": {"type": "worker", "index": 0}})) == Cluster(2, 0, "worker 0")
    second = from_tf_config(json.dumps({**two, "task": {"type": "worker", "index": 1}}))
    assert (second.workers, second.is_chief, second.shard) == (2, False, (2, 1))
    # With a "chief" task, the chief writes the run and the workers come after it.
    three = {"cluster": {"chief": ["host0:1"], "worker": ["host1:1", "host2:1"]}}
    chief = from_tf_config(json.dumps({**three, "task": {"type": "chief", "index": 0}}))
    first_worker = from_tf_config(json.dumps({**three, "task": {"type": "worker", "index": 0}}))
    assert (chief.workers, chief.is_chief) == (3, True)
    assert (first_worker.index, first_worker.is_chief) == (1, False)


@pytest.mark.parametrize(
    "value",
    [
        None,  # not set
        "{not json",
        '{"cluster": {"worker": ["host1:12345"]}}',  # no task
        '{"cluster": {"worker": ["host1:12345"]}, "task": {"type": "worker", "index": 1}}',  # no such worker
        '{"cluster": {"ps": ["host1:12345"]}, "task": {"type": "ps", "index": 0}}',  # parameter servers: another strategy
        '{"cluster": {"worker": ["host1"]}, "task": {"type": "worker", "index": 0}}',  # no port
    ],
)
def test_a_missing_or_invalid_tf_config_says_how_to_set_it(value, tiny_data, tmp_path, monkeypatch):
    from catdog.train import train

    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    example = '"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}'
    with pytest.raises(CatdogError, match="TF_CONFIG") as raised:
        train(tiny_config(strategy="multi-worker", data=str(tiny_data)), runs_root=tmp_path / "runs")
    assert example in str(raised.value)
    assert not (tmp_path / "runs").exists()


def test_worker_shards_divide_the_images_between_them(tiny_data):
    train = load_dataset(tiny_data, batch_size=8).train
    shards = [train.shard(3, index) for index in range(3)]
    assert [len(shard) for shard in shards] == [27, 27, 26]
    assert sorted(path for shard in shards for path in shard.paths) == sorted(train.paths)
    assert all(
        train.labels[train.paths.index(path)] == label for shard in shards for path, label in zip(shard.paths, shard.labels)
    )


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:  # all bound at once, so the ports differ
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _log(tmp_path: Path, index: int) -> str:
    return (tmp_path / f"worker-{index}.log").read_text()


def _json_line(tmp_path: Path, index: int) -> dict:
    return json.loads([line for line in _log(tmp_path, index).splitlines() if line.startswith("{")][-1])


def _chiefs_history(runs_dir: Path) -> list:
    for run in runs.list_runs(runs_dir):
        return list(run.history)
    return []
