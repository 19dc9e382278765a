"""Evaluation: test-set accuracy with its uncertainty, per-class figures, the confusion matrix,
calibration (`catdog.calibration`) and test-time augmentation.

The test split is rebuilt from the run's own settings (data, batch size, seed), so it is the same
images the run never trained or validated on.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from catdog import calibration, runs
from catdog.data import Dataset, load_dataset
from catdog.errors import CatdogError
from catdog.models import probabilities
from catdog.pipeline import forward_batch_size, length_unknown_to_keras, make_tf_dataset


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Predictions on one split and the figures derived from them."""

    class_names: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray  # true class index per image
    probabilities: np.ndarray  # (images, classes)

    threshold: float | None = None  # binary only: predict the second class when its probability >= this
    # With test-time augmentation: the probabilities of the images alone (`probabilities` then
    # averages them with their mirror images'); None without.
    plain_probabilities: np.ndarray | None = None

    @property
    def predictions(self) -> np.ndarray:
        if self.threshold is not None and self.probabilities.shape[1] == 2:
            return (self.probabilities[:, 1] >= self.threshold).astype(int)
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean()) if len(self.labels) else float("nan")

    def with_threshold(self, threshold: float) -> Evaluation:
        """The same predictions judged at another decision threshold (binary models)."""
        return dataclasses.replace(self, threshold=float(threshold))

    def roc_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(false positive rates, true positive rates, thresholds) for the second class (binary)."""
        if self.probabilities.shape[1] != 2:
            raise CatdogError("ROC curves are for two classes; this run has more.")
        scores = self.probabilities[:, 1]
        positives = self.labels == 1
        thresholds = np.concatenate([[np.inf], np.unique(scores)[::-1]])
        tpr = np.array([(scores[positives] >= t).sum() for t in thresholds]) / max(positives.sum(), 1)
        fpr = np.array([(scores[~positives] >= t).sum() for t in thresholds]) / max((~positives).sum(), 1)
        return fpr, tpr, thresholds

    def auc(self) -> float:
        """Area under the ROC curve (trapezoidal)."""
        fpr, tpr, _ = self.roc_curve()
        return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))

    def accuracy_interval(self, confidence_z: float = 1.96) -> tuple[float, float]:
        """Wilson score interval (95% by default) of the accuracy: ~200 test images is +/- a few points."""
        n = len(self.labels)
        if n == 0:
            return (float("nan"), float("nan"))
        p = self.accuracy
        centre = (p + confidence_z**2 / (2 * n)) / (1 + confidence_z**2 / n)
        spread = confidence_z * math.sqrt(p * (1 - p) / n + confidence_z**2 / (4 * n * n)) / (1 + confidence_z**2 / n)
        return (max(0.0, centre - spread), min(1.0, centre + spread))

    def confusion_matrix(self) -> np.ndarray:
        """Counts [true class, predicted class]."""
        size = len(self.class_names)
        matrix = np.zeros((size, size), dtype=int)
        np.add.at(matrix, (self.labels, self.predictions), 1)
        return matrix

    def per_class(self) -> dict[str, dict[str, float]]:
        """Precision, recall (= per-class accuracy) and support of each class."""
        matrix = self.confusion_matrix()
        result = {}
        for index, name in enumerate(self.class_names):
            predicted, actual = matrix[:, index].sum(), matrix[index].sum()
            result[name] = {
                "precision": float(matrix[index, index] / predicted) if predicted else float("nan"),
                "recall": float(matrix[index, index] / actual) if actual else float("nan"),
                "support": int(actual),
            }
        return result

    def cell(self, true_index: int, predicted_index: int) -> list[tuple[str, np.ndarray]]:
        """Images whose true class is `true_index` and predicted `predicted_index`, least confident first."""
        members = np.flatnonzero((self.labels == true_index) & (self.predictions == predicted_index))
        order = members[np.argsort(self.probabilities[members, predicted_index])]
        return [(self.paths[i], self.probabilities[i]) for i in order]

    def reliability(self) -> calibration.Reliability:
        """Confidence against accuracy in bins (the reliability diagram's data)."""
        return calibration.reliability(self.probabilities, self.labels)

    def with_temperature(self, temperature: float) -> Evaluation:
        """The same predictions with their logits divided by `temperature`."""
        return dataclasses.replace(self, probabilities=calibration.apply_temperature(self.probabilities, temperature))

    def without_tta(self) -> Evaluation:
        """The predictions of the images alone (itself when test-time augmentation was off)."""
        if self.plain_probabilities is None:
            return self
        return dataclasses.replace(self, probabilities=self.plain_probabilities, plain_probabilities=None)

    def tta_summary(self) -> dict | None:
        """What test-time augmentation changed: accuracy without and with it, predictions changed."""
        if self.plain_probabilities is None:
            return None
        plain = self.without_tta()
        return {
            "test_accuracy_without_tta": plain.accuracy,
            "test_accuracy_with_tta": self.accuracy,
            "predictions_changed": int((plain.predictions != self.predictions).sum()),
        }

    def summary(self) -> dict:
        low, high = self.accuracy_interval()
        binary = self.probabilities.shape[1] == 2 and len(set(self.labels.tolist())) == 2
        return {
            "test_accuracy": self.accuracy,
            "auc": self.auc() if binary else None,
            "test_accuracy_95ci": [low, high],
            "test_images": len(self.labels),
            "class_names": list(self.class_names),
            "confusion_matrix": self.confusion_matrix().tolist(),
            "per_class": self.per_class(),
            "ece": self.reliability().ece,
            "tta": self.tta_summary(),
        }


def calibration_summary(test: Evaluation, validation: Evaluation) -> dict:
    """Temperature scaling fitted on `validation`, judged on `test`: the ECE before and after,
    and both reliability diagrams' bins (JSON-ready)."""
    temperature = calibration.fit_temperature(validation.probabilities, validation.labels)
    scaled = test.with_temperature(temperature)
    return {
        "ece": test.reliability().ece,
        "temperature": temperature,
        "ece_after_temperature": scaled.reliability().ece,
        "reliability": test.reliability().to_dict(),
        "reliability_after_temperature": scaled.reliability().to_dict(),
    }


@dataclasses.dataclass(frozen=True)
class Disagreement:
    """A test image two runs classify differently."""

    path: str
    label: int  # its true class
    first: np.ndarray  # the first run's probabilities
    second: np.ndarray  # the second run's


def disagreements(first: Evaluation, second: Evaluation) -> list[Disagreement]:
    """The images both evaluations judged that they classify differently, the surest clashes
    first (the lower of the two confidences, highest first).

    Raises:
        CatdogError: when the evaluations share no image or their classes differ.
    """
    if first.class_names != second.class_names:
        raise CatdogError(
            f"the runs tell different classes apart ({list(first.class_names)} and {list(second.class_names)}); "
            "compare runs trained on the same class folders."
        )
    where = {path: index for index, path in enumerate(second.paths)}
    shared = [(index, where[path]) for index, path in enumerate(first.paths) if path in where]
    if not shared:
        raise CatdogError(
            "the two runs were tested on different images (other data, seed or batch size); "
            "compare runs trained on the same data with the same seed and batch size."
        )
    ours, theirs = first.predictions, second.predictions
    found = [
        Disagreement(first.paths[i], int(first.labels[i]), first.probabilities[i], second.probabilities[j])
        for i, j in shared
        if ours[i] != theirs[j]
    ]
    return sorted(found, key=lambda item: -min(item.first.max(), item.second.max()))


def evaluate(run: runs.Run, dataset: Dataset | None = None, split: str = "test", model=None, tta: bool = False) -> Evaluation:
    """Predict every image of a split (the test split by default) with a run's model.

    The model's own probabilities: a temperature the run keeps for predictions is not applied
    (see `calibration_summary`).

    Args:
        run: a run with a saved model.
        dataset: the dataset to use; None reloads the run's own (same data, batch size and seed).
        split: "test", "validation" or "train".
        model: an already loaded model of the run (saves loading it again).
        tta: test-time augmentation: average each image's probabilities with its mirror image's
            (default False).
    """
    if dataset is None:
        dataset = load_dataset(run.config.data, batch_size=run.config.batch_size, seed=run.config.seed)
    if tuple(dataset.class_names) != tuple(run.class_names):
        raise CatdogError(
            f"the run was trained on classes {list(run.class_names)} but this dataset has "
            f"{list(dataset.class_names)}; evaluate it on data with the same class folders."
        )
    chosen = dataset.split(split)
    model = model if model is not None else runs.load_model(run)
    batch_size = forward_batch_size(run.config.batch_size, run.config.image_size)
    images = make_tf_dataset(chosen, run.config.image_size, batch_size, cache=False).map(lambda x, y: x)
    plain = _predict(model, images, chosen, split, len(run.class_names))
    mirrored = None
    if tta:  # images are (batch, height, width, channels): axis 2 mirrors left to right
        mirrored = _predict(model, images.map(lambda x: x[:, :, ::-1]), chosen, split, len(run.class_names))
    return Evaluation(
        class_names=tuple(run.class_names),
        paths=chosen.paths,
        labels=np.asarray(chosen.labels, int),
        probabilities=plain if mirrored is None else (plain + mirrored) / 2,
        plain_probabilities=None if mirrored is None else plain,
    )


def _predict(model, images, chosen, split: str, classes: int) -> np.ndarray:
    if not len(chosen):
        return np.zeros((0, classes))
    with length_unknown_to_keras():
        outputs = model.predict(images, verbose=0)
    if len(outputs) != len(chosen):
        raise CatdogError(
            f"{len(chosen) - len(outputs)} {split} images could not be decoded; run `python -m catdog data` to list them."
        )
    return probabilities(outputs)
