"""The tutorial dataset download: progress, the cache reused, partial archives, offline advice."""

from __future__ import annotations

import functools
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest
from helpers import write_tutorial_layout

from catdog.data import load_dataset
from catdog.download import fetch_tutorial_dataset
from catdog.errors import CatdogError


def _tutorial_zip(tmp_path: Path) -> bytes:
    source = write_tutorial_layout(tmp_path / "zip-source" / "cats_and_dogs_filtered", 6, 5)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(source.rglob("*")):
            archive.write(path, path.relative_to(source.parent))
    return buffer.getvalue()


@pytest.fixture
def zip_server(tmp_path):
    """A local HTTP server serving a tutorial-layout zip; yields (url, request log)."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "cats_and_dogs_filtered.zip").write_bytes(_tutorial_zip(tmp_path))
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cats_and_dogs_filtered.zip", requests
    server.shutdown()


def test_download_extracts_reports_progress_and_reuses_cache(zip_server, tmp_path):
    url, requests = zip_server
    reports = []
    folder = fetch_tutorial_dataset(lambda done, total, what: reports.append((done, total)), origins=(url,))
    assert folder.name == "cats_and_dogs_filtered" and (folder / "train" / "cats").is_dir()
    assert folder.parent.name == "cats_and_dogs_extracted"  # Keras 3's layout
    assert reports and reports[-1][0] == reports[-1][1] > 0
    assert len(requests) == 1
    again = fetch_tutorial_dataset(origins=(url,))
    assert again == folder and len(requests) == 1  # served from the cache
    dataset = load_dataset(None)
    assert dataset.counts()["train"] == {"cats": 6, "dogs": 6}


def test_partial_archive_is_not_taken_for_complete(zip_server, tmp_path):
    url, requests = zip_server
    datasets = tmp_path / "keras" / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "cats_and_dogs.zip").write_bytes(_tutorial_zip(tmp_path)[:2000])  # an interrupted download
    folder = fetch_tutorial_dataset(origins=(url,))
    assert (folder / "validation" / "dogs").is_dir() and len(requests) == 1


def test_offline_without_cache_says_how_to_use_local_copy():
    with pytest.raises(CatdogError, match="--data"):
        fetch_tutorial_dataset(origins=("http://127.0.0.1:9/cats_and_dogs_filtered.zip",))


def test_mirrors_are_tried_in_turn_with_the_same_checks(zip_server, tmp_path):
    url, requests = zip_server
    base = url.rsplit("/", 1)[0]
    # A mirror that is gone (404), one that answers with a web page instead of the archive, then the real one.
    (tmp_path / "served" / "moved.html").write_text("<html>this dataset has moved</html>")
    reports = []
    folder = fetch_tutorial_dataset(
        lambda done, total, what: reports.append(what), origins=(f"{base}/gone.zip", f"{base}/moved.html", url)
    )
    assert (folder / "train" / "dogs").is_dir()
    assert list(dict.fromkeys(requests)) == ["/gone.zip", "/moved.html", "/cats_and_dogs_filtered.zip"]  # a 404 logs twice
    assert set(reports) == {"download"}
    leftovers = [path.name for path in (tmp_path / "keras" / "datasets").iterdir() if path.name.startswith(".")]
    assert leftovers == []  # no temporary file of a failed attempt is left behind


def test_when_every_mirror_fails_the_message_names_each_and_the_offline_way(zip_server):
    url, _ = zip_server
    base = url.rsplit("/", 1)[0]
    with pytest.raises(CatdogError) as caught:
        fetch_tutorial_dataset(origins=(f"{base}/gone.zip", "http://127.0.0.1:9/cats_and_dogs_filtered.zip"))
    message = str(caught.value)
    assert f"{base}/gone.zip" in message and "127.0.0.1:9" in message and "--data DIR" in message and "KERAS_HOME" in message
