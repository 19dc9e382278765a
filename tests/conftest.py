"""Shared fixtures: tiny generated datasets a small CNN can learn, isolated caches and runs.

Nothing here needs ../shared or the network; fixtures that use ../shared skip without it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import SHARED_DATA, SHARED_KERAS, write_tutorial_layout

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    """A tiny tutorial-layout dataset of 32x32 images (80 train, 48 validation)."""
    return write_tutorial_layout(tmp_path / "tiny")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own runs, feature-cache and Keras directories."""
    monkeypatch.setenv("CATDOG_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CATDOG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CATDOG_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    # LiteRT conversions cost seconds of CPU per model: tests that exercise them ask for `litert`.
    monkeypatch.setenv("CATDOG_LITERT", "0")
    return tmp_path


@pytest.fixture
def litert(monkeypatch):
    """LiteRT on, as on a user's CPU-only machine (skips where a GPU makes TensorFlow the engine)."""
    from catdog import lite

    monkeypatch.setenv("CATDOG_LITERT", "1")
    if not lite.available():
        pytest.skip("LiteRT is not the engine here (a GPU is visible or ai-edge-litert is missing)")


@pytest.fixture
def training_traces(monkeypatch) -> list[str]:
    """The name of the model each time Keras' training step is traced (Python runs it only then)."""
    import keras

    traces, step = [], keras.Model.train_step

    def counted(self, data):
        traces.append(self.name)
        return step(self, data)

    monkeypatch.setattr(keras.Model, "train_step", counted)
    return traces


@pytest.fixture
def shared_keras_home(tmp_path, monkeypatch) -> Path:
    """A writable copy of ../shared/keras as KERAS_HOME (skips without ../shared)."""
    if not SHARED_KERAS.is_dir():
        pytest.skip("needs ../shared/keras")
    home = tmp_path / "keras-shared"
    shutil.copytree(SHARED_KERAS / "models", home / "models")
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("needs ../shared/data/cats_and_dogs_filtered")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A Model 1 run trained for 3 epochs on a tiny dataset, and that dataset's folder (trained once)."""
    from catdog.config import RunConfig
    from catdog.train import train

    root = tmp_path_factory.mktemp("predict")
    data = write_tutorial_layout(root / "data")
    config = RunConfig(model="model1", epochs=3, batch_size=8, image_size=(32, 32), seed=2, data=str(data))
    return train(config, runs_root=root / "runs"), data
