"""Many people on the dashboard at once, measured in a real browser: the time from choosing a photo
on the Predict page to its answer on screen.

    python -m catdog bench-load --run RUN_DIR [--people 1 4 8] [--rounds 5] [--photos DIR] [--tensorflow] [--json]

It starts `streamlit run app.py` (headless, a free port, the run's folder as the runs folder),
then for each number of people opens that many browser sessions in Debian's Chromium, brings each
to the Predict page with the run chosen, and has all of them upload a photo at the same moment.
Each person then removes the photo and uploads another, round after round (different photos, so
nothing is answered from an earlier upload). One warm-up upload comes first (the model loads, and
LiteRT takes over when it is the engine). The report per number of people: p50 and p95 of the seconds, the uploads that failed,
the server process's peak resident memory, sampled with psutil, and the CPU time the server and
the browser spent per upload while the photos were answered (on a shared machine these vary less
than the seconds, which wait on whatever else runs).

The browser runs on the same machine as the server, as in a classroom demo on one laptop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil

from catdog.errors import CatdogError
from catdog.images import find_images
from catdog.runs import load_run

CHROMIUM = Path("/usr/bin/chromium")  # Debian's Chromium (`make browser`)
APP = Path(__file__).resolve().parents[2] / "app.py"
TIMEOUT_S = 120  # one answer; longer counts as an error
WARM_UP_S = 600  # the model's first load and a LiteRT conversion on a busy 2-core machine
_ANSWER = re.compile(r"% sure$")  # the caption under each photo's label
_CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def run_load_bench(
    run_dir: str | Path, people=(1, 4, 8), rounds: int = 5, photos: str | Path | None = None, tensorflow: bool = False, say=print
) -> dict:
    """{"machine": ..., "rows": one row per number of people} (see `format_row`).

    `tensorflow` loads TensorFlow into the server first (one Grad-CAM), as a class's server has
    it once anyone has asked for Grad-CAM or opened the Evaluate or Train page.
    """
    if rounds < 1 or not people or min(people) < 1:
        raise CatdogError("bench-load needs at least one round and one person.")
    run = load_run(run_dir)
    if not run.usable:
        raise CatdogError(f"run {run.name} has no saved model to predict with; pass a trained run.")
    pictures = _pictures(photos if photos is not None else run.config.data, sum(people) * rounds + 1)
    from playwright.async_api import async_playwright  # noqa: F401 - fail before starting anything

    if not CHROMIUM.exists():
        raise CatdogError(f"bench-load needs Chromium at {CHROMIUM}; install it with `make browser`.")
    machine = {"cpu": _cpu_name(), "cores": os.cpu_count(), "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    say(f"{machine['cpu']}, {machine['cores']} cores, load average {machine['load_average_before']}")
    with _server(run.path.parent) as (url, memory):
        rows = asyncio.run(_measure(url, run.name, pictures, tuple(people), rounds, memory, say, tensorflow))
    return {"machine": machine, "rows": rows}


def format_row(row: dict) -> str:
    return (
        f"{row['people']:>2} people: p50 {row['p50_s']:.2f} s, p95 {row['p95_s']:.2f} s, max {row['max_s']:.2f} s "
        f"over {row['uploads']} uploads, {row['errors']} errors, server peak memory {row['server_peak_mb']:.0f} MB, "
        f"CPU per upload: server {row['server_cpu_ms_per_upload']} ms, browser {row['browser_cpu_ms_per_upload']} ms"
    )


async def _measure(
    url: str, run_name: str, pictures: list[str], people, rounds: int, memory, say, tensorflow=False
) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=_CHROMIUM_ARGS)
        try:
            contexts = [await browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(max(people))]
            engine = await _warm_up(contexts[0], url, run_name, pictures[0], tensorflow)
            say(f"warmed up: {engine}")
            rows, used = [], 1
            for count in people:
                memory.reset()
                seconds, errors, cpu = [], [], np.zeros(2)
                pages = await asyncio.gather(*(_open_predict(context, url, run_name) for context in contexts[:count]))
                for round_ in range(rounds):
                    chosen, used = pictures[used : used + count], used + count
                    if round_:  # each person removes the last photo, as one photo after another is tried
                        await asyncio.gather(*(_remove_photo(page) for page in pages))
                    before = memory.cpu_seconds()
                    timed = await asyncio.gather(*(_upload(page, picture) for page, picture in zip(pages, chosen, strict=True)))
                    cpu += memory.cpu_seconds() - before
                    seconds += [elapsed for elapsed, error in timed if error is None]
                    errors += [error for _, error in timed if error is not None]
                await asyncio.gather(*(page.close() for page in pages))
                row = _row(count, seconds, errors, memory.peak_mb, cpu / (count * rounds))
                say(format_row(row))
                rows.append(row)
            return rows
        finally:
            await browser.close()


async def _warm_up(context, url: str, run_name: str, picture: str, tensorflow: bool = False) -> str:
    """Upload one photo until the answer comes from the engine that will stay (LiteRT once its
    conversion is done), and ask for Grad-CAM once when `tensorflow`; the engine's caption."""
    deadline = time.monotonic() + WARM_UP_S
    while True:
        page = await _open_predict(context, url, run_name)
        _, error = await _upload(page, picture, timeout_s=WARM_UP_S)
        note = await page.get_by_text("Predicted with").first.inner_text() if error is None else ""
        if error is None and tensorflow:
            await page.get_by_text("Explain with Grad-CAM").click()
            await page.get_by_text("Grad-CAM: warm colours").wait_for(timeout=WARM_UP_S * 1000)
        await page.close()
        if error is not None:
            raise CatdogError(f"the warm-up upload failed: {error}")
        if "takes over" not in note or time.monotonic() > deadline:
            return note
        await asyncio.sleep(2)


async def _open_predict(context, url: str, run_name: str):
    """A new session on the Predict page with `run_name` chosen, its script finished."""
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_S * 1000)
    await page.goto(url)
    await page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Predict").click()
    ready = page.get_by_text("Upload one or more photos")  # shown last, when no photo is chosen yet
    await ready.wait_for()
    picker = page.locator('[data-testid="stSelectbox"] input').first  # its value is the chosen label
    if run_name not in await picker.input_value():
        await picker.click()
        await page.get_by_role("option").filter(has_text=run_name).click()
        await page.wait_for_function(
            "([name]) => document.querySelector('[data-testid=\"stSelectbox\"] input').value.includes(name)", arg=[run_name]
        )
        await ready.wait_for()
    return page


async def _remove_photo(page) -> None:
    await page.get_by_role("button", name=re.compile(r"^Remove ")).click()
    await page.get_by_text("Upload one or more photos").wait_for()


async def _upload(page, picture: str, timeout_s: float = TIMEOUT_S) -> tuple[float, str | None]:
    """(seconds from choosing the photo to its answer on screen, None) or (seconds, what failed)."""
    started = time.perf_counter()
    try:
        await page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(picture)
        await page.get_by_text(_ANSWER).first.wait_for(timeout=timeout_s * 1000)
    except Exception as error:  # noqa: BLE001 - Playwright's timeouts and a closed page alike count as errors
        return time.perf_counter() - started, f"no answer: {str(error).splitlines()[0]}"
    elapsed = time.perf_counter() - started
    shown = await page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').all_inner_texts()
    return elapsed, (f"error on screen: {shown[0][:200]}" if shown else None)


def _row(people: int, seconds: list[float], errors: list[str], peak_mb: float, cpu_per_upload) -> dict:
    values = np.asarray(seconds) if seconds else np.asarray([np.nan])
    return {
        "people": people,
        "uploads": len(seconds) + len(errors),
        "p50_s": round(float(np.percentile(values, 50)), 3),
        "p95_s": round(float(np.percentile(values, 95)), 3),
        "max_s": round(float(values.max()), 3),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "server_peak_mb": round(peak_mb, 1),
        "server_cpu_ms_per_upload": round(1000 * float(cpu_per_upload[0])),
        "browser_cpu_ms_per_upload": round(1000 * float(cpu_per_upload[1])),
    }


class _ServerWatch:
    """The server's peak resident memory, sampled on a thread every 50 ms since the last reset;
    the CPU time of the server and of the browser (this process's other descendants)."""

    def __init__(self, pid: int):
        self._process = psutil.Process(pid)
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="catdog-load-memory", daemon=True)
        self._thread.start()

    @property
    def peak_mb(self) -> float:
        return self._peak / 2**20

    def reset(self) -> None:
        self._peak = 0

    def cpu_seconds(self) -> np.ndarray:
        """[server, browser] CPU seconds (user and system) used so far."""
        server = set(self._process.children(recursive=True)) | {self._process}
        browser = [child for child in psutil.Process().children(recursive=True) if child not in server]
        return np.asarray([_cpu(self._process), sum(_cpu(process) for process in browser)])

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            with contextlib.suppress(psutil.Error):
                self._peak = max(self._peak, self._process.memory_info().rss)


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:  # a renderer that has just exited
        return 0.0
    return times.user + times.system


@contextlib.contextmanager
def _server(runs_root: Path) -> Iterator[tuple[str, _ServerWatch]]:
    """`streamlit run app.py` on a free port with `runs_root` as the runs folder: (url, its memory)."""
    port = _free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), "--server.address", "127.0.0.1"]
    command += ["--server.headless", "true", "--server.fileWatcherType", "none"]
    environment = {**os.environ, "CATDOG_RUNS_DIR": str(runs_root)}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, cwd=APP.parent, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        memory = None
        try:
            _wait_until_healthy(url, process, log)
            memory = _ServerWatch(process.pid)
            yield url, memory
        finally:
            if memory is not None:
                memory.close()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_until_healthy(url: str, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    log.seek(0)
    raise CatdogError(f"the dashboard did not start: {log.read().decode(errors='replace')[-2000:]}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pictures(folder: str | Path | None, count: int) -> list[str]:
    """`count` photo paths from `folder` (repeated when it has fewer)."""
    found = [path for path in find_images([folder]) if Path(path).is_file()] if folder and Path(folder).is_dir() else []
    if not found:
        raise CatdogError(f"no photos found in {folder}; pass a folder of photos with --photos.")
    return [found[index * 7919 % len(found)] for index in range(count)]  # spread over the classes


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
