"""The tutorial's dataset: downloaded once into Keras' cache, as the tutorial does, and found again.

    folder = fetch_tutorial_dataset(progress)   # .../cats_and_dogs_filtered
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

from catdog.errors import CatdogError
from catdog.paths import cache_dir, keras_home
from catdog.uploads import COMPLETE_MARKER

TUTORIAL_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
TUTORIAL_ARCHIVE = "cats_and_dogs.zip"  # the file name the tutorial passes to get_file

Progress = Callable[[int, int, str], None]  # (done, total, what) -> None


def fetch_tutorial_dataset(progress: Progress | None = None, origin: str = TUTORIAL_URL) -> Path:
    """Return the tutorial's `cats_and_dogs_filtered` folder, downloading it on first use.

    Uses Keras' own downloader and cache, as the tutorial does. Keras extracts next to the
    archive, into `cats_and_dogs_extracted/`; a marker written after a complete extraction tells
    a finished copy from an interrupted one.

    Args:
        progress: called as `progress(bytes_done, bytes_total, "download")` while downloading.
        origin: URL of the archive (tests point this at a local server).

    Returns:
        The folder holding `train/` and `validation/`.
    """
    found = cached_tutorial_dataset()
    if found is not None:
        return found
    datasets = keras_home() / "datasets"
    stem = TUTORIAL_ARCHIVE.split(".")[0]

    archive = datasets / TUTORIAL_ARCHIVE
    if archive.exists() and not os.access(datasets, os.W_OK):
        # A read-only Keras cache that holds the archive (a shared copy): extract into ours.
        if not _is_complete_zip(archive):
            raise CatdogError(f"{archive} is incomplete or corrupt; delete it and try again.")
        extracted = cache_dir() / "datasets" / f"{stem}_extracted"
        _extract_zip(archive, extracted)
        return extracted / "cats_and_dogs_filtered"

    if archive.exists() and not _is_complete_zip(archive):
        # An interrupted download left a partial file; Keras would take it for complete.
        archive.unlink()
    extracted = datasets / f"{stem}_extracted"
    (extracted / COMPLETE_MARKER).unlink(missing_ok=True)
    try:
        # Keras silently switches to /tmp/.keras when the cache folder does not exist yet.
        datasets.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CatdogError(
            f"cannot create the Keras cache folder {datasets} ({error.strerror}); set KERAS_HOME to a writable folder."
        ) from None
    try:
        import keras

        with _download_progress(progress):
            keras.utils.get_file(TUTORIAL_ARCHIVE, origin=origin, extract=True, cache_dir=str(keras_home()))
    except Exception as error:  # network errors come as bare Exception from Keras
        if archive.exists() and not _is_complete_zip(archive):
            archive.unlink()
        raise CatdogError(
            f"Could not download the tutorial dataset from {origin} ({error}). If this machine is "
            "offline, point catdog at a local copy: pass --data DIR (a folder with train/ and "
            "validation/, or one folder of class folders), or set KERAS_HOME to a Keras cache "
            f"that holds datasets/{TUTORIAL_ARCHIVE}."
        ) from None
    folder = extracted / "cats_and_dogs_filtered"
    if not (folder / "train").is_dir():
        raise CatdogError(f"The downloaded archive did not contain cats_and_dogs_filtered/train; delete {archive} and try again.")
    (extracted / COMPLETE_MARKER).write_text("extracted\n")
    return folder


def cached_tutorial_dataset() -> Path | None:
    """The tutorial's dataset folder when a complete extracted copy is already there, else None.

    Never downloads and never imports Keras, so the dashboard can ask on its first page.
    """
    stem = TUTORIAL_ARCHIVE.split(".")[0]
    for extracted in (keras_home() / "datasets" / f"{stem}_extracted", cache_dir() / "datasets" / f"{stem}_extracted"):
        if (extracted / COMPLETE_MARKER).exists():
            return extracted / "cats_and_dogs_filtered"
    return None


def _is_complete_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def _extract_zip(archive: Path, destination: Path) -> None:
    from keras.utils import file_utils  # noqa: PLC0415  (Keras' extractor filters unsafe paths)

    destination.mkdir(parents=True, exist_ok=True)
    file_utils.extract_archive(str(archive), str(destination), "zip")
    (destination / COMPLETE_MARKER).write_text("extracted\n")


@contextlib.contextmanager
def _download_progress(progress: Progress | None):
    """Forward Keras' download progress to `progress` as well as its console bar.

    `keras.utils.get_file` takes no progress callback; it calls `urlretrieve` with its own hook,
    so we wrap that function for the duration of the download and chain the hooks.
    """
    if progress is None:
        yield
        return
    from keras.src.utils import file_utils

    original = file_utils.urlretrieve

    def urlretrieve(url, filename, reporthook=None):
        def hook(block_number, block_size, total_size):
            if reporthook is not None:
                reporthook(block_number, block_size, total_size)
            done = block_number * block_size
            progress(min(done, total_size) if total_size > 0 else done, max(total_size, 0), "download")

        return original(url, filename, hook)

    file_utils.urlretrieve = urlretrieve
    try:
        yield
    finally:
        file_utils.urlretrieve = original
