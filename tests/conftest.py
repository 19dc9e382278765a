"""Shared fixtures: tiny generated datasets a small CNN can learn, isolated caches and runs.

Nothing here needs ../shared or the network; fixtures that use ../shared skip without it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data" / "cats_and_dogs_filtered"
SHARED_KERAS = SHARED / "keras"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def make_image(label: int, rng: np.random.Generator, size: int = 32) -> Image.Image:
    """A noisy image a small CNN can tell apart: class 0 warm (red), class 1 cool (blue),
    with a bright square in a random place so the images are not all alike."""
    base = np.array([200, 60, 40] if label == 0 else [40, 70, 200], dtype=np.float64)
    pixels = base + rng.normal(0, 30, (size, size, 3))
    corner = rng.integers(0, size // 2, 2)
    pixels[corner[0] : corner[0] + size // 4, corner[1] : corner[1] + size // 4] += 60
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_class_folders(root: Path, per_class: int, class_names=("cats", "dogs"), seed: int = 0, size: int = 32) -> Path:
    """Write `per_class` JPEGs into root/<class>/ for each class; returns root."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(class_names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            make_image(label % 2, rng, size).save(folder / f"{name}.{index}.jpg", quality=92)
    return root


def write_tutorial_layout(root: Path, train_per_class: int = 40, validation_per_class: int = 24, size: int = 32) -> Path:
    """A miniature cats_and_dogs_filtered: train/ and validation/, each with cats/ and dogs/."""
    write_class_folders(root / "train", train_per_class, seed=1, size=size)
    write_class_folders(root / "validation", validation_per_class, seed=2, size=size)
    return root


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


def run_cli(*args, env=None, timeout=600):
    """Run `python -m catdog ARGS` as a user would; returns the CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "catdog", *map(str, args)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
