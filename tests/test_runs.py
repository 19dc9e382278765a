"""Run directories: what is not a run is refused, a model file carrying code is refused, progress is throttled."""

from __future__ import annotations

import pytest

from catdog import runs
from catdog.errors import CatdogError


def test_runs_that_are_not_runs_are_refused(tmp_path):
    with pytest.raises(CatdogError, match="not a catdog run"):
        runs.load_run(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(CatdogError, match="not a catdog run"):
        runs.load_run(tmp_path)


def test_a_model_file_carrying_code_is_refused_by_safe_mode(tiny_run, tmp_path):
    """A run folder whose model.keras holds a Lambda layer (arbitrary Python) is not loaded."""
    import shutil

    import keras

    run, _ = tiny_run
    planted = tmp_path / run.path.name
    shutil.copytree(run.path, planted)
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(keras.layers.GlobalAveragePooling2D()(inputs))
    keras.Model(inputs, outputs).save(planted / runs.MODEL_FILE)
    with pytest.raises(CatdogError, match="cannot be loaded.*delete the run"):
        runs.load_model(runs.load_run(planted))
    assert runs.load_model(run) is not None  # the real run still loads


def test_progress_file_is_throttled_but_keeps_epoch_ends(tmp_path):
    event = {"phase": "train", "epoch": 1, "epochs": 2, "batch": 1, "batches": 100}
    written = [runs.write_progress(tmp_path, {**event, "batch": batch}) for batch in range(1, 50)]
    assert written[0] and sum(written) <= 3  # ~2 a second, not one per batch
    assert runs.write_progress(tmp_path, {**event, "phase": "epoch", "batch": 100})
    assert runs.read_progress(tmp_path)["phase"] == "epoch"
