"""The tutorial's dataset: downloaded once into Keras' cache, as the tutorial does, and found again.

folder = fetch_tutorial_dataset(progress)   # .../cats_and_dogs_filtered
"""

from __future__ import annotations

import os
import shutil
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from catdog.errors import CatdogError
from catdog.paths import cache_dir, keras_home
from catdog.uploads import COMPLETE_MARKER

# Known homes of the tutorial's archive, tried in turn: Google's ML education material has been
# moving its datasets from storage.googleapis.com to download.mlcc.google.com.
TUTORIAL_URLS = (
    "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",
    "https://download.mlcc.google.com/mledu-datasets/cats_and_dogs_filtered.zip",
)
TUTORIAL_ARCHIVE = "cats_and_dogs.zip"  # the file name the tutorial passes to get_file
_CHUNK = 256 * 1024

Progress = Callable[[int, int, str], None]  # (done, total, what) -> None


def fetch_tutorial_dataset(progress: Progress | None = None, origins: tuple[str, ...] = TUTORIAL_URLS) -> Path:
    """Return the tutorial's `cats_and_dogs_filtered` folder, downloading it on first use.

    The archive lands where the tutorial's `keras.utils.get_file` puts it (the Keras cache) and
    Keras extracts it there, into `cats_and_dogs_extracted/`; a marker written after a complete
    extraction tells a finished copy from an interrupted one. Each URL of `origins` is tried in
    turn until one gives a complete archive.

    Args:
        progress: called as `progress(bytes_done, bytes_total, "download")` while downloading.
        origins: URLs of the archive (tests point these at a local server).

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
        return _extract(archive, cache_dir())

    if archive.exists() and not _is_complete_zip(archive):
        archive.unlink()  # an interrupted download; Keras would take it for complete
    extracted = datasets / f"{stem}_extracted"
    (extracted / COMPLETE_MARKER).unlink(missing_ok=True)
    try:
        datasets.mkdir(parents=True, exist_ok=True)  # else Keras silently uses /tmp/.keras
    except OSError as error:
        raise CatdogError(
            f"cannot create the Keras cache folder {datasets} ({error.strerror}); set KERAS_HOME to a writable folder."
        ) from None
    if not archive.exists():
        _download_from_any(origins, archive, progress)
    return _extract(archive, keras_home())


def _download_from_any(origins, archive: Path, progress: Progress | None) -> None:
    problems = []
    for origin in origins:
        try:
            _download(origin, archive, progress)
            return
        except (OSError, ValueError, CatdogError) as error:  # urllib's errors are OSErrors
            problems.append(f"{origin}: {error}")
    raise CatdogError(
        f"Could not download the tutorial dataset ({'; '.join(problems)}). If this machine is "
        "offline, point catdog at a local copy: pass --data DIR (a folder with train/ and "
        "validation/, or one folder of class folders), or set KERAS_HOME to a Keras cache "
        f"that holds datasets/{TUTORIAL_ARCHIVE}."
    )


def _download(origin: str, archive: Path, progress: Progress | None) -> None:
    """Fetch `origin` into a temporary file beside `archive`; rename it into place once it is a
    complete zip, so a cut-off or wrong download never looks like the archive."""
    temporary = archive.with_name(f".{archive.name}.tmp-{os.getpid()}")
    try:
        with urllib.request.urlopen(origin, timeout=30) as response, open(temporary, "wb") as sink:
            total, done = int(response.headers.get("Content-Length") or 0), 0
            while chunk := response.read(_CHUNK):
                sink.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, max(total, done), "download")
        if not _is_complete_zip(temporary):
            raise CatdogError("what it sent is not a complete zip archive")
        os.replace(temporary, archive)
    finally:
        temporary.unlink(missing_ok=True)


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


def _extract(archive: Path, home: Path) -> Path:
    """Extract the archive as the tutorial's `get_file(..., extract=True)` does, into the Keras-style
    cache `home` (copied there first when it lives elsewhere), and mark the extraction complete."""
    import keras

    target = home / "datasets" / TUTORIAL_ARCHIVE
    if archive != target:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive, target)
    # The archive is in place, so get_file downloads nothing; Keras' extractor filters unsafe paths.
    keras.utils.get_file(TUTORIAL_ARCHIVE, origin=TUTORIAL_URLS[0], extract=True, cache_dir=str(home))
    extracted = target.with_name(f"{TUTORIAL_ARCHIVE.split('.')[0]}_extracted")
    folder = extracted / "cats_and_dogs_filtered"
    if not (folder / "train").is_dir():
        raise CatdogError(f"The archive did not contain cats_and_dogs_filtered/train; delete {archive} and try again.")
    (extracted / COMPLETE_MARKER).write_text("extracted\n")
    return folder
