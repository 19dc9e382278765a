"""Batch prediction: folders walked with junk skipped, results streamed in order into CSV or JSON
lines, unreadable files reported in their row and counted."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from helpers import png_bytes, run_cli

from catdog.batch import open_output, predict_files
from catdog.errors import CatdogError
from catdog.images import find_images
from catdog.predict import Predictor


@pytest.fixture
def photos(tmp_path, tiny_run):
    """A folder tree of photos with junk in it: 6 images, a broken one, hidden and macOS files."""
    _, data = tiny_run
    root = tmp_path / "photos"
    (root / "trip" / "day2").mkdir(parents=True)
    for index, path in enumerate(sorted((data / "validation" / "cats").iterdir())[:3]):
        shutil.copy(path, root / f"cat{index}.jpg")
    for index, path in enumerate(sorted((data / "validation" / "dogs").iterdir())[:3]):
        shutil.copy(path, root / "trip" / "day2" / f"dog{index}.JPG")
    (root / "trip" / "broken.png").write_bytes(b"not a png")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.jpg").write_bytes(png_bytes(0))
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._cat0.jpg").write_bytes(b"resource fork")
    return root


def test_folders_are_walked_for_images_only_and_named_files_always_count(photos):
    found = list(find_images([photos]))
    assert [p.rsplit("/", 1)[-1] for p in found] == [
        "cat0.jpg",
        "cat1.jpg",
        "cat2.jpg",
        "broken.png",
        "dog0.JPG",
        "dog1.JPG",
        "dog2.JPG",
    ]
    assert list(find_images([photos / "notes.txt"])) == [str(photos / "notes.txt")]  # named: tried and reported


def test_csv_rows_stream_in_order_with_errors_counted(photos, tiny_run, tmp_path):
    run, _ = tiny_run
    predictor = Predictor(run)
    output = tmp_path / "results.csv"
    writer = open_output(output, predictor.class_names)
    seen = []

    def write(prediction):
        writer.write(prediction)
        seen.append(output.read_text().count("\n"))  # each row is on disk as soon as it is known

    summary = predict_files(predictor, [photos], write, batch_size=2, progress=False)
    writer.close()
    assert (summary.images, summary.failed) == (7, 1)
    assert seen == list(range(2, 9))
    rows = list(csv.DictReader(output.open()))
    assert list(rows[0]) == ["path", "label", "cats", "dogs", "error"]
    labels = {row["path"].rsplit("/", 1)[-1]: row["label"] for row in rows}
    assert [labels[f"cat{i}.jpg"] for i in range(3)] == ["cats"] * 3
    assert [labels[f"dog{i}.JPG"] for i in range(3)] == ["dogs"] * 3
    (broken,) = [row for row in rows if row["error"]]
    assert broken["path"].endswith("broken.png") and broken["label"] == "" and broken["cats"] == ""
    assert all(abs(float(row["cats"]) + float(row["dogs"]) - 1) < 1e-5 for row in rows if not row["error"])


def test_batches_give_the_same_answers_as_one_at_a_time(photos, tiny_run):
    run, _ = tiny_run
    predictor = Predictor(run)
    paths = list(find_images([photos]))
    together = predictor.predict(paths, batch_size=32)
    one_by_one = [predictor.predict([path], batch_size=1)[0] for path in paths]
    assert [r.source for r in together] == paths
    for a, b in zip(together, one_by_one):
        assert a.label == b.label and a.error == b.error
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)


def test_outputs_are_chosen_by_suffix_and_bad_ones_refused(tmp_path):
    with pytest.raises(CatdogError, match=".csv or .jsonl"):
        open_output(tmp_path / "results.txt", ["cats", "dogs"])
    with pytest.raises(CatdogError, match="does not exist"):
        open_output(tmp_path / "no" / "results.csv", ["cats", "dogs"])


def test_predict_command_takes_folders_and_writes_json_lines(photos, tiny_run, tmp_path):
    run, _ = tiny_run
    output = tmp_path / "out.jsonl"
    done = run_cli("predict", run.path, photos, "--output", output, "--batch-size", "4", "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # one file could not be read
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["images"], summary["failed"]) == (7, 1)
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) == 7 and sum("error" in line for line in lines) == 1
    listed = run_cli("predict", run.path, photos / "trip", "--json")
    results = json.loads(listed.stdout.strip().splitlines()[-1])  # one array, as before
    assert [r["path"].rsplit("/", 1)[-1] for r in results] == ["broken.png", "dog0.JPG", "dog1.JPG", "dog2.JPG"]
    assert "Traceback" not in listed.stderr
