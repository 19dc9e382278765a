"""LiteRT (TensorFlow Lite) inference: the fast path for a frozen base and for predictions on a CPU.

On a CPU, LiteRT's XNNPACK kernels run MobileNetV2 faster than TensorFlow with the same features
(figures: README, "Speed"), so catdog computes Model 4's frozen features and serves predictions
with LiteRT when no GPU is visible; with a GPU, TensorFlow is faster and is used.

A conversion takes seconds, so each one is cached on disk (under `$CATDOG_CACHE_DIR/litert`) by a key the caller derives from the weights, and used
again by every later training or prediction with the same weights.

    forward = lite.LiteModel(lite.cached_conversion(model, key))
    outputs = forward(images)  # float32 batch in, NumPy out
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from catdog.paths import cache_dir, write_bytes_atomic

DISABLE_VARIABLE = "CATDOG_LITERT"  # "0" keeps everything on TensorFlow


def available() -> bool:
    """True when LiteRT should run inference here: a CPU-only machine with ai-edge-litert installed.

    `CATDOG_LITERT=0` turns it off (TensorFlow then runs everything, as the tutorial does).
    """
    return os.environ.get(DISABLE_VARIABLE, "1") != "0" and _cpu_only_with_litert()


@functools.cache
def _cpu_only_with_litert() -> bool:
    # Decided without importing TensorFlow (seconds and hundreds of MB), so a prediction with a
    # cached conversion never loads it: a visible NVIDIA device means TensorFlow's GPU is faster.
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return True
    return not any(Path("/dev").glob("nvidia[0-9]*"))


def convert(model, calibration: np.ndarray | None = None) -> bytes:
    """`model` converted to a LiteRT flatbuffer (the format of a `.tflite` file).

    The inference graph (`training=False`: augmentation layers pass images through) is converted
    with its weights frozen in as constants: the same flatbuffer as
    `TFLiteConverter.from_keras_model` gives, in a fraction of its time. Float32 throughout,
    unless `calibration` (a batch of typical inputs) is given: then weights and activations are
    quantized to int8 (post-training, ranges from those inputs), with float32 in and out.
    """
    import tensorflow as tf

    inference = tf.function(
        lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="images")],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([inference.get_concrete_function()], model)
    # The converter freezes the weights itself, without its default detour through a SavedModel;
    # a graph frozen beforehand would be frozen a second time (README, "Speed").
    converter.experimental_lower_to_saved_model = False
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in np.asarray(calibration, np.float32))
    return converter.convert()


def cached_path(key: str) -> Path:
    """Where the conversion cached under `key` lives (it may not exist yet)."""
    return cache_dir() / "litert" / f"{key}.tflite"


def cached_conversion(model, key: str, calibration: Callable[[], np.ndarray] | None = None) -> bytes:
    """`convert(model, calibration())`, read from the disk cache when a conversion under `key` is there.

    `key` must change whenever the model's weights or architecture do, or whether it is
    quantized; the file is written to a temporary name and renamed, so a reader never sees half
    of it. `calibration` is called only when a conversion is made.
    """
    path = cached_path(key)
    if path.is_file():
        try:
            return path.read_bytes()
        except OSError:
            pass  # unreadable: convert again and replace it
    content = convert(model, None if calibration is None else calibration())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, content)
    return content


class LiteModel:
    """A LiteRT model called like a function: a float32 batch in, its first output as NumPy out.

    One interpreter per instance, resized when the batch size changes; calls are serialized by a
    lock because an interpreter is not thread-safe (Streamlit serves sessions from threads).
    """

    def __init__(self, content: bytes, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_content=content, num_threads=num_threads or os.cpu_count() or 1)
        self._input = self._interpreter.get_input_details()[0]
        self._output_index = self._interpreter.get_output_details()[0]["index"]
        self._batch = None
        self._lock = threading.Lock()

    def __call__(self, images) -> np.ndarray:
        images = np.ascontiguousarray(images, np.float32)
        with self._lock:
            if self._batch != len(images):
                self._interpreter.resize_tensor_input(self._input["index"], [len(images), *images.shape[1:]])
                self._interpreter.allocate_tensors()
                self._batch = len(images)
            self._interpreter.set_tensor(self._input["index"], images)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output_index).copy()
