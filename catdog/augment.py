"""Augmentation: Keras' RandomFlip and RandomRotation layers, and a preview of what they do.

Augmentation layers sit inside the models (as in the tutorial), so they run on training batches
only: Keras calls them with `training=False` for validation, test and prediction.
"""

from __future__ import annotations

import numpy as np

from catdog.errors import CatdogError

FLIP_MODES = ("none", "horizontal", "vertical", "horizontal_and_vertical")  # keras.layers.RandomFlip's modes


def augmentation_layers(flip: str = "horizontal", rotation: float = 0.1, seed: int | None = None) -> list:
    """Keras layers that randomly flip and rotate images during training.

    Args:
        flip: "none", "horizontal", "vertical" or "horizontal_and_vertical".
        rotation: fraction of a full turn; 0.1 rotates by up to +/-36 degrees. 0 adds no layer.
        seed: makes the random draws repeatable.

    Returns:
        A list of layers (possibly empty) to place at the start of a model.
    """
    from keras import layers

    if flip not in FLIP_MODES:
        raise CatdogError(f"flip must be one of {', '.join(FLIP_MODES)}; got {flip!r}.")
    if not 0 <= rotation <= 0.5:
        raise CatdogError(f"rotation must be between 0 and 0.5 of a turn; got {rotation}.")
    result = []
    if flip != "none":
        result.append(layers.RandomFlip(flip, seed=seed))
    if rotation > 0:
        result.append(layers.RandomRotation(rotation, seed=seed))
    return result


def rotation_degrees(rotation: float) -> float:
    """The largest angle, in degrees either way, that a rotation factor allows."""
    return rotation * 360.0


def preview(
    image: np.ndarray, flip: str = "horizontal", rotation: float = 0.1, count: int = 3, seed: int = 0
) -> list[np.ndarray]:
    """The original image followed by `count` augmented variants, all uint8 (H, W, 3).

    The same arguments always give the same variants.
    """
    augment = augmentation_layers(flip, rotation, seed=seed)
    batch = np.repeat(np.asarray(image, np.float32)[None], count, axis=0)
    for layer in augment:
        batch = layer(batch, training=True)
    variants = np.clip(np.asarray(batch), 0, 255).astype(np.uint8)
    return [np.asarray(image, np.uint8)] + list(variants)
