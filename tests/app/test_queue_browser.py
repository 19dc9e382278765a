"""The training queue in a real browser, two people at once (two browser contexts, two sessions):
Ann trains; Bob's Start queues, he sees his position, cancels one of his entries, and his training
starts by itself when Ann's ends; a restart of the dashboard keeps what still waits, and it starts
in its turn. Screenshots of both views go to test-output/screenshots/queue-*.png.

Skips when /usr/bin/chromium is absent (`make browser` installs it).
"""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from helpers import REPO, write_tutorial_layout
from helpers_browser import browser, free_port, streamlit_server  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SLOW = 180_000  # ms: a training's start (TensorFlow's import) on a busy 2-core machine
SCREENSHOTS = REPO / "test-output" / "screenshots"


def _choose(page, label: str, option: str) -> None:
    """Pick `option` in the st.selectbox labelled `label`; again when a redraw of the live training
    closed the list before the click reached it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(10):
        page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True)).click()
        with contextlib.suppress(PlaywrightTimeout):
            page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
            return
    pytest.fail(f"could not choose {option} in {label}")


def _ask_for_training(page, epochs: int, button: str, again: bool = False) -> None:
    """Fill the Train page's form for a small Model 3 training and press Start (or its queue label);
    `again` keeps the session's earlier choices and changes only the epochs."""
    if not again:
        _choose(page, "Model", "Model 3: CNN + preprocessing")
        _choose(page, "Image size", "32×32")
        _choose(page, "Batch size", "8")
    field = page.get_by_label("Epochs", exact=True)
    field.fill(str(epochs))
    field.press("Enter")
    page.get_by_text("parameters,").first.wait_for(timeout=SLOW)
    page.get_by_role("button", name=button).click()


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def place(tmp_path):
    """A runs/data/cache folder whose remembered dataset is a tiny one; every training stopped at the end."""
    from catdog import runs

    # 150 images a class: an epoch lasts a couple of seconds, so a 400-epoch training outlasts the test.
    pets = write_tutorial_layout(tmp_path / "data" / "pets", train_per_class=150).resolve()
    (tmp_path / "cache").mkdir()
    remembered = {"kind": "folder", "root": str(pets), "label": "local folder pets"}
    (tmp_path / "cache" / "dashboard-dataset.json").write_text(json.dumps(remembered))
    yield tmp_path
    for run in runs.list_runs(tmp_path / "runs"):
        if run.state == runs.RUNNING:
            runs.request_stop(run.path)


def test_two_people_share_one_training_queue(browser, place):  # noqa: F811
    from catdog import queue, runs

    root = place / "runs"
    port = free_port()
    with streamlit_server(place, port=port) as url:
        ann = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
        bob = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
        for person in (ann, bob):
            person.set_default_timeout(SLOW)  # a training and the server share two busy cores
        try:
            ann.goto(f"{url}/train", wait_until="commit")
            _ask_for_training(ann, epochs=500, button="Start training")  # ends when Ann stops it
            ann.get_by_role("heading", name="Training now: Model 3: CNN + preprocessing").wait_for(timeout=SLOW)

            bob.goto(f"{url}/train", wait_until="commit")
            bob.get_by_role("heading", name="Training now: Model 3: CNN + preprocessing").wait_for(timeout=SLOW)
            bob.get_by_text("started by browser", exact=False).first.wait_for()  # Ann's, in Bob's sidebar
            assert bob.get_by_role("button", name="Stop").count() == 0  # not Bob's to stop
            _ask_for_training(bob, epochs=400, button="Add to the queue")  # long: a restart happens during it
            bob.get_by_text("Your training is number 1 in the queue").wait_for()
            _ask_for_training(bob, epochs=3, button="Add to the queue", again=True)
            bob.get_by_text("Your training is number 2 in the queue").wait_for()
            bob.get_by_text("2. Model 3, 3 epochs · you").first.wait_for()
            bob_label = queue.waiting(root)[0]["label"]

            # Ann sees Bob's entries, with their positions and his label, and cannot cancel them.
            ann.locator('[data-testid="stSidebarUserContent"]').get_by_text(f"2. Model 3, 3 epochs · {bob_label}").wait_for()
            assert ann.get_by_role("button", name="Cancel").count() == 0
            for person, name in ((ann, "queue-ann"), (bob, "queue-bob")):
                person.get_by_role("heading", name="Train", exact=True).scroll_into_view_if_needed()
                _shot(person, name)

            # Bob cancels his second entry.
            bob.locator('[data-testid="stMain"]').get_by_role("button", name="Cancel").nth(1).click()
            bob.get_by_text("2. Model 3, 3 epochs · you").first.wait_for(state="detached")
            assert [entry["what"] for entry in queue.waiting(root)] == ["Model 3, 400 epochs"]

            # Ann stops hers: Bob's starts by itself.
            ann.get_by_role("button", name="Stop").click()
            bob.get_by_text("started by you").wait_for(timeout=SLOW)
            bob.get_by_role("button", name="Stop").wait_for()
            assert queue.waiting(root) == []

            # Ann queues one more behind Bob's.
            ann.get_by_role("button", name="Add to the queue").wait_for(timeout=SLOW)
            _ask_for_training(ann, epochs=1, button="Add to the queue", again=True)
            ann.get_by_text("Your training is number 1 in the queue").wait_for()
        except BaseException:
            _shot(ann, "queue-failure-ann")
            _shot(bob, "queue-failure-bob")
            raise
        finally:
            ann.context.close()
            bob.context.close()

    # The dashboard restarts: what waits is still there, and starts in its turn.
    (ann_entry,) = queue.waiting(root)
    with streamlit_server(place, port=port) as url:
        page = browser.new_page()
        page.set_default_timeout(SLOW)
        page.goto(url, wait_until="commit")
        sidebar = page.locator('[data-testid="stSidebarUserContent"]')
        sidebar.get_by_text(f"1. Model 3, 1 epoch · {ann_entry['label']}").wait_for(timeout=SLOW)
        sidebar.get_by_text(f"started by {bob_label}").wait_for()
        (bobs,) = [run for run in runs.list_runs(root) if run.state == runs.RUNNING]
        runs.request_stop(bobs.path)  # as a teacher would
        # Ann's one epoch may run between two refreshes of the sidebar: her entry leaving the queue
        # is what the page is sure to show.
        sidebar.get_by_text(f"1. Model 3, 1 epoch · {ann_entry['label']}").wait_for(state="detached", timeout=SLOW)
        page.close()
    (anns,) = _wait_until(
        lambda: [run for run in runs.list_runs(root) if run.config.epochs == 1 and run.state == runs.FINISHED],
        "Ann's last training to finish",
    )
    assert queue.starter_of(anns, root)["id"] == ann_entry["id"]
    assert sorted(run.state for run in runs.list_runs(root)) == [runs.FINISHED, runs.STOPPED, runs.STOPPED]
    assert queue.waiting(root) == []


def _wait_until(condition, what: str, timeout: float = SLOW / 1000):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)
    return found
