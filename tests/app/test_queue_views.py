"""The queue as two people see it under AppTest: each AppTest is its own browser session. A Start
while a training runs queues; every page's sidebar lists the queue with positions and who queued
each entry; only the owner cancels an entry or stops the training it started (unless the teacher's
setting lets anyone). No queue runner is started here: the test holds the runner's lock, so nothing
trains for real (the browser test does that)."""

from __future__ import annotations

import os

import pytest
from helpers_app import texts

from catdog import queue
from catdog.paths import runs_dir


@pytest.fixture
def no_runner():
    """Hold the queue runner's lock, so that the pages start no runner (and no training)."""
    with queue._runner_lock(queue._root(None)) as mine:
        assert mine
        yield


def _person(app_factory, app_dataset, owner: str):
    """A browser session of `owner` (the random id a session gets on first use), on the home page.

    A fresh AppTest per look at the sidebar: AppTest keeps no sidebar after a switch_page.
    """
    at = app_factory(app_dataset)
    at.session_state["owner"] = owner
    return at.run()


def _queue_from_train_page(at, epochs: int):
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_model").set_value("model3").run()
    at.selectbox(key="train_image_size").set_value(32).run()
    at.number_input(key="train_epochs").set_value(epochs).run()
    assert at.button(key="train_start").label == "Add to the queue"
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    return at


def _sidebar(at) -> list[str]:
    return _shown(at.sidebar.caption)


def _shown(elements) -> list[str]:
    """Captions as a person reads them (without Markdown's escapes)."""
    return [text.replace("\\", "") for text in texts(elements)]


def test_two_sessions_queue_see_positions_and_owners_and_cancel_only_their_own(app_factory, app_dataset, live_run, no_runner):
    ann = _queue_from_train_page(_person(app_factory, app_dataset, "a1a1a1a1"), epochs=2)
    bob = _queue_from_train_page(_person(app_factory, app_dataset, "b2b2b2b2"), epochs=3)
    first, second = queue.waiting()
    assert (first["owner"], first["label"], second["owner"], second["label"]) == (
        "a1a1a1a1",
        "browser a1a1",
        "b2b2b2b2",
        "browser b2b2",
    )

    # Every page's sidebar lists the queue in order, each person's own entries as "you".
    sidebar = _sidebar(_person(app_factory, app_dataset, "a1a1a1a1"))
    assert "Queue: 2 waiting, started one after another" in sidebar
    assert "1. Model 3, 2 epochs · you" in sidebar and "2. Model 3, 3 epochs · browser b2b2" in sidebar
    assert "Training model3: 2 of 5 epochs done" in sidebar and "started by the command line" in sidebar
    sidebar = _sidebar(_person(app_factory, app_dataset, "b2b2b2b2"))
    assert "1. Model 3, 2 epochs · browser a1a1" in sidebar and "2. Model 3, 3 epochs · you" in sidebar

    # The Train page says where one's own training stands, with Cancel only beside one's own entries.
    bob.run()
    assert "Your training is number 2 in the queue; it starts by itself when the ones before it have finished." in texts(bob.info)
    assert [button.key for button in bob.button if "cancel" in button.key] == [f"train_cancel_{second['id']}"]
    ann.run()
    assert [button.key for button in ann.button if "cancel" in button.key] == [f"train_cancel_{first['id']}"]
    ann.button(key=f"train_cancel_{first['id']}").click().run()
    assert [entry["id"] for entry in queue.waiting()] == [second["id"]]
    assert not [info for info in texts(ann.info) if "in the queue" in info]
    bob.run()
    assert "Your training is number 1 in the queue; it starts by itself when the ones before it have finished." in texts(bob.info)
    assert "1. Model 3, 3 epochs · you" in _shown(bob.caption)


def test_only_the_session_that_started_a_training_may_stop_it(app_factory, app_dataset, live_run, no_runner, monkeypatch):
    ann = _queue_from_train_page(_person(app_factory, app_dataset, "a1a1a1a1"), epochs=2)
    (entry,) = queue.waiting()
    with queue._editing(runs_dir()) as saved:  # as the runner records the training it started (here, this process)
        saved["waiting"].clear()
        saved["started"].append({**entry, "pid": os.getpid()})
    ann.run()
    assert ann.button(key="train_stop")
    assert "started by you" in _sidebar(_person(app_factory, app_dataset, "a1a1a1a1"))
    assert "started by browser a1a1" in _sidebar(_person(app_factory, app_dataset, "b2b2b2b2"))
    bob = _person(app_factory, app_dataset, "b2b2b2b2").switch_page("pages/train.py").run()
    assert "Started by browser a1a1: only they can stop it." in texts(bob.caption)
    assert not [button for button in bob.button if button.key == "train_stop"]
    monkeypatch.setenv(queue.ANYONE_MAY_STOP, "1")  # the teacher's setting
    bob.run()
    bob.button(key="train_stop").click().run()
    assert "Stopping after the current batch…" in texts(bob.caption)
