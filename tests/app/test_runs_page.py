"""The Runs page: every run in one table, curves overlaid, settings handed back to Train, delete,
and reproducing the tutorial."""

from __future__ import annotations

import time

import pytest

from catdog import runs


def test_runs_page_lists_loads_settings_and_deletes(app, trained_run):
    at = app.run().switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["run"].tolist() == [trained_run.name] and table["model"][0] == "model3"
    assert at.multiselect(key="runs_compare").value == [trained_run.name]
    at.button(key="runs_load_settings").click().run()
    assert at.session_state["train_model"] == "model3" and at.session_state["train_epochs"] == 2
    assert at.session_state["train_flip_model3"] == "horizontal" and at.session_state["train_fine_tune_epochs"] == 0
    assert at.session_state["train_learning_rate_model3"] == trained_run.config.learning_rate
    assert "train_settings" not in at.session_state  # the Train page took them over
    at.switch_page("pages/runs.py").run()
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    assert runs.list_runs() == []


@pytest.mark.slow
def test_reproduce_button_starts_the_four_models_in_the_background(app, app_dataset, trained_run):
    at = app.run().switch_page("pages/runs.py").run()
    table = at.dataframe[-1].value
    assert table["tutorial val accuracy"].tolist() == [0.5606, 0.7079, 0.7698, 0.9827]
    at.button(key="runs_reproduce").click().run()
    assert not at.exception, at.exception
    deadline = time.time() + 120
    while time.time() < deadline and not [r for r in runs.list_runs() if r.config.model == "model1"]:
        time.sleep(0.5)
    started = [r for r in runs.list_runs() if r.config.model == "model1"]
    assert started and started[0].config.epochs == 20
    runs.request_stop(started[0].path)  # a stop ends the reproduction after model 1
    while time.time() < deadline + 60 and runs.running_run() is not None:
        time.sleep(0.5)
    assert runs.load_run(started[0].path).state in (runs.STOPPED, runs.FINISHED)
