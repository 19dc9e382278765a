"""Data: layouts, file checks, deterministic splits, image decoding, the downloader."""

from __future__ import annotations

import functools
import http.server
import io
import struct
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import make_image, write_class_folders, write_tutorial_layout
from PIL import Image

from catdog.data import load_dataset, make_tf_dataset, sample_files
from catdog.download import fetch_tutorial_dataset
from catdog.errors import CatdogError
from catdog.images import load_image


def test_tutorial_layout_counts_and_baseline(tiny_data):
    dataset = load_dataset(tiny_data, batch_size=8)
    assert dataset.class_names == ("cats", "dogs")
    assert dataset.layout == "train/validation folders"
    counts = dataset.counts()
    assert counts["train"] == {"cats": 40, "dogs": 40}
    # 48 validation images = 6 batches of 8; a fifth of the batches (1) is the test set.
    assert len(dataset.test) == 8 and len(dataset.validation) == 40
    assert dataset.baseline_accuracy() == 0.5
    assert set(dataset.train.paths).isdisjoint(dataset.validation.paths)
    assert set(dataset.validation.paths).isdisjoint(dataset.test.paths)


def test_baseline_is_share_of_most_frequent_class(tmp_path):
    write_class_folders(tmp_path / "d" / "train", 10, class_names=("a",), seed=1)
    write_class_folders(tmp_path / "d" / "train", 30, class_names=("b",), seed=2)
    write_tutorial_layout(tmp_path / "unused")
    write_class_folders(tmp_path / "d" / "validation", 10, class_names=("a", "b"))
    dataset = load_dataset(tmp_path / "d")
    assert dataset.baseline_accuracy() == pytest.approx(30 / 40)
    assert dataset.summary()["label_frequencies"] == {"a": 0.25, "b": 0.75}


def test_test_split_is_fixed_by_seed(tiny_data):
    first = load_dataset(tiny_data, batch_size=8, seed=3)
    again = load_dataset(tiny_data, batch_size=8, seed=3)
    other = load_dataset(tiny_data, batch_size=8, seed=4)
    assert first.test.paths == again.test.paths
    assert first.test.paths != other.test.paths
    # ...and the same images on every pass of the tf.data pipeline.
    pipeline = make_tf_dataset(first.test, (32, 32), 4)
    passes = [np.concatenate([labels.numpy() for _, labels in pipeline]) for _ in range(2)]
    np.testing.assert_array_equal(passes[0], passes[1])
    np.testing.assert_array_equal(passes[0], first.test.labels)
    # No autotuning thread: deleting its iterator (Keras does, after every validation pass) stalled epochs.
    assert pipeline.options().autotune.enabled is False


def test_single_folder_is_split_with_fixed_seed(tmp_path):
    root = write_class_folders(tmp_path / "flat", 25, class_names=("apples", "pears", "plums"))
    dataset = load_dataset(root, batch_size=4, seed=0)
    assert dataset.layout == "one folder of class folders"
    assert dataset.class_names == ("apples", "pears", "plums")
    total = len(dataset.train) + len(dataset.validation) + len(dataset.test)
    assert total == 75
    assert dataset.counts()["train"] == {"apples": 20, "pears": 20, "plums": 20}
    assert load_dataset(root, batch_size=4, seed=0).train.paths == dataset.train.paths


def test_bad_and_junk_files_are_skipped_and_reported(tiny_data):
    cats = tiny_data / "train" / "cats"
    (cats / "empty.jpg").write_bytes(b"")
    good = io.BytesIO()
    make_image(0, np.random.default_rng(0), 64).save(good, "JPEG")
    (cats / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    (cats / "notes.jpg").write_text("this is not an image")
    (cats / "readme.txt").write_text("hello")
    (cats / "._cat.0.jpg").write_bytes(b"\x00\x05\x16\x07")
    (cats / ".DS_Store").write_bytes(b"\x00")
    (cats / "__MACOSX").mkdir()
    (cats / "__MACOSX" / "cat.jpg").write_bytes(b"junk")
    dataset = load_dataset(tiny_data, batch_size=8)
    reasons = {Path(item.path).name: item.reason for item in dataset.skipped}
    assert dataset.counts()["train"]["cats"] == 40
    assert "empty" in reasons["empty.jpg"]
    assert "truncated" in reasons["truncated.jpg"] or "corrupt" in reasons["truncated.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "not an image" in reasons["readme.txt"]
    assert "junk" in reasons["._cat.0.jpg"] and "junk" in reasons[".DS_Store"] and "junk" in reasons["__MACOSX"]
    assert len(dataset.summary()["skipped"]) == len(dataset.skipped) == 7


def test_one_class_or_no_images_is_refused_with_advice(tmp_path):
    write_class_folders(tmp_path / "one", 5, class_names=("cats",))
    with pytest.raises(CatdogError, match="at least two class folders"):
        load_dataset(tmp_path / "one")
    root = write_class_folders(tmp_path / "empty-class", 5, class_names=("cats",))
    (root / "dogs").mkdir()
    with pytest.raises(CatdogError, match="dogs"):
        load_dataset(root)
    with pytest.raises(CatdogError, match="does not exist"):
        load_dataset(tmp_path / "missing")


def test_sample_files_per_class(tiny_data):
    dataset = load_dataset(tiny_data, batch_size=8)
    samples = sample_files(dataset, "train", per_class=3, seed=1)
    assert list(samples) == ["cats", "dogs"]
    for name, paths in samples.items():
        assert len(paths) == 3 and all(f"/{name}/" in path for path in paths)
    assert sample_files(dataset, "train", 3, seed=1) == samples
    assert sample_files(dataset, "train", 3, seed=2) != samples


# ----------------------------------------------------------------------------- decoding


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_load_image_decodes_common_formats():
    red = Image.new("RGB", (40, 30), (220, 20, 20))
    for fmt in ("JPEG", "PNG", "BMP", "WEBP", "GIF", "TIFF"):
        array = load_image(_encode(red, fmt), (16, 16))
        assert array.shape == (16, 16, 3) and array.dtype == np.uint8
        assert array[..., 0].mean() > 150 and array[..., 2].mean() < 90, fmt


def test_transparent_png_is_composited_on_white():
    clear = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    assert load_image(_encode(clear, "PNG"), (8, 8)).min() == 255


def test_sixteen_bit_grayscale_and_cmyk():
    gray16 = Image.fromarray(np.full((20, 20), 32768, np.uint16))
    assert 120 < load_image(_encode(gray16, "PNG"), (8, 8)).mean() < 135
    cmyk = Image.new("CMYK", (20, 20), (0, 255, 255, 0))  # pure red in CMYK
    array = load_image(_encode(cmyk, "JPEG"), (8, 8))
    assert array[..., 0].mean() > 180 and array[..., 1].mean() < 80


def test_gif_first_frame_is_used():
    frames = [Image.new("RGB", (20, 20), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    array = load_image(buffer.getvalue(), (8, 8))
    assert array[..., 0].mean() > 200 and array[..., 2].mean() < 50


def test_exif_orientation_is_applied():
    # A landscape image whose EXIF says "rotate 90": decoded, it must come out portrait.
    image = Image.new("RGB", (60, 20), (10, 10, 10))
    image.paste((250, 250, 250), (0, 0, 10, 20))  # white band on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW
    array = load_image(_encode(image, "JPEG", exif=exif), None)
    assert array.shape[:2] == (60, 20)
    assert array[:10].mean() > 200  # the left band is now at the top


def test_decompression_bomb_is_refused_before_decoding():
    # A PNG header claiming 20000x20000 pixels, with no pixel data: refused from the header.
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    bomb = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    with pytest.raises(CatdogError, match="megapixels"):
        load_image(bomb, (8, 8))


def test_unreadable_inputs_raise_clear_errors():
    with pytest.raises(CatdogError, match="empty"):
        load_image(b"", (8, 8))
    with pytest.raises(CatdogError, match="not an image"):
        load_image(b"hello, I am text", (8, 8))
    one_pixel = load_image(_encode(Image.new("RGB", (1, 1), (5, 6, 7)), "PNG"), (4, 4))
    assert one_pixel.shape == (4, 4, 3)


# ----------------------------------------------------------------------------- downloader


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
    folder = fetch_tutorial_dataset(lambda done, total, what: reports.append((done, total)), origin=url)
    assert folder.name == "cats_and_dogs_filtered" and (folder / "train" / "cats").is_dir()
    assert folder.parent.name == "cats_and_dogs_extracted"  # Keras 3's layout
    assert reports and reports[-1][0] == reports[-1][1] > 0
    assert len(requests) == 1
    again = fetch_tutorial_dataset(origin=url)
    assert again == folder and len(requests) == 1  # served from the cache
    dataset = load_dataset(None)
    assert dataset.counts()["train"] == {"cats": 6, "dogs": 6}


def test_partial_archive_is_not_taken_for_complete(zip_server, tmp_path):
    url, requests = zip_server
    datasets = tmp_path / "keras" / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "cats_and_dogs.zip").write_bytes(_tutorial_zip(tmp_path)[:2000])  # an interrupted download
    folder = fetch_tutorial_dataset(origin=url)
    assert (folder / "validation" / "dogs").is_dir() and len(requests) == 1


def test_offline_without_cache_says_how_to_use_local_copy():
    with pytest.raises(CatdogError, match="--data"):
        fetch_tutorial_dataset(origin="http://127.0.0.1:9/cats_and_dogs_filtered.zip")


def test_minimum_images_per_class_says_what_is_missing(tmp_path):
    root = write_class_folders(tmp_path / "few", 12, class_names=("cats",))
    write_class_folders(root, 4, class_names=("dogs",))
    with pytest.raises(CatdogError, match=r"'dogs' has 4.*at least 10"):
        load_dataset(root)
    write_class_folders(root, 10, class_names=("dogs",))  # overwrites the 4, adds 6
    assert load_dataset(root).counts()["train"]["dogs"] == 8


def test_three_classes_are_supported(tmp_path):
    root = write_class_folders(tmp_path / "three", 12, class_names=("cats", "dogs", "foxes"))
    assert load_dataset(root).class_names == ("cats", "dogs", "foxes")
