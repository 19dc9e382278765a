"""Batch prediction at scale: `python -m catdog predict` over many photos, timed from the command's
start, with its peak resident memory, as a user runs it.

    python -m catdog bench-predict RUN_DIR --data DIR [--counts 1000 20000] [--json]

The first count uses the dataset's own photos (repeated when it has fewer); larger counts are
generated small (64x64 JPEGs), since only memory is measured there: it must not grow with the
number of images. Each count runs twice, so the second run shows a warm LiteRT conversion.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from catdog.data import load_dataset
from catdog.errors import CatdogError
from catdog.runs import load_run

SMALL_SIDE = 64  # generated photos for the large counts


def run_scale_bench(run_dir: str | Path, data: str | Path | None, counts=(1000, 20000), say=print) -> list[dict]:
    """One row per (count, attempt): images, seconds, images a second, peak memory, engine."""
    run = load_run(run_dir)
    photos = list(load_dataset(data).train.paths)
    if not photos:
        raise CatdogError("the dataset has no training images to predict.")
    rows = []
    with tempfile.TemporaryDirectory(prefix="catdog-scale-") as scratch:
        for index, count in enumerate(counts):
            folder = Path(scratch) / f"photos-{count}"
            (_copy_photos if index == 0 else _generate_photos)(photos, folder, count)
            for attempt in ("first", "second"):
                row = {"images": count, "photos": "dataset" if index == 0 else f"generated {SMALL_SIDE}x{SMALL_SIDE}"}
                row.update(attempt=attempt, **_timed_predict(run.path, folder, Path(scratch) / f"out-{count}-{attempt}.csv"))
                say(format_row(row))
                rows.append(row)
            shutil.rmtree(folder)
    return rows


def format_row(row: dict) -> str:
    return (
        f"{row['images']:>6} images ({row['photos']}, {row['attempt']} run): {row['seconds']:.1f} s, "
        f"{row['images_per_second']:.0f} a second, peak memory {row['peak_rss_mb']:.0f} MB, {row['engine']}"
    )


def _timed_predict(run_dir: Path, folder: Path, output: Path) -> dict:
    command = [sys.executable, "-m", "catdog", "predict", str(run_dir), str(folder), "--output", str(output), "--json"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)  # the child's own peak resident memory
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    out, err = process.stdout.read().decode(), process.stderr.read().decode()
    if process.returncode not in (0, 1):
        raise CatdogError(f"predict failed ({process.returncode}): {err.strip()[-500:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    return {
        "seconds": round(seconds, 2),
        "images_per_second": round(summary["images"] / seconds, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "engine": summary["engine"],
        "failed": summary["failed"],
    }


def _copy_photos(photos: list[str], folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for index in range(count):
        source = photos[index % len(photos)]
        shutil.copyfile(source, folder / f"{index:06d}{Path(source).suffix}")


def _generate_photos(photos: list[str], folder: Path, count: int) -> None:
    # A few hundred distinct small photos, written again under new names: decoding costs the same.
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    distinct = [rng.integers(0, 256, (SMALL_SIDE, SMALL_SIDE, 3), dtype=np.uint8) for _ in range(256)]
    for index in range(count):
        sub = folder / f"{index // 1000:03d}"
        sub.mkdir(exist_ok=True)
        Image.fromarray(distinct[index % len(distinct)]).save(sub / f"{index:06d}.jpg", quality=85)
