"""Explanations: Grad-CAM heat maps and a rotation/flip robustness sweep.

Grad-CAM (Selvaraju et al., 2017): the gradient of the predicted class's score with respect to
the last convolutional feature map, averaged per channel, weights the channels; their positive
sum, upsampled to the image, shows where the model looked.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from catdog.models import is_sigmoid


def _split_at_last_feature_map(model):
    """(front, back) layer lists of a Sequential model: front ends at the last 4-D output."""
    layers = model.layers
    last = max(i for i, layer in enumerate(layers) if len(layer.output.shape) == 4 and not _is_augmentation(layer))
    return layers[: last + 1], layers[last + 1 :]


def _is_augmentation(layer) -> bool:
    return type(layer).__name__ in ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast")


def grad_cam(model, image: np.ndarray, class_index: int | None = None) -> tuple[np.ndarray, int]:
    """Grad-CAM heat map of `image` (uint8, the model's input size) for `class_index`.

    Args:
        model: a catdog model (raw pixels in).
        image: (height, width, 3) uint8 array.
        class_index: the class to explain; None explains the predicted class.

    Returns:
        (heat map (height, width) in [0, 1], the explained class index).
    """
    import tensorflow as tf

    front, back = _split_at_last_feature_map(model)
    x = tf.convert_to_tensor(np.asarray(image, np.float32)[None])
    with tf.GradientTape() as tape:
        features = x
        for layer in front:
            features = layer(features, training=False)
        tape.watch(features)
        outputs = features
        for layer in back:
            outputs = layer(outputs, training=False)
        if is_sigmoid(outputs.shape[-1]):  # class 1 is p, class 0 is 1 - p
            probability = outputs[:, 0]
            if class_index is None:
                class_index = int(probability[0] >= 0.5)
            score = probability if class_index == 1 else 1.0 - probability
        else:
            if class_index is None:
                class_index = int(tf.argmax(outputs[0]))
            score = outputs[:, class_index]
    gradients = tape.gradient(score, features)[0].numpy()
    feature_map = features[0].numpy()
    weights = gradients.mean(axis=(0, 1))
    cam = np.maximum((feature_map * weights).sum(axis=-1), 0)
    if cam.max() > 0:
        cam = cam / cam.max()
    height, width = image.shape[:2]
    heat = np.asarray(Image.fromarray((cam * 255).astype(np.uint8)).resize((width, height), Image.BILINEAR), np.float32) / 255
    return heat, class_index


def overlay(image: np.ndarray, heat: np.ndarray, strength: float = 0.45) -> np.ndarray:
    """The image with the heat map blended over it in the 'jet' colours (uint8 RGB)."""
    from matplotlib import colormaps

    colours = colormaps["jet"](heat)[..., :3] * 255
    return np.clip((1 - strength) * np.asarray(image, np.float32) + strength * colours, 0, 255).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Class probabilities of one image as it is rotated, plain and mirrored."""

    angles: np.ndarray  # degrees
    probabilities: np.ndarray  # (angles, classes) for the image as is
    mirrored: np.ndarray  # (angles, classes) for its mirror image


def robustness_sweep(predictor, image: np.ndarray, step: int = 15) -> Sweep:
    """Predict `image` rotated from -180 to 180 degrees in `step`s, as is and mirrored.

    Rotation fills corners by reflection, as Keras' RandomRotation does, so the sweep shows what
    rotation augmentation would have taught the model.
    """
    angles = np.arange(-180, 181, step)
    source = Image.fromarray(np.asarray(image, np.uint8))
    rotated = [np.asarray(_rotate_reflect(source, angle)) for angle in angles]
    mirrored = [np.asarray(_rotate_reflect(source.transpose(Image.FLIP_LEFT_RIGHT), angle)) for angle in angles]
    scores = predictor.predict_arrays(np.stack(rotated + mirrored))
    return Sweep(angles, scores[: len(angles)], scores[len(angles) :])


def _rotate_reflect(image: Image.Image, angle: float) -> Image.Image:
    width, height = image.size
    pad = max(width, height)
    padded = np.pad(np.asarray(image), ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    turned = Image.fromarray(padded).rotate(angle, resample=Image.BILINEAR)
    return turned.crop((pad, pad, pad + width, pad + height))
