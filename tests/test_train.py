"""Training: the model learns, runs are saved whole and reproducibly, one at a time, in two
stages when asked, in bfloat16 or on several devices. Feature caching is in test_features.py;
progress, stop requests and early stopping in test_callbacks.py."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import h5py
import numpy as np
import pytest
from helpers import tiny_config

from catdog import runs
from catdog.config import RunConfig
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.models import create_model
from catdog.predict import Predictor
from catdog.runs import load_model
from catdog.train import train


def test_training_learns_and_writes_a_complete_run(tiny_data, tmp_path):
    events = []
    config = tiny_config(data=str(tiny_data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train(config, runs_root=tmp_path / "runs", progress=events.append)
    assert not [w for w in caught if "ran out of data" in str(w.message)]  # Keras' per-epoch noise, silenced
    assert run.state == runs.FINISHED
    assert run.final("val_accuracy") >= 0.85  # chance is 0.5
    assert {p.name for p in run.path.iterdir()} == {"config.json", "status.json", "history.json", "model.keras"}
    assert [entry["epoch"] for entry in run.history] == [1, 2, 3, 4]
    assert all(entry["seconds"] > 0 for entry in run.history)
    assert run.config == config and run.class_names == ("cats", "dogs")
    assert json.loads((run.path / "config.json").read_text())["class_names"] == ["cats", "dogs"]
    phases = {event.phase for event in events}
    assert {"data", "train", "epoch", "done"} <= phases
    batch_events = [e for e in events if e.phase == "train"]
    assert batch_events[-1].eta is not None and batch_events[0].batches == 10
    # The saved model reloads and agrees with the history it was saved with.
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    predictor = Predictor(run)
    correct = [
        predictor.predict([path])[0].label == dataset.class_names[label]
        for path, label in zip(dataset.validation.paths, dataset.validation.labels)
    ]
    assert np.mean(correct) == pytest.approx(run.final("val_accuracy"), abs=0.03)
    # Layers and weights only: the optimizer's state (twice the weights for Adam) is not saved.
    with zipfile.ZipFile(run.path / runs.MODEL_FILE) as archive, archive.open("model.weights.h5") as raw:
        with h5py.File(io.BytesIO(raw.read())) as weights:
            assert set(weights) == {"layers", "vars"}
            assert "optimizer" not in weights and len(weights["layers"]) > 0


def test_same_seed_same_result(tiny_data, tmp_path):
    first = train(tiny_config(epochs=1, data=str(tiny_data)), runs_root=tmp_path / "a")
    second = train(tiny_config(epochs=1, data=str(tiny_data)), runs_root=tmp_path / "b")
    assert first.history[0]["loss"] == pytest.approx(second.history[0]["loss"], rel=1e-3)


def test_one_training_at_a_time(tiny_data, tmp_path):
    root = tmp_path / "runs"
    with runs.training_lock(root):
        with pytest.raises(CatdogError, match="another training is running"):
            train(tiny_config(epochs=1, data=str(tiny_data)), runs_root=root)


def test_cosine_decay_takes_the_rate_to_zero_over_the_planned_epochs(tiny_data, tmp_path, monkeypatch):
    # Model 5 is registered with cosine decay; the tutorial's models keep a constant rate.
    import catdog.train as training
    from catdog.models import compile_model

    schedules = []

    def recording_compile(model, learning_rate, **options):
        schedules.append((model.name, options.get("decay_steps")))
        compile_model(model, learning_rate, **options)

    monkeypatch.setattr(training, "compile_model", recording_compile)
    train(tiny_config(model="model5", epochs=2, learning_rate=0.002, data=str(tiny_data)), runs_root=tmp_path / "a")
    train(tiny_config(model="model3", epochs=2, learning_rate=0.002, data=str(tiny_data)), runs_root=tmp_path / "b")
    assert schedules == [("model5", 2 * 10)]  # 80 training images in batches of 8, two epochs

    model = create_model("model5", (32, 32), 2, 0.002)
    compile_model(model, 0.002, decay_steps=20)
    rates = []
    for step in (0, 10, 20):
        model.optimizer.iterations.assign(step)
        rates.append(float(model.optimizer.learning_rate))
    assert rates == pytest.approx([0.002, 0.001, 0.0])


def test_a_model5_run_sets_its_whitening_stem_from_the_training_images(tiny_data, tmp_path):
    from catdog.architectures import fit_whitening_stem
    from catdog.data import load_sample

    events = []
    config = tiny_config(model="model5", epochs=1, data=str(tiny_data))
    run = train(config, runs_root=tmp_path / "runs", progress=events.append)
    assert any("first layer" in event.message for event in events)
    expected = create_model("model5", config.image_size, 2)
    fresh = expected.get_layer("whitening").get_weights()[0]
    dataset = load_dataset(tiny_data, batch_size=config.batch_size, seed=config.seed)
    sample = load_sample(dataset.train, config.image_size)
    assert len(sample) == len(dataset.train) and sample.dtype == np.uint8  # 80 images: all of them
    fit_whitening_stem(expected, sample)
    saved = runs.load_model(run).get_layer("whitening").get_weights()[0]
    assert np.allclose(saved, expected.get_layer("whitening").get_weights()[0], atol=1e-6)
    assert not np.allclose(saved, fresh)


@pytest.mark.parametrize("model", ["model3", "model4"])  # images; the frozen base's features
def test_the_training_step_is_traced_once(model, tiny_data, tmp_path, training_traces):
    # Variables made while tracing the first step (Adam's moments, the accuracy's counts) would
    # have TensorFlow trace it a second time; `train` makes them first.
    run = train(tiny_config(model=model, epochs=2, data=str(tiny_data)), runs_root=tmp_path / "runs")
    assert run.state == runs.FINISHED and len(training_traces) == 1
    # The metrics made beforehand are the ones training updates: each epoch's share of 80 images.
    assert all(
        0 < entry["accuracy"] <= 1 and 80 * entry["accuracy"] == pytest.approx(round(80 * entry["accuracy"]))
        for entry in run.history
    )


def test_killed_run_reads_as_interrupted(tiny_data, tmp_path):
    run = train(tiny_config(epochs=1, data=str(tiny_data)), runs_root=tmp_path / "runs")
    runs.update_status(run.path, state=runs.RUNNING, pid=2**22 + 12345)  # a process that is gone
    listed = runs.list_runs(tmp_path / "runs")
    assert [r.state for r in listed] == [runs.INTERRUPTED]
    runs.delete_run(listed[0])
    assert runs.list_runs(tmp_path / "runs") == []


def test_fine_tuning_second_stage_unfreezes_the_top_of_the_base(tiny_data, tmp_path):
    from catdog.runs import load_model

    config = tiny_config(model="model4", epochs=2, fine_tune_epochs=2, fine_tune_from=140, data=str(tiny_data))
    run = train(config, runs_root=tmp_path / "runs")
    assert [entry["phase"] for entry in run.history] == ["train", "train", "fine-tune", "fine-tune"]
    assert [entry["epoch"] for entry in run.history] == [1, 2, 3, 4]
    assert run.status["fine_tune_from_epoch"] == 3
    # Only layers from 140 on moved: compare with a model built from the same seed.
    import keras

    from catdog.models import create_model

    keras.utils.set_random_seed(config.seed)
    initial = create_model("model4", (32, 32), pretrained=False)
    trained = load_model(run)
    before = initial.get_layer("mobilenet_v2_base").layers[-1].layers
    after = trained.get_layer("mobilenet_v2_base").layers[-1].layers
    changed = [
        i
        for i, (a, b) in enumerate(zip(before, after))
        if a.weights
        and not all(
            np.allclose(x.numpy(), y.numpy())
            for x, y in zip(a.trainable_weights + a.non_trainable_weights, b.trainable_weights + b.non_trainable_weights)
        )
    ]
    assert all(index >= 140 for index in changed)
    # Exactly the layers from 140 on train, BatchNorm excepted (random weights saturate ReLU6 in
    # inference-mode BatchNorm, so whether they moved is not a test here; the real weights are).
    unfrozen = [index for index, layer in enumerate(after) if layer.trainable_weights]
    expected = [
        i
        for i, layer in enumerate(after)
        if i >= 140 and layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert unfrozen == expected and expected
    # BatchNorm stayed in inference mode: its moving statistics are those it started with.
    normalizations = [(a, b) for a, b in zip(before, after) if isinstance(a, keras.layers.BatchNormalization)]
    assert normalizations and all(
        np.allclose(x.numpy(), y.numpy())
        for a, b in normalizations
        for x, y in zip(a.non_trainable_weights, b.non_trainable_weights)
    )


def test_bfloat16_training_saves_a_float32_model_that_predicts_the_same(tiny_data, tmp_path):
    config = RunConfig(
        model="model3", epochs=3, batch_size=8, image_size=(32, 32), seed=1, data=str(tiny_data), precision="mixed_bfloat16"
    )
    run = train(config, runs_root=tmp_path / "runs")
    assert run.status["precision"] == "mixed_bfloat16"
    assert {layer.dtype_policy.name for layer in load_model(run).layers} == {"float32"}
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    labels = [p.label for p in Predictor(run).predict(list(dataset.validation.paths))]
    accuracy = sum(label == dataset.class_names[y] for label, y in zip(labels, dataset.validation.labels, strict=True)) / len(
        labels
    )
    assert accuracy == pytest.approx(run.final("val_accuracy"), abs=0.05)


def test_mirrored_strategy_trains_and_is_recorded(tiny_data, tmp_path):
    config = RunConfig(model="model3", epochs=1, batch_size=8, image_size=(32, 32), data=str(tiny_data), strategy="mirrored")
    run = train(config, runs_root=tmp_path / "runs")
    assert run.status["strategy"] == "mirrored" and run.status["replicas"] >= 1 and run.has_model
    with pytest.raises(CatdogError, match="strategy"):
        RunConfig(strategy="tpu")
