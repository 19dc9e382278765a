"""Data health: likely label errors, near-duplicates (and leakage across splits), outliers.

    report, features = check_health("/data/pets")   # or: python -m catdog health --data DIR
    report.label_issues[0]  # {"path", "split", "given", "suggested", "score"}

Everything is judged on the frozen MobileNetV2 features Model 4 trains on (`catdog.features`),
computed once and cached, so a dataset that Model 4 has trained on is checked in seconds:

* label errors: out-of-fold class probabilities of every image (k-fold logistic regression on
  the features, each image predicted by a model that never saw it), ranked by cleanlab's
  `find_label_issues`, which flags an image when its probability of another class reaches that
  class's typical confidence (per-class thresholds, so a hard class is not all flagged);
* near-duplicates: pairs of images whose thumbnails (32 x 32 grey, as correlation vectors) are at
  least `DUPLICATE_SIMILARITY` alike, as they are or one mirrored (exact, re-encoded, resized and
  mirrored copies), those that cross splits first: a validation or test image also in training
  inflates every accuracy shown. Thumbnails rather than the base's features: those move with
  resampling (a halved copy can score lower against its original than two different photos);
  thumbnails are cached like the features;
* outliers: images far from all the others in feature space (cleanlab's `OutOfDistribution`, the
  mean distance to the nearest neighbours), flagged above Tukey's far-out fence.

Every image of every split is looked at, those on the exclusion list (`catdog.exclusions`) too,
so a person can see what was left out and put it back.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from catdog import exclusions
from catdog.architectures import split_frozen
from catdog.config import RunConfig
from catdog.data import Dataset, load_dataset
from catdog.errors import CatdogError
from catdog.features import NO_FLIP, FeatureRequest, cached_features, flip_variants, frozen_forward, frozen_weights_key
from catdog.models import create_model, get_spec, training_precision

# Similarity of two thumbnails from which the images count as the same photo: re-saved,
# recompressed and resized copies of tutorial photos score above 0.99, the closest different
# photos there below 0.9 (README, "Data health").
DUPLICATE_SIMILARITY = 0.97
THUMBNAIL_SIDE = 32
FOLDS = 5  # out-of-fold predictions: each image predicted by a model trained on the other 4/5
OUTLIER_NEIGHBOURS = 10  # an image's typicality: its mean distance to this many nearest images
OUTLIER_FENCE = 3.0  # flagged above Q3 + 3 IQR of those distances (Tukey's far-out fence)
MAX_PAIRS = 5000  # duplicate pairs reported at most (the most similar), so a folder of copies stays readable
SPLITS = ("train", "validation", "test")

Progress = Callable[[int, int, float | None, str], None]  # (done, total, seconds left, message)


@dataclasses.dataclass(frozen=True)
class ImageFeatures:
    """The frozen-base features of every image of a dataset, with each image's class and split."""

    class_names: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray  # given class index per image
    splits: tuple[str, ...]  # "train", "validation" or "test" per image
    vectors: np.ndarray  # (images, dims) float32: the frozen base's pooled features
    thumbnails: np.ndarray  # (images, THUMBNAIL_SIDE**2) float32: grey pixels, for duplicates

    def __len__(self) -> int:
        return len(self.paths)


@dataclasses.dataclass(frozen=True)
class HealthReport:
    """What data health found; each list most suspect first."""

    root: str
    class_names: tuple[str, ...]
    images: int
    label_issues: list[dict]  # {"path", "split", "given", "suggested", "score"}: score = 1 - P(given class)
    duplicates: list[dict]  # {"paths": [a, b], "similarity", "splits": [..], "cross_split"}
    outliers: list[dict]  # {"path", "split", "given", "score"}: score = distance to neighbours / the median's
    excluded: list[str]  # images on the exclusion list now
    seconds: float  # the analysis, not counting features computed on a cache miss
    feature_seconds: float

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["class_names"] = list(self.class_names)
        values["cross_split_duplicates"] = sum(pair["cross_split"] for pair in self.duplicates)
        return values

    def flagged(self) -> dict[str, list[str]]:
        """{path: what flagged it ("label", "duplicate", "outlier")} for every flagged image."""
        found: dict[str, list[str]] = {}
        for item in self.label_issues:
            found.setdefault(item["path"], []).append("label")
        for pair in self.duplicates:
            for path in pair["paths"]:
                found.setdefault(path, []).append("duplicate")
        for item in self.outliers:
            found.setdefault(item["path"], []).append("outlier")
        return found


def check_health(
    data: str | Path | None = None,
    config: RunConfig | None = None,
    dataset: Dataset | None = None,
    progress: Progress | None = None,
) -> tuple[HealthReport, ImageFeatures]:
    """Check a dataset: likely label errors, near-duplicates and outliers.

    Args:
        data: the dataset folder; None is `config.data` (None there too: the tutorial's).
        config: the frozen base's settings (image size, batch size, weights); default Model 4's
            defaults, so the features are the ones Model 4's training caches (float32 for
            "auto": see `dataset_features`).
        dataset: an already loaded dataset (all of its images, exclusions included); None loads it.
        progress: called as `progress(done, total, seconds_left, message)` after each batch of
            features computed (a cache miss), and as `progress(0, 0, None, message)` at each step.

    Returns:
        (the report, the features it judged: the embedding map's input).
    """
    report = progress or (lambda *_: None)
    config = config or RunConfig(model="model4")
    if data is not None:
        config = config.replace(data=str(data))
    if not get_spec(config.model).frozen_base:
        raise CatdogError(f"data health needs a frozen-base model's features (model4), not {config.model}.")
    if dataset is None:
        report(0, 0, None, "loading and checking the dataset")
        dataset = load_dataset(config.data, batch_size=config.batch_size, seed=config.seed, honour_exclusions=False)
    start = time.perf_counter()
    features = dataset_features(dataset, config, report)
    return analyse(features, dataset.root, report, feature_seconds=time.perf_counter() - start), features


def analyse(
    features: ImageFeatures,
    root: str | Path,
    progress: Progress | None = None,
    feature_seconds: float = 0.0,
) -> HealthReport:
    """Judge features already computed (see `check_health`); `feature_seconds` is reported as
    the time they took."""
    report = progress or (lambda *_: None)
    start = time.perf_counter()
    report(0, 0, None, "looking for likely label errors")
    issues = label_issues(features)
    report(0, 0, None, "looking for near-duplicates")
    pairs = near_duplicates(features)
    report(0, 0, None, "looking for outliers")
    odd = outliers(features)
    return HealthReport(
        root=str(root),
        class_names=features.class_names,
        images=len(features),
        label_issues=issues,
        duplicates=pairs,
        outliers=odd,
        excluded=sorted(exclusions.load(root)),
        seconds=time.perf_counter() - start,
        feature_seconds=feature_seconds,
    )


def report_lines(report: HealthReport, limit: int = 10) -> list[str]:
    """The report as text for the command line: counts, and the first `limit` of each list."""
    root = Path(report.root)

    def name(path: str) -> str:
        return str(Path(path).relative_to(root)) if Path(path).is_relative_to(root) else path

    def more(items: list) -> list[str]:
        return [f"  ... and {len(items) - limit} more (--json for all)"] if len(items) > limit else []

    cross = sum(pair["cross_split"] for pair in report.duplicates)
    lines = [f"data health of {report.root}: {report.images} images", f"likely label errors: {len(report.label_issues)}"]
    lines += [
        f"  {item['score']:.3f}  given {item['given']}, looks like {item['suggested']}  {name(item['path'])} ({item['split']})"
        for item in report.label_issues[:limit]
    ] + more(report.label_issues)
    lines.append(f"near-duplicates: {len(report.duplicates)} pairs, {cross} across splits")
    lines += [
        f"  {pair['similarity']:.3f}  {name(pair['paths'][0])} ({pair['splits'][0]})  {name(pair['paths'][1])} ({pair['splits'][1]})"
        for pair in report.duplicates[:limit]
    ] + more(report.duplicates)
    lines.append(f"outliers: {len(report.outliers)}")
    lines += [
        f"  {item['score']:.2f}x typical distance  {name(item['path'])} ({item['split']})" for item in report.outliers[:limit]
    ] + more(report.outliers)
    lines.append(f"left out of training: {len(report.excluded)} images (python -m catdog exclude PATH... to change)")
    lines.append(f"{report.seconds:.1f}s to judge, {report.feature_seconds:.1f}s for the features")
    return lines


def dataset_features(dataset: Dataset, config: RunConfig, progress: Progress | None = None) -> ImageFeatures:
    """The frozen base's features of every image of `dataset`, through Model 4's feature cache.

    The training images are asked for with the flips Model 4 trains on, and the validation
    images as they are, so this and Model 4's training share one cache entry each. A feature
    precision of "auto" means float32 here: each image is judged alone, and int8 features change
    some verdicts (on the tutorial data 12 of float32's 15 likely label errors, and 8 others).
    """
    import keras

    if config.feature_precision == "auto":
        config = config.replace(feature_precision="float32")
    report = progress or (lambda *_: None)
    if not config.pretrained:
        keras.utils.set_random_seed(config.seed)  # random weights, the same ones for the same seed
    model = create_model(
        config.model,
        config.image_size,
        len(dataset.class_names),
        config.learning_rate,
        pretrained=config.pretrained,
        precision=training_precision(config.model, config.precision),
    )
    frozen, _ = split_frozen(model)
    key = frozen_weights_key(frozen, config, calibration=dataset.train)

    def base():  # only on a cache miss
        return frozen_forward(frozen, key, config, lambda message: report(0, 0, None, message), calibration=dataset.train)

    flips = flip_variants(config.flip if config.flip is not None else get_spec(config.model).flip)
    thumbnails_key = f"thumbnails-{THUMBNAIL_SIDE}-{config.image_size}"
    named = [
        (name, label, dataset.split(name))
        for name, label in (("train", "training"), ("validation", "validation"), ("test", "test"))
        if len(dataset.split(name))
    ]
    vectors = cached_features(
        key,
        base,
        [FeatureRequest(split, flips if name == "train" else NO_FLIP, label) for name, label, split in named],
        config,
        report,
    )
    thumbnails = cached_features(
        thumbnails_key,
        _thumbnailer,
        [FeatureRequest(split, NO_FLIP, f"{label} thumbnail") for _, label, split in named],
        config,
        report,
    )
    paths, labels, splits = [], [], []
    for name, _, split in named:
        paths += split.paths
        labels += split.labels
        splits += [name] * len(split)
    return ImageFeatures(
        dataset.class_names,
        tuple(paths),
        np.asarray(labels, int),
        tuple(splits),
        np.concatenate([np.asarray(part[:, 0], np.float32) for part in vectors]),  # the images as they are
        np.concatenate([np.asarray(part[:, 0], np.float32) for part in thumbnails]),
    )


def label_issues(features: ImageFeatures, folds: int = FOLDS, seed: int = 0) -> list[dict]:
    """Images whose given class looks wrong, most likely first (see the module's docstring)."""
    from cleanlab.filter import find_label_issues

    probabilities = out_of_fold_probabilities(features, folds, seed)
    # n_jobs=1: cleanlab would fork a process pool, and a fork of the dashboard's server (TensorFlow's
    # threads, Tornado's) can deadlock in the child: the Data health page then waited forever.
    ranked = find_label_issues(features.labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1)
    names = features.class_names
    return [
        {
            "path": features.paths[index],
            "split": features.splits[index],
            "given": names[features.labels[index]],
            "suggested": names[int(probabilities[index].argmax())],
            "score": round(1.0 - float(probabilities[index, features.labels[index]]), 4),
        }
        for index in ranked
    ]


def out_of_fold_probabilities(features: ImageFeatures, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """(images, classes) probabilities, each from a logistic regression that did not see the image."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    counts = np.bincount(features.labels, minlength=len(features.class_names))
    folds = min(folds, int(counts.min()))
    if folds < 2:
        raise CatdogError("data health needs at least two images of every class; add more images.")
    # Strong regularisation keeps the probabilities honest; a loose tolerance costs nothing in
    # the ranking and saves most of the time (README, "Data health").
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, tol=1e-3, max_iter=2000))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return cross_val_predict(model, features.vectors, features.labels, cv=splitter, method="predict_proba")


def near_duplicates(
    features: ImageFeatures, threshold: float = DUPLICATE_SIMILARITY, max_pairs: int = MAX_PAIRS, block_rows: int | None = None
) -> list[dict]:
    """Pairs of images whose thumbnails are at least `threshold` alike, cross-split pairs first.

    The similarity is the correlation of the two thumbnails' pixels, or of one with the other's
    mirror image, whichever is higher. It is computed a block of rows at a time against all
    images, so memory holds a block, never the whole images x images matrix.
    """
    side = THUMBNAIL_SIDE
    vectors = _unit_rows(features.thumbnails - features.thumbnails.mean(axis=1, keepdims=True))
    mirrored = vectors.reshape(len(vectors), side, -1)[:, :, ::-1].reshape(len(vectors), -1)
    rows = block_rows or max(1, 2**23 // max(len(vectors), 1))  # at most 8M similarities a block, twice (64 MB)
    found_a, found_b, found_similarity = [], [], []
    for start in range(0, len(vectors), rows):
        block = np.maximum(vectors[start : start + rows] @ vectors.T, vectors[start : start + rows] @ mirrored.T)
        a, b = np.nonzero(block >= threshold)
        a = a + start
        keep = b > a  # each pair once, and never an image with itself
        found_a.append(a[keep])
        found_b.append(b[keep])
        found_similarity.append(block[a[keep] - start, b[keep]])
    a, b, similarity = (np.concatenate(part) if part else np.zeros(0) for part in (found_a, found_b, found_similarity))
    splits = np.asarray(features.splits)
    cross = splits[a.astype(int)] != splits[b.astype(int)]
    # Ties (equal when rounded as shown) go in image order: float noise in a dot product differs between CPUs.
    order = np.lexsort((b, a, -np.round(similarity, 4), ~cross))[:max_pairs]
    return [
        {
            "paths": [features.paths[int(a[i])], features.paths[int(b[i])]],
            "similarity": round(float(similarity[i]), 4),
            "splits": [features.splits[int(a[i])], features.splits[int(b[i])]],
            "cross_split": bool(cross[i]),
        }
        for i in order
    ]


def outliers(features: ImageFeatures, neighbours: int = OUTLIER_NEIGHBOURS, fence: float = OUTLIER_FENCE) -> list[dict]:
    """Images unlike any other, most unusual first (see the module's docstring)."""
    distances = outlier_distances(features, neighbours)
    if not len(distances):
        return []
    low, high = np.percentile(distances, [25, 75])
    flagged = np.flatnonzero(distances > high + fence * (high - low))
    return [
        {
            "path": features.paths[index],
            "split": features.splits[index],
            "given": features.class_names[features.labels[index]],
            "score": round(float(distances[index]), 4),
        }
        for index in flagged[np.argsort(-distances[flagged])]
    ]


def outlier_distances(features: ImageFeatures, neighbours: int = OUTLIER_NEIGHBOURS) -> np.ndarray:
    """Each image's mean distance to its nearest other images (cosine for the base's features),
    as a multiple of the dataset's median: 1 is a typical image. cleanlab's kNN outlier score."""
    from cleanlab.outlier import OutOfDistribution

    neighbours = min(neighbours, len(features) - 1)
    if neighbours < 1:
        return np.zeros(len(features))
    scores = OutOfDistribution({"k": neighbours}).fit_score(features=features.vectors, verbose=False)
    return -np.log(np.clip(scores, 1e-12, 1.0))  # cleanlab's score is exp(-distance / median distance)


def _thumbnailer():
    """The `base` of `cached_features` for thumbnails: grey, `THUMBNAIL_SIDE` pixels square."""
    import tensorflow as tf

    def forward(batch):
        grey = tf.image.rgb_to_grayscale(batch)
        small = tf.image.resize(grey, (THUMBNAIL_SIDE, THUMBNAIL_SIDE), method="area", antialias=True)
        return small.numpy().reshape(len(batch), -1)

    return forward, "thumbnails"


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
