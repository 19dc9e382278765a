"""The training queue: trainings asked for while every training slot is taken wait on disk, and
one queue runner per runs folder starts them one after another.

    <runs dir>/.queue/queue.json   {"waiting": [entry, ...], "started": [entry + "pid", ...]}
    <runs dir>/.queue/queue.lock   held around every read-modify-write of queue.json
    <runs dir>/.queue/runner.lock  held by the runner of this runs folder while it lives

An entry is {"id", "owner" (who queued it: the dashboard's browser session), "label" (a short
name for the owner), "what" (one line for people), "arguments" (a `python -m catdog` command
line without --runs-dir), "log", "queued" (seconds since the epoch)}.

The runner is a process of its own, `python -m catdog.queue --runs-dir DIR`, started by whoever
queues (`ensure_runner`) and in its own session, so a closed tab or a restarted dashboard does not
stop it, and a queue left on disk is picked up again by the next `ensure_runner`. It starts the
head of the queue as soon as a slot is free (`runs.training_slots`); trainings from the command
line take slots through the same lock (`runs.training_lock`), so they simply run in between.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from catdog import runs
from catdog.errors import CatdogError
from catdog.paths import runs_dir, write_json_atomic

ANYONE_MAY_STOP = "CATDOG_ANYONE_MAY_STOP"  # "1": anyone may stop any training and cancel any entry (a teacher's setting)
FOLDER = ".queue"
POLL_SECONDS = 1.0  # how often the runner looks for a free slot: trainings last minutes
_KEPT_STARTED = 50  # started entries remembered (who started which training), newest last
_BUSY = "another training is running"  # the lock's message: a command-line training took the slot first


def enqueue(arguments: list[str], owner: str, label: str, what: str, root: Path | None = None) -> dict:
    """Put a training at the end of the queue of `root` and return its entry (see the module doc).

    Call `ensure_runner` after it so that someone starts it.
    """
    root = _root(root)
    entry_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    entry = {
        "id": entry_id,
        "owner": owner,
        "label": label,
        "what": what,
        "arguments": [str(argument) for argument in arguments],
        "log": str(root / FOLDER / f"{entry_id}.log"),
        "queued": time.time(),
    }
    with _editing(root) as queue:
        queue["waiting"].append(entry)
    return entry


def waiting(root: Path | None = None) -> list[dict]:
    """The entries waiting, first to start first."""
    return _read(_root(root))["waiting"]


def started(root: Path | None = None) -> list[dict]:
    """The entries the runner has started, with their process id, newest last."""
    return _read(_root(root))["started"]


def position(entry_id: str, root: Path | None = None) -> int | None:
    """1 for the next training to start, 2 after it, ...; None once started or cancelled."""
    ids = [entry["id"] for entry in waiting(root)]
    return ids.index(entry_id) + 1 if entry_id in ids else None


def starter_of(run: runs.Run, root: Path | None = None) -> dict | None:
    """The entry that started `run`, or None (a training from the command line)."""
    pid = run.status.get("pid")
    return next((entry for entry in reversed(started(root)) if entry.get("pid") == pid), None)


def starting(root: Path | None = None) -> list[dict]:
    """Started entries whose process is alive but has not created its run yet."""
    root = _root(root)
    with_runs = {run.status.get("pid") for run in runs.list_runs(root)}
    return [entry for entry in started(root) if entry["pid"] not in with_runs and alive(entry["pid"])]


def alive(pid) -> bool:
    """Whether a process with this id exists (a started entry's training)."""
    with contextlib.suppress(OSError, TypeError, ValueError):
        os.kill(int(pid), 0)
        return True
    return False


def anyone_may_stop() -> bool:
    """True when `$CATDOG_ANYONE_MAY_STOP` is 1: everyone may stop or cancel anything."""
    return os.environ.get(ANYONE_MAY_STOP, "").strip().lower() in ("1", "true", "yes")


def may_stop(run: runs.Run, owner: str, root: Path | None = None) -> bool:
    """Whether `owner` may stop `run`: its starter may, and everybody when `anyone_may_stop`."""
    entry = starter_of(run, root)
    return anyone_may_stop() or (entry is not None and entry["owner"] == owner)


def cancel(entry_id: str, owner: str, root: Path | None = None) -> None:
    """Take a waiting entry out of the queue; only its owner may (or anyone, `anyone_may_stop`)."""
    with _editing(_root(root)) as queue:
        entry = next((entry for entry in queue["waiting"] if entry["id"] == entry_id), None)
        if entry is None:
            raise CatdogError("that training is no longer waiting: it has started or was cancelled.")
        if entry["owner"] != owner and not anyone_may_stop():
            raise CatdogError(f"only {entry['label']}, who queued it, can cancel that training.")
        queue["waiting"].remove(entry)


def ensure_runner(root: Path | None = None) -> int | None:
    """Start the queue runner of `root` when trainings wait and no runner is alive: its pid, or None."""
    root = _root(root)
    if not waiting(root) or _runner_alive(root):
        return None
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_REPO), os.environ.get("PYTHONPATH")]))}
    with open(root / FOLDER / "runner.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "catdog.queue", "--runs-dir", str(root)],
            cwd=_REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the dashboard that started it
        )
    return process.pid


def run_queue(root: Path | None = None, launch=None, poll: float = POLL_SECONDS) -> int:
    """Start the waiting trainings one after another until none waits; the number started.

    Returns at once when another runner holds this runs folder. `launch(entry, root)` starts an
    entry's process and returns it (a `subprocess.Popen`); tests replace it.
    """
    root = _root(root)
    launch = launch or _launch
    count = 0
    with _runner_lock(root) as mine:
        if not mine:
            return 0
        children: dict[int, tuple[dict, subprocess.Popen]] = {}
        while True:
            for pid, (entry, process) in list(children.items()):
                if process.poll() is not None:
                    del children[pid]
                    _put_back_if_beaten(entry, root)
            with _editing(root) as queue:
                if not queue["waiting"] and not children:
                    return count
                if queue["waiting"] and _free_slots(root, children) > 0:
                    entry = queue["waiting"].pop(0)
                    process = launch(entry, root)
                    children[process.pid] = (entry, process)
                    queue["started"] = [*queue["started"], {**entry, "pid": process.pid}][-_KEPT_STARTED:]
                    count += 1
                    continue  # another slot may be free too
            time.sleep(poll)


def _free_slots(root: Path, children: dict) -> int:
    # Children still loading TensorFlow hold no slot yet: they count as taking one.
    with_runs = {run.status.get("pid") for run in runs.list_runs(root) if run.state == runs.RUNNING}
    loading = sum(1 for pid, (_, process) in children.items() if pid not in with_runs and process.poll() is None)
    return runs.training_slots() - runs.busy_slots(root) - loading


def _put_back_if_beaten(entry: dict, root: Path) -> None:
    # A training from the command line took the slot between our look and our child's lock: the
    # child made no run and said so; the entry goes back to the head of the queue.
    try:
        beaten = _BUSY in Path(entry["log"]).read_text(errors="replace")
    except OSError:
        return
    if beaten:
        with _editing(root) as queue:
            queue["waiting"].insert(0, entry)


def _launch(entry: dict, root: Path) -> subprocess.Popen:
    Path(entry["log"]).parent.mkdir(parents=True, exist_ok=True)
    with open(entry["log"], "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "catdog", *entry["arguments"], "--runs-dir", str(root)],
            cwd=_REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a stopped runner leaves its trainings running
        )


_REPO = Path(__file__).resolve().parents[1]


def _root(root: Path | None) -> Path:
    root = Path(root) if root is not None else runs_dir()
    (root / FOLDER).mkdir(parents=True, exist_ok=True)
    return root


def _read(root: Path) -> dict:
    try:
        queue = json.loads((root / FOLDER / "queue.json").read_text())
    except (OSError, ValueError):
        queue = {}
    if not isinstance(queue, dict):
        queue = {}
    return {"waiting": list(queue.get("waiting", [])), "started": list(queue.get("started", []))}


@contextlib.contextmanager
def _editing(root: Path) -> Iterator[dict]:
    """The queue of `root` to change in place, written back atomically, others kept out meanwhile."""
    with open(root / FOLDER / "queue.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held for milliseconds: a blocking wait is right
        queue = _read(root)
        yield queue
        write_json_atomic(root / FOLDER / "queue.json", queue)


@contextlib.contextmanager
def _runner_lock(root: Path) -> Iterator[bool]:
    with open(root / FOLDER / "runner.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _runner_alive(root: Path) -> bool:
    with _runner_lock(root) as free:
        return not free


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m catdog.queue", description="Start the queued trainings of a runs folder.")
    parser.add_argument("--runs-dir", type=Path, default=None, help="the runs folder (default: $CATDOG_RUNS_DIR or ./runs)")
    print(f"started {run_queue(parser.parse_args().runs_dir)} queued trainings")
