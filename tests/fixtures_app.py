"""Fixtures for the dashboard tests: a tiny dataset inside the data root, an AppTest of app.py with
that dataset chosen, and a small trained run (trained once per module, copied into each test's
runs folder).

Imported by test_app_pages.py and test_browser.py (conftest.py belongs to the core's tests).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, make_image, write_tutorial_layout
from PIL import Image

APP = REPO / "app.py"


def source_for(root: Path, kind: str = "folder") -> dict:
    """The session-state value that makes `root` the dataset in use (as the Data page stores it)."""
    return {"kind": kind, "root": str(root), "label": f"local folder {root.name}"}


@pytest.fixture
def app_dataset(isolated_dirs) -> Path:
    """A tiny tutorial-layout dataset inside the data root, with one unreadable file to skip."""
    root = write_tutorial_layout(isolated_dirs / "tiny")
    (root / "train" / "cats" / "broken.jpg").write_bytes(b"this is not a JPEG")
    return root


@pytest.fixture
def app_factory():
    """Makes AppTests of app.py, optionally with a dataset already chosen."""
    from streamlit.testing.v1 import AppTest

    def make(dataset: Path | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=180)
        if dataset is not None:
            at.session_state["dataset"] = source_for(dataset)
        return at

    return make


@pytest.fixture
def app(app_factory, app_dataset):
    """An AppTest of app.py with the tiny dataset in use (not yet run)."""
    return app_factory(app_dataset)


@pytest.fixture(scope="module")
def trained_runs_template(tmp_path_factory) -> Path:
    """A runs folder holding one small trained run (Model 3 on 32x32 red/blue images, 2 epochs).

    Model 3 rather than Model 2: Model 2's unpadded convolutions need inputs of about 80 pixels.
    """
    from catdog.config import RunConfig
    from catdog.data import load_dataset
    from catdog.train import train

    base = tmp_path_factory.mktemp("trained")
    data = write_tutorial_layout(base / "tiny")
    dataset = load_dataset(data, batch_size=8, seed=1)
    config = RunConfig(model="model3", epochs=2, batch_size=8, image_size=(32, 32), seed=1, data=str(data), pretrained=False)
    run = train(config, dataset=dataset, runs_root=base / "runs")
    assert run.final("val_accuracy") >= 0.8, "the fixture's model should tell red from blue"
    return base / "runs"


@pytest.fixture
def trained_run(trained_runs_template, isolated_dirs):
    """The small trained run, copied into this test's runs folder ($CATDOG_RUNS_DIR)."""
    from catdog import runs

    shutil.copytree(trained_runs_template, isolated_dirs / "runs", dirs_exist_ok=True)
    return runs.list_runs()[0]


def red_image() -> Image.Image:
    return make_image(0, np.random.default_rng(3))
