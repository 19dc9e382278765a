"""Where catdog keeps things (runs, caches, allowed data, Keras' cache) and how it writes files.

Every file catdog saves goes through `write_bytes_atomic`: a temporary file beside the target,
then a rename, so a reader (or a crash) never sees a half-written file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def runs_dir() -> Path:
    """Where runs are saved: `$CATDOG_RUNS_DIR`, default `./runs`."""
    return Path(os.environ.get("CATDOG_RUNS_DIR", "runs")).expanduser().resolve()


def cache_dir() -> Path:
    """Where computed features are cached: `$CATDOG_CACHE_DIR`, default `~/.cache/catdog`."""
    return Path(os.environ.get("CATDOG_CACHE_DIR", "~/.cache/catdog")).expanduser().resolve()


def data_root() -> Path:
    """The only tree local-folder datasets may come from in the dashboard: `$CATDOG_DATA_ROOT`,
    default `~/catdog-data`."""
    return Path(os.environ.get("CATDOG_DATA_ROOT", "~/catdog-data")).expanduser().resolve()


def keras_home() -> Path:
    """Keras' cache directory, as Keras itself resolves it (`$KERAS_HOME`, default `~/.keras`)."""
    return Path(os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"))


def write_json_atomic(path: Path, value) -> None:
    """Write `value` as indented JSON to `path` atomically."""
    write_bytes_atomic(Path(path), (json.dumps(value, indent=2) + "\n").encode())


def write_bytes_atomic(path: Path, payload: bytes) -> None:
    """Write bytes to a temporary file beside `path`, fsync, and rename it into place."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
