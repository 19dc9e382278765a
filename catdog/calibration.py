"""Calibration: does "90% sure" mean right nine times in ten? Reliability bins, the expected
calibration error (ECE), and temperature scaling (Guo et al., 2017, "On calibration of modern
neural networks").

    temperature = fit_temperature(validation_probabilities, validation_labels)
    expected_calibration_error(apply_temperature(test_probabilities, temperature), test_labels)
    save_temperature(run.path, temperature)  # predictions of the run are calibrated from now on

Everything works on class probabilities as `catdog.models.probabilities` reads them from any
output kind: the log of softmax probabilities is the logits less a constant per image, and for a
sigmoid unit softmax(log [1-p, p] / T) is sigmoid(logit(p) / T), so one formula scales both.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from catdog.errors import CatdogError
from catdog.paths import write_json_atomic

BINS = 10  # equal-width confidence bins, as in Guo et al.'s reliability diagrams
TEMPERATURE_FILE = "calibration.json"
_SMALLEST = 1e-12  # a saturated float32 output reads 0 or 1; its log must stay finite
_TEMPERATURE_RANGE = (0.05, 20.0)  # beyond these the fit says more about the data than the model


@dataclasses.dataclass(frozen=True)
class Reliability:
    """Confidence against accuracy in equal-width bins of confidence (the top probability)."""

    edges: np.ndarray  # bins + 1 edges from 0 to 1
    confidence: np.ndarray  # mean confidence of each bin (NaN where empty)
    accuracy: np.ndarray  # share of right predictions in each bin (NaN where empty)
    counts: np.ndarray  # images in each bin

    @property
    def ece(self) -> float:
        """Expected calibration error: the gap |accuracy - confidence| averaged over images."""
        total = self.counts.sum()
        if not total:
            return float("nan")
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float((gaps * self.counts[filled]).sum() / total)

    def to_dict(self) -> list[dict]:
        """One JSON-ready row per non-empty bin."""
        return [
            {"low": float(low), "high": float(high), "confidence": float(conf), "accuracy": float(acc), "images": int(n)}
            for low, high, conf, acc, n in zip(self.edges[:-1], self.edges[1:], self.confidence, self.accuracy, self.counts)
            if n
        ]


def reliability(probabilities, labels, bins: int = BINS) -> Reliability:
    """Bin each image by its top probability and compare that confidence with how often it is right."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels, int)
    confidence = probabilities.max(axis=1) if len(labels) else np.zeros(0)
    correct = (probabilities.argmax(axis=1) == labels) if len(labels) else np.zeros(0, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Right-closed bins, the first also holding 0: a confidence of exactly 1 lands in the last bin.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(which, weights=correct.astype(float), minlength=bins) / counts
    return Reliability(edges, mean_confidence, accuracy, counts)


def expected_calibration_error(probabilities, labels, bins: int = BINS) -> float:
    """The ECE of these predictions (0 is perfectly calibrated)."""
    return reliability(probabilities, labels, bins).ece


def apply_temperature(probabilities, temperature: float) -> np.ndarray:
    """The probabilities with their logits divided by `temperature` (above 1 softens them)."""
    probabilities = np.asarray(probabilities, np.float64)
    if temperature == 1.0 or not len(probabilities):
        return probabilities
    scaled = np.log(np.clip(probabilities, _SMALLEST, 1.0)) / temperature
    scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(probabilities, labels) -> float:
    """The temperature that minimises the negative log-likelihood of `labels` (the validation split's).

    One parameter, so it cannot change which class is predicted, only how sure the model says it is.
    """
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels, int)
    if len(labels) < 2:
        raise CatdogError("fitting a temperature needs predictions on at least two validation images.")
    logs = np.log(np.clip(np.asarray(probabilities, np.float64), _SMALLEST, 1.0))

    def negative_log_likelihood(log_temperature: float) -> float:
        scaled = logs / math.exp(log_temperature)
        top = scaled.max(axis=1, keepdims=True)
        log_normaliser = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
        return float((log_normaliser - scaled[np.arange(len(labels)), labels]).mean())

    # Searched over log T: the loss is smooth there and T stays positive.
    low, high = (math.log(bound) for bound in _TEMPERATURE_RANGE)
    result = minimize_scalar(negative_log_likelihood, bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(math.exp(result.x))


def save_temperature(run_dir: str | Path, temperature: float, **facts) -> None:
    """Keep `temperature` with the run: its predictions are calibrated from now on.

    Args:
        run_dir: the run directory.
        temperature: from `fit_temperature` on the run's validation split.
        facts: what else to record with it (e.g. the ECE before and after), JSON-ready.
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise CatdogError(f"a temperature must be a positive number, got {temperature!r}.")
    write_json_atomic(Path(run_dir) / TEMPERATURE_FILE, {"temperature": float(temperature), **facts})


def forget_temperature(run_dir: str | Path) -> None:
    """Predict with the model's own probabilities again."""
    (Path(run_dir) / TEMPERATURE_FILE).unlink(missing_ok=True)


def load_temperature(run_dir: str | Path) -> float | None:
    """The temperature the run keeps, or None (also for a damaged file: uncalibrated is the safe reading)."""
    try:
        value = json.loads((Path(run_dir) / TEMPERATURE_FILE).read_text()).get("temperature")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) and value > 0 else None


def temperature_stamp(run_dir: str | Path) -> int:
    """Changes whenever the kept temperature does (for caches keyed on it); 0 when none is kept."""
    try:
        return (Path(run_dir) / TEMPERATURE_FILE).stat().st_mtime_ns
    except OSError:
        return 0
