"""Batch prediction: every image under the files and folders given, streamed through a run's model,
each result written as soon as it is known.

    python -m catdog predict RUN_DIR ~/photos --output results.csv

Memory holds a couple of batches whatever the number of images, and a run that is killed keeps
every row it wrote (each is flushed). CSV rows are `path,label,<a probability per class>,error`;
a `.jsonl` output gets one JSON object per line.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from catdog.errors import CatdogError
from catdog.images import find_images
from catdog.predict import Prediction, Predictor

OUTPUT_SUFFIXES = (".csv", ".jsonl")
LITERT_WORTH_IT = 200  # images from which converting the model to LiteRT saves more than it costs


@dataclasses.dataclass
class Summary:
    """What a batch prediction did: counts and time."""

    images: int = 0
    failed: int = 0
    seconds: float = 0.0
    engine: str = ""
    temperature: float | None = None  # the run's kept temperature calibrated the probabilities
    tta: bool = False  # each image averaged with its mirror image

    def line(self) -> str:
        rate = self.images / self.seconds if self.seconds else 0.0
        failed = f"; {self.failed} could not be read (see their rows)" if self.failed else ""
        how = [f"calibrated probabilities (temperature {self.temperature:.2f})"] if self.temperature is not None else []
        how += ["test-time augmentation (image and mirror averaged)"] if self.tta else []
        how = "; " + ", ".join(how) if how else ""
        return f"{self.images:,} images in {self.seconds:.1f} s ({rate:.0f} a second, {self.engine}){how}{failed}"


def open_output(path: str | Path, class_names):
    """A writer for `path` by its suffix (.csv or .jsonl), with `write(prediction)` and `close()`."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise CatdogError(f"--output must end in .csv or .jsonl (got {path.name}); the suffix picks the format.")
    if not path.parent.is_dir():
        raise CatdogError(f"folder {path.parent} does not exist; create it or choose another --output.")
    return (_CsvWriter if path.suffix.lower() == ".csv" else _JsonLinesWriter)(path, class_names)


def predict_files(
    predictor: Predictor, paths, write, batch_size: int, progress: bool | None = None, tta: bool = False
) -> Summary:
    """Predict every image under `paths`, calling `write(prediction)` for each in order.

    Args:
        predictor: the loaded run.
        paths: files and folders (see `catdog.images.find_images`).
        write: called with each `Prediction` as soon as its batch is done.
        batch_size: images per call into the model.
        progress: show a bar with rate and ETA on stderr; None shows it when stderr is a terminal.
        tta: average each image's probabilities with its mirror image's (default False).
    """
    missing = [str(path) for path in paths if not Path(path).exists()]
    if missing and len(missing) == len(paths):
        raise CatdogError(f"no such file or folder: {', '.join(missing)}.")
    started = time.perf_counter()
    total = sum(1 for _ in find_images(paths))  # listing twice keeps memory flat; it is cheap next to decoding
    if total >= LITERT_WORTH_IT:
        predictor.use_litert()  # a one-time conversion (cached) that pays for itself over many images
    summary = Summary(engine=predictor.engine, temperature=predictor.temperature, tta=tta)
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=total, unit="image", disable=not show, file=sys.stderr, dynamic_ncols=True) as bar:
        for prediction in predictor.predict_stream(find_images(paths), batch_size=batch_size, tta=tta):
            write(prediction)
            summary.images += 1
            summary.failed += prediction.error is not None
            bar.update()
    summary.seconds = time.perf_counter() - started
    return summary


class _CsvWriter:
    def __init__(self, path: Path, class_names):
        self.class_names = list(class_names)
        self.handle = open(path, "w", newline="")
        self.rows = csv.writer(self.handle)
        self.rows.writerow(["path", "label", *self.class_names, "error"])

    def write(self, prediction: Prediction) -> None:
        chances = [f"{prediction.probabilities[name]:.6f}" if not prediction.error else "" for name in self.class_names]
        self.rows.writerow([prediction.source, prediction.label or "", *chances, prediction.error or ""])
        self.handle.flush()  # a killed run keeps every finished row

    def close(self) -> None:
        self.handle.close()


class _JsonLinesWriter:
    def __init__(self, path: Path, class_names):
        self.handle = open(path, "w")

    def write(self, prediction: Prediction) -> None:
        self.handle.write(json.dumps(prediction.to_dict()) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()
