"""The Train page: the settings form, a training launched in the background and shown live, the
list of finished runs with their curves overlaid."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from helpers_app import plotly_specs, texts

from catdog import queue, runs
from catdog.config import RunConfig
from catdog.models import MODELS
from catdog.ui import training

# ----------------------------------------------------------------------------- the settings form


def test_train_page_describes_the_model_with_its_parameter_count(app):
    at = app.run().switch_page("pages/train.py").run()
    assert at.number_input(key="train_epochs").value == RunConfig().epochs
    assert at.selectbox(key="train_model").value == RunConfig().model
    at.selectbox(key="train_model").set_value("model1").run()
    at.selectbox(key="train_image_size").set_value(32).run()
    line = " ".join(texts(at.caption))
    assert "Three convolutions" in line and "parameters" in line and "56.1%" in line
    # Model 2's unpadded convolutions cannot take 32x32 images: said plainly, Start disabled.
    at.selectbox(key="train_model").set_value("model2").run()
    assert "cannot take 32x32 images" in at.error[0].value
    assert at.button(key="train_start").disabled


def test_train_page_offers_fine_tuning_and_augmentation_for_the_model_chosen(app):
    at = app.run().switch_page("pages/train.py").run()
    at.selectbox(key="train_model").set_value("model4").run()
    assert not at.number_input(key="train_fine_tune_epochs").disabled
    assert at.selectbox(key="train_flip_model4").value == "horizontal" and at.slider(key="train_rotation_model4").value == 0.1
    assert "up to ±36° · not replayed on the frozen-base fast path" in texts(at.caption)
    assert any(text.startswith("192×192 classified better") for text in texts(at.caption))
    at.selectbox(key="train_image_size").set_value(192).run()
    assert not any(text.startswith("192×192") for text in texts(at.caption))
    at.selectbox(key="train_image_size").set_value(160).run()
    at.selectbox(key="train_model").set_value("model1").run()
    assert not any(text.startswith("192×192") for text in texts(at.caption))
    assert at.number_input(key="train_fine_tune_epochs").disabled
    assert at.selectbox(key="train_flip_model1").value == "none" and at.slider(key="train_rotation_model1").value == 0.0


def test_the_learning_rate_slider_starts_at_each_models_own_rate_and_keeps_a_loaded_one(app, app_dataset):
    at = app.run().switch_page("pages/train.py").run()
    assert at.select_slider(key="train_learning_rate_model4").value == MODELS["model4"].learning_rate
    at.selectbox(key="train_model").set_value("model5").run()
    assert at.select_slider(key="train_learning_rate_model5").value == MODELS["model5"].learning_rate
    # A run trained at a rate off the slider's stops (from the command line), loaded back from the Runs page.
    runs.create_run(RunConfig(model="model5", epochs=2, learning_rate=7e-4, data=str(app_dataset)), ("cats", "dogs"))
    at.switch_page("pages/runs.py").run()
    at.button(key="runs_load_settings").click().run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert at.select_slider(key="train_learning_rate_model5").value == 7e-4


def test_settings_handed_over_fill_every_widget_once(app, app_dataset):
    handed = RunConfig(
        model="model4", epochs=7, batch_size=16, learning_rate=3e-4, image_size=(96, 96), seed=5, early_stopping=2,
        fast=False, fine_tune_epochs=4, fine_tune_from=120, fine_tune_learning_rate=1e-5, flip="vertical", rotation=0.2,
        precision="mixed_bfloat16", feature_precision="float32", strategy="mirrored",
    )  # fmt: skip
    at = app.run()
    at.session_state["train_settings"] = handed.to_dict()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    shown = {
        "model": at.selectbox(key="train_model").value,
        "epochs": at.number_input(key="train_epochs").value,
        "batch_size": at.selectbox(key="train_batch_size").value,
        "learning_rate": at.select_slider(key="train_learning_rate_model4").value,
        "image_size": at.selectbox(key="train_image_size").value,
        "seed": at.number_input(key="train_seed").value,
        "early_stopping": at.number_input(key="train_patience").value,
        "fast": at.checkbox(key="train_fast").value,
        "precision": at.selectbox(key="train_precision").value,
        "feature_precision": at.selectbox(key="train_feature_precision").value,
        "strategy": at.selectbox(key="train_strategy").value,
        "fine_tune_epochs": at.number_input(key="train_fine_tune_epochs").value,
        "fine_tune_from": at.number_input(key="train_fine_tune_from").value,
        "fine_tune_learning_rate": at.selectbox(key="train_fine_tune_rate").value,
        "flip": at.selectbox(key="train_flip_model4").value,
        "rotation": at.slider(key="train_rotation_model4").value,
    }
    assert shown == {**{name: getattr(handed, name) for name in shown}, "image_size": 96}
    assert "train_settings" not in at.session_state  # applied once: the user's later changes stand
    at.number_input(key="train_epochs").set_value(9).run()
    assert at.number_input(key="train_epochs").value == 9

    # A run trained on several machines is repeated on this one: the dashboard starts no cluster.
    at.session_state["train_settings"] = handed.replace(strategy="multi-worker").to_dict()
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_strategy").value == "default"


# ----------------------------------------------------------------------------- launching a training


def test_a_launch_queues_the_settings_for_the_command_line_as_one_file(app_dataset, isolated_dirs, monkeypatch):
    # The processes themselves are replaced: what is checked is the file and the commands they are given.
    started = []

    class Process:
        pid = -4242
        returncode = 0

        def __init__(self, command, **options):
            started.append(command)

        def poll(self):
            return 0

    monkeypatch.setattr(queue.subprocess, "Popen", Process)
    config = RunConfig(model="model3", epochs=3, batch_size=8, learning_rate=3e-4, image_size=(32, 32), seed=4, flip="vertical")
    launch = training.launch_training(config, app_dataset)
    settings, root = Path(launch["config"]), isolated_dirs / "runs"
    assert settings.parent == root / ".launches" and settings.name.endswith("-model3.json")
    assert RunConfig.load(settings) == config.replace(data=str(app_dataset))
    (entry,) = queue.waiting()
    assert entry["id"] == launch["entry"] and entry["what"] == "Model 3, 3 epochs"
    assert queue.run_queue() == 1  # what the runner that launch_training started does
    assert started == [
        [sys.executable, "-m", "catdog.queue", "--runs-dir", str(root)],
        [sys.executable, "-m", "catdog", "train", "--config", str(settings), "--runs-dir", str(root)],
    ]


@pytest.mark.slow
def test_start_trains_in_a_background_process(app, app_dataset):
    at = app.run().switch_page("pages/train.py").run()
    at.selectbox(key="train_model").set_value("model3").run()
    at.selectbox(key="train_image_size").set_value(32).run()
    at.selectbox(key="train_batch_size").set_value(8).run()
    at.number_input(key="train_epochs").set_value(2).run()
    at.number_input(key="train_seed").set_value(3).run()
    at.selectbox(key="train_precision").set_value("float32").run()
    at.button(key="train_start").click().run()
    assert not at.error, texts(at.error)
    launch = at.session_state["train_launch"]
    assert launch["entry"]  # queued, and started at once by the queue's runner: nothing else trains
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not any(run.state == runs.FINISHED for run in runs.list_runs()):
        time.sleep(0.5)
    (run,) = runs.list_runs()
    assert run.state == runs.FINISHED and len(run.history) == 2 and run.config.image_size == (32, 32)
    assert run.config.data == str(app_dataset)
    # The run trained exactly what the form said (and what the launch's settings file holds).
    assert run.config == RunConfig.load(launch["config"])
    assert (run.config.model, run.config.batch_size, run.config.seed, run.config.precision) == ("model3", 8, 3, "float32")
    assert (run.path / "progress.json").is_file()
    at.run()
    assert [frame.value for frame in at.dataframe if "val accuracy" in frame.value.columns][0]["run"].tolist() == [run.name]


@pytest.mark.slow
def test_a_training_killed_with_the_server_reads_as_interrupted_after_a_restart(app_factory, app_dataset):
    # The dashboard starts trainings in their own session, so a Ctrl-C of the server leaves them
    # running (and a new server shows them live). A restart that kills everything (a reboot, a
    # service manager stopping the whole group) must not leave a run "running" forever.
    training.launch_training(RunConfig(model="model3", epochs=500, batch_size=8, image_size=(32, 32)), app_dataset)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not [run for run in runs.list_runs() if run.state == runs.RUNNING and run.history]:
        time.sleep(0.5)
    (run,) = runs.list_runs()
    assert run.state == runs.RUNNING
    os.kill(run.status["pid"], signal.SIGKILL)
    while time.monotonic() < deadline and queue.alive(run.status["pid"]):  # the queue's runner reaps it
        time.sleep(0.1)
    at = app_factory(app_dataset).run().switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert not [header for header in at.subheader if "Training now" in header.value]
    table = next(frame.value for frame in at.dataframe if "state" in frame.value.columns)
    assert table["state"].tolist() == [runs.INTERRUPTED]
    assert not at.button(key="train_start").disabled and at.button(key="train_start").label == "Start training"


# ----------------------------------------------------------------------------- the training in progress


def test_a_running_training_is_shown_live_and_a_second_one_queues(app, app_dataset, live_run, monkeypatch):
    at = app.run().switch_page("pages/train.py").run()
    assert "Training now: Model 3" in at.subheader[0].value
    (progress,) = at.get("progress")
    assert progress.value == 50 and "Epoch 3 of 5 · batch 5 of 10 · about 1 min 10 s left" in progress.text
    live = plotly_specs(at)[0]
    accuracy = next(trace for trace in live["data"] if trace["name"] == "validation accuracy")
    assert accuracy["x"] == [1, 2] and accuracy["y"] == pytest.approx([0.65, 0.75])
    lines = sorted(shape["y0"] for shape in live["layout"]["shapes"])
    assert lines == pytest.approx([0.5, 0.7698])  # baseline and the tutorial's Model 3
    assert [annotation["text"] for annotation in live["layout"]["annotations"] if "tutorial" in annotation["text"]] == [
        "tutorial's Model 3 77.0%"
    ]
    assert "2 of 5 epochs finished" in texts(at.caption)
    assert "yours joins the queue" in " ".join(texts(at.caption))
    assert at.button(key="train_start").label == "Add to the queue" and not at.button(key="train_start").disabled
    # Started from the command line (here, this very process): not this session's to stop...
    assert "Started by the command line: only they can stop it." in texts(at.caption)
    assert not [button for button in at.button if button.key == "train_stop"]
    monkeypatch.setenv(queue.ANYONE_MAY_STOP, "1")  # ...unless the teacher lets anyone
    at.run()
    at.button(key="train_stop").click().run()
    assert runs.stop_requested(live_run)
    assert "Stopping after the current batch…" in texts(at.caption)
    # The chart grows with the history.
    runs.write_history(
        live_run, [{"epoch": e, "accuracy": 0.7, "val_accuracy": 0.7, "loss": 0.5, "val_loss": 0.6} for e in (1, 2, 3)]
    )
    at.run()
    accuracy = next(trace for trace in plotly_specs(at)[0]["data"] if trace["name"] == "validation accuracy")
    assert accuracy["x"] == [1, 2, 3]


def test_a_refreshed_page_still_shows_the_training_in_progress(app_factory, live_run):
    # A refresh is a new session: it must find the running training even before a dataset is chosen.
    at = app_factory().run().switch_page("pages/train.py").run()
    assert at.session_state["dataset"] is None
    assert "Training now: Model 3" in at.subheader[0].value
    assert "2 of 5 epochs finished" in texts(at.caption)
    assert "choose one on the Data page" in texts(at.info)[0]  # only the new-training settings need one


# ----------------------------------------------------------------------------- finished runs


def test_finished_runs_are_listed_and_their_curves_overlaid(app, trained_run):
    at = app.run().switch_page("pages/train.py").run()
    table = next(frame.value for frame in at.dataframe if "val accuracy" in frame.value.columns)
    assert table["run"].tolist() == [trained_run.name]
    assert table["state"][0] == "finished" and table["epochs"][0] == "2 of 2" and table["image size"][0] == 32
    assert at.multiselect(key="train_compare").value == [trained_run.name]
    overlay = plotly_specs(at)[-1]
    assert {trace["name"] for trace in overlay["data"]} >= {
        f"model3 validation ({trained_run.name})",
        f"model3 training ({trained_run.name})",
    }
    at.multiselect(key="train_compare").set_value([]).run()
    assert len(plotly_specs(at)) == 0
