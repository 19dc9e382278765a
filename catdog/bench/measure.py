"""Measurements around a trained Model 4: prediction latency and memory.

    prediction = measure_prediction(run, dataset, folder)
    memory = measure_memory(data, epochs=20, image_size=(160, 160), batch_size=32, pretrained=True, fast=True)

Prediction latency is the median end-to-end time of `catdog.predict.Predictor` with the model
loaded: on TensorFlow, then on LiteRT after its one timed conversion. Memory is the peak resident
memory of a fresh process training Model 4, and the growth of its resident memory over several
trainings in that one process.
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from catdog.bench.children import peak_rss_mb, rss_mb, run_in_child
from catdog.config import RunConfig
from catdog.data import load_dataset
from catdog.predict import Predictor
from catdog.train import train


def measure_prediction(run, dataset, folder: Path, repeats: int = 21) -> dict:
    """Median end-to-end latency of `Predictor.predict` (read, decode, resize, model).

    Cases: one 500x375 JPEG from the validation set (the dataset's typical photo), one
    12-megapixel JPEG (4000x3000, sensor-like noise, EXIF orientation, as a phone writes it) and
    a batch of 32 validation photos in one call.
    """
    tick = time.perf_counter()
    predictor = Predictor(run)
    load_seconds = time.perf_counter() - tick
    photos = list(dataset.validation.paths)
    typical = next((path for path in photos[:400] if Image.open(path).size == (500, 375)), None)
    if typical is None:  # another dataset: make one
        typical = str(folder / "500x375.jpg")
        Image.open(photos[0]).convert("RGB").resize((500, 375)).save(typical, quality=90)
    phone = str(folder / "phone-12mp.jpg")
    rng = np.random.default_rng(0)
    big = np.asarray(Image.open(photos[1]).convert("RGB").resize((4000, 3000), Image.BICUBIC), np.float32)
    big += rng.normal(0, 6, big.shape).astype(np.float32)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees, as a phone held upright writes it
    Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).save(phone, quality=92, exif=exif)
    batch = photos[:32]

    def median_ms(sources, count):
        predictor.predict(sources)  # warm-up: first-call tracing is not latency
        predictor.predict(sources)
        times = []
        for _ in range(count):
            tick = time.perf_counter()
            predictor.predict(sources)
            times.append((time.perf_counter() - tick) * 1000)
        return {
            "median_ms": round(statistics.median(times), 2),
            "min_ms": round(min(times), 2),
            "max_ms": round(max(times), 2),
            "repeats": count,
        }

    def every_case():
        return {
            "one_500x375_jpeg": {"file": typical, **median_ms([typical], repeats)},
            "one_12mp_jpeg": {"file_megabytes": round(os.path.getsize(phone) / 1e6, 2), **median_ms([phone], repeats)},
            "batch_of_32_photos": median_ms(batch, max(5, repeats // 3)),
        }

    # TensorFlow first (a model as loaded), then the engine the dashboard switches to: LiteRT
    # where it applies, after its one conversion (timed; cached for every later load).
    tensorflow = every_case()
    tick = time.perf_counter()
    converted = predictor.use_litert()
    conversion_seconds = time.perf_counter() - tick
    return {
        "model_load_seconds": round(load_seconds, 2),
        "engine": predictor.engine,
        **(every_case() if converted else tensorflow),
        "tensorflow": tensorflow,
        "litert_conversion_seconds": round(conversion_seconds, 2) if converted else None,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def measure_memory(
    data, epochs, image_size, batch_size, pretrained, fast, trainings: int = 5, progress: Callable[[str], None] | None = None
) -> dict:
    """Resident memory of a fresh process that trains Model 4 `trainings` times in a row.

    The child starts with an empty feature cache, so the first training (the peak) includes
    feature extraction; the later ones read the cache, as a dashboard user's next runs do.
    """
    settings = {
        "data": None if data is None else str(data),
        "epochs": epochs,
        "image_size": list(image_size),
        "batch_size": batch_size,
        "pretrained": pretrained,
        "fast": fast,
        "trainings": trainings,
    }
    with tempfile.TemporaryDirectory(prefix="catdog-memory-") as folder:
        result = run_in_child(
            _memory_child,
            settings,
            failure="the memory measurement",
            environ={"CATDOG_CACHE_DIR": str(Path(folder) / "cache"), "CATDOG_RUNS_DIR": str(Path(folder) / "runs")},
            timeout=3600,
        )
    if progress is not None:
        progress(
            f"[bench]   peak {result['peak_rss_gb']:.2f} GB; after each training {', '.join(f'{v:.0f}' for v in result['rss_mb_after_each'])} MB"
        )
    return result


def _memory_child(settings: dict) -> dict:
    # Runs in the fresh process `measure_memory` starts.
    dataset = load_dataset(settings["data"], batch_size=settings["batch_size"])
    config = RunConfig(
        model="model4",
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        image_size=tuple(settings["image_size"]),
        data=settings["data"],
        fast=settings["fast"],
        pretrained=settings["pretrained"],
    )
    after = []
    peak_first = None
    for _ in range(settings["trainings"]):
        train(config, dataset=dataset)
        gc.collect()
        after.append(rss_mb())
        if peak_first is None:
            peak_first = peak_rss_mb()
    keras.backend.clear_session()
    growth = 100 * (after[-1] - after[0]) / after[0]
    return {
        "peak_rss_gb": round(peak_first / 1024, 3),
        "peak_rss_gb_all": round(peak_rss_mb() / 1024, 3),
        "rss_mb_after_each": [round(value, 1) for value in after],
        "growth_percent_first_to_last": round(growth, 2),
        "trainings": settings["trainings"],
        "epochs": settings["epochs"],
    }
