"""Keep TensorFlow's C++ start-up chatter off a healthy command's output.

TensorFlow's native code logs to file descriptor 2 before Python can configure it (absl's
"All log messages before absl::InitializeLog()", oneDNN and CUDA probing, "failed call to
cuInit" on a machine without a GPU), and TF_CPP_MIN_LOG_LEVEL no longer silences all of it.
A user reads "CUDA error" and thinks catdog is broken. `filter_native_logs()` routes descriptor 2
through a pipe that drops those known lines and passes everything else through; Python's own
`sys.stderr` keeps writing to the terminal directly, so progress bars still see a terminal.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# Lines TensorFlow prints on every healthy start, and its graph optimiser's notes that it skipped
# a rewrite (the graph then runs as written); anything else (real errors included) passes.
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} .*"  # absl INFO and WARNING lines
    r"|E\d{4} .*(cuInit|cuda_platform|cuda_dnn|cuda_fft|cuda_blas|Unable to register cu).*"
    r"|E\d{4} .*meta_optimizer\.cc:\d+\] \w+ failed: .*)$"
)


def filter_native_logs() -> None:
    """From now until exit, drop TensorFlow's known start-up lines from descriptor 2."""
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr.flush()
    sys.stderr = open(os.dup(terminal), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    reader = threading.Thread(target=_forward, args=(read_end, terminal), name="catdog-native-logs", daemon=True)
    reader.start()

    def restore():
        sys.stderr.flush()
        os.dup2(terminal, 2)  # closes the pipe's last writer in this process: the reader sees the end
        reader.join(timeout=2)

    atexit.register(restore)


def _forward(read_end: int, terminal: int) -> None:
    with open(read_end, "rb") as lines:
        for line in lines:
            if not NOISE.match(line.decode("utf-8", "replace").rstrip("\n")):
                os.write(terminal, line)
