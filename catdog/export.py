"""Export: a run as a `.keras` file, or as TensorFlow Lite with a labels file.

The exported models take raw RGB pixels (0-255) at the run's image size, like the catdog model
they come from: preprocessing is inside.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from catdog import lite, runs
from catdog.models import output_description, probabilities


def keras_bytes(run: runs.Run) -> bytes:
    """The run's model.keras file."""
    return (run.path / runs.MODEL_FILE).read_bytes()


def tflite_bytes(run: runs.Run, model=None) -> bytes:
    """The run's model converted to TensorFlow Lite (float32)."""
    return lite.convert(model if model is not None else runs.load_model(run))


def labels_text(run: runs.Run) -> str:
    """One class name per line, in output order (the format TFLite tooling expects)."""
    return "".join(f"{name}\n" for name in run.class_names)


def tflite_bundle(run: runs.Run, model=None) -> bytes:
    """A zip holding model.tflite, labels.txt and the run's settings (input size, output kind)."""
    model = model if model is not None else runs.load_model(run)
    info = {
        "class_names": list(run.class_names),
        "image_size": list(run.config.image_size),
        "input": "float32 RGB pixels 0-255, shape (1, height, width, 3)",
        "output": output_description(model),
        # A file meant to be shared: the training settings without the trainer's local dataset path.
        "settings": {key: value for key, value in run.config.to_dict().items() if key != "data"},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.tflite", tflite_bytes(run, model))
        archive.writestr("labels.txt", labels_text(run))
        archive.writestr("catdog.json", json.dumps(info, indent=2))
    return buffer.getvalue()


def tflite_probabilities(tflite_model: bytes, images) -> np.ndarray:
    """Class probabilities from a TFLite model for uint8 images (what a phone app would compute)."""
    forward = lite.LiteModel(tflite_model)
    # One image at a time, the shape a phone app feeds the exported model.
    return probabilities(np.concatenate([forward(image[None]) for image in np.asarray(images, np.float32)]))
