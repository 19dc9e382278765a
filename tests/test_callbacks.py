"""Callbacks, through training on tiny data: progress, the run's record, stop requests (a
callable or a STOP file, honoured after the current batch) and early stopping."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import tiny_config

from catdog import runs
from catdog.callbacks import ModelSaver
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.models import compile_model
from catdog.pipeline import length_unknown_to_keras, make_tf_dataset
from catdog.predict import Predictor
from catdog.train import train


def validation_loss(run, data) -> float:
    """The saved model's loss on the validation images, as fit computes val_loss."""
    model = runs.load_model(run)
    compile_model(model, run.config.learning_rate)
    validation = load_dataset(data, batch_size=run.config.batch_size, seed=run.config.seed).validation
    with length_unknown_to_keras():
        images = make_tf_dataset(validation, run.config.image_size, run.config.batch_size)
        return model.evaluate(images, verbose=0, return_dict=True)["loss"]


def test_stop_after_current_batch_keeps_finished_epochs(tiny_data, tmp_path):
    seen = []

    def stop_in_third_epoch():
        return sum(1 for e in seen if e.phase == "train" and e.epoch == 3) >= 2

    run = train(
        tiny_config(epochs=6, precision="float32", data=str(tiny_data)),
        runs_root=tmp_path / "runs",
        progress=seen.append,
        should_stop=stop_in_third_epoch,
    )
    assert run.state == runs.STOPPED
    assert len(run.history) == 2
    assert max(e.epoch for e in seen if e.phase == "train") == 3
    assert Predictor(run).predict([load_dataset(tiny_data).validation.paths[0]])[0].label in ("cats", "dogs")
    # The saved model is the one the history describes: the second epoch's, not two batches later.
    assert validation_loss(run, tiny_data) == pytest.approx(run.history[-1]["val_loss"], rel=1e-4)


def test_stop_file_requested_from_elsewhere(tiny_data, tmp_path):
    def progress(event):
        if event.phase == "epoch" and event.epoch == 1:
            runs.request_stop(event.run_dir)

    run = train(tiny_config(epochs=5, data=str(tiny_data)), runs_root=tmp_path / "runs", progress=progress)
    assert run.state == runs.STOPPED and len(run.history) == 1 and run.has_model


def test_early_stopping_restores_best_epoch(tiny_data, tmp_path):
    run = train(tiny_config(epochs=8, early_stopping=1, learning_rate=0.01, data=str(tiny_data)), runs_root=tmp_path / "runs")
    assert run.state == runs.FINISHED
    best = max(entry["val_accuracy"] for entry in run.history)
    best_epoch = next(entry["epoch"] for entry in run.history if entry["val_accuracy"] == best)
    assert len(run.history) == best_epoch + 1 < 8  # one epoch of patience, then stopped
    assert run.status["note"] == f"early stopping: best epoch {best_epoch} restored"
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    predictor = Predictor(run)
    labels = [predictor.predict([p])[0].label for p in dataset.validation.paths]
    accuracy = np.mean([label == dataset.class_names[y] for label, y in zip(labels, dataset.validation.labels)])
    assert accuracy == pytest.approx(best, abs=0.03)


def test_a_stop_mid_epoch_on_the_fast_path_keeps_the_last_finished_epochs_weights(tiny_data, tmp_path):
    # The head is trained a whole epoch per graph call, so the stop comes after an epoch's updates
    # but before its validation: those updates must not reach the saved model.
    seen = []

    def stop_in_second_epoch():
        return any(e.phase == "train" and e.epoch == 2 for e in seen)

    config = tiny_config(model="model4", epochs=4, learning_rate=0.1, precision="float32", data=str(tiny_data))
    run = train(config, runs_root=tmp_path / "runs", progress=seen.append, should_stop=stop_in_second_epoch)
    assert run.state == runs.STOPPED and len(run.history) == 1
    assert validation_loss(run, tiny_data) == pytest.approx(run.history[-1]["val_loss"], rel=1e-4)


def test_a_stop_while_features_are_computed_ends_the_run_stopped_not_failed(tiny_data, tmp_path):
    config = tiny_config(model="model4", epochs=2, data=str(tiny_data))
    run = train(config, runs_root=tmp_path / "runs", should_stop=lambda: True)
    assert run.state == runs.STOPPED and run.history == () and not run.has_model
    assert "error" not in run.status


def test_a_background_checkpoint_holds_the_weights_it_was_given_and_reports_its_error(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    saver = ModelSaver(tmp_path)
    saver.save(model, durable=False, background=True)
    expected = [weight.copy() for weight in model.get_weights()]
    model.set_weights([np.zeros_like(weight) for weight in expected])  # training goes on meanwhile
    saver.wait()
    saved = keras.saving.load_model(tmp_path / runs.MODEL_FILE).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(saved, expected, strict=True))

    broken = ModelSaver(tmp_path / "gone")  # no such folder: the thread's save fails
    broken.save(model, background=True)
    with pytest.raises(CatdogError, match="could not save the model"):
        broken.wait()
    broken.wait()  # reported once


@pytest.mark.parametrize(
    "compiled, policy, nested",
    [(False, "float32", False), (True, "float32", False), (False, "mixed_bfloat16", False), (False, "mixed_bfloat16", True)],
)
def test_a_saved_model_is_uncompiled_float32_and_one_already_so_is_saved_without_a_twin(
    tmp_path, monkeypatch, compiled, policy, nested
):
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, dtype=policy)], name="inner")
    first = inner if nested else keras.layers.Dense(4, dtype=policy)  # nested: a base model inside, as Model 4's
    model = keras.Sequential([keras.Input((3,)), first, keras.layers.Dense(2, dtype="float32")])
    if compiled:
        compile_model(model)
    already_twin = not compiled and policy == "float32"
    if already_twin:  # Model 4's fast path: rebuilding the model for nothing is what made its save slow
        monkeypatch.setattr("catdog.callbacks._float32_twin", lambda model: pytest.fail("a twin was built"))
    ModelSaver(tmp_path).save(model)
    saved = keras.saving.load_model(tmp_path / runs.MODEL_FILE)
    assert not saved.compiled
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}
    if nested:
        assert {layer.dtype_policy.name for layer in saved.get_layer("inner").layers} == {"float32"}
    assert all(np.array_equal(a, b) for a, b in zip(saved.get_weights(), model.get_weights(), strict=True))
