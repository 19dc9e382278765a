"""Run a function in a fresh Python process and read back its JSON result; a process's memory.

    result = run_in_child(_memory_child, {"epochs": 2}, failure="the memory measurement")

The benchmark needs fresh processes twice: the tutorial's code must start TensorFlow with
TensorFlow's own settings (catdog changes them when it is imported), and a memory measurement
must not count what the benchmark process already holds. This file imports no TensorFlow, so a
child that runs it alone measures only itself.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from catdog.errors import CatdogError

# The child's whole program. catdog is imported first so that its import-time defaults
# (TF_ENABLE_ONEDNN_OPTS among them) are in place before `environ` overrides them, and the
# function's module only afterwards, since it may load TensorFlow, which reads its settings once.
_CHILD = """
import importlib, json, os, sys
import catdog
job = json.loads(sys.argv[1])
for name, value in job["environ"].items():
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
if job["environ"] and "tensorflow" in sys.modules:
    raise RuntimeError("TensorFlow was loaded before the child's environment was set")
function = getattr(importlib.import_module(job["module"]), job["function"])
result = function(job["settings"])
with open(job["result"], "w") as handle:
    json.dump(result, handle)
"""


def run_in_child(
    function: Callable[[dict], dict],
    settings: dict,
    *,
    failure: str,
    environ: dict[str, str | None] | None = None,
    on_line: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> dict:
    """Call `function(settings)` in a fresh Python process and return what it returned.

    Args:
        function: a module-level function taking and returning JSON-ready dicts.
        settings: its argument.
        failure: what failed, for the error, e.g. "the reference run of model1".
        environ: variables to set in the child (None: unset) before the function's module, and
            so TensorFlow, is imported; they override catdog's own defaults. Default: none.
        on_line: called with each line the child prints, as it prints it (default: dropped).
        timeout: seconds before the child is killed (default: no limit).

    Returns:
        The function's return value, as JSON round-trips it.

    Raises:
        CatdogError: the child failed, was killed or returned nothing; the message ends with
            the last line of its standard error.
    """
    if "." in function.__qualname__ or "<" in function.__qualname__ or function.__module__ == "__main__":
        raise ValueError(f"run_in_child needs a module-level function it can import, not {function.__qualname__}.")
    with tempfile.TemporaryDirectory(prefix="catdog-child-") as folder:
        result = Path(folder) / "result.json"
        job = {
            "module": function.__module__,
            "function": function.__name__,
            "settings": settings,
            "environ": environ or {},
            "result": str(result),
        }
        with open(Path(folder) / "stderr", "w+b") as errors:
            with subprocess.Popen(
                [sys.executable, "-c", _CHILD, json.dumps(job)], stdout=subprocess.PIPE, stderr=errors, text=True
            ) as child:
                killed = threading.Event()
                timer = threading.Timer(timeout or 0, lambda: (killed.set(), child.kill()))
                if timeout:
                    timer.start()
                try:
                    for line in child.stdout:
                        if on_line is not None:
                            on_line(line.rstrip("\n"))
                    child.wait()
                finally:
                    timer.cancel()
            if child.returncode != 0 or not result.exists():
                errors.seek(0)
                last = errors.read().decode(errors="replace").strip().splitlines()[-1:]
                reason = f"timed out after {timeout:g}s" if killed.is_set() else "".join(last)
                raise CatdogError(f"{failure} failed: {reason or f'exit status {child.returncode}'}")
        return json.loads(result.read_text())


def rss_mb() -> float:
    """This process's resident memory now, in megabytes."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in megabytes: its own, even in a child.

    Not ru_maxrss: Linux carries that over from the forked copy of the parent into the exec'd
    child, so a child of a 4 GB benchmark would "peak" at 4 GB before doing anything.
    """
    try:
        return _status_mb("VmHWM")
    except (OSError, StopIteration):  # no /proc (not Linux)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024**2 if sys.platform == "darwin" else 1024)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":")) / 1024
