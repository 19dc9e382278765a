"""Runs: one directory per training run, written so it is never half-written.

    runs/20261125-101500-model4-3f2a/
        config.json    RunConfig + class names (written when the run starts)
        status.json    state (running/finished/stopped/failed), pid, times, notes
        history.json   one entry per finished epoch: metrics and seconds
        progress.json  the latest batch: phase, epoch, batch, ETA (written by the CLI, ~2 a second)
        model.keras    the trained model (after the first finished epoch, or at the end)
        STOP           present when a stop was requested

Every file is written to a temporary name and renamed into place. A run whose process died
without saying so (killed, power cut, server restart) reads as "interrupted", never as running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import secrets
import shutil
import time
from pathlib import Path

from catdog.config import RunConfig
from catdog.errors import CatdogError
from catdog.paths import runs_dir, write_json_atomic

RUNNING, FINISHED, STOPPED, FAILED, INTERRUPTED = "running", "finished", "stopped", "failed", "interrupted"
MODEL_FILE = "model.keras"
_LOCK_FILE = ".training.lock"


@dataclasses.dataclass(frozen=True)
class Run:
    """A run directory as read from disk."""

    path: Path
    config: RunConfig
    class_names: tuple[str, ...]
    status: dict
    history: tuple[dict, ...]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def state(self) -> str:
        """running, finished, stopped, failed, or interrupted (its process is gone)."""
        state = self.status.get("state", INTERRUPTED)
        if state == RUNNING and not _process_alive(self.status.get("pid"), self.status.get("process_started")):
            return INTERRUPTED
        return state

    @property
    def has_model(self) -> bool:
        return (self.path / MODEL_FILE).is_file()

    @property
    def usable(self) -> bool:
        """True when the run has a saved model that can predict."""
        return self.has_model and self.state != RUNNING

    def final(self, metric: str) -> float | None:
        """The metric's value at the last finished epoch."""
        values = [entry[metric] for entry in self.history if metric in entry]
        return values[-1] if values else None

    def best(self, metric: str) -> float | None:
        """The metric's best (highest) value over the finished epochs."""
        values = [entry[metric] for entry in self.history if metric in entry]
        return max(values) if values else None

    @property
    def epochs_planned(self) -> int:
        """Epochs the run was set to train, a fine-tuning stage included."""
        return self.config.total_epochs

    def summary(self) -> dict:
        """A JSON-ready line for tables and the CLI."""
        return {
            "run_dir": str(self.path),
            "name": self.name,
            "model": self.config.model,
            "state": self.state,
            "epochs": len(self.history),
            "epochs_planned": self.epochs_planned,
            "batch_size": self.config.batch_size,
            "learning_rate": self.config.learning_rate,
            "accuracy": self.final("accuracy"),
            "val_accuracy": self.final("val_accuracy"),
            "best_val_accuracy": self.best("val_accuracy"),
            "seconds": self.status.get("seconds"),
            "fast_path": self.status.get("fast_path"),
            "started": self.status.get("started"),
            "test_accuracy": (self.evaluation or {}).get("test_accuracy"),
        }

    @property
    def evaluation(self) -> dict | None:
        """The last saved test-set evaluation (see `save_evaluation`), if any."""
        return _read_json(self.path / "evaluation.json", None)


def create_run(config: RunConfig, class_names, root: Path | None = None) -> Path:
    """Make a new run directory holding the settings and a 'running' status."""
    root = Path(root) if root is not None else runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.model}-{secrets.token_hex(2)}"
    # Built under a hidden name and renamed, so a listing never sees a run without settings.
    staging = root / f".{name}.tmp"
    staging.mkdir()
    write_json_atomic(staging / "config.json", {"config": config.to_dict(), "class_names": list(class_names)})
    write_json_atomic(staging / "history.json", [])
    write_json_atomic(staging / "status.json", _running_status())
    path = root / name
    os.replace(staging, path)
    return path


def _running_status() -> dict:
    import psutil

    return {
        "state": RUNNING,
        "pid": os.getpid(),
        "process_started": psutil.Process().create_time(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def update_status(run_dir: Path, **fields) -> dict:
    """Merge `fields` into status.json (atomically) and return the new status."""
    status = _read_json(Path(run_dir) / "status.json", {})
    status.update(fields)
    write_json_atomic(Path(run_dir) / "status.json", status)
    return status


def write_history(run_dir: Path, history: list[dict]) -> None:
    """Replace history.json with the finished epochs so far."""
    write_json_atomic(Path(run_dir) / "history.json", history)


PROGRESS_FILE = "progress.json"
PROGRESS_INTERVAL = 0.5  # seconds between progress.json writes: ~2 a second is live enough
_last_progress: dict[str, tuple[float, str]] = {}


def write_progress(run_dir: str | Path, event) -> bool:
    """Write the latest training progress to the run's progress.json, for live views in other
    processes (the dashboard), at most ~2 times a second.

    Phase changes, ends of epochs and the last batch are always written; other batches only when
    `PROGRESS_INTERVAL` has passed since the last write.

    Args:
        run_dir: the run directory.
        event: a `catdog.train.TrainingProgress` (or a dict with the same fields).

    Returns:
        True when the file was written.
    """
    values = dataclasses.asdict(event) if dataclasses.is_dataclass(event) else dict(event)
    key, now = str(run_dir), time.monotonic()
    last_time, last_phase = _last_progress.get(key, (-math.inf, ""))
    phase = values.get("phase", "")
    urgent = phase != last_phase or phase in ("epoch", "done") or values.get("batch") == values.get("batches")
    if not urgent and now - last_time < PROGRESS_INTERVAL:
        return False
    try:
        write_json_atomic(Path(run_dir) / PROGRESS_FILE, {**values, "time": time.time()})
    except OSError:
        return False  # a missed progress report must never end a training (the history is what counts)
    _last_progress[key] = (now, phase)
    return True


def read_progress(run_dir: str | Path) -> dict | None:
    """The last progress written by `write_progress` (with `time`, seconds since the epoch), or None."""
    value = _read_json(Path(run_dir) / PROGRESS_FILE, None)
    return value if isinstance(value, dict) else None


def save_model(run_dir: Path, model, durable: bool = True) -> None:
    """Save `model` as the run's model.keras via a temporary file and a rename.

    The rename makes the file whole or absent whatever happens to the process. `durable` also
    waits until the bytes are on the disk (power cuts); training skips that wait for its epoch
    checkpoints, which the next epoch replaces anyway, and syncs once at the end (`sync_model`).
    """
    target = Path(run_dir) / MODEL_FILE
    temporary = target.with_name(f".tmp-{os.getpid()}-{MODEL_FILE}")  # Keras wants the .keras suffix
    try:
        model.save(temporary)
        if durable:
            _fsync(temporary)
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise CatdogError(
            f"could not save the model in {run_dir} ({error.strerror or error}); free some disk space and train again."
        ) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def sync_model(run_dir: Path) -> None:
    """Wait until the run's model file is on the disk."""
    _fsync(Path(run_dir) / MODEL_FILE)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def save_evaluation(run: Run, summary: dict) -> None:
    """Keep a run's test-set figures beside it, for comparison tables."""
    write_json_atomic(run.path / "evaluation.json", summary)


def load_run(path: str | Path) -> Run:
    """Read a run directory; a clear error if it is not one."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise CatdogError(f"{path} is not a folder; pass a run directory (see `python -m catdog runs`).")
    saved = _read_json(path / "config.json", None)
    if not isinstance(saved, dict) or "config" not in saved:
        raise CatdogError(f"{path} is not a catdog run (no readable config.json); pass a run directory.")
    try:
        config = RunConfig.from_dict(saved["config"])
    except (TypeError, CatdogError) as error:
        raise CatdogError(f"{path}/config.json is not valid ({error}).") from None
    return Run(
        path=path.resolve(),
        config=config,
        class_names=tuple(saved.get("class_names", ())),
        status=_read_json(path / "status.json", {}) or {},
        history=tuple(_read_json(path / "history.json", []) or []),
    )


def list_runs(root: Path | None = None) -> list[Run]:
    """All runs under `root` (default: the configured runs directory), newest first."""
    root = Path(root) if root is not None else runs_dir()
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir(), reverse=True):
        if child.is_dir() and not child.name.startswith("."):
            with contextlib.suppress(CatdogError):
                found.append(load_run(child))
    return found


def delete_run(run: Run) -> None:
    """Remove a run directory (not while it is training)."""
    if run.state == RUNNING:
        raise CatdogError(f"{run.name} is still training; stop it first.")
    shutil.rmtree(run.path)


def request_stop(run_dir: Path) -> None:
    """Ask the training in `run_dir` to stop after its current batch."""
    (Path(run_dir) / "STOP").touch()


def stop_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / "STOP").exists()


def running_run(root: Path | None = None) -> Run | None:
    """The run now training under `root`, if any."""
    return next((run for run in list_runs(root) if run.state == RUNNING), None)


TRAINING_SLOTS = "CATDOG_TRAINING_SLOTS"  # how many trainings may run at once under one runs folder


def training_slots() -> int:
    """How many trainings may run at once: `$CATDOG_TRAINING_SLOTS`, default 1 (a big machine may
    allow more; each training uses every core it is given)."""
    value = os.environ.get(TRAINING_SLOTS, "1").strip()
    if not value.isdigit() or int(value) < 1:
        raise CatdogError(f"{TRAINING_SLOTS} must be a whole number of trainings, 1 or more; got {value!r}.")
    return int(value)


@contextlib.contextmanager
def training_lock(root: Path | None = None):
    """Hold one of the training slots of a runs directory (`training_slots`) for the duration.

    An OS file lock per slot, so a slot is freed even when its process is killed.
    """
    root = Path(root) if root is not None else runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    slots = training_slots()
    for slot in range(slots):
        handle = open(_slot_file(root, slot), "a+")  # noqa: SIM115  (held open as the lock until the end)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield
        finally:
            handle.close()
        return
    active = running_run(root)
    which = f" ({active.name})" if active else ""
    limit = "one training runs at a time" if slots == 1 else f"{slots} trainings run at a time"
    raise CatdogError(
        f"another training is running{which}; {limit} on this machine. Wait for it to finish or "
        "stop it, then start again (the dashboard's Start queues it instead)."
    )


def busy_slots(root: Path | None = None) -> int:
    """How many training slots of a runs directory are held now (by any process)."""
    root = Path(root) if root is not None else runs_dir()
    busy = 0
    for slot in range(training_slots()):
        path = _slot_file(root, slot)
        if not path.exists():
            continue
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                busy += 1
    return busy


def _slot_file(root: Path, slot: int) -> Path:
    return root / (_LOCK_FILE if slot == 0 else f"{_LOCK_FILE}-{slot + 1}")


def load_model(run: Run):
    """Load a run's model in Keras' safe mode; only files inside a run directory are read."""
    import keras

    path = run.path / MODEL_FILE
    if not path.is_file():
        raise CatdogError(f"run {run.name} has no saved model ({run.state}); train it to the end of at least one epoch.")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # a damaged file can raise almost anything from inside Keras
        raise CatdogError(f"the model of run {run.name} cannot be loaded ({error}); delete the run and train again.") from None


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _process_alive(pid, started) -> bool:
    import psutil

    if not pid:
        return False
    try:
        process = psutil.Process(int(pid))
        if process.status() == psutil.STATUS_ZOMBIE:  # dead, only not yet reaped by its parent
            return False
        return started is None or abs(process.create_time() - float(started)) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False
