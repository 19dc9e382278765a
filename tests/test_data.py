"""Data: layouts, file checks, deterministic splits, samples."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from helpers import make_image, write_class_folders, write_tutorial_layout

from catdog.data import load_dataset, sample_files
from catdog.errors import CatdogError
from catdog.pipeline import make_tf_dataset


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
