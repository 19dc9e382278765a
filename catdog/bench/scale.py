"""catdog past the tutorial's size, measured as a user runs it: a command's wall time from its start
and its peak resident memory.

    python -m catdog bench-predict RUN_DIR --data DIR [--counts 1000 20000] [--json]
    python -m catdog bench-data [--images 100000] [--json]

`bench-predict` runs `predict` over many photos. `bench-data` checks and splits a folder of many
small generated images (`catdog data`), which decodes every file once.

The first count uses the dataset's own photos (repeated when it has fewer); larger counts are
generated small (64x64 JPEGs), since only memory is measured there: it must not grow with the
number of images. Each count runs twice, so the second run shows a warm LiteRT conversion.
"""

from __future__ import annotations

import json
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

# Runs the command from a small Python process and reports its peak memory last on stderr: Linux
# counts a forked child's peak from its parent's memory, and this benchmark's parent holds Keras.
_MEASURED = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-m', 'catdog', *sys.argv[1:]])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(f'peak_kib {usage.ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


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


def run_data_bench(count: int = 100_000, say=print) -> dict:
    """Check and split a generated dataset of `count` small images; seconds and peak memory."""
    with tempfile.TemporaryDirectory(prefix="catdog-data-scale-") as scratch:
        root = Path(scratch) / "pets"
        started = time.perf_counter()
        for label, name in enumerate(("cats", "dogs")):
            _generate_photos([], root / name, count // 2, seed=label)
        say(f"wrote {count:,} images of {SMALL_SIDE}x{SMALL_SIDE} in {time.perf_counter() - started:.0f} s")
        summary, seconds, peak = _timed_command(["data", "--data", str(root), "--json"])
    row = {
        "images": count,
        "seconds": round(seconds, 1),
        "seconds_per_10000": round(seconds / count * 10_000, 2),
        "peak_rss_mb": round(peak, 1),
        "counts": summary["counts"],
    }
    say(
        f"checked and split {count:,} images in {seconds:.1f} s ({row['seconds_per_10000']} s per 10,000), peak memory {peak:.0f} MB"
    )
    return row


def format_row(row: dict) -> str:
    return (
        f"{row['images']:>6} images ({row['photos']}, {row['attempt']} run): {row['seconds']:.1f} s, "
        f"{row['images_per_second']:.0f} a second, peak memory {row['peak_rss_mb']:.0f} MB, {row['engine']}"
    )


def _timed_predict(run_dir: Path, folder: Path, output: Path) -> dict:
    summary, seconds, peak = _timed_command(["predict", str(run_dir), str(folder), "--output", str(output), "--json"], ok=(0, 1))
    return {
        "seconds": round(seconds, 2),
        "images_per_second": round(summary["images"] / seconds, 1),
        "peak_rss_mb": round(peak, 1),
        "engine": summary["engine"],
        "failed": summary["failed"],
    }


def _timed_command(arguments: list[str], ok=(0,)) -> tuple[dict, float, float]:
    """Run `python -m catdog ARGUMENTS`: (its last JSON line, wall seconds, peak resident MB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _MEASURED, *arguments], stdout=out, stderr=err)
        seconds = time.perf_counter() - started
        out.seek(0), err.seek(0)
        out, err = out.read().decode(), err.read().decode()
    *messages, peak_line = err.strip().splitlines() or [""]
    if done.returncode not in ok or not peak_line.startswith("peak_kib "):
        raise CatdogError(f"{arguments[0]} failed ({done.returncode}): {chr(10).join(messages)[-500:]}")
    peak = int(peak_line.split()[1]) / 1024
    return json.loads(out.strip().splitlines()[-1]), seconds, peak


def _copy_photos(photos: list[str], folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for index in range(count):
        source = photos[index % len(photos)]
        shutil.copyfile(source, folder / f"{index:06d}{Path(source).suffix}")


def _generate_photos(photos: list[str], folder: Path, count: int, seed: int = 0) -> None:
    # A few hundred distinct small photos, written again under new names: decoding costs the same.
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    distinct = [rng.integers(0, 256, (SMALL_SIDE, SMALL_SIDE, 3), dtype=np.uint8) for _ in range(256)]
    for index in range(count):
        sub = folder / f"{index // 1000:03d}"
        sub.mkdir(exist_ok=True)
        Image.fromarray(distinct[index % len(distinct)]).save(sub / f"{index:06d}.jpg", quality=85)
