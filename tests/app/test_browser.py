"""The dashboard as a user meets it: `streamlit run app.py` driven by Playwright in Debian's Chromium.

One walk through every page, in order, against one server: choose a local folder (and be refused
one outside the data root), draw samples, move the rotation slider, start a short training and
watch its chart grow, reload the page mid-training and find it still going, stop it, then
classify uploaded photos with the run. A screenshot of every page goes to
test-output/screenshots/. Prints how long the home page takes to appear after the server starts.

Skips when /usr/bin/chromium is absent (`make browser` installs it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
from helpers import REPO, png_bytes, write_tutorial_layout
from helpers_browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = REPO / "test-output" / "screenshots"
SLOW = 180_000  # ms: the first TensorFlow import and training start on a busy 2-core machine


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `streamlit run app.py` on a free port, with its own runs, data and cache folders.

    Yields (url, base folder, seconds from launch until the server answered, launch time).
    """
    needs_chromium()
    base = tmp_path_factory.mktemp("browser")
    # 64x64 images, 60 per class: a training epoch lasts long enough to watch, yet a short test.
    write_tutorial_layout(base / "data" / "pets", train_per_class=60, validation_per_class=30, size=64)
    environment = {
        "CATDOG_LITERT": "1",  # a user's default (the other tests turn it off)
        "CATDOG_ANYONE_MAY_STOP": "1",  # the walk reloads (a new session) before it stops its training
    }
    launched = time.monotonic()
    # 1 MB instead of the configured 200, so the test can go over the limit cheaply.
    with streamlit_server(base, environment, options=("--server.maxUploadSize", "1")) as url:
        try:
            yield url, base, time.monotonic() - launched, launched
        finally:
            _stop_trainings(base / "runs")


def _stop_trainings(root: Path) -> None:
    """Leave no training process behind (they run in their own sessions, by design)."""
    from catdog import runs

    for run in runs.list_runs(root):
        if run.state == runs.RUNNING:
            runs.request_stop(run.path)
            with contextlib.suppress(ProcessLookupError, TypeError):
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and runs.load_run(run.path).state == runs.RUNNING:
                    time.sleep(0.5)
                if runs.load_run(run.path).state == runs.RUNNING:
                    os.kill(int(run.status["pid"]), signal.SIGKILL)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _go(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=SLOW)


def _choose(page, label: str, option: str) -> None:
    """Pick `option` in the st.selectbox labelled `label`."""
    page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True)).click()
    page.get_by_role("option", name=option, exact=True).click()


def _epochs_finished(page) -> int:
    caption = page.get_by_text(" epochs finished").first
    caption.wait_for(timeout=SLOW)
    return int(caption.inner_text().split(" of ")[0])


def _live_points(page) -> int:
    """Points on the live chart's validation-accuracy curve, read from the Plotly figure itself."""
    return page.evaluate(
        """() => {
            const plots = [...document.querySelectorAll('.js-plotly-plot')];
            const traces = plots.flatMap(plot => plot.data || []);
            const curve = traces.find(trace => trace.name === 'validation accuracy');
            return curve ? curve.x.length : 0;
        }"""
    )


def _wait_until(condition, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture
def page(browser):
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    tab.set_default_timeout(60_000)
    yield tab
    tab.close()


def test_every_page_in_a_real_browser(server, page, tmp_path):
    try:
        _walk_through_every_page(server, page, tmp_path)
    except BaseException:
        _shot(page, "failure")  # what the page showed when it went wrong
        raise


def _walk_through_every_page(server, page, tmp_path):
    from catdog import runs

    url, base, ready_seconds, launched = server

    # Home (Data): appears quickly, no dataset yet.
    opened = time.monotonic()
    page.goto(url)
    page.get_by_role("heading", name="catdog").wait_for(timeout=SLOW)
    appeared = time.monotonic()
    print(
        f"\nhome page: server answered {ready_seconds:.1f}s after launch; page visible {appeared - launched:.1f}s after launch "
        f"({appeared - opened:.1f}s after the browser asked for it)"
    )
    page.get_by_text("None yet: choose one below.").wait_for()

    # A folder outside the data root is refused with a message, not a traceback.
    page.get_by_text("A local folder").click()
    folder = page.get_by_label("…or type a folder, relative to that folder")
    folder.fill("../")
    folder.press("Enter")
    page.get_by_role("button", name="Use this folder").click()
    page.get_by_text("'..' is not allowed").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    folder.fill("pets")
    folder.press("Enter")
    page.get_by_role("button", name="Use this folder").click()
    page.get_by_role("heading", name="What is in it").wait_for(timeout=SLOW)
    page.get_by_text("Baseline accuracy", exact=True).wait_for()  # the metric, not the chart's annotation
    page.locator(".js-plotly-plot").first.wait_for()
    _shot(page, "1-data")

    # Samples: one row per class, each image titled with its class.
    _go(page, "Samples")
    captions = page.locator('[data-testid="stImageCaption"]')
    _wait_until(lambda: captions.count() == 6, 60, "six sample images")
    assert sorted(captions.all_inner_texts()) == ["cats"] * 3 + ["dogs"] * 3
    before = page.locator('[data-testid="stImage"] img').evaluate_all("images => images.map(image => image.src)")
    page.get_by_role("button", name="Draw new images").click()
    _wait_until(
        lambda: page.locator('[data-testid="stImage"] img').evaluate_all("images => images.map(image => image.src)") != before,
        60,
        "new samples",
    )
    _shot(page, "2-samples")

    # Augmentation: moving the rotation slider redraws the variants.
    _go(page, "Augmentation")
    variants = page.locator('[data-testid="stImage"] img')
    _wait_until(lambda: variants.count() == 5, SLOW / 1000, "the original and four variants")
    sources = variants.evaluate_all("images => images.map(image => image.src)")
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Rotation factor").get_by_role("slider")
    slider.focus()
    for _ in range(20):
        slider.press("ArrowRight")
    page.get_by_text("Rotates by up to ±108° either way").wait_for()
    changed = time.monotonic()
    _wait_until(
        lambda: variants.evaluate_all("images => images.map(image => image.src)")[1:] != sources[1:],
        30,
        "new variants",
        interval=0.1,
    )
    print(f"augmentation preview redrawn {time.monotonic() - changed:.2f}s after the slider moved")
    _shot(page, "3-augmentation")

    # Train: start a short training on the tiny data; watch it live.
    _go(page, "Train")
    _choose(page, "Model", "Model 3: CNN + preprocessing")
    _choose(page, "Image size", "64×64")
    _choose(page, "Batch size", "8")
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("60")
    epochs.press("Enter")
    page.get_by_text("parameters,").first.wait_for(timeout=SLOW)
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("heading", name="Training now: Model 3: CNN + preprocessing").wait_for(timeout=SLOW)
    page.get_by_text("yours joins the queue").wait_for()  # a second Start would queue (test_queue_browser.py)
    assert page.get_by_role("button", name="Add to the queue").is_enabled()
    first = _wait_until(lambda: _epochs_finished(page), SLOW / 1000, "the first finished epoch")
    _wait_until(lambda: _live_points(page) >= first, 30, "the chart to show the first epochs")
    grown = _wait_until(lambda: (n := _epochs_finished(page)) > first and n, 120, "another epoch")
    _wait_until(lambda: _live_points(page) >= grown, 30, "the chart to grow")
    assert page.locator('[data-testid="stProgress"]').first.inner_text().startswith("Epoch")
    _shot(page, "4-train-live")

    # A refresh (a new session) finds the run still going.
    page.reload()
    page.get_by_role("heading", name="Training now: Model 3: CNN + preprocessing").wait_for(timeout=SLOW)
    assert _epochs_finished(page) >= grown
    page.locator('[data-testid="stSidebarUserContent"]').get_by_text("Training model3:").wait_for()  # on every page
    (running,) = [run for run in runs.list_runs(base / "runs") if run.state == runs.RUNNING]
    _shot(page, "5-train-after-reload")

    # Stop ends it after the current batch and keeps the finished epochs.
    page.get_by_role("button", name="Stop").click()
    page.get_by_role("heading", name="Runs").wait_for()
    _wait_until(lambda: runs.load_run(running.path).state == runs.STOPPED, 120, "the run to stop")
    page.get_by_role("heading", name="Training now: Model 3: CNN + preprocessing").wait_for(state="detached", timeout=60_000)
    stopped = runs.load_run(running.path)
    assert grown <= len(stopped.history) < 60 and stopped.has_model
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    assert page.get_by_role("button", name="Start training").is_enabled()
    _shot(page, "6-train-stopped")

    # Predict: the stopped run is usable; photos get a label and a bar per class; a bad file its message.
    _go(page, "Predict")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "red.png").write_bytes(png_bytes(0, size=64))
    (photos / "blue.png").write_bytes(png_bytes(1, size=64, seed=11))
    (photos / "notes.jpg").write_bytes(b"these are not pixels")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        [str(photos / name) for name in ("red.png", "notes.jpg", "blue.png")]
    )
    page.get_by_role("heading", name="cats", exact=True).wait_for(timeout=SLOW)
    page.get_by_role("heading", name="dogs", exact=True).wait_for()
    page.get_by_text("notes.jpg: not an image catdog can read").wait_for()
    page.get_by_text("Predicted with").wait_for()  # the engine is named (LiteRT once converted)
    page.locator('[data-testid="stProgress"]').nth(3).wait_for()  # the last photo's bars render last
    bars = page.locator('[data-testid="stProgress"]').all_inner_texts()
    assert len(bars) == 4 and all(text.startswith(("cats: ", "dogs: ")) for text in bars), bars
    assert page.locator('[data-testid="stException"]').count() == 0
    _shot(page, "7-predict")

    # A file over the upload limit is refused by the uploader itself, with its size limit.
    (photos / "huge.jpg").write_bytes(os.urandom(1_500_000))
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photos / "huge.jpg"))
    page.get_by_text("or smaller.").wait_for(timeout=30_000)
    assert "File must be" in page.locator('[data-testid="stFileUploader"]').first.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
