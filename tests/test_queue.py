"""The training queue: entries kept on disk with their owners, the runner starting them one after
another as training slots free up, the command line's lock taking part, and who may stop what."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from catdog import queue, runs
from catdog.config import RunConfig
from catdog.errors import CatdogError

# A stand-in for a training: holds a training slot until the test creates its release file.
_HOLD = """
import pathlib, sys, time
from catdog import runs
root, release = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
with runs.training_lock(root):
    (root / (release.name + ".holding")).touch()
    while not release.exists():
        time.sleep(0.05)
"""


def _holding_launch(entry, root):
    """Launch a process that holds a slot until `<root>/release-<what>` exists."""
    return subprocess.Popen([sys.executable, "-c", _HOLD, str(root), str(root / f"release-{entry['what']}")])


def _wait_until(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def runner(tmp_path):
    """Runs `queue.run_queue` in a thread with the holding launch; yields the root and the thread."""
    root = tmp_path / "runs"
    result = {}
    thread = threading.Thread(target=lambda: result.update(count=queue.run_queue(root, _holding_launch, poll=0.05)))
    yield root, thread, result
    for name in ("first", "second", "third"):
        (root / f"release-{name}").touch()
    thread.join(timeout=60)


def test_entries_keep_their_order_owner_and_position_on_disk(tmp_path):
    root = tmp_path / "runs"
    first = queue.enqueue(["train", "--config", "a.json"], "session-a", "Ann", "Model 3, 2 epochs", root)
    second = queue.enqueue(["train", "--config", "b.json"], "session-b", "Bob", "Model 4, 5 epochs", root)
    assert [entry["label"] for entry in queue.waiting(root)] == ["Ann", "Bob"]
    assert (queue.position(first["id"], root), queue.position(second["id"], root)) == (1, 2)
    # What another process (a restarted dashboard) reads is the same file.
    script = f"from catdog import queue; print([e['what'] for e in queue.waiting({str(root)!r})])"
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "['Model 3, 2 epochs', 'Model 4, 5 epochs']"


def test_only_the_owner_cancels_an_entry_unless_anyone_may(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    first = queue.enqueue(["train"], "session-a", "Ann", "one", root)
    second = queue.enqueue(["train"], "session-a", "Ann", "two", root)
    with pytest.raises(CatdogError, match="only Ann, who queued it, can cancel"):
        queue.cancel(first["id"], "session-b", root)
    queue.cancel(first["id"], "session-a", root)
    assert queue.position(second["id"], root) == 1 and queue.position(first["id"], root) is None
    with pytest.raises(CatdogError, match="no longer waiting"):
        queue.cancel(first["id"], "session-a", root)
    monkeypatch.setenv(queue.ANYONE_MAY_STOP, "1")
    queue.cancel(second["id"], "session-b", root)
    assert queue.waiting(root) == []


def test_the_runner_starts_trainings_one_after_another(runner):
    root, thread, result = runner
    for name in ("first", "second"):
        queue.enqueue(["train"], f"session-{name}", name, name, root)
    thread.start()
    _wait_until(lambda: (root / "release-first.holding").exists(), "the first training")
    assert [entry["what"] for entry in queue.waiting(root)] == ["second"]  # the one slot is taken
    assert runs.busy_slots(root) == 1
    (root / "release-first").touch()
    _wait_until(lambda: (root / "release-second.holding").exists(), "the second training")
    assert queue.waiting(root) == []
    (root / "release-second").touch()
    thread.join(timeout=60)
    assert result["count"] == 2 and [entry["what"] for entry in queue.started(root)] == ["first", "second"]


def test_more_slots_run_trainings_side_by_side(runner, monkeypatch):
    root, thread, result = runner
    monkeypatch.setenv(runs.TRAINING_SLOTS, "2")
    for name in ("first", "second", "third"):
        queue.enqueue(["train"], "session", name, name, root)
    thread.start()
    holding = [root / "release-first.holding", root / "release-second.holding"]
    _wait_until(lambda: all(path.exists() for path in holding), "two trainings at once")
    assert [entry["what"] for entry in queue.waiting(root)] == ["third"]
    assert runs.busy_slots(root) == 2


def test_a_command_line_training_holds_the_slot_and_the_queue_waits(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    with runs.training_lock(root):
        assert queue._free_slots(root, {}) == 0
        with pytest.raises(CatdogError, match="another training is running.*Start queues it"):
            with runs.training_lock(root):
                pass
    assert queue._free_slots(root, {}) == 1
    monkeypatch.setenv(runs.TRAINING_SLOTS, "none")
    with pytest.raises(CatdogError, match="CATDOG_TRAINING_SLOTS must be a whole number"):
        runs.training_slots()


def test_an_entry_beaten_to_the_slot_goes_back_to_the_head(tmp_path):
    root = tmp_path / "runs"
    queue.enqueue(["train"], "session", "Ann", "once", root)
    attempts = []

    def launch(entry, root):
        # The first child finds the slot taken (as when a command-line training started first).
        message = "error: another training is running; wait" if not attempts else "done"
        attempts.append(entry["id"])
        with open(entry["log"], "w") as log:
            log.write(message)
        return subprocess.Popen([sys.executable, "-c", "pass"])

    assert queue.run_queue(root, launch, poll=0.01) == 2
    assert len(attempts) == 2 and attempts[0] == attempts[1] and queue.waiting(root) == []


def test_ensure_runner_starts_one_real_runner_that_empties_the_queue(tmp_path):
    root = tmp_path / "runs"
    assert queue.ensure_runner(root) is None  # nothing waits: no runner
    queue.enqueue(["--help"], "session", "Ann", "help", root)  # a quick command in place of a training
    pid = queue.ensure_runner(root)
    assert pid is not None
    _wait_until(lambda: not queue.waiting(root) and not queue._runner_alive(root), "the runner to finish")
    (entry,) = queue.started(root)
    _wait_until(lambda: "show this help message" in open(entry["log"]).read(), "the command's output")


def test_only_the_starter_may_stop_a_training_unless_anyone_may(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    run = runs.load_run(runs.create_run(RunConfig(model="model3", epochs=1), ("cats", "dogs"), root))
    assert not queue.may_stop(run, "session-a", root)  # from the command line: no owner in the dashboard
    entry = queue.enqueue(["train"], "session-a", "Ann", "one", root)
    with queue._editing(root) as saved:  # as the runner records what it started
        saved["waiting"].clear()
        saved["started"].append({**entry, "pid": run.status["pid"]})
    assert queue.starter_of(run, root)["label"] == "Ann"
    assert queue.may_stop(run, "session-a", root) and not queue.may_stop(run, "session-b", root)
    monkeypatch.setenv(queue.ANYONE_MAY_STOP, "1")
    assert queue.may_stop(run, "session-b", root)
