"""The yardstick: the tutorial's pipeline as written, ported to Keras 3 and nothing more.

    history = train_reference("model4", data="/data/cats_and_dogs_filtered", epochs=20)

`python -m catdog bench` times this against catdog's own training of the same models. Everything
here follows the tutorial (../shared/reference/tutorial.md) line by line:
`image_dataset_from_directory` with no cache and no prefetch, a test set taken from a validation
set that is reshuffled every iteration, the four `Sequential` models,
`compile(optimizer='adam', ...)` and `fit` with its defaults. The only changes are the ones Keras 3 forces, each marked "Keras 3:" below:

* `get_file(..., extract=True)` now returns the extracted folder, not the archive;
* `input_shape=` on a layer that is not the first of a `Sequential` is ignored, so Models 2 and 3
  start with `keras.Input` (Model 1 keeps its `input_shape` on the first layer, which still works);
* `keras.Model(inputs=[i], outputs=[x])` now outputs a one-element list, which the next layer
  cannot take, so the preprocessor and the base wrapper use `outputs=x`;
* the MobileNetV2 weights file is located through catdog (KERAS_HOME is read at call time, as in
  the rest of catdog) and passed to `MobileNetV2(weights=path)`; the weights are the same file.

`fit` runs with `verbose=0` so the progress bar does not mix with the benchmark's own output;
that changes what is printed, not what is computed. The benchmark times it through `callbacks`.
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf
from tensorflow.keras import layers, models, utils

from catdog.architectures import mobilenet_v2_weights
from catdog.errors import CatdogError

BATCH_SIZE = 32  # the tutorial's parameters
IMG_SIZE = (160, 160)
EPOCHS = 20
_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"

# The tutorial's parameter counts (its Model 4 summary prints 2,260,546); tests check them.
PARAMS = {"model1": 42_561_346, "model2": 3_338_562, "model3": 14_086_721, "model4": 2_260_546}


def load_datasets(data: str | Path | None = None, image_size=IMG_SIZE, batch_size=BATCH_SIZE):
    """The tutorial's train, validation and test datasets.

    Args:
        data: a folder with train/ and validation/; None downloads the tutorial's archive.
        image_size, batch_size: the tutorial's IMG_SIZE and BATCH_SIZE by default.

    Returns:
        (train_dataset, validation_dataset, test_dataset), exactly as the tutorial builds them.
    """
    if data is None:
        # download the data and extract it
        path_to_zip = utils.get_file("cats_and_dogs.zip", origin=_URL, extract=True)
        # Keras 3: get_file returns the extracted folder (cats_and_dogs_extracted/).
        PATH = os.path.join(path_to_zip, "cats_and_dogs_filtered")
    else:
        PATH = str(data)

    train_dir = os.path.join(PATH, "train")
    validation_dir = os.path.join(PATH, "validation")

    # construct train and validation datasets
    train_dataset = utils.image_dataset_from_directory(
        train_dir, shuffle=True, batch_size=batch_size, image_size=image_size, verbose=False
    )
    validation_dataset = utils.image_dataset_from_directory(
        validation_dir, shuffle=True, batch_size=batch_size, image_size=image_size, verbose=False
    )

    # construct the test dataset by taking every 5th observation out of the validation dataset
    val_batches = tf.data.experimental.cardinality(validation_dataset)
    test_dataset = validation_dataset.take(val_batches // 5)
    validation_dataset = validation_dataset.skip(val_batches // 5)
    return train_dataset, validation_dataset, test_dataset


def build_model(key: str, image_size=IMG_SIZE, weights: str | None = "imagenet"):
    """One of the tutorial's four models, compiled as the tutorial compiles it.

    Args:
        key: "model1" to "model4".
        image_size: the tutorial's 160x160 by default (tests use smaller).
        weights: Model 4's MobileNetV2 weights: "imagenet" or None (random, for fast tests).
    """
    shape = (*image_size, 3)
    if key == "model1":
        model = models.Sequential(
            [
                layers.Conv2D(32, (3, 3), activation="relu", input_shape=shape),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3), activation="relu"),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(128, (3, 3), activation="relu"),
                layers.Flatten(),
                layers.Dense(256, activation="relu"),
                layers.Dropout(0.25),
                layers.Dense(2),  # number of classes
            ]
        )
    elif key == "model2":
        model = models.Sequential(
            [
                tf.keras.Input(shape),  # Keras 3: input_shape below is ignored on a non-first layer
                # data augmentation
                layers.RandomFlip("horizontal"),
                layers.RandomRotation(0.05),
                # this part is the same as model 1
                layers.Conv2D(32, (3, 3), activation="relu", input_shape=shape),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3), activation="relu"),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(128, (3, 3), activation="relu"),
                layers.MaxPooling2D((2, 2)),
                # added additional Conv2D layers
                layers.Conv2D(256, (3, 3), activation="relu"),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(256, (3, 3), activation="relu"),
                layers.Flatten(),
                layers.Dense(256, activation="relu"),
                layers.Dropout(0.25),
                layers.Dense(2),  # number of classes
            ]
        )
    elif key == "model3":
        leaky = dict(activation=layers.LeakyReLU(), kernel_initializer="he_uniform", padding="same")
        model = models.Sequential(
            [
                tf.keras.Input(shape),  # Keras 3: as in Model 2
                _preprocessor(shape),
                layers.RandomFlip("horizontal"),
                layers.RandomRotation(0.1),
                layers.Conv2D(32, (3, 3), input_shape=shape, **leaky),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3), **leaky),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(128, (3, 3), **leaky),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(256, (3, 3), **leaky),
                layers.MaxPooling2D((2, 2)),
                layers.Conv2D(256, (3, 3), **leaky),
                layers.Flatten(),
                layers.Dense(512, activation=layers.LeakyReLU(), kernel_initializer="he_uniform"),
                layers.Dropout(0.25),
                layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model
    elif key == "model4":
        # download MobileNet V2
        IMG_SHAPE = shape
        base_model = tf.keras.applications.MobileNetV2(
            input_shape=IMG_SHAPE, include_top=False, weights=_mobilenet_weights(image_size) if weights == "imagenet" else weights
        )
        base_model.trainable = False

        i = tf.keras.Input(shape=IMG_SHAPE)
        x = base_model(i, training=False)
        base_model_layer = tf.keras.Model(inputs=[i], outputs=x)  # Keras 3: [x] would output a list

        model = models.Sequential(
            [
                _preprocessor(shape),
                layers.RandomFlip("horizontal"),
                layers.RandomRotation(0.1),
                base_model_layer,
                layers.GlobalMaxPooling2D(),
                layers.Dense(2),
            ]
        )
    else:
        raise CatdogError(f"the tutorial has model1 to model4, not {key!r}.")
    model.compile(
        optimizer="adam",
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def train_reference(
    key: str,
    data: str | Path | None = None,
    epochs: int = EPOCHS,
    image_size=IMG_SIZE,
    batch_size: int = BATCH_SIZE,
    weights: str | None = "imagenet",
    callbacks=(),
) -> dict[str, list[float]]:
    """Build the datasets and the model and `fit` as the tutorial does.

    Args:
        key: "model1" to "model4".
        data: dataset folder (None: the tutorial's download).
        epochs: the tutorial's 20 by default.
        image_size, batch_size, weights: as in `load_datasets` and `build_model`.
        callbacks: Keras callbacks for `fit` (the benchmark's clock); the tutorial passes none.

    Returns:
        The tutorial's `history.history`: loss, accuracy, val_loss, val_accuracy per epoch.
    """
    train_dataset, validation_dataset, _ = load_datasets(data, image_size, batch_size)
    model = build_model(key, image_size, weights)
    history = model.fit(train_dataset, epochs=epochs, validation_data=validation_dataset, callbacks=list(callbacks), verbose=0)
    del model
    tf.keras.backend.clear_session()
    return history.history


def _preprocessor(shape):
    # create a preprocessing layer
    i = tf.keras.Input(shape=shape)
    x = tf.keras.applications.mobilenet_v2.preprocess_input(i)
    return tf.keras.Model(inputs=[i], outputs=x)  # Keras 3: [x] would output a list


def _mobilenet_weights(image_size) -> str:
    # The file the tutorial's `weights="imagenet"` would load: Keras picks it by input size.
    square = image_size[0] == image_size[1]
    return mobilenet_v2_weights(image_size[0] if square and image_size[0] in (96, 128, 160, 192, 224) else 224)
