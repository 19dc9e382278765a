"""Models: one registry from key to builder; the tutorial's four models and our own.

Every model takes raw RGB pixels (0-255): it owns its preprocessing and augmentation, so
training, evaluation, prediction and an exported file can never disagree. A model ends either in
one logit per class (trained with sparse categorical cross-entropy from logits, as the tutorial's
Models 1, 2 and 4) or, for two classes, in one sigmoid unit (binary cross-entropy, Model 3).

    model = create_model("model2", image_size=(160, 160), num_classes=2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from catdog.augment import augmentation_layers
from catdog.config import CatdogError


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it and what to tell people about it."""

    key: str
    title: str
    description: str  # one line for the Train page
    build: Callable  # build(image_size, num_classes, flip, rotation, pretrained) -> keras.Model
    flip: str  # the model's own augmentation, as in the tutorial
    rotation: float
    tutorial_val_accuracy: float | None  # final validation accuracy the tutorial reported
    frozen_base: bool = False  # its features can be computed once (see train.py)
    # Measured 1.5-2.5x faster per step in mixed bfloat16 on a CPU with Intel AMX, same accuracy
    # over 20 epochs (see `training_precision`).
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


def _conv_stack(layers, filters, activation, padding="valid", initializer="glorot_uniform", pool_last=False):
    stack = []
    for index, width in enumerate(filters):
        stack.append(layers.Conv2D(width, (3, 3), activation=activation, padding=padding, kernel_initializer=initializer))
        if activation is None:
            stack.append(layers.LeakyReLU(negative_slope=0.3))  # the tutorial's layers.LeakyReLU()
        if index < len(filters) - 1 or pool_last:
            stack.append(layers.MaxPooling2D((2, 2)))
    return stack


def _logits_or_sigmoid(layers, num_classes, sigmoid_for_two=False):
    # float32 even under mixed precision: a bfloat16 sigmoid saturates and binary cross-entropy
    # then stops learning (measured on Model 3); logits keep their full precision too.
    if sigmoid_for_two and num_classes == 2:
        return layers.Dense(1, activation="sigmoid", name="output", dtype="float32")
    return layers.Dense(num_classes, name="output", dtype="float32")


def build_model1(image_size, num_classes, flip="none", rotation=0.0, pretrained=True):
    """Tutorial Model 1: three convolutions and a large dense layer; no augmentation."""
    import keras
    from keras import layers

    return keras.Sequential(
        [keras.Input((*image_size, 3))]
        + augmentation_layers(flip, rotation)
        + [layers.Rescaling(1.0, name="raw_pixels")]  # the tutorial feeds 0-255 unscaled
        + _conv_stack(layers, (32, 64, 128), "relu")
        + [layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dropout(0.25), _logits_or_sigmoid(layers, num_classes)],
        name="model1",
    )


def build_model2(image_size, num_classes, flip="horizontal", rotation=0.05, pretrained=True):
    """Tutorial Model 2: Model 1 with flip/rotation augmentation and two more convolutions."""
    import keras
    from keras import layers

    return keras.Sequential(
        [keras.Input((*image_size, 3))]
        + augmentation_layers(flip, rotation)
        + _conv_stack(layers, (32, 64, 128, 256, 256), "relu")
        + [layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dropout(0.25), _logits_or_sigmoid(layers, num_classes)],
        name="model2",
    )


def build_model3(image_size, num_classes, flip="horizontal", rotation=0.1, pretrained=True):
    """Tutorial Model 3: pixels scaled to [-1, 1], LeakyReLU, he_uniform, 'same' padding, sigmoid."""
    import keras
    from keras import layers

    return keras.Sequential(
        [keras.Input((*image_size, 3)), _mobilenet_scaling(layers)]
        + augmentation_layers(flip, rotation)
        + _conv_stack(layers, (32, 64, 128, 256, 256), None, padding="same", initializer="he_uniform")
        + [
            layers.Flatten(),
            layers.Dense(512, kernel_initializer="he_uniform"),
            layers.LeakyReLU(negative_slope=0.3),
            layers.Dropout(0.25),
            _logits_or_sigmoid(layers, num_classes, sigmoid_for_two=True),
        ],
        name="model3",
    )


def build_model4(image_size, num_classes, flip="horizontal", rotation=0.1, pretrained=True):
    """Tutorial Model 4: frozen MobileNetV2 (ImageNet) + global max pooling + one dense layer."""
    import keras
    from keras import layers

    base = _mobilenet_v2(image_size, pretrained)
    base.trainable = False
    inputs = keras.Input((*image_size, 3))
    # training=False keeps the base's BatchNorm in inference mode, also when it is later unfrozen.
    base_layer = keras.Model(inputs, base(inputs, training=False), name="mobilenet_v2_base")
    return keras.Sequential(
        [keras.Input((*image_size, 3)), _mobilenet_scaling(layers)]
        + augmentation_layers(flip, rotation)
        + [base_layer, layers.GlobalMaxPooling2D(name="pool"), _logits_or_sigmoid(layers, num_classes)],
        name="model4",
    )


def build_model5(image_size, num_classes, flip="horizontal", rotation=0.05, pretrained=True):
    """catdog's own from-scratch CNN: a whitening stem, batch normalization, residual blocks, global pooling.

    Where the tutorial's CNNs spend 3-42 million parameters on a dense layer over a flattened
    feature map (and overfit 2,000 images), this one pools globally and puts its 1.2 million
    parameters in convolutions; batch normalization lets Adam train it at twice Keras' default
    rate, decayed along a cosine (see the registry). Its first layer is not learned: a frozen,
    strided 3x3 convolution onto the principal components of the training images' patches (set
    by `fit_whitening_stem` before training), each with both signs so the ReLU keeps both, as in
    Keller Jordan's fast CIFAR-10 training (airbench). Edge and colour detectors then come from
    the data's statistics in a second instead of from 2,000 images' gradients: on the tutorial
    data the training accuracy runs ~5 points ahead of a learned stem over the first epochs.
    A pooling layer brings the 80x80 maps to 40x40 cheaply, and the depth goes where the maps are
    small: a residual block of two convolutions at 20x20 and another at 10x10. On a 2-core CPU
    an epoch of the tutorial data takes ~0.7 of Model 2's (`catdog bench`), and 20 epochs reached
    85.4% validation accuracy (README, "Models").
    """
    import keras
    from keras import layers

    def conv(width, activation=True):
        stack = [
            layers.Conv2D(width, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=0.9),
        ]
        return stack + ([layers.ReLU()] if activation else [])

    def residual(width, channels_in):
        # A nested functional model keeps the whole a Sequential of layers, which Grad-CAM
        # splits at its last feature map (this block's output).
        inputs = keras.Input((None, None, channels_in))
        shortcut = layers.BatchNormalization(momentum=0.9)(layers.Conv2D(width, 1, use_bias=False)(inputs))
        branch = inputs
        for layer in conv(width) + conv(width, activation=False):
            branch = layer(branch)
        return keras.Model(inputs, layers.ReLU()(layers.Add()([shortcut, branch])), name=f"residual_{width}")

    whitening = layers.Conv2D(
        2 * WHITENING_COMPONENTS, 3, strides=2, padding="same", use_bias=False, trainable=False, name="whitening"
    )
    return keras.Sequential(
        [keras.Input((*image_size, 3)), layers.Rescaling(1.0 / 255)]
        + augmentation_layers(flip, rotation)
        + [whitening, layers.BatchNormalization(momentum=0.9), layers.ReLU(), layers.MaxPooling2D(2)]
        + conv(64)
        + [layers.MaxPooling2D(2), residual(128, 64), layers.MaxPooling2D(2), residual(256, 128)]
        + [layers.GlobalAveragePooling2D(), layers.Dropout(0.3), _logits_or_sigmoid(layers, num_classes)],
        name="model5",
    )


# Of a 3x3 RGB patch's 27 dimensions, the 16 with the most variance: 32 filters with both signs,
# the width of the learned stem they replaced, so an epoch costs no more.
WHITENING_COMPONENTS = 16


def fit_whitening_stem(model, images) -> None:
    """Set Model 5's frozen first layer to the principal components of `images`' 3x3 patches.

    Args:
        model: a Model 5 (it has a layer named "whitening").
        images: RGB pixels 0-255, N x H x W x 3, a sample of the training set.

    The BatchNormalization that follows scales each component to unit variance, which makes the
    pair a PCA whitening of the patches: decorrelated, equally scaled inputs are what lets the
    next layers learn quickly.
    """
    import numpy as np

    # Every 3x3 patch at every fourth position (plenty for a 27x27 covariance), flattened in the
    # (row, column, channel) order of a Conv2D kernel; a few images at a time, so large images
    # never hold the whole sample in floats.
    count, total, outer = 0, np.zeros(27), np.zeros((27, 27))
    for start in range(0, len(images), 16):
        chunk = np.asarray(images[start : start + 16], np.float64) / 255.0
        windows = np.lib.stride_tricks.sliding_window_view(chunk, (3, 3), axis=(1, 2))[:, ::4, ::4]
        patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 27)
        count, total, outer = count + len(patches), total + patches.sum(axis=0), outer + patches.T @ patches
    mean = total / count
    variances, components = np.linalg.eigh(outer / count - np.outer(mean, mean))
    top = components[:, np.argsort(variances)[::-1][:WHITENING_COMPONENTS]]
    kernel = np.concatenate([top, -top], axis=1).reshape(3, 3, 3, 2 * WHITENING_COMPONENTS)
    model.get_layer("whitening").set_weights([kernel.astype(np.float32)])


def _mobilenet_scaling(layers):
    # Same arithmetic as keras.applications.mobilenet_v2.preprocess_input (x / 127.5 - 1), as a
    # serializable layer so saved models load in Keras' safe mode.
    return layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_to_minus1_1")


MOBILENET_V2_WEIGHTS = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
)


# The tutorial's 160-pixel ImageNet weights serve every input size (a convolution's weights do not
# depend on it), where Keras would fetch a file per size and fall back to 224's: one download,
# and measured on the tutorial data, 192x192 images through these weights beat both 160 and 224
# (validation after the head's 10 epochs: 98.6% against 97.8% and 96.9%). A network trained on
# ImageNet's random crops sees objects best somewhat larger than its training size (Touvron et
# al., "Fixing the train-test resolution discrepancy", 2019).
MOBILENET_V2_WEIGHTS_ROWS = 160


def _mobilenet_v2(image_size, pretrained):
    import keras

    from catdog.data import keras_home

    base = keras.applications.MobileNetV2(input_shape=(*image_size, 3), include_top=False, weights=None)
    if not pretrained:
        return base
    # Fetch the weights ourselves (the same file and cache path Keras uses) because Keras reads
    # KERAS_HOME once at import, while catdog honours it at call time.
    url = MOBILENET_V2_WEIGHTS.format(rows=MOBILENET_V2_WEIGHTS_ROWS)
    try:
        (keras_home() / "models").mkdir(parents=True, exist_ok=True)  # else Keras uses /tmp/.keras
        path = keras.utils.get_file(url.rsplit("/", 1)[1], url, cache_subdir="models", cache_dir=str(keras_home()))
        base.load_weights(path)
    except Exception as error:  # Keras raises a bare Exception when the download fails
        raise CatdogError(
            "MobileNetV2's ImageNet weights are not in the Keras cache "
            f"({keras_home()}/models) and could not be downloaded ({error}). Connect to the "
            "internet once, or set KERAS_HOME to a Keras cache that holds them."
        ) from None
    return base


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            "model1",
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
    compile_model(model, learning_rate)
    return model


COMPUTE_PRECISIONS = ("float32", "mixed_bfloat16")


def training_precision(key: str, requested: str = "auto") -> str:
    """The precision to train `key` in: `requested`, or for "auto" the fastest that keeps accuracy.

    "auto" picks mixed_bfloat16 for the models registered with `cpu_bfloat16` (the tutorial's
    CNNs) on a CPU with bfloat16 matrix units (Intel AMX) and no GPU: measured there, Models 1-3
    train 1.5-2.5x faster per step and reach the tutorial's accuracies in 20 epochs. Everything
    else (GPUs, older CPUs, Model 4, whose frozen base ran slower in bfloat16) stays float32.
    """
    if requested != "auto":
        if requested not in COMPUTE_PRECISIONS:
            raise CatdogError(f"precision must be auto or one of {', '.join(COMPUTE_PRECISIONS)}; got {requested!r}.")
        return requested
    if not get_spec(key).cpu_bfloat16 or not _cpu_has_bfloat16_units():
        return "float32"
    import tensorflow as tf

    return "float32" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def _cpu_has_bfloat16_units() -> bool:
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags  # measured with AMX; AVX512-BF16 alone is untested


def compile_model(model, learning_rate: float = 0.001, steps_per_execution: int = 1, decay_steps: int | None = None) -> None:
    """Compile with Adam and the loss that matches the model's output layer.

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

    sigmoid = model.output_shape[-1] == 1
    loss = keras.losses.BinaryCrossentropy() if sigmoid else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps) if decay_steps else learning_rate
    model.compile(optimizer=keras.optimizers.Adam(rate), loss=loss, metrics=["accuracy"], steps_per_execution=steps_per_execution)


def split_frozen(model):
    """For a frozen-base model: (features, head) sub-models sharing the model's own layers.

    `features` maps raw pixels to pooled base features without augmentation; `head` maps those
    features to the output. Training `head` trains the full model's last layer in place.
    """
    import keras

    features = keras.Sequential(
        [
            keras.Input(model.input_shape[1:]),
            model.get_layer("scale_to_minus1_1"),
            model.get_layer("mobilenet_v2_base"),
            model.get_layer("pool"),
        ]
    )
    head = keras.Sequential([keras.Input(features.output_shape[1:]), model.get_layer("output")])
    return features, head


def count_params(model) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    return int(model.count_params()), trainable
