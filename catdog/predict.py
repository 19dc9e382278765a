"""Prediction: load a run and classify images from paths, bytes or PIL images.

    predictor = Predictor.from_run("runs/20261125-101500-model4-3f2a")
    predictor.predict(["my_dog.jpg"])[0].label  # "dogs"

Images go through `catdog.images.load_image`, the same decode and resize as training. A run that
keeps a temperature (`catdog.calibration`) predicts calibrated probabilities; `tta=True` averages
each image's probabilities with its mirror image's (test-time augmentation).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from catdog import calibration, lite, runs
from catdog.errors import CatdogError
from catdog.images import load_image
from catdog.models import probabilities

BATCH_SIZE = 32  # images per call into the model: big enough to keep it busy, small in memory
DECODE_THREADS = min(4, os.cpu_count() or 1)  # Pillow releases the GIL while decoding


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The predicted class of one image, or why it could not be read."""

    source: str
    label: str | None
    probabilities: dict[str, float]
    error: str | None = None
    calibrated: bool = False  # the run's kept temperature scaled the probabilities
    tta: bool = False  # averaged with the mirror image's

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"path": self.source, "error": self.error}
        extra = {**({"calibrated": True} if self.calibrated else {}), **({"tta": True} if self.tta else {})}
        return {"path": self.source, "label": self.label, "probabilities": self.probabilities, **extra}


class Predictor:
    """A loaded run, ready to classify images (inference only; safe to share between threads).

    Predictions run on TensorFlow, or on LiteRT once `use_litert()` has converted the model
    (faster on a CPU-only machine, see `catdog.lite`). A conversion made earlier for the same
    model file is picked up at load, and then TensorFlow is not even imported until `model` (the
    Keras model, for Grad-CAM and evaluation) is first used.
    """

    def __init__(self, run: runs.Run):
        if not run.has_model:
            runs.load_model(run)  # raises the message that says what to do
        self.run = run
        self.class_names = run.class_names
        self.image_size = tuple(run.config.image_size)
        self.temperature = calibration.load_temperature(run.path)  # None: the model's own probabilities
        self._loading = threading.Lock()
        self._keras = self._tensorflow = self._litert = None
        cached = lite.cached_path(self._litert_key())
        if lite.available() and cached.is_file():
            with contextlib.suppress(Exception):  # an unreadable conversion: TensorFlow predicts instead
                self._litert = lite.LiteModel(cached.read_bytes())
        if self._litert is None:
            self._load_keras()  # a damaged model file fails here, at load, not at the first photo

    @property
    def model(self):
        """The run's Keras model (loaded on first use when LiteRT predicts)."""
        return self._load_keras()

    def _load_keras(self):
        with self._loading:
            if self._keras is None:
                import tensorflow as tf

                model = runs.load_model(self.run)
                # One traced graph for every batch size: far less overhead per call than model.predict.
                self._tensorflow = tf.function(
                    lambda images: model(images, training=False),
                    input_signature=[tf.TensorSpec((None, *self.image_size, 3), tf.float32)],
                    reduce_retracing=True,
                )
                self._keras = model
            return self._keras

    @property
    def engine(self) -> str:
        """Which engine predicts now: "LiteRT" or "TensorFlow"."""
        return "LiteRT" if self._litert is not None else "TensorFlow"

    def use_litert(self) -> bool:
        """Predict with LiteRT from now on, converting the model once (cached on disk).

        Returns False, changing nothing, where LiteRT is not the faster engine (a GPU is visible,
        or `CATDOG_LITERT=0`) or the model does not convert."""
        if self._litert is not None:
            return True
        if not lite.available():
            return False
        try:
            self._litert = lite.LiteModel(lite.cached_conversion(self.model, self._litert_key()))
        except Exception:  # noqa: BLE001 - any converter failure leaves TensorFlow predicting
            return False
        return True

    def _litert_key(self) -> str:
        model_file = self.run.path / runs.MODEL_FILE
        stat = model_file.stat()
        stamp = f"{model_file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
        return "model-" + hashlib.sha256(stamp.encode()).hexdigest()[:32]

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Predictor:
        """Load the run in `run_dir`."""
        return cls(runs.load_run(run_dir))

    @property
    def calibrated(self) -> bool:
        """Whether predictions are scaled by a temperature the run keeps."""
        return self.temperature is not None

    def predict_arrays(self, images: np.ndarray, tta: bool = False) -> np.ndarray:
        """Probabilities (n, classes) for uint8 images already at the model's size.

        Args:
            images: (n, height, width, 3) or one (height, width, 3) image.
            tta: average with the mirror images' probabilities (one call of twice the batch).
        """
        images = np.asarray(images, np.float32)
        if images.ndim == 3:
            images = images[None]
        if tta:
            images = np.concatenate([images, images[:, :, ::-1]])
        litert = self._litert  # set once by another thread at most; read it once
        if litert is not None:
            scores = probabilities(litert(images))
        else:
            self._load_keras()
            scores = probabilities(self._tensorflow(images).numpy())
        if tta:
            half = len(scores) // 2
            scores = (scores[:half] + scores[half:]) / 2
        return scores if self.temperature is None else calibration.apply_temperature(scores, self.temperature)

    def predict(self, sources, names=None, batch_size: int = BATCH_SIZE, tta: bool = False) -> list[Prediction]:
        """Classify each source; an unreadable one gets an `error` and the rest still work.

        Args:
            sources: paths, bytes, binary file objects or PIL images.
            names: how to call each source in the results (default: its path or position).
            batch_size: images decoded and sent through the model at a time.
            tta: test-time augmentation, see `predict_arrays` (default False).
        """
        return list(self.predict_stream(sources, names, batch_size, tta))

    def predict_stream(self, sources, names=None, batch_size: int = BATCH_SIZE, tta: bool = False) -> Iterator[Prediction]:
        """`predict` as a stream: results in order, as each batch is done, for any number of sources.

        Decoding runs on a few threads one batch ahead of the model, so memory holds about two
        batches whatever the number of images (with `tta`, the model's batch is twice as big).
        """
        if batch_size < 1:
            raise CatdogError(f"batch size must be at least 1, got {batch_size}.")
        named = zip(sources, names) if names is not None else ((source, _name(source, i)) for i, source in enumerate(sources))
        with concurrent.futures.ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
            pending = collections.deque()
            for source, name in named:
                pending.append((name, pool.submit(_decode, source, self.image_size)))
                if len(pending) >= 2 * batch_size:  # one batch decoding while the other is predicted
                    yield from self._predict_batch([pending.popleft() for _ in range(batch_size)], tta)
            while pending:
                yield from self._predict_batch([pending.popleft() for _ in range(min(batch_size, len(pending)))], tta)

    def _predict_batch(self, batch, tta: bool) -> list[Prediction]:
        decoded = [(name, future.result()) for name, future in batch]
        images = [image for _, image in decoded if not isinstance(image, str)]
        scores = iter(self.predict_arrays(np.stack(images), tta) if images else ())
        results = []
        for name, image in decoded:
            if isinstance(image, str):
                results.append(Prediction(name, None, {}, error=image))
                continue
            row = next(scores)
            results.append(
                Prediction(
                    name,
                    self.class_names[int(row.argmax())],
                    {c: float(p) for c, p in zip(self.class_names, row)},
                    calibrated=self.calibrated,
                    tta=tta,
                )
            )
        return results


def _name(source, index: int) -> str:
    return str(source) if isinstance(source, (str, Path)) else f"image {index + 1}"


def _decode(source, image_size):
    """The decoded image, or the reason it cannot be read (a string)."""
    try:
        return load_image(source, image_size)
    except CatdogError as error:
        return str(error)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})."
