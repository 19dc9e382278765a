"""A run's settings: validated when made, saved and read back, loaded from a file with overrides."""

from __future__ import annotations

import json

import pytest

from catdog.config import RunConfig
from catdog.errors import CatdogError
from catdog.models import MODELS


def test_a_run_starts_at_its_models_learning_rate_unless_one_is_set():
    from catdog.__main__ import _parser
    from catdog.commands import config_from_args

    assert [RunConfig(model=key).learning_rate for key in ("model1", "model2", "model3", "model4")] == [
        0.001
    ] * 4  # the tutorial's
    own = MODELS["model5"].learning_rate
    assert own != 0.001 and RunConfig(model="model5").learning_rate == own
    assert RunConfig(model="model5", learning_rate=3e-4).learning_rate == 3e-4
    assert RunConfig.from_dict(RunConfig(model="model5").to_dict()).learning_rate == own  # saved as a number
    assert config_from_args(_parser().parse_args(["train", "--model", "model5"])).learning_rate == own


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -1}, "batch size"),
        ({"learning_rate": 2.0}, "learning rate"),
        ({"image_size": (4, 4)}, "image size"),
        ({"flip": "sideways"}, "flip"),
        ({"rotation": 0.9}, "rotation"),
        ({"precision": "float8"}, "precision"),
        ({"strategy": "everywhere"}, "strategy"),
    ],
)
def test_settings_that_cannot_train_are_refused_with_a_message(settings, message):
    with pytest.raises(CatdogError, match=message):
        RunConfig(**settings)


def test_total_epochs_count_fine_tuning_for_frozen_base_models_only():
    assert RunConfig(model="model4", epochs=10, fine_tune_epochs=5).total_epochs == 15
    assert RunConfig(model="model2", epochs=10, fine_tune_epochs=5).total_epochs == 10  # nothing to unfreeze


def test_a_settings_file_loads_with_overrides_and_a_runs_config_json_too(tmp_path):
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"model": "model5", "epochs": 3, "image_size": [64, 64]}))
    loaded = RunConfig.load(plain)
    assert loaded == RunConfig(model="model5", epochs=3, image_size=(64, 64))
    assert RunConfig.load(plain, epochs=7, seed=2) == loaded.replace(epochs=7, seed=2)
    saved = tmp_path / "config.json"  # the shape a run directory holds
    saved.write_text(json.dumps({"config": loaded.to_dict(), "class_names": ["cats", "dogs"]}))
    assert RunConfig.load(saved) == loaded


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"model": "model2", "epoch": 3}', "does not know: epoch"),
        ("[1, 2]", "JSON object"),
        ("{not json", "cannot read"),
        ('{"model": "model2", "epochs": "many"}', "epochs"),
    ],
)
def test_a_bad_settings_file_says_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "settings.json"
    path.write_text(text)
    with pytest.raises(CatdogError, match=message):
        RunConfig.load(path)
