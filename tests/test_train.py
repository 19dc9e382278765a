"""Training: the model learns, runs are saved whole, stop keeps finished epochs, one at a time."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import h5py
import numpy as np
import pytest

from catdog import runs
from catdog.config import RunConfig
from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.models import create_model
from catdog.predict import Predictor
from catdog.train import train


def tiny_config(**changes) -> RunConfig:
    values = dict(model="model3", epochs=4, batch_size=8, image_size=(32, 32), seed=1, pretrained=False)
    values.update(changes)
    return RunConfig(**values)


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


def test_stop_after_current_batch_keeps_finished_epochs(tiny_data, tmp_path):
    seen = []

    def stop_in_third_epoch():
        return sum(1 for e in seen if e.phase == "train" and e.epoch == 3) >= 2

    run = train(
        tiny_config(epochs=6, data=str(tiny_data)),
        runs_root=tmp_path / "runs",
        progress=seen.append,
        should_stop=stop_in_third_epoch,
    )
    assert run.state == runs.STOPPED
    assert len(run.history) == 2
    assert max(e.epoch for e in seen if e.phase == "train") == 3
    assert Predictor(run).predict([load_dataset(tiny_data).validation.paths[0]])[0].label in ("cats", "dogs")


def test_stop_file_requested_from_elsewhere(tiny_data, tmp_path):
    def progress(event):
        if event.phase == "epoch" and event.epoch == 1:
            runs.request_stop(event.run_dir)

    run = train(tiny_config(epochs=5, data=str(tiny_data)), runs_root=tmp_path / "runs", progress=progress)
    assert run.state == runs.STOPPED and len(run.history) == 1 and run.has_model


def test_one_training_at_a_time(tiny_data, tmp_path):
    root = tmp_path / "runs"
    with runs.training_lock(root):
        with pytest.raises(CatdogError, match="another training is running"):
            train(tiny_config(epochs=1, data=str(tiny_data)), runs_root=root)


def test_early_stopping_restores_best_epoch(tiny_data, tmp_path):
    run = train(tiny_config(epochs=8, early_stopping=1, learning_rate=0.01, data=str(tiny_data)), runs_root=tmp_path / "runs")
    assert run.state == runs.FINISHED
    best = max(entry["val_accuracy"] for entry in run.history)
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    predictor = Predictor(run)
    labels = [predictor.predict([p])[0].label for p in dataset.validation.paths]
    accuracy = np.mean([label == dataset.class_names[y] for label, y in zip(labels, dataset.validation.labels)])
    assert accuracy == pytest.approx(best, abs=0.03)


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


def test_frozen_base_fast_path_caches_features_and_saves_the_full_model(tiny_data, tmp_path):
    config = tiny_config(model="model4", epochs=3, data=str(tiny_data))
    run = train(config, runs_root=tmp_path / "runs")
    assert run.status["fast_path"] and run.state == runs.FINISHED
    cached = list((tmp_path / "cache" / "features").glob("*.npy"))
    assert len(cached) == 2  # training (with mirrors) and validation
    train_features = next(np.load(path) for path in cached if np.load(path).shape[0] == 80)
    assert train_features.shape[1] == 2  # each image and its mirror
    # The saved model is the whole model: raw pixels in, same validation accuracy out.
    dataset = load_dataset(tiny_data, batch_size=8, seed=1)
    predictor = Predictor(run)
    labels = [predictor.predict([p])[0].label for p in dataset.validation.paths]
    accuracy = np.mean([label == dataset.class_names[y] for label, y in zip(labels, dataset.validation.labels)])
    assert accuracy == pytest.approx(run.final("val_accuracy"), abs=0.03)
    events = []
    again = train(config, runs_root=tmp_path / "runs2", progress=events.append)
    assert not [e for e in events if e.phase == "features"]  # served from the cache
    assert again.final("val_accuracy") == pytest.approx(run.final("val_accuracy"), abs=1e-6)


def test_frozen_features_on_litert_match_tensorflow(tiny_data, tmp_path, litert, monkeypatch):
    config = tiny_config(model="model4", epochs=1, data=str(tiny_data))

    def features_by_split(cache):
        return {np.load(path).shape[0]: np.load(path) for path in (cache / "features").glob("*.npy")}

    monkeypatch.setenv("CATDOG_CACHE_DIR", str(tmp_path / "cache-litert"))
    events = []
    on_litert = train(config, runs_root=tmp_path / "runs", progress=events.append)
    assert on_litert.status["feature_engine"] == "LiteRT"
    # The one-time conversion is announced before the first batch of features, and shown as such.
    phases = [(event.phase, event.batches) for event in events if event.phase == "features"]
    assert phases[0] == ("features", 0) and "LiteRT" in events[[e.phase for e in events].index("features")].message
    from catdog import ui

    conversion = next(event for event in events if event.phase == "features")
    runs.write_progress(on_litert.path, conversion)
    assert ui.progress_summary(on_litert) == (0.0, f"{conversion.message}…")
    assert len(list((tmp_path / "cache-litert" / "litert").glob("*.tflite"))) == 1  # converted once, for both splits
    monkeypatch.setenv("CATDOG_LITERT", "0")
    monkeypatch.setenv("CATDOG_CACHE_DIR", str(tmp_path / "cache-tensorflow"))
    on_tensorflow = train(config, runs_root=tmp_path / "runs")
    assert on_tensorflow.status["feature_engine"] == "TensorFlow"
    litert_features, tensorflow_features = (
        features_by_split(tmp_path / "cache-litert"),
        features_by_split(tmp_path / "cache-tensorflow"),
    )
    assert sorted(litert_features) == sorted(tensorflow_features) and len(litert_features) == 2  # training, validation
    for count, expected in tensorflow_features.items():
        assert np.abs(expected).max() > 0
        np.testing.assert_allclose(litert_features[count], expected, atol=1e-4 * np.abs(expected).max())


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
