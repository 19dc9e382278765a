"""The Data page (home): the dataset in use, what is in it, and every way to choose another
(tutorial download, local folder, uploaded zip, uploaded folder), with the bad ones refused."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from helpers import png_bytes, write_class_folders, write_tutorial_layout
from helpers_app import metrics, plotly_specs, texts, zip_of


def test_data_page_shows_counts_frequencies_baseline_and_skipped_files(app, app_dataset):
    at = app.run()
    assert str(app_dataset) in " ".join(texts(at.markdown))
    shown = metrics(at)
    assert shown["Training images"] == "80" and shown["Baseline accuracy"] == "50.0%"
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


# ----------------------------------------------------------------------------- uploaded zips


def test_uploaded_zip_is_unpacked_into_the_cache_and_used(app_factory, tmp_path):
    source = write_class_folders(tmp_path / "zip-source", 12, class_names=("apples", "pears"))
    at = app_factory().run()
    at.radio(key="data_kind").set_value("zip").run()
    at.file_uploader(key="data_zip").upload("fruit.zip", zip_of(source, "fruit/"), "application/zip").run()
    at.button(key="data_use_zip").click().run()
    assert not at.error, texts(at.error)
    chosen = at.session_state["dataset"]
    assert chosen["kind"] == "zip" and Path(chosen["root"]).is_relative_to(tmp_path / "cache" / "uploads")
    assert metrics(at)["Training images"] == str(2 * 10)


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


# ----------------------------------------------------------------------------- uploaded folders


def _folder_files(root, top="pets"):
    return [(f"{top}/{path.relative_to(root).as_posix()}", path.read_bytes()) for path in sorted(root.rglob("*.jpg"))]


def _upload_folder(at, root) -> None:
    at.radio(key="data_kind").set_value("upload").run()
    uploader = at.file_uploader(key="data_upload_folder")
    for name, payload in _folder_files(root):
        uploader.upload(name, payload, "image/jpeg")
    at.run()
    at.button(key="data_use_upload").click().run()


def test_uploaded_folder_becomes_the_dataset(app_factory, tmp_path):
    root = write_class_folders(tmp_path / "pets", 12, class_names=("birds", "fish"))
    at = app_factory().run()
    _upload_folder(at, root)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["dataset"]["kind"] == "upload"
    assert "classes: birds, fish" in " ".join(str(c.value) for c in at.caption)


def test_uploaded_folder_with_too_few_images_says_what_is_missing(app_factory, tmp_path):
    root = write_class_folders(tmp_path / "pets", 12, class_names=("birds",))
    write_class_folders(root, 3, class_names=("fish",))
    at = app_factory().run()
    _upload_folder(at, root)
    assert not at.exception
    assert "'fish' has 3" in at.error[0].value and "at least 10" in at.error[0].value


# ----------------------------------------------------------------------------- the tutorial's dataset


def test_a_complete_tutorial_copy_is_used_without_asking(app_factory, isolated_dirs):
    extracted = isolated_dirs / "keras" / "datasets" / "cats_and_dogs_extracted"
    write_tutorial_layout(extracted / "cats_and_dogs_filtered", 12, 10)
    (extracted / ".catdog-complete").write_text("extracted\n")
    at = app_factory().run()
    assert at.session_state["dataset"]["kind"] == "tutorial"
    assert metrics(at)["Training images"] == "24"


def test_the_tutorial_dataset_is_downloaded_with_progress_on_first_use(app_factory, tmp_path, monkeypatch):
    import functools
    import http.server
    import threading

    from catdog.ui import datasets

    # This machine is offline: serve a miniature cats_and_dogs_filtered.zip from localhost instead.
    served = tmp_path / "served"
    served.mkdir()
    source = write_tutorial_layout(tmp_path / "zip-source", 12, 10)
    (served / "cats_and_dogs_filtered.zip").write_bytes(zip_of(source, "cats_and_dogs_filtered/"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    reports = []
    fetch = functools.partial(
        datasets.fetch_tutorial_dataset, origins=(f"http://127.0.0.1:{server.server_address[1]}/cats_and_dogs_filtered.zip",)
    )
    monkeypatch.setattr(
        datasets, "fetch_tutorial_dataset", lambda progress: fetch(lambda *report: (reports.append(report), progress(*report)))
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
    assert metrics(at)["Training images"] == "24"
