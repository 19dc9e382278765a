"""Data health: planted defects are found. Labels flipped on purpose rank first, a copied and
re-encoded image is a duplicate across splits, an image unlike the rest is an outlier.

The judging functions are tested on made-up features (no network); the whole path, from image
files through Model 4's frozen base and its cache, on generated images.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers import run_cli, tiny_config
from PIL import Image

from catdog import exclusions
from catdog.health import (
    THUMBNAIL_SIDE,
    ImageFeatures,
    check_health,
    label_issues,
    near_duplicates,
    outliers,
    report_lines,
)


def made_up_features(count=240, dims=32, seed=0, flipped=(), far=()):
    """Two well separated classes of features; `flipped` get the other class's label, `far` are
    moved far from both classes. Thumbnails are random (no duplicates)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    centres = rng.normal(0, 1, (2, dims)) * 3
    vectors = centres[labels] + rng.normal(0, 1, (count, dims))
    for index in far:
        vectors[index] = rng.normal(0, 1, dims) * 40
    given = labels.copy()
    given[list(flipped)] = 1 - given[list(flipped)]
    splits = tuple("train" if i < count * 2 // 3 else "validation" for i in range(count))
    thumbnails = rng.uniform(0, 255, (count, THUMBNAIL_SIDE**2)).astype(np.float32)
    return ImageFeatures(
        ("cats", "dogs"), tuple(f"/d/{i}.jpg" for i in range(count)), given, splits, vectors.astype(np.float32), thumbnails
    )


def test_labels_flipped_on_purpose_rank_first_with_the_right_suggestion():
    flipped = (3, 50, 101, 170, 222)
    features = made_up_features(flipped=flipped)
    issues = label_issues(features)
    top = [item["path"] for item in issues[: len(flipped)]]
    assert sorted(top) == sorted(f"/d/{i}.jpg" for i in flipped)
    for item in issues[: len(flipped)]:
        index = int(Path(item["path"]).stem)
        assert item["given"] == ("cats", "dogs")[features.labels[index]]
        assert item["suggested"] != item["given"] and item["score"] > 0.5
    assert [item["score"] for item in issues] == sorted((item["score"] for item in issues), reverse=True)


def test_label_issues_fork_no_process_pool(monkeypatch):
    # A forked child of the dashboard's server can deadlock; cleanlab forks one per physical core.
    def no_pool(*args, **kwargs):
        raise AssertionError("label_issues started a process pool")

    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 4)
    monkeypatch.setattr(multiprocessing, "Pool", no_pool)
    assert label_issues(made_up_features(flipped=(3,)))[0]["path"] == "/d/3.jpg"


def test_clean_labels_give_few_issues():
    assert len(label_issues(made_up_features())) <= 2


def test_images_far_from_every_class_are_outliers_and_typical_ones_are_not():
    features = made_up_features(far=(7, 130))
    found = outliers(features)
    assert {item["path"] for item in found} == {"/d/7.jpg", "/d/130.jpg"}
    assert all(item["score"] > 1.5 for item in found)
    assert outliers(made_up_features()) == []


def test_copies_are_duplicates_cross_split_first_and_blocks_lose_no_pair():
    features = made_up_features(count=60)
    thumbnails = features.thumbnails.copy()
    rng = np.random.default_rng(3)
    thumbnails[45] = thumbnails[2] + rng.normal(0, 8, THUMBNAIL_SIDE**2)  # validation copy of a training image
    thumbnails[10] = thumbnails[5]  # an exact copy within training
    side = THUMBNAIL_SIDE
    thumbnails[30] = thumbnails[20].reshape(side, side)[:, ::-1].ravel()  # a mirror image
    features = ImageFeatures(features.class_names, features.paths, features.labels, features.splits, features.vectors, thumbnails)
    pairs = near_duplicates(features)
    assert [pair["paths"] for pair in pairs] == [["/d/2.jpg", "/d/45.jpg"], ["/d/5.jpg", "/d/10.jpg"], ["/d/20.jpg", "/d/30.jpg"]]
    assert pairs[0]["cross_split"] and pairs[0]["splits"] == ["train", "validation"]
    assert not pairs[1]["cross_split"] and pairs[1]["similarity"] == pytest.approx(1.0)
    assert near_duplicates(features, block_rows=7) == pairs


def smooth_image(label: int, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """A photo-like image: a few soft colour patches, warm for class 0 and cool for class 1."""
    tint = np.array([220, 70, 40] if label == 0 else [40, 80, 220], float)
    patches = 0.15 * rng.uniform(0, 255, (4, 4, 3)) + 0.85 * tint
    return Image.fromarray(patches.astype(np.uint8)).resize((size, size), Image.BICUBIC)


def write_planted_dataset(root: Path, flipped: int = 2) -> dict:
    """A tutorial-layout dataset of smooth images with planted defects; returns where they are."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 60), ("validation", 24)):
        for label, name in enumerate(("cats", "dogs")):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for index in range(count):
                smooth_image(label, rng).save(root / split / name / f"{name}.{index}.jpg", quality=92)
    planted = {"flipped": []}
    for index in range(flipped):  # cats filed as dogs
        wrong = root / "train" / "dogs" / f"was-a-cat.{index}.jpg"
        (root / "train" / "cats" / f"cats.{index}.jpg").rename(wrong)
        planted["flipped"].append(str(wrong.resolve()))
    original = root / "train" / "dogs" / "dogs.7.jpg"
    copy = root / "validation" / "dogs" / "copy-of-dogs.7.jpg"
    with Image.open(original) as image:  # re-encoded at another size and quality
        image.resize((96, 96), Image.BILINEAR).save(copy, quality=70)
    planted["copy"] = sorted(str(path.resolve()) for path in (original, copy))
    return planted


@pytest.mark.slow
def test_check_health_finds_a_re_encoded_copy_across_splits_and_lists_what_is_left_out(tmp_path):
    root = tmp_path / "planted"
    planted = write_planted_dataset(root)
    exclusions.add(root, planted["flipped"][:1])
    seen = []
    config = tiny_config(model="model4", image_size=(64, 64), data=str(root))
    report, features = check_health(config=config, progress=lambda *event: seen.append(event))

    assert report.images == len(features) == 169  # every image, the one left out of training too
    assert sorted(report.duplicates[0]["paths"]) == planted["copy"]
    assert report.duplicates[0]["cross_split"] and report.duplicates[0]["similarity"] >= 0.97
    assert report.excluded == planted["flipped"][:1]
    batches = [event for event in seen if event[1]]
    assert batches and all(event[2] is not None for event in batches)  # features computed: progress with an ETA
    summary = report.to_dict()
    assert summary["cross_split_duplicates"] >= 1 and json.dumps(summary)
    assert all(set(item) >= {"path", "given", "suggested", "score"} for item in summary["label_issues"])
    assert any("near-duplicates" in line for line in report_lines(report))

    again, _ = check_health(config=config, progress=lambda *event: seen.append(("again", *event)))
    assert not [event for event in seen if event[0] == "again" and event[2]]  # cached: no batches computed
    assert again.duplicates == report.duplicates


@pytest.mark.shared
@pytest.mark.slow
def test_health_command_ranks_a_flipped_label_first_with_imagenet_weights(tmp_path, shared_keras_home):
    root = tmp_path / "planted"
    planted = write_planted_dataset(root)
    result = run_cli("health", "--data", root, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    # cleanlab flags only what it is confident about; on so few images that is the surest flip
    # (on the tutorial's 3000 images, 29 of 30 planted flips are flagged: README).
    assert summary["label_issues"][0]["path"] in planted["flipped"]
    assert all(item["suggested"] == "cats" for item in summary["label_issues"] if item["path"] in planted["flipped"])
    assert sorted(summary["duplicates"][0]["paths"]) == planted["copy"] and summary["duplicates"][0]["cross_split"]


def test_health_command_on_a_missing_folder_says_so_without_a_traceback(tmp_path):
    result = run_cli("health", "--data", tmp_path / "nowhere")
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_health_judges_on_exact_features_unless_told_otherwise(tmp_path, monkeypatch):
    from catdog import features as frozen_features
    from catdog import health

    asked = []
    real = frozen_features.frozen_weights_key
    monkeypatch.setattr(
        health,
        "frozen_weights_key",
        lambda base, config, **calibration: asked.append(config.feature_precision) or real(base, config, **calibration),
    )
    root = tmp_path / "planted"
    write_planted_dataset(root)
    for precision in ("auto", "int8"):
        health.check_health(config=tiny_config(model="model4", image_size=(32, 32), data=str(root), feature_precision=precision))
    assert asked == ["float32", "int8"]  # "auto" may mean int8 for training (a CPU with VNNI), never here
