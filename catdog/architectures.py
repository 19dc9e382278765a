"""The architectures: a builder per registered model (the tutorial's four and catdog's Model 5).

Every model takes raw RGB pixels (0-255) and owns its preprocessing and augmentation. Builders
are plain functions `build(image_size, num_classes, flip, rotation, pretrained) -> keras.Model`;
`catdog.models` registers them.
"""

from __future__ import annotations

import numpy as np

from catdog.augment import augmentation_layers
from catdog.errors import CatdogError
from catdog.paths import keras_home


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
    # float32 even under mixed precision: a bfloat16 sigmoid saturates and stops learning.
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

    Its parameters sit in convolutions, not in a dense layer over a flattened map (which overfits
    2,000 images). The first layer is not learned: a frozen strided 3x3 convolution onto the
    principal components of the training images' patches, each with both signs so the ReLU keeps
    both (set by `fit_whitening_stem`; Keller Jordan's airbench). Figures: README, "Models".
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


# One file of ImageNet weights for every input size (a convolution's weights do not depend on
# it); the 160-pixel ones classify best at 192 too (README, "Models").
MOBILENET_V2_WEIGHTS_ROWS = 160


def _mobilenet_v2(image_size, pretrained):
    import keras

    base = keras.applications.MobileNetV2(input_shape=(*image_size, 3), include_top=False, weights=None)
    if pretrained:
        base.load_weights(mobilenet_v2_weights())
    return base


def mobilenet_v2_weights(rows: int = MOBILENET_V2_WEIGHTS_ROWS) -> str:
    """The path of MobileNetV2's ImageNet weights (no top) for `rows`-pixel inputs, downloaded once.

    Fetched into Keras' own cache layout by hand because Keras reads KERAS_HOME once at import,
    while catdog honours it at call time.
    """
    import keras

    url = MOBILENET_V2_WEIGHTS.format(rows=rows)
    try:
        (keras_home() / "models").mkdir(parents=True, exist_ok=True)  # else Keras uses /tmp/.keras
        return keras.utils.get_file(url.rsplit("/", 1)[1], url, cache_subdir="models", cache_dir=str(keras_home()))
    except Exception as error:  # Keras raises a bare Exception when the download fails
        raise CatdogError(
            "MobileNetV2's ImageNet weights are not in the Keras cache "
            f"({keras_home()}/models) and could not be downloaded ({error}). Connect to the "
            "internet once, or set KERAS_HOME to a Keras cache that holds them."
        ) from None


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
