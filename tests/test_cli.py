"""The command line, run as a user runs it: python -m catdog ..."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli
from PIL import Image


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny dataset and a run trained on it through the CLI."""
    from helpers import write_tutorial_layout

    root = tmp_path_factory.mktemp("cli")
    data = write_tutorial_layout(root / "data")
    result = run_cli(
        "train",
        "--model",
        "model3",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--image-size",
        "32",
        "--data",
        data,
        "--runs-dir",
        root / "runs",
        "--seed",
        "1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    return data, root, result


def test_train_prints_epochs_and_json(trained):
    data, root, result = trained
    lines = result.stdout.strip().splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 3
    summary = json.loads(lines[-1])
    assert summary["epochs"] == 3 and summary["val_accuracy"] > 0.8
    assert {"run_dir", "accuracy", "val_accuracy"} <= set(summary)


def test_train_config_file_trains_what_it_says_and_options_override_it(trained, tmp_path):
    data, _, result = trained
    run_dir = Path(json.loads(result.stdout.strip().splitlines()[-1])["run_dir"])
    settings = tmp_path / "cfg.json"
    settings.write_text(
        json.dumps({"model": "model3", "epochs": 1, "batch_size": 16, "image_size": [24, 24], "seed": 3, "data": str(data)})
    )
    done = run_cli("train", "--config", settings, "--runs-dir", tmp_path / "runs", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    saved = json.loads((Path(summary["run_dir"]) / "config.json").read_text())["config"]
    assert {key: saved[key] for key in ("model", "epochs", "batch_size", "image_size", "seed", "data")} == {
        "model": "model3",
        "epochs": 1,
        "batch_size": 16,
        "image_size": [24, 24],
        "seed": 3,
        "data": str(data),
    }
    assert summary["epochs"] == 1
    # A run's own config.json repeats it; an option beside it wins.
    again = run_cli("train", "--config", run_dir / "config.json", "--epochs", "1", "--runs-dir", tmp_path / "again", "--json")
    assert again.returncode == 0, again.stderr
    repeated = json.loads((Path(json.loads(again.stdout.strip().splitlines()[-1])["run_dir"]) / "config.json").read_text())
    original = json.loads((run_dir / "config.json").read_text())["config"]
    assert repeated["config"] == {**original, "epochs": 1}


def test_data_command(trained):
    data, _, _ = trained
    result = run_cli("data", "--data", data, "--json")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["class_names"] == ["cats", "dogs"] and summary["baseline_accuracy"] == 0.5
    assert summary["counts"]["train"] == {"cats": 40, "dogs": 40} and summary["skipped"] == []
    assert "baseline accuracy" in run_cli("data", "--data", data).stdout


def test_models_command():
    result = run_cli("models", "--json")
    entries = json.loads(result.stdout.strip().splitlines()[-1])
    counts = {e["key"]: (e["params"], e["trainable_params"]) for e in entries}
    tutorial = {
        "model1": (42_561_346, 42_561_346),
        "model2": (3_338_562, 3_338_562),
        "model3": (14_086_721, 14_086_721),
        "model4": (2_260_546, 2_562),
    }
    assert {key: counts[key] for key in tutorial} == tutorial
    assert set(counts) - set(tutorial) == {"model5"}  # catdog's own
    assert all(e["title"] for e in entries)


def test_evaluate_command(trained):
    data, _, result = trained
    run_dir = json.loads(result.stdout.strip().splitlines()[-1])["run_dir"]
    summary = json.loads(run_cli("evaluate", run_dir, "--json").stdout.strip().splitlines()[-1])
    assert summary["class_names"] == ["cats", "dogs"]
    matrix = summary["confusion_matrix"]
    assert sum(map(sum, matrix)) == summary["test_images"] == 8
    assert summary["test_accuracy"] == pytest.approx((matrix[0][0] + matrix[1][1]) / 8)
    same = json.loads(run_cli("evaluate", run_dir, "--data", data, "--json").stdout.strip().splitlines()[-1])
    assert same["confusion_matrix"] == matrix
    text = run_cli("evaluate", run_dir).stdout
    for name in ("cats", "dogs"):
        recall = summary["per_class"][name]["recall"]
        assert f"{name}: precision" in text and f"recall {recall:.3f}" in text
    assert ("ROC AUC (dogs as positive)" in text) == (summary["auc"] is not None)


def test_export_writes_keras_and_tflite_files(trained, tmp_path):
    import zipfile

    _, _, result = trained
    run_dir = json.loads(result.stdout.strip().splitlines()[-1])["run_dir"]
    bundle = tmp_path / "phone.zip"
    written = json.loads(run_cli("export", run_dir, "--output", bundle, "--json").stdout.strip().splitlines()[-1])
    assert written == {"path": str(bundle), "format": "tflite", "bytes": bundle.stat().st_size}
    with zipfile.ZipFile(bundle) as archive:
        assert archive.read("labels.txt").decode() == "cats\ndogs\n"
        assert archive.getinfo("model.tflite").file_size > 1000
    copy = tmp_path / "model.keras"
    assert run_cli("export", run_dir, "--format", "keras", "--output", copy).returncode == 0
    assert copy.read_bytes() == (Path(run_dir) / "model.keras").read_bytes()
    refused = run_cli("export", run_dir, "--output", tmp_path / "no" / "such" / "folder.zip")
    assert refused.returncode == 2 and "does not exist" in refused.stderr and "Traceback" not in refused.stderr


def test_predict_reports_each_image_and_fails_on_bad_ones(trained, tmp_path):
    data, _, result = trained
    run_dir = json.loads(result.stdout.strip().splitlines()[-1])["run_dir"]
    good = next((data / "validation" / "dogs").iterdir())
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a photo")
    rgba = tmp_path / "transparent.png"
    Image.new("RGBA", (50, 40), (30, 60, 220, 128)).save(rgba)
    out = run_cli("predict", run_dir, good, broken, rgba, "--json")
    assert out.returncode != 0
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert [r["path"] for r in results] == [str(good), str(broken), str(rgba)]
    assert results[0]["label"] in ("cats", "dogs") and sum(results[0]["probabilities"].values()) == pytest.approx(1)
    assert "error" in results[1] and "not an image" in results[1]["error"]
    assert "label" in results[2]
    assert run_cli("predict", run_dir, good).returncode == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--model", "model9", "--data", "."], "unknown model"),
        (["train", "--model", "model1", "--epochs", "0"], "epochs"),
        (["train", "--model", "model1", "--batch-size", "-1"], "batch size"),
        (["data", "--data", "/no/such/folder"], "does not exist"),
        (["evaluate", "/no/such/run"], "not a folder"),
        (["predict", "/tmp", "x.jpg"], "not a catdog run"),
        (["train", "--epochs", "3"], "--model KEY"),
        (["train", "--config", "/no/such/settings.json"], "no such settings file"),
        (["train", "--config", "pyproject.toml"], "cannot read the settings"),
    ],
)
def test_mistakes_give_one_line_and_nonzero_exit(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1


def test_reproduce_command_tabulates_models(tmp_path):
    from helpers import write_tutorial_layout

    data = write_tutorial_layout(tmp_path / "data", train_per_class=40, validation_per_class=80)  # 5 batches: 1 for test
    result = run_cli(
        "reproduce", "--models", "model1", "model3", "--epochs", "1", "--data", data, "--runs-dir", tmp_path / "runs", "--json"
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    assert [row["model"] for row in rows] == ["model1", "model3"]
    assert rows[0]["tutorial_val_accuracy"] == 0.5606
    assert all(0 <= row["test_accuracy"] <= 1 and row["seconds"] > 0 for row in rows)
    listed = json.loads(run_cli("runs", "--runs-dir", tmp_path / "runs", "--json").stdout.strip().splitlines()[-1])
    assert {entry["test_accuracy"] for entry in listed} == {row["test_accuracy"] for row in rows}


def test_a_healthy_command_prints_no_tensorflow_start_up_lines():
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    assert "absl" not in result.stderr and "I0000" not in result.stderr and "cuInit" not in result.stderr, result.stderr
    assert "model1" in result.stdout
    verbose = run_cli("--verbose", "models")
    assert verbose.returncode == 0 and "model1" in verbose.stdout


def test_only_known_start_up_lines_are_dropped(tmp_path):
    from catdog.native_logs import NOISE

    dropped = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796329629.988414   14005 port.cc:153] oneDNN custom operations are on.",
        "E0000 00:00:1796329636.206712   14005 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)",
        "E0000 00:00:1796397595.859964    5438 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: Mutation::Apply "
        "error: fanout 'StatefulPartitionedCall/gradient_tape/model3_1/leaky_re_lu_1_2/LeakyRelu/LeakyReluGrad' exist",
    ]
    kept = [
        "E0000 00:00:1796329636.206712   14005 bfc_allocator.cc:12] Out of memory while trying to allocate",
        "F0000 00:00:1796329636.206712   14005 check.cc:1] Check failed",
        "Traceback (most recent call last):",
        "error: epochs must be a whole number of at least 1, got 0.",
    ]
    assert all(NOISE.match(line) for line in dropped)
    assert not any(NOISE.match(line) for line in kept)
