"""Dashboard pages under Streamlit's AppTest: every page renders, and does what a user would notice.

AppTest runs app.py in-process (st.navigation routes to pages/*.py); uploads and camera photos
are simulated by AppTest itself. The real server in a real browser is in test_browser.py.
"""

from __future__ import annotations

import ast
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from helpers import REPO, jpeg_bytes, png_bytes, write_class_folders, write_tutorial_layout

from catdog import runs
from catdog.config import RunConfig
from catdog.errors import CatdogError

pytest_plugins = ("fixtures_app",)  # the dashboard fixtures (conftest.py belongs to the core tests)

PAGES = ["pages/data.py", "pages/samples.py", "pages/augmentation.py", "pages/train.py", "pages/predict.py"]


def texts(elements) -> list[str]:
    return [str(element.value) for element in elements]


def plotly_specs(at) -> list[dict]:
    return [json.loads(element.proto.spec) for element in at.get("plotly_chart")]


# ----------------------------------------------------------------------------- every page


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
    for module in sorted((REPO / "catdog").glob("*.py")):
        if module.name != "ui.py":
            assert not {name for name in _imports(module) if name.split(".")[0] == "streamlit"}, module


# ----------------------------------------------------------------------------- Data (home)


def test_data_page_shows_counts_frequencies_baseline_and_skipped_files(app, app_dataset):
    at = app.run()
    assert str(app_dataset) in " ".join(texts(at.markdown))
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Training images"] == "80" and metrics["Baseline accuracy"] == "50.0%"
    counts = at.dataframe[0].value
    assert counts.loc["cats", "train"] == 40 and counts.loc["dogs", "validation"] + counts.loc["dogs", "test"] == 24
    (chart,) = plotly_specs(at)
    assert chart["data"][0]["x"] == ["cats", "dogs"] and chart["data"][0]["y"] == [0.5, 0.5]
    skipped = at.dataframe[1].value
    assert skipped["path"].str.endswith("broken.jpg").tolist() == [True]
    assert "not an image" in skipped["reason"][0]


def test_choosing_a_local_folder_inside_the_data_root(app_factory, isolated_dirs):
    write_class_folders(isolated_dirs / "pets" / "mine", 12, class_names=("birds", "fish"))
    at = app_factory().run()
    at.radio(key="data_kind").set_value("folder").run()
    assert "pets/mine" in at.selectbox(key="data_found").options
    at.selectbox(key="data_found").set_value("pets/mine").run()
    at.button(key="data_use_folder").click().run()
    assert not at.error, texts(at.error)
    assert at.session_state["dataset"]["root"] == str((isolated_dirs / "pets" / "mine").resolve())
    assert "one folder of class folders · classes: birds, fish" in texts(at.caption)


@pytest.mark.parametrize("typed", ["../", "tiny/../../etc", "/etc", "escape", "tiny/train/cats/link"])
def test_local_folders_outside_the_data_root_are_refused(app, app_dataset, isolated_dirs, tmp_path_factory, typed):
    outside = tmp_path_factory.mktemp("outside")
    write_class_folders(outside, 10)
    (isolated_dirs / "escape").symlink_to(outside, target_is_directory=True)
    (app_dataset / "train" / "cats" / "link").symlink_to(outside, target_is_directory=True)
    at = app.run()
    at.radio(key="data_kind").set_value("folder").run()
    at.text_input(key="data_folder").set_value(typed).run()
    at.button(key="data_use_folder").click().run()
    assert not at.exception
    assert at.error and ("outside" in at.error[0].value or "'..' is not allowed" in at.error[0].value), texts(at.error)
    assert at.session_state["dataset"]["root"] == str(app_dataset)  # unchanged


def _zip_of(folder: Path, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + str(path.relative_to(folder)))
    return buffer.getvalue()


def test_uploaded_zip_is_unpacked_into_the_cache_and_used(app_factory, tmp_path):
    source = write_class_folders(tmp_path / "zip-source", 12, class_names=("apples", "pears"))
    at = app_factory().run()
    at.radio(key="data_kind").set_value("zip").run()
    at.file_uploader(key="data_zip").upload("fruit.zip", _zip_of(source, "fruit/"), "application/zip").run()
    at.button(key="data_use_zip").click().run()
    assert not at.error, texts(at.error)
    chosen = at.session_state["dataset"]
    assert chosen["kind"] == "zip" and Path(chosen["root"]).is_relative_to(tmp_path / "cache" / "uploads")
    assert {metric.label: metric.value for metric in at.metric}["Training images"] == str(2 * 10)


def _flat_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(12):
            archive.writestr(f"photos/{index}.png", png_bytes(index % 2))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, payload, message",
    [
        ("flat.zip", _flat_zip(), "class folder"),
        ("notes.zip", b"this is not a zip archive", "not a readable zip file"),
        ("empty.zip", b"PK\x05\x06" + bytes(18), "holds no files"),
    ],
)
def test_uploaded_zips_that_are_not_datasets_get_a_message(app_factory, name, payload, message):
    at = app_factory().run()
    at.radio(key="data_kind").set_value("zip").run()
    at.file_uploader(key="data_zip").upload(name, payload, "application/zip").run()
    at.button(key="data_use_zip").click().run()
    assert not at.exception, at.exception
    assert message in at.error[0].value, texts(at.error)
    assert at.session_state["dataset"] is None


@pytest.mark.parametrize("bad_entry", ["../evil.png", "/abs/evil.png"])
def test_uploaded_zip_escaping_its_folder_is_refused(app_factory, tmp_path, bad_entry):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok/cats/a.png", png_bytes(0))
        archive.writestr(bad_entry, png_bytes(1))
    at = app_factory().run()
    at.radio(key="data_kind").set_value("zip").run()
    at.file_uploader(key="data_zip").upload("evil.zip", buffer.getvalue(), "application/zip").run()
    at.button(key="data_use_zip").click().run()
    assert "points outside the folder" in at.error[0].value
    assert at.session_state["dataset"] is None
    assert not (tmp_path / "evil.png").exists() and not Path("/abs/evil.png").exists()
    assert not list((tmp_path / "cache" / "uploads").glob("*/ok"))  # nothing half-extracted is left


def test_zip_bombs_and_links_are_refused_before_extraction(tmp_path):
    from catdog.uploads import extract_dataset_zip

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cats/huge.bin", b"\0" * 3_000_000)  # compresses to a few KB
    with pytest.raises(CatdogError, match="more than"):
        extract_dataset_zip(bomb.getvalue(), tmp_path / "up", max_total_bytes=1_000_000)
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        for index in range(30):
            archive.writestr(f"cats/{index}.png", b"x")
    with pytest.raises(CatdogError, match="more than 20 files"):
        extract_dataset_zip(many.getvalue(), tmp_path / "up", max_files=20)
    linked = io.BytesIO()
    with zipfile.ZipFile(linked, "w") as archive:
        link = zipfile.ZipInfo("cats/passwd.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(CatdogError, match="symbolic link"):
        extract_dataset_zip(linked.getvalue(), tmp_path / "up")
    assert not [path for path in (tmp_path / "up").rglob("*") if path.is_file()]


def test_a_complete_tutorial_copy_is_used_without_asking(app_factory, isolated_dirs):
    extracted = isolated_dirs / "keras" / "datasets" / "cats_and_dogs_extracted"
    write_tutorial_layout(extracted / "cats_and_dogs_filtered", 12, 10)
    (extracted / ".catdog-complete").write_text("extracted\n")
    at = app_factory().run()
    assert at.session_state["dataset"]["kind"] == "tutorial"
    assert {metric.label: metric.value for metric in at.metric}["Training images"] == "24"


def test_the_tutorial_dataset_is_downloaded_with_progress_on_first_use(app_factory, tmp_path, monkeypatch):
    import functools
    import http.server
    import threading

    from catdog import ui

    # This machine is offline: serve a miniature cats_and_dogs_filtered.zip from localhost instead.
    served = tmp_path / "served"
    served.mkdir()
    source = write_tutorial_layout(tmp_path / "zip-source", 12, 10)
    (served / "cats_and_dogs_filtered.zip").write_bytes(_zip_of(source, "cats_and_dogs_filtered/"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    reports = []
    fetch = functools.partial(
        ui.fetch_tutorial_dataset, origin=f"http://127.0.0.1:{server.server_address[1]}/cats_and_dogs_filtered.zip"
    )
    monkeypatch.setattr(
        ui, "fetch_tutorial_dataset", lambda progress: fetch(lambda *report: (reports.append(report), progress(*report)))
    )
    try:
        at = app_factory().run()
        assert at.session_state["dataset"] is None
        at.button(key="data_use_tutorial").click().run()
    finally:
        server.shutdown()
    assert not at.error and not at.exception, texts(at.error)
    assert at.session_state["dataset"]["kind"] == "tutorial"
    assert reports and reports[-1][2] == "download" and reports[-1][0] == reports[-1][1] > 0
    assert {metric.label: metric.value for metric in at.metric}["Training images"] == "24"


# ----------------------------------------------------------------------------- Samples


def test_sample_grid_has_one_row_per_class_titled_with_the_class(app_factory, isolated_dirs):
    three = write_class_folders(isolated_dirs / "three", 15, class_names=("cats", "dogs", "foxes"))
    at = app_factory(three).run().switch_page("pages/samples.py").run()
    assert [image.captions for image in at.image] == [[name] * 3 for name in ("cats", "dogs", "foxes")]
    at.slider(key="samples_per_class").set_value(5).run()
    assert [len(image.value) for image in at.image] == [5, 5, 5]
    before = [image.value for image in at.image]
    at.button(key="samples_draw").click().run()
    assert [image.value for image in at.image] != before  # new random images
    at.selectbox(key="samples_split").set_value("validation").run()
    assert [image.captions[0] for image in at.image] == ["cats", "dogs", "foxes"]


def test_images_damaged_after_the_check_get_a_message_not_a_traceback(app, app_dataset):
    at = app.run().switch_page("pages/samples.py").run()
    for path in (app_dataset / "train" / "cats").glob("*.jpg"):
        path.write_bytes(b"overwritten")  # same folder listing: the cached check still stands
    at.button(key="samples_draw").click().run()
    assert not at.exception
    assert "not an image catdog can read" in at.error[0].value
    assert [image.captions[0] for image in at.image] == ["dogs"]  # the other row still shows
    at.switch_page("pages/augmentation.py").run()
    assert not at.exception


# ----------------------------------------------------------------------------- Augmentation


def test_rotation_slider_changes_the_preview_and_shows_degrees(app):
    at = app.run().switch_page("pages/augmentation.py").run()
    (preview,) = at.image
    assert preview.captions == ["original", "variant 1", "variant 2", "variant 3", "variant 4"]
    assert "±36°" in " ".join(texts(at.caption))
    at.slider(key="aug_rotation").set_value(0.4).run()
    (moved,) = at.image
    assert moved.value[0] == preview.value[0]  # same original
    assert moved.value[1:] != preview.value[1:]  # new variants
    assert "±144°" in " ".join(texts(at.caption))
    # No flip and no rotation: every variant is the original.
    at.selectbox(key="aug_flip").set_value("none").run()
    at.slider(key="aug_rotation").set_value(0.0).run()
    (still,) = at.image
    assert len(set(still.value)) == 1


def test_augmentation_of_an_uploaded_photo(app):
    at = app.run().switch_page("pages/augmentation.py").run()
    at.radio(key="aug_source").set_value("upload").run()
    at.file_uploader(key="aug_upload").upload("mine.png", png_bytes(1, size=64), "image/png").run()
    at.slider(key="aug_count").set_value(2).run()
    assert at.image[0].captions == ["original", "variant 1", "variant 2"]
    at.file_uploader(key="aug_upload").clear().upload("bad.png", b"not a png", "image/png").run()
    assert "not an image catdog can read" in at.error[0].value and not at.exception


# ----------------------------------------------------------------------------- Train


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
    from catdog.models import MODELS

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


def test_dashboard_launch_options_parse_back_to_the_same_settings(tmp_path):
    from catdog import ui
    from catdog.__main__ import _parser, config_from_args

    config = RunConfig(
        model="model4", epochs=3, batch_size=16, learning_rate=3e-4, image_size=(96, 96), seed=5, early_stopping=2,
        fine_tune_epochs=4, fine_tune_from=120, fine_tune_learning_rate=1e-5, flip="vertical", rotation=0.2, fast=False, precision="float32",
        strategy="mirrored", data=str(tmp_path),
    )  # fmt: skip
    arguments = ui.training_arguments(config, tmp_path, tmp_path / "runs")
    assert config_from_args(_parser().parse_args(["train", *arguments])) == config


def test_the_curves_mark_where_fine_tuning_starts():
    from catdog import ui

    history = [{"epoch": e, "accuracy": 0.9, "val_accuracy": 0.9, "loss": 0.2, "val_loss": 0.2} for e in (1, 2, 3)]
    plain = ui.history_figure(history, 5).to_dict()["layout"].get("shapes", [])
    marked = ui.history_figure(history, 5, fine_tune_from_epoch=3).to_dict()["layout"]["shapes"]
    assert [shape["x0"] for shape in marked if shape["type"] == "line"] == [2.5, 2.5] and not plain


def _fake_live_run(dataset: Path) -> Path:
    """A run 'training' in this very process (so it reads as alive), two epochs in."""
    config = RunConfig(model="model3", epochs=5, batch_size=8, image_size=(32, 32), data=str(dataset))
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


def test_a_running_training_is_shown_live_and_blocks_a_second_one(app, app_dataset):
    run_dir = _fake_live_run(app_dataset)
    at = app.run().switch_page("pages/train.py").run()
    assert "Training now: Model 3" in at.subheader[0].value
    (progress,) = at.get("progress")
    assert progress.value == 50 and "Epoch 3 of 5 · batch 5 of 10 · about 1 min 10 s left" in progress.text
    live = plotly_specs(at)[0]
    accuracy = next(trace for trace in live["data"] if trace["name"] == "validation accuracy")
    assert accuracy["x"] == [1, 2] and accuracy["y"] == pytest.approx([0.65, 0.75])
    lines = sorted(shape["y0"] for shape in live["layout"]["shapes"])
    assert lines == pytest.approx([0.5, 0.7698])  # baseline and the tutorial's Model 3
    assert "2 of 5 epochs finished" in texts(at.caption)
    assert "A training is running: wait for it to finish or stop it" in at.warning[0].value
    assert at.button(key="train_start").disabled
    with pytest.raises(CatdogError, match="A training is running"):
        from catdog import ui

        ui.launch_training(RunConfig(model="model3"), app_dataset)
    at.button(key="train_stop").click().run()
    assert runs.stop_requested(run_dir)
    assert "Stopping after the current batch…" in texts(at.caption)
    # The chart grows with the history.
    runs.write_history(
        run_dir, [{"epoch": e, "accuracy": 0.7, "val_accuracy": 0.7, "loss": 0.5, "val_loss": 0.6} for e in (1, 2, 3)]
    )
    at.run()
    accuracy = next(trace for trace in plotly_specs(at)[0]["data"] if trace["name"] == "validation accuracy")
    assert accuracy["x"] == [1, 2, 3]


def test_a_refreshed_page_still_shows_the_training_in_progress(app_factory, app_dataset):
    # A refresh is a new session: it must find the running training even before a dataset is chosen.
    _fake_live_run(app_dataset)
    at = app_factory().run().switch_page("pages/train.py").run()
    assert at.session_state["dataset"] is None
    assert "Training now: Model 3" in at.subheader[0].value
    assert "2 of 5 epochs finished" in texts(at.caption)
    assert "choose one on the Data page" in texts(at.info)[0]  # only the new-training settings need one


def test_a_new_session_starts_with_the_dataset_chosen_last(app_factory, app_dataset, isolated_dirs):
    first = app_factory().run()
    first.radio(key="data_kind").set_value("folder").run()
    first.text_input(key="data_folder").set_value("tiny").run()
    first.button(key="data_use_folder").click().run()
    assert not first.error, texts(first.error)
    again = app_factory().run()  # a refresh, or another tab
    assert again.session_state["dataset"]["root"] == str(app_dataset)
    # Remembered choices are checked again: one that now leaves the data root is not used.
    moved = isolated_dirs.parent / f"{isolated_dirs.name}-elsewhere"
    app_dataset.rename(moved)
    app_dataset.symlink_to(moved, target_is_directory=True)
    assert app_factory().run().session_state["dataset"] is None


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


@pytest.mark.slow
def test_start_trains_in_a_background_process(app, app_dataset):
    at = app.run().switch_page("pages/train.py").run()
    at.selectbox(key="train_model").set_value("model3").run()
    at.selectbox(key="train_image_size").set_value(32).run()
    at.selectbox(key="train_batch_size").set_value(8).run()
    at.number_input(key="train_epochs").set_value(2).run()
    at.button(key="train_start").click().run()
    assert not at.error, texts(at.error)
    launch = at.session_state["train_launch"]
    assert launch["pid"] != os.getpid()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not any(run.state == runs.FINISHED for run in runs.list_runs()):
        time.sleep(0.5)
    (run,) = runs.list_runs()
    assert run.state == runs.FINISHED and len(run.history) == 2 and run.config.image_size == (32, 32)
    assert run.config.data == str(app_dataset)
    assert (run.path / "progress.json").is_file()
    at.run()
    assert [frame.value for frame in at.dataframe if "val accuracy" in frame.value.columns][0]["run"].tolist() == [run.name]


@pytest.mark.slow
def test_a_training_killed_with_the_server_reads_as_interrupted_after_a_restart(app_factory, app_dataset):
    # The dashboard starts trainings in their own session, so a Ctrl-C of the server leaves them
    # running (and a new server shows them live). A restart that kills everything (a reboot, a
    # service manager stopping the whole group) must not leave a run "running" forever.
    from catdog import ui

    for process in ui._launched().values():  # earlier tests' trainings, maybe still exiting on a busy machine
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    ui._launched().clear()
    launch = ui.launch_training(RunConfig(model="model3", epochs=500, batch_size=8, image_size=(32, 32)), app_dataset)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not [run for run in runs.list_runs() if run.state == runs.RUNNING and run.history]:
        time.sleep(0.5)
    (run,) = runs.list_runs()
    assert run.state == runs.RUNNING
    os.kill(launch["pid"], signal.SIGKILL)
    ui._launched()[launch["pid"]].wait(timeout=30)
    ui._launched.clear()  # a restarted server remembers no launches: all it has is the runs folder
    at = app_factory(app_dataset).run().switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert not [header for header in at.subheader if "Training now" in header.value]
    table = next(frame.value for frame in at.dataframe if "state" in frame.value.columns)
    assert table["state"].tolist() == [runs.INTERRUPTED]
    assert not at.button(key="train_start").disabled and not at.warning


def test_progress_file_is_throttled_but_keeps_epoch_ends(tmp_path):
    event = {"phase": "train", "epoch": 1, "epochs": 2, "batch": 1, "batches": 100}
    written = [runs.write_progress(tmp_path, {**event, "batch": batch}) for batch in range(1, 50)]
    assert written[0] and sum(written) <= 3  # ~2 a second, not one per batch
    assert runs.write_progress(tmp_path, {**event, "phase": "epoch", "batch": 100})
    assert runs.read_progress(tmp_path)["phase"] == "epoch"


# ----------------------------------------------------------------------------- Predict


def test_predict_without_runs_says_what_to_do(app):
    at = app.run().switch_page("pages/predict.py").run()
    (message,) = texts(at.info)
    assert "Train page" in message and "Model 4" in message and "about a minute" in message
    assert not at.file_uploader


def test_uploaded_photos_get_a_label_and_a_bar_per_class(app, trained_run):
    at = app.run().switch_page("pages/predict.py").run()
    assert at.selectbox(key="predict_run").value == trained_run.name
    at.file_uploader(key="predict_uploads").set_value(
        [("red.png", png_bytes(0), "image/png"), ("blue.png", png_bytes(1, seed=9), "image/png")]
    ).run()
    assert not at.exception and not at.error, texts(at.error)
    assert [markdown.value for markdown in at.markdown if markdown.value.startswith("### ")] == ["### cats", "### dogs"]
    bars = at.get("progress")
    assert len(bars) == 4 and all(":" in bar.text and bar.text.endswith("%") for bar in bars)
    assert bars[0].text.startswith("cats: ") and bars[0].value > 50
    assert [image.captions for image in at.image] == [["red.png"], ["blue.png"]]


def test_an_unreadable_upload_gets_its_message_and_the_others_still_work(app, trained_run):
    at = app.run().switch_page("pages/predict.py").run()
    at.file_uploader(key="predict_uploads").set_value(
        [
            ("notes.jpg", b"these are not pixels", "image/jpeg"),
            ("empty.png", b"", "image/png"),
            ("red.png", png_bytes(0), "image/png"),
        ]
    ).run()
    assert not at.exception
    errors = texts(at.error)
    assert errors[0].startswith("notes.jpg: not an image catdog can read")
    assert errors[1].startswith("empty.png: the file is empty")
    assert [markdown.value for markdown in at.markdown if markdown.value.startswith("### ")] == ["### cats"]


def test_a_camera_photo_is_classified(app, trained_run):
    at = app.run().switch_page("pages/predict.py").run()
    at.toggle(key="predict_use_camera").set_value(True).run()
    at.camera_input(key="predict_camera").upload("photo.jpg", jpeg_bytes(1)).run()
    assert [markdown.value for markdown in at.markdown if markdown.value.startswith("### ")] == ["### dogs"]


def test_the_best_run_is_chosen_by_default(app, trained_run, isolated_dirs):
    import shutil

    worse = isolated_dirs / "runs" / "29991231-000000-model3-beef"  # newer, listed first
    shutil.copytree(trained_run.path, worse)
    history = json.loads((worse / "history.json").read_text())
    history[-1]["val_accuracy"] = 0.1
    (worse / "history.json").write_text(json.dumps(history))
    at = app.run().switch_page("pages/predict.py").run()
    assert at.selectbox(key="predict_run").options[0].endswith(trained_run.name)
    assert at.selectbox(key="predict_run").value == trained_run.name


def test_classify_helper_keeps_order_and_errors(trained_run):
    from catdog import ui
    from catdog.predict import Predictor

    class Upload(io.BytesIO):
        def __init__(self, name, payload):
            super().__init__(payload)
            self.name = name

    results = ui.classify(Predictor(trained_run), [Upload("a.png", png_bytes(1, seed=4)), Upload("b.gif", b"GIF89a broken")])
    assert [name for name, _, _ in results] == ["a.png", "b.gif"]
    assert results[0][2].label == "dogs" and results[1][2].error
