"""Images left out of training: the list beside the dataset's record, honoured by loading,
training and evaluation; the user's files untouched."""

from __future__ import annotations

import json
import os

import pytest
from helpers import run_cli, tiny_config

from catdog import exclusions
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.paths import cache_dir


def test_excluded_images_leave_every_split_and_the_files_stay(tiny_data):
    before = load_dataset(tiny_data, batch_size=8)
    chosen = [before.train.paths[0], before.validation.paths[0], before.test.paths[0]]
    exclusions.add(before.root, chosen)

    after = load_dataset(tiny_data, batch_size=8)
    for name in ("train", "validation", "test"):
        kept = set(after.split(name).paths)
        assert not kept & set(chosen)
        assert kept == set(before.split(name).paths) - set(chosen)  # the other images keep their splits
    assert after.excluded == tuple(sorted(chosen))
    assert after.summary()["excluded"] == sorted(chosen)
    assert all(os.path.isfile(path) for path in chosen)  # never moved or deleted
    assert exclusions.exclusions_file(before.root).is_relative_to(cache_dir())

    everything = load_dataset(tiny_data, batch_size=8, honour_exclusions=False)
    assert everything.train == before.train and everything.excluded == ()

    exclusions.remove(before.root, chosen[:1])
    assert exclusions.load(before.root) == frozenset(chosen[1:])
    exclusions.clear(before.root)
    assert load_dataset(tiny_data, batch_size=8).train == before.train


def test_paths_outside_the_dataset_and_a_damaged_list_are_refused(tiny_data, tmp_path):
    root = load_dataset(tiny_data).root
    with pytest.raises(CatdogError, match="not an image of the dataset"):
        exclusions.add(root, [str(tmp_path / "elsewhere.jpg")])
    path = exclusions.exclusions_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    with pytest.raises(CatdogError, match="exclude --clear"):
        load_dataset(tiny_data)


def test_leaving_out_every_training_image_of_a_class_is_refused(tiny_data):
    dataset = load_dataset(tiny_data)
    cats = [path for path, label in zip(dataset.train.paths, dataset.train.labels) if label == 0]
    exclusions.add(dataset.root, cats)
    with pytest.raises(CatdogError, match="no train images of cats"):
        load_dataset(tiny_data)


@pytest.mark.slow
def test_an_excluded_image_is_left_out_of_the_next_training_and_evaluation_and_the_run_records_it(tiny_data):
    from catdog.evaluate import evaluate
    from catdog.train import train

    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    left_out = [*dataset.train.paths[:2], dataset.test.paths[0]]
    exclusions.add(dataset.root, left_out)
    run = train(tiny_config(epochs=1, data=str(tiny_data)))
    assert run.status["excluded"] == sorted(left_out)
    tested = evaluate(run).paths
    assert dataset.test.paths[0] not in tested and len(tested) == len(dataset.test) - 1


def test_exclude_command_adds_removes_lists_and_clears(tiny_data):
    dataset = load_dataset(tiny_data)
    image = dataset.train.paths[3]
    added = run_cli("exclude", image, "--data", tiny_data, "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["excluded"] == [image]
    listed = run_cli("exclude", "--data", tiny_data)
    assert image in listed.stdout and "1 images" in listed.stdout
    assert "left out of training: 1" in run_cli("data", "--data", tiny_data).stdout
    assert json.loads(run_cli("exclude", image, "--remove", "--data", tiny_data, "--json").stdout)["excluded"] == []
    run_cli("exclude", image, "--data", tiny_data)
    assert json.loads(run_cli("exclude", "--clear", "--data", tiny_data, "--json").stdout)["excluded"] == []

    wrong = run_cli("exclude", tiny_data / "nowhere.jpg", "--data", tiny_data)
    assert wrong.returncode == 2 and "not images of the dataset" in wrong.stderr and "Traceback" not in wrong.stderr
