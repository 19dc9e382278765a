"""Calibration and test-time augmentation on the Evaluate and Predict pages: the reliability
diagram and its figures, keeping a temperature, and the TTA toggles."""

from __future__ import annotations

import pytest
from helpers import png_bytes
from helpers_app import metrics, plotly_specs, texts

from catdog import calibration, runs
from catdog.evaluate import calibration_summary, evaluate
from catdog.predict import Predictor


def test_evaluate_page_shows_calibration_and_keeps_the_temperature(app, trained_run):
    at = app.run().switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception
    expected = calibration_summary(evaluate(trained_run), evaluate(trained_run, split="validation"))
    shown = metrics(at)
    assert shown["ECE"] == f"{expected['ece']:.3f}"
    assert shown["Temperature"] == f"{expected['temperature']:.2f}"
    assert shown["ECE after temperature"] == f"{expected['ece_after_temperature']:.3f}"
    reliability = next(
        spec
        for spec in plotly_specs(at)
        if spec["layout"].get("xaxis", {}).get("title", {}).get("text", "").startswith("confidence")
    )
    bars = [trace for trace in reliability["data"] if trace["type"] == "bar"]
    assert len(bars) == 2 and [len(bar["y"]) for bar in bars] == [
        len(expected["reliability"]),
        len(expected["reliability_after_temperature"]),
    ]

    at.button(key="evaluate_keep_temperature").click().run()
    assert not at.exception, at.exception
    assert calibration.load_temperature(trained_run.path) == pytest.approx(expected["temperature"])
    assert any("keeps temperature" in caption for caption in texts(at.caption))

    at.switch_page("pages/predict.py").run()
    at.file_uploader(key="predict_uploads").set_value([("red.png", png_bytes(0), "image/png")]).run()
    assert not at.exception, at.exception
    assert any(caption.startswith("Calibrated probabilities") for caption in texts(at.caption))

    at.switch_page("pages/evaluate.py").run()
    at.button(key="evaluate_forget_temperature").click().run()
    assert calibration.load_temperature(trained_run.path) is None


def test_tta_toggles_report_what_they_change(app, trained_run):
    at = app.run().switch_page("pages/evaluate.py").run()
    at.toggle(key="evaluate_tta").set_value(True).run()
    assert not at.exception, at.exception
    expected = evaluate(trained_run, tta=True)
    assert metrics(at)["Test accuracy"] == f"{expected.accuracy:.1%}"
    (line,) = [caption for caption in texts(at.caption) if caption.startswith("Test-time augmentation:")]
    assert f"{expected.tta_summary()['predictions_changed']} of {len(expected.labels)} predictions changed" in line
    # The saved figures stay the model's own (no TTA), for comparisons between runs.
    assert runs.load_run(trained_run.path).evaluation["test_accuracy"] == pytest.approx(evaluate(trained_run).accuracy)

    at.switch_page("pages/predict.py").run()
    at.file_uploader(key="predict_uploads").set_value([("blue.png", png_bytes(1, seed=9), "image/png")]).run()
    plain = [bar.text for bar in at.get("progress")]
    at.toggle(key="predict_tta").set_value(True).run()
    assert not at.exception, at.exception
    (expected,) = Predictor(trained_run).predict([png_bytes(1, seed=9)], tta=True)
    assert [bar.text for bar in at.get("progress")] == [
        f"{name}: {probability:.1%}" for name, probability in sorted(expected.probabilities.items(), key=lambda item: -item[1])
    ]
    assert len(plain) == 2
    assert [markdown.value for markdown in at.markdown if markdown.value.startswith("### ")] == ["### dogs"]
