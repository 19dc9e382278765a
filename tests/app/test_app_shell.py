"""The dashboard's shell under Streamlit's AppTest: app.py's navigation and sidebar, every page
rendering, what pages say without a dataset or a run, and which imports the layers may make.

AppTest runs app.py in-process (st.navigation routes to pages/*.py); uploads and camera photos
are simulated by AppTest itself. The real server in a real browser is in test_browser.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO
from helpers_app import texts

from catdog import runs
from catdog.config import RunConfig

PAGES = ["pages/data.py", "pages/samples.py", "pages/augmentation.py", "pages/train.py", "pages/predict.py"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_an_exception(app, page):
    at = app.run()
    if page != "pages/data.py":
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)
    assert at.title[0].value  # every page has its title


@pytest.mark.parametrize("page", PAGES[1:])
def test_pages_without_a_dataset_send_you_to_the_data_page(app_factory, page):
    at = app_factory().run().switch_page(page).run()
    assert not at.exception
    if page == "pages/augmentation.py":  # works on an upload alone
        assert at.radio(key="aug_source").options == ["Upload an image"]
    elif page == "pages/predict.py":  # needs a run, not a dataset
        assert "No trained model yet" in texts(at.info)[0]
    else:
        assert "choose one on the Data page" in texts(at.info)[0]


@pytest.mark.parametrize("page", ["pages/evaluate.py", "pages/runs.py"])
def test_pages_without_runs_say_what_to_do(app, page):
    at = app.run().switch_page(page).run()
    assert not at.exception
    assert any("Train" in info.value for info in at.info)


def test_the_sidebar_names_the_dataset_and_the_training_in_progress(app_factory, app_dataset, live_run):
    at = app_factory().run()
    assert "Dataset: none chosen yet" in texts(at.sidebar.caption)
    assert "Training model3: 2 of 5 epochs done" in texts(at.sidebar.caption)
    at = app_factory(app_dataset).run()
    assert f"Dataset: local folder {app_dataset.name}" in texts(at.sidebar.caption)


def test_the_sidebar_counts_a_fine_tuning_stage_in_the_epochs(app_factory, app_dataset):
    config = RunConfig(model="model4", epochs=3, fine_tune_epochs=2, image_size=(32, 32), data=str(app_dataset))
    run_dir = runs.create_run(config, ("cats", "dogs"))
    runs.write_history(run_dir, [{"epoch": 1, "accuracy": 0.8, "val_accuracy": 0.8, "loss": 0.4, "val_loss": 0.4}])
    at = app_factory().run()
    assert "Training model4: 1 of 5 epochs done" in texts(at.sidebar.caption)


def test_home_page_imports_no_tensorflow():
    # In a fresh interpreter: the first page must not pay for TensorFlow's import.
    script = (
        "import sys; from streamlit.testing.v1 import AppTest; "
        f"at = AppTest.from_file({str(REPO / 'app.py')!r}, default_timeout=60).run(); "
        "assert not at.exception, at.exception; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_pages_never_import_tensorflow_and_the_core_never_imports_streamlit():
    for page in [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]:
        imported = _imports(page)
        assert not {name for name in imported if name.split(".")[0] in ("tensorflow", "keras")}, page
    heavy = {f"catdog.{name}" for name in ("models", "train", "predict", "augment", "evaluate", "explain", "export")}
    for first_page in (REPO / "app.py", REPO / "pages" / "data.py"):
        assert not _imports(first_page, top_level_only=True) & heavy, first_page
    ui = REPO / "catdog" / "ui"
    core = [module for module in sorted((REPO / "catdog").rglob("*.py")) if not module.is_relative_to(ui)]
    assert len(core) > 10
    for module in core:
        assert not {name for name in _imports(module) if name.split(".")[0] == "streamlit"}, module


def test_the_dashboard_helpers_import_neither_the_trainer_nor_streamlit_in_charts():
    # catdog.train and catdog.bench import Keras as they load; charts are plain Plotly.
    for module in sorted((REPO / "catdog" / "ui").glob("*.py")):
        imported = _imports(module)
        assert not {name for name in imported if name.split(".")[:2] in (["catdog", "train"], ["catdog", "bench"])}, module
        assert not {name for name in imported if name.split(".")[0] in ("tensorflow", "keras")}, module
    assert not {name for name in _imports(REPO / "catdog" / "ui" / "charts.py") if name.split(".")[0] == "streamlit"}
