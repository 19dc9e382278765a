"""Fixtures for the dashboard tests: a tiny dataset inside the data root, AppTests of app.py with
that dataset chosen, a small trained run (trained once per module, copied into each test's runs
folder) and a run that reads as training right now."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import write_tutorial_layout
from helpers_app import APP

from catdog import runs
from catdog.config import RunConfig


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
            # The session-state value the Data page stores for a local folder.
            at.session_state["dataset"] = {"kind": "folder", "root": str(dataset), "label": f"local folder {dataset.name}"}
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
def trained_run(trained_runs_template, isolated_dirs) -> runs.Run:
    """The small trained run, copied into this test's runs folder ($CATDOG_RUNS_DIR)."""
    shutil.copytree(trained_runs_template, isolated_dirs / "runs", dirs_exist_ok=True)
    return runs.list_runs()[0]


@pytest.fixture
def live_run(app_dataset) -> Path:
    """A run 'training' in this very process (so it reads as alive), two of five epochs done and
    halfway through the third."""
    config = RunConfig(model="model3", epochs=5, batch_size=8, image_size=(32, 32), data=str(app_dataset))
    run_dir = runs.create_run(config, ("cats", "dogs"))
    runs.write_history(
        run_dir,
        [
            {"epoch": e, "accuracy": 0.6 + e / 10, "val_accuracy": 0.55 + e / 10, "loss": 1 / e, "val_loss": 1.2 / e}
            for e in (1, 2)
        ],
    )
    runs.write_progress(run_dir, {"phase": "train", "epoch": 3, "epochs": 5, "batch": 5, "batches": 10, "eta": 75.0})
    return run_dir
