"""Plain helpers for the tests: generated images and datasets a small CNN can learn, and the CLI.

Nothing here needs ../shared or the network. Fixtures live in conftest.py files; these are
functions, imported by the tests that use them.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data" / "cats_and_dogs_filtered"
SHARED_KERAS = SHARED / "keras"


def make_image(label: int, rng: np.random.Generator, size: int = 32) -> Image.Image:
    """A noisy image a small CNN can tell apart: class 0 warm (red), class 1 cool (blue),
    with a bright square in a random place so the images are not all alike."""
    base = np.array([200, 60, 40] if label == 0 else [40, 70, 200], dtype=np.float64)
    pixels = base + rng.normal(0, 30, (size, size, 3))
    corner = rng.integers(0, size // 2, 2)
    pixels[corner[0] : corner[0] + size // 4, corner[1] : corner[1] + size // 4] += 60
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_class_folders(root: Path, per_class: int, class_names=("cats", "dogs"), seed: int = 0, size: int = 32) -> Path:
    """Write `per_class` JPEGs into root/<class>/ for each class; returns root."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(class_names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            make_image(label % 2, rng, size).save(folder / f"{name}.{index}.jpg", quality=92)
    return root


def write_tutorial_layout(root: Path, train_per_class: int = 40, validation_per_class: int = 24, size: int = 32) -> Path:
    """A miniature cats_and_dogs_filtered: train/ and validation/, each with cats/ and dogs/."""
    write_class_folders(root / "train", train_per_class, seed=1, size=size)
    write_class_folders(root / "validation", validation_per_class, seed=2, size=size)
    return root


def png_bytes(label: int, size: int = 32, seed: int = 7) -> bytes:
    """A photo of class `label` like the tiny datasets' (0 red-ish, 1 blue-ish), as PNG bytes."""
    buffer = io.BytesIO()
    make_image(label, np.random.default_rng(seed), size).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(label: int, size: int = 48, seed: int = 7) -> bytes:
    buffer = io.BytesIO()
    make_image(label, np.random.default_rng(seed), size).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def run_cli(*args, env=None, timeout=600, cwd=REPO):
    """Run `python -m catdog ARGS` as a user would (from `cwd`); returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "catdog", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tiny_config(**changes):
    """Settings for a quick run on the tiny datasets: Model 3 at 32x32, 4 epochs, no downloads."""
    from catdog.config import RunConfig

    # Exact frozen features: "auto" would quantize them on a CPU with VNNI, a machine's choice.
    values = dict(
        model="model3", epochs=4, batch_size=8, image_size=(32, 32), seed=1, pretrained=False, feature_precision="float32"
    )
    values.update(changes)
    return RunConfig(**values)
