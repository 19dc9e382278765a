"""Plain helpers for the browser tests: a fresh `streamlit run app.py` on a free port, and Chromium."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def needs_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (make browser)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(base: Path, environment: dict | None = None, port: int | None = None, options: tuple[str, ...] = ()):
    """A fresh `streamlit run app.py` with its runs, data and cache folders under `base`: its URL.

    `port` lets a restarted server answer at the address the browser already has; `options` are
    more of `streamlit run`'s, e.g. ("--server.maxUploadSize", "1").
    """
    port = port or free_port()
    environment = {
        **os.environ,
        "CATDOG_RUNS_DIR": str(base / "runs"),
        "CATDOG_DATA_ROOT": str(base / "data"),
        "CATDOG_CACHE_DIR": str(base / "cache"),
        "KERAS_HOME": str(base / "keras"),
        **(environment or {}),
    }
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.fileWatcherType",
        "none",
        *options,
    ]
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"server-{port}.log", "ab") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {(base / f'server-{port}.log').read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module; each test opens its own contexts (sessions)."""
    needs_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
