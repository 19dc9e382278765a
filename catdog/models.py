"""Models: one registry from key to builder (the builders are in `catdog.architectures`).

Every model takes raw RGB pixels (0-255): it owns its preprocessing and augmentation, so
training, evaluation, prediction and an exported file can never disagree. A model ends either in
one logit per class (trained with sparse categorical cross-entropy from logits, as the tutorial's
Models 1, 2 and 4) or, for two classes, in one sigmoid unit (binary cross-entropy, Model 3).

    model = create_model("model2", image_size=(160, 160), num_classes=2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from catdog.architectures import (
    build_model1,
    build_model2,
    build_model3,
    build_model4,
    build_model5,
    fit_whitening_stem,
)
from catdog.errors import CatdogError


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it and what to tell people about it."""

    key: str
    short_name: str  # "Model 1": how charts and tables name it
    title: str
    description: str  # one line for the Train page
    build: Callable  # build(image_size, num_classes, flip, rotation, pretrained) -> keras.Model
    flip: str  # the model's own augmentation, as in the tutorial
    rotation: float
    tutorial_val_accuracy: float | None  # final validation accuracy the tutorial reported
    frozen_base: bool = False  # its features can be computed once (see train.py)
    # Trains in mixed bfloat16 where that is measured faster (see `training_precision`): final validation
    # accuracy within noise of float32 over three seeds for Models 2, 3 and 5 (README, "Speed").
    cpu_bfloat16: bool = False
    # Learning rate decays to zero along a cosine over the planned epochs (not the tutorial's
    # constant rate): the last epochs settle instead of jumping around.
    cosine_decay: bool = False
    # The learning rate a new run of this model starts with (RunConfig's default): Keras' Adam
    # default, which the tutorial uses, unless the model was tuned for another.
    learning_rate: float = 0.001
    # fit_to_images(model, images): sets weights computed from a sample of the training images
    # (uint8, N x H x W x 3) before a new run trains; Model 5's whitening stem.
    fit_to_images: Callable | None = None


def is_sigmoid(width: int) -> bool:
    """Whether a model's output of `width` units is one sigmoid probability of the second class
    (else it is one logit per class). The one place that reads an output's kind."""
    return width == 1


def output_description(model) -> str:
    """How to read `model`'s output, for exported files."""
    return (
        "sigmoid probability of the second class"
        if is_sigmoid(model.output_shape[-1])
        else "logits, one per class (apply softmax)"
    )


def probabilities(outputs) -> np.ndarray:
    """Class probabilities (rows sum to 1) from a model's outputs: logits or a sigmoid unit."""
    outputs = np.asarray(outputs, np.float64)
    if is_sigmoid(outputs.shape[-1]):
        positive = outputs[:, 0]
        return np.stack([1.0 - positive, positive], axis=1)
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            "model1",
            "Model 1",
            "Model 1: small CNN",
            "Three convolutions and a 42M-parameter dense layer; no augmentation. Overfits.",
            build_model1,
            "none",
            0.0,
            0.5606,
            cpu_bfloat16=True,
        ),
        ModelSpec(
            "model2",
            "Model 2",
            "Model 2: CNN + augmentation",
            "Random flips and rotations, five convolutions.",
            build_model2,
            "horizontal",
            0.05,
            0.7079,
            cpu_bfloat16=True,
        ),
        ModelSpec(
            "model3",
            "Model 3",
            "Model 3: CNN + preprocessing",
            "Pixels scaled to [-1, 1], LeakyReLU, he_uniform, sigmoid output.",
            build_model3,
            "horizontal",
            0.1,
            0.7698,
            cpu_bfloat16=True,
        ),
        ModelSpec(
            "model4",
            "Model 4",
            "Model 4: transfer learning",
            "Frozen MobileNetV2 pre-trained on ImageNet with a new dense head.",
            build_model4,
            "horizontal",
            0.1,
            0.9827,
            frozen_base=True,
        ),
        ModelSpec(
            "model5",
            "Model 5",
            "Model 5: catdog's CNN",
            "Ours: a first layer set from the data's statistics, batch norm, residual blocks, global pooling instead "
            "of a huge dense layer, augmentation, a learning rate decaying to zero.",
            build_model5,
            "horizontal",
            0.05,
            None,
            cpu_bfloat16=True,
            cosine_decay=True,
            learning_rate=0.002,
            fit_to_images=fit_whitening_stem,
        ),
    )
}


# The tutorial's own models: those it reported an accuracy for (reproduce and bench run these).
TUTORIAL_MODELS = tuple(key for key, spec in MODELS.items() if spec.tutorial_val_accuracy is not None)


def list_models() -> list[str]:
    """The registered model keys, in order."""
    return list(MODELS)


def get_spec(key: str) -> ModelSpec:
    """The registry entry for `key`; a clear error naming the valid keys otherwise."""
    if key not in MODELS:
        raise CatdogError(f"unknown model {key!r}; choose one of {', '.join(MODELS)}.")
    return MODELS[key]


def create_model(
    key: str,
    image_size: tuple[int, int] = (160, 160),
    num_classes: int = 2,
    learning_rate: float = 0.001,
    flip: str | None = None,
    rotation: float | None = None,
    pretrained: bool = True,
    precision: str = "float32",
    compile: bool = True,
):
    """Build and compile a registered model as the tutorial does (Adam, accuracy).

    Args:
        key: a key of `MODELS`.
        image_size: (height, width) of the input images.
        num_classes: number of classes (at least 2).
        learning_rate: Adam's learning rate.
        flip, rotation: override the model's own augmentation; None keeps the tutorial's.
        pretrained: load ImageNet weights for transfer-learning models (False for fast tests).
        precision: "float32" (default) or "mixed_bfloat16": layers compute in bfloat16 and keep
            float32 weights; the output layer stays float32 (see `training_precision`).
        compile: False leaves the model uncompiled, for a caller that trains only a part of it.
    """
    import keras

    spec = get_spec(key)
    if num_classes < 2:
        raise CatdogError("a classifier needs at least two classes.")
    if precision not in COMPUTE_PRECISIONS:
        raise CatdogError(f"precision must be one of {', '.join(COMPUTE_PRECISIONS)}; got {precision!r}.")
    # Keras reads the policy when a layer is created; set it for this build only.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        model = spec.build(
            tuple(image_size),
            num_classes,
            flip=spec.flip if flip is None else flip,
            rotation=spec.rotation if rotation is None else rotation,
            pretrained=pretrained,
        )
    finally:
        keras.config.set_dtype_policy(previous)
    if compile:
        compile_model(model, learning_rate)
    return model


COMPUTE_PRECISIONS = ("float32", "mixed_bfloat16")


def training_precision(key: str, requested: str = "auto") -> str:
    """The precision to train `key` in: `requested`, or for "auto" the fastest that keeps accuracy.

    "auto" picks mixed_bfloat16 for the models registered with `cpu_bfloat16` where it was measured
    faster on this machine (`catdog.precision`: a CPU with bfloat16 arithmetic, no GPU);
    everything else stays float32 (README, "Speed").
    """
    if requested != "auto":
        if requested not in COMPUTE_PRECISIONS:
            raise CatdogError(f"precision must be auto or one of {', '.join(COMPUTE_PRECISIONS)}; got {requested!r}.")
        return requested
    if not get_spec(key).cpu_bfloat16:
        return "float32"
    from catdog.precision import bfloat16_pays  # times TensorFlow kernels: loaded only when training

    return "mixed_bfloat16" if bfloat16_pays() else "float32"


def compile_model(model, learning_rate: float = 0.001, steps_per_execution: int = 1, decay_steps: int | None = None) -> None:
    """Compile with Adam (Keras' own, updated by a fused kernel: `catdog.adam`) and the loss that
    matches the model's output layer.

    Args:
        model: the model to compile.
        learning_rate: Adam's learning rate (0.001, Keras' default, as in the tutorial).
        steps_per_execution: batches per call into the compiled graph; above 1 saves Python
            overhead per batch for tiny models (the frozen-base head), and batch callbacks then
            run once per call.
        decay_steps: when given, the rate follows a cosine from `learning_rate` down to zero over
            this many steps (the models registered with `cosine_decay`); else it is constant.
    """
    import keras

    from catdog.adam import FusedAdam  # TensorFlow itself: loaded only when a model is compiled

    sigmoid = is_sigmoid(model.output_shape[-1])
    loss = keras.losses.BinaryCrossentropy() if sigmoid else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps) if decay_steps else learning_rate
    model.compile(optimizer=FusedAdam(rate), loss=loss, metrics=["accuracy"], steps_per_execution=steps_per_execution)


def build_training_state(model, train_ds) -> None:
    """Create a compiled `model`'s optimizer and metric variables before `fit` on `train_ds`.

    Without a distribution strategy Keras creates them while tracing the first training step,
    and TensorFlow, which lets only a function's first trace create variables, then traces the
    step again, in every training's first epoch (README, "Speed"). Under a strategy Keras builds
    them itself before tracing, and this does nothing.
    """
    import tensorflow as tf  # loaded only when a model trains, as in `compile_model`

    if tf.distribute.has_strategy():
        return
    model.optimizer.build(model.trainable_variables)
    labels = train_ds.element_spec[1]
    # The metrics take their kind ("accuracy": binary or sparse categorical) from these shapes.
    model.compute_metrics(
        None,
        np.zeros((1, *labels.shape[1:]), labels.dtype.as_numpy_dtype),
        np.zeros((1, *model.output_shape[1:]), np.float32),
    )
    model.reset_metrics()


def count_params(model) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    return int(model.count_params()), trainable
