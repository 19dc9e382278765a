"""Stress tests beyond rotation: how a model's confidence and accuracy hold up as brightness,
contrast, blur, JPEG quality and zoom change, and an occlusion sensitivity map.

    sweep = confidence_sweep(predictor, image)          # one image, every perturbation
    heat, drop = occlusion_map(predictor, image)         # where a grey patch hurts the most
    curves = accuracy_under_stress(predictor, paths, labels, progress=print)

Images are uint8 arrays at the model's input size; perturbations use Pillow. Strength 0 of each
perturbation is the image as it is, so every curve starts at the model's own figure. `predictor`
is anything with `predict_arrays(images) -> probabilities` and `image_size` (`catdog.predict.Predictor`).
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from catdog.errors import CatdogError
from catdog.images import load_image

GREY = 128  # the occluding patch: mid grey, no colour for the model to read
CHUNK = 16  # images perturbed and predicted at a time: memory holds CHUNK x every variant


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """One way to degrade an image, at a few strengths (the first is 0: the image as it is)."""

    name: str
    strengths: tuple[float, ...]
    unit: str  # how to read a strength, for axis labels
    apply: Callable[[Image.Image, float], Image.Image]


def _jpeg(image: Image.Image, strength: float) -> Image.Image:
    if strength == 0:
        return image  # no re-encoding at all
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=max(1, round(100 - strength)))
    return Image.open(buffer).convert("RGB")


def _zoom(image: Image.Image, strength: float) -> Image.Image:
    # Crop the centre (1 - strength of each side) and blow it back up, as a closer shot would.
    width, height = image.size
    keep_w, keep_h = max(1, round(width * (1 - strength))), max(1, round(height * (1 - strength)))
    left, top = (width - keep_w) // 2, (height - keep_h) // 2
    return image.crop((left, top, left + keep_w, top + keep_h)).resize((width, height), Image.BILINEAR)


PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation("brightness", (0, 0.3, 0.6, 0.85), "darker by", lambda im, s: ImageEnhance.Brightness(im).enhance(1 - s)),
    Perturbation("contrast", (0, 0.3, 0.6, 0.85), "flatter by", lambda im, s: ImageEnhance.Contrast(im).enhance(1 - s)),
    Perturbation("blur", (0, 1, 2, 4), "Gaussian radius, pixels", lambda im, s: im.filter(ImageFilter.GaussianBlur(s))),
    Perturbation("JPEG quality", (0, 60, 85, 95), "quality lost (100 - quality)", _jpeg),
    Perturbation("zoom", (0, 0.2, 0.4, 0.6), "share of each side cropped", _zoom),
)


def perturbation_names() -> list[str]:
    return [perturbation.name for perturbation in PERTURBATIONS]


def perturb(image: np.ndarray, name: str, strength: float) -> np.ndarray:
    """`image` (uint8, H x W x 3) degraded by perturbation `name` at `strength`."""
    perturbation = _get(name)
    return np.asarray(perturbation.apply(Image.fromarray(np.asarray(image, np.uint8)), strength).convert("RGB"), np.uint8)


def variants(image: np.ndarray) -> np.ndarray:
    """Every perturbation of `image` at every strength, in `PERTURBATIONS` order: (variants, H, W, 3)."""
    return np.stack([perturb(image, p.name, strength) for p in PERTURBATIONS for strength in p.strengths])


def confidence_sweep(predictor, image: np.ndarray, class_index: int | None = None) -> dict[str, tuple[list, list[float]]]:
    """The probability of one class as each perturbation grows: {name: (strengths, probabilities)}.

    Args:
        predictor: see the module's docstring.
        image: uint8 at the model's input size.
        class_index: the class to follow; None follows the class predicted for the image as it is.
    """
    scores = predictor.predict_arrays(variants(image))
    if class_index is None:
        class_index = int(scores[0].argmax())  # the first variant is the first perturbation at strength 0
    return _by_perturbation(scores[:, class_index].tolist())


def occlusion_map(predictor, image: np.ndarray, patch: int | None = None, stride: int | None = None, class_index=None):
    """Occlusion sensitivity (Zeiler and Fergus, 2014): a grey patch slid over the image, and how
    much the probability of the class drops with the patch at each place.

    Args:
        predictor: see the module's docstring.
        image: uint8 (height, width, 3) at the model's input size.
        patch: side of the square patch in pixels (default: a fifth of the shorter side).
        stride: pixels between placements (default: half the patch).
        class_index: the class to follow; None follows the predicted class.

    Returns:
        (heat map (height, width) in [0, 1], scaled by the largest drop; that drop, in
        probability; the class followed).
    """
    image = np.asarray(image, np.uint8)
    height, width = image.shape[:2]
    patch = patch or max(1, min(height, width) // 5)
    stride = stride or max(1, patch // 2)
    base = predictor.predict_arrays(image[None])[0]
    class_index = int(base.argmax()) if class_index is None else class_index
    tops, lefts = range(0, max(1, height - patch + 1), stride), range(0, max(1, width - patch + 1), stride)
    drops = np.zeros((height, width))
    covered = np.zeros((height, width))
    places = [(top, left) for top in tops for left in lefts]
    for start in range(0, len(places), 64):  # bounded batches whatever the image size
        batch = places[start : start + 64]
        occluded = np.repeat(image[None], len(batch), axis=0)
        for row, (top, left) in enumerate(batch):
            occluded[row, top : top + patch, left : left + patch] = GREY
        scores = predictor.predict_arrays(occluded)[:, class_index]
        for (top, left), score in zip(batch, scores):
            drops[top : top + patch, left : left + patch] += base[class_index] - score
            covered[top : top + patch, left : left + patch] += 1
    mean_drop = np.where(covered > 0, drops / np.maximum(covered, 1), 0.0)
    largest = float(mean_drop.max())
    heat = np.clip(mean_drop / largest, 0, 1) if largest > 0 else np.zeros_like(mean_drop)
    return heat, largest, class_index


def accuracy_under_stress(
    predictor,
    paths: Sequence[str],
    labels: Sequence[int],
    max_images: int | None = 200,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict[str, tuple[list, list[float]]]:
    """Accuracy on a set of images (the test split) under each perturbation at each strength.

    Args:
        predictor: see the module's docstring.
        paths, labels: the images and their true class indices.
        max_images: use at most this many, spread evenly over the set (None: all).
        progress: called as `progress(done, total, seconds_left)` after each chunk of images.

    Returns:
        {perturbation name: (strengths, accuracies)}.
    """
    if len(paths) != len(labels):
        raise CatdogError("each image needs its label.")
    if not len(paths):
        raise CatdogError("there are no images to stress-test; the split is empty.")
    step = max(1, len(paths) // max_images) if max_images else 1
    chosen = list(zip(paths, labels))[::step][: max_images or None]
    right = np.zeros(sum(len(p.strengths) for p in PERTURBATIONS))
    started = time.perf_counter()
    for start in range(0, len(chosen), CHUNK):
        part = chosen[start : start + CHUNK]
        stacked = np.concatenate([variants(load_image(path, predictor.image_size)) for path, _ in part])
        predicted = predictor.predict_arrays(stacked).argmax(axis=1).reshape(len(part), -1)
        right += (predicted == np.asarray([label for _, label in part])[:, None]).sum(axis=0)
        if progress is not None:
            done = start + len(part)
            progress(done, len(chosen), (time.perf_counter() - started) / done * (len(chosen) - done))
    return _by_perturbation((right / len(chosen)).tolist())


def _by_perturbation(values: list[float]) -> dict[str, tuple[list, list[float]]]:
    result, at = {}, 0
    for perturbation in PERTURBATIONS:
        count = len(perturbation.strengths)
        result[perturbation.name] = (list(perturbation.strengths), values[at : at + count])
        at += count
    return result


def _get(name: str) -> Perturbation:
    for perturbation in PERTURBATIONS:
        if perturbation.name == name:
            return perturbation
    raise CatdogError(f"unknown perturbation {name!r}; choose one of {', '.join(perturbation_names())}.")
