"""Data: find or download a dataset, check its files, split it, and feed it to Keras.

The pipeline's first stage. A dataset is a folder of class folders, in one of two layouts:

* the tutorial's: `train/<class>/...` and `validation/<class>/...`;
* a single folder of class folders, split 80/20 into train/validation with a fixed seed.

In both, a fifth of the validation batches becomes the test set, as in the tutorial, but chosen
once from a seeded permutation so the test images are the same on every pass and every run.

Every image anywhere in catdog (training, samples, prediction) is decoded by `load_image`, so
training and serving resize identically.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import io
import os
import random
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from catdog.config import CatdogError, cache_dir

TUTORIAL_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
TUTORIAL_ARCHIVE = "cats_and_dogs.zip"  # the file name the tutorial passes to get_file
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
MAX_PIXELS = 100_000_000  # larger images are refused before decoding (decompression bombs)
VALIDATION_SHARE = 0.2  # single-folder datasets: share of each class held out for validation
TEST_BATCH_SHARE = 5  # the tutorial: test = validation batches // 5
MIN_IMAGES_PER_CLASS = 10  # readable images per class (all splits); fewer cannot train or be judged
_COMPLETE_MARKER = ".catdog-complete"

Progress = Callable[[int, int, str], None]  # (done, total, what) -> None


@dataclasses.dataclass(frozen=True)
class Split:
    """Image paths and integer labels of one split."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def class_counts(self, num_classes: int) -> list[int]:
        """Number of images of each class."""
        return np.bincount(np.asarray(self.labels, dtype=int), minlength=num_classes).tolist()


@dataclasses.dataclass(frozen=True)
class SkippedFile:
    """A file left out of the dataset, and why."""

    path: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A checked, split dataset: what every later stage works from."""

    root: Path
    layout: str  # "train/validation folders" or "one folder of class folders"
    class_names: tuple[str, ...]
    train: Split
    validation: Split
    test: Split
    skipped: tuple[SkippedFile, ...]

    def split(self, name: str) -> Split:
        """The split called `name`: train, validation or test."""
        if name not in ("train", "validation", "test"):
            raise CatdogError(f"unknown split {name!r}; use train, validation or test.")
        return getattr(self, name)

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class in each split: {split: {class name: count}}."""
        return {
            name: dict(zip(self.class_names, self.split(name).class_counts(len(self.class_names))))
            for name in ("train", "validation", "test")
        }

    def baseline_accuracy(self) -> float:
        """Accuracy of always guessing the most frequent training class (the tutorial's baseline)."""
        counts = self.train.class_counts(len(self.class_names))
        return max(counts) / sum(counts)

    def summary(self) -> dict:
        """A JSON-ready description for the CLI and the dashboard."""
        return {
            "root": str(self.root),
            "layout": self.layout,
            "class_names": list(self.class_names),
            "counts": self.counts(),
            "label_frequencies": {name: count / len(self.train) for name, count in self.counts()["train"].items()},
            "baseline_accuracy": self.baseline_accuracy(),
            "skipped": [dataclasses.asdict(item) for item in self.skipped],
        }


# ----------------------------------------------------------------------------- locate / download


def keras_home() -> Path:
    """Keras' cache directory, as Keras itself resolves it (`$KERAS_HOME`, default `~/.keras`)."""
    return Path(os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"))


def fetch_tutorial_dataset(progress: Progress | None = None, origin: str = TUTORIAL_URL) -> Path:
    """Return the tutorial's `cats_and_dogs_filtered` folder, downloading it on first use.

    Uses Keras' own downloader into the Keras cache, exactly as the tutorial does, and reuses the
    cache afterwards. Keras 3 extracts to `cats_and_dogs_extracted/` next to the archive (the
    tutorial's `dirname(path_to_zip)` arithmetic no longer finds it); a marker file written after
    a complete extraction tells a finished copy from an interrupted one.

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
    (extracted / _COMPLETE_MARKER).unlink(missing_ok=True)
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
    (extracted / _COMPLETE_MARKER).write_text("extracted\n")
    return folder


def cached_tutorial_dataset() -> Path | None:
    """The tutorial's dataset folder when a complete extracted copy is already there, else None.

    Never downloads and never imports Keras, so the dashboard can ask on its first page.
    """
    stem = TUTORIAL_ARCHIVE.split(".")[0]
    for extracted in (keras_home() / "datasets" / f"{stem}_extracted", cache_dir() / "datasets" / f"{stem}_extracted"):
        if (extracted / _COMPLETE_MARKER).exists():
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
    (destination / _COMPLETE_MARKER).write_text("extracted\n")


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


# ----------------------------------------------------------------------------- uploads and local folders

MAX_ZIP_FILES = 50_000  # entries in an uploaded dataset zip (the tutorial's has about 3,000)
MAX_ZIP_BYTES = 2 * 1024**3  # total uncompressed size of an uploaded dataset zip
_ZIP_CHUNK = 1024 * 1024


def extract_dataset_zip(
    archive,
    destination: str | Path | None = None,
    max_total_bytes: int = MAX_ZIP_BYTES,
    max_files: int = MAX_ZIP_FILES,
) -> Path:
    """Extract an uploaded zip of class folders safely, and return the folder it went into.

    Every entry is checked before anything is written: an entry that would land outside the
    folder (an absolute name, a drive letter, a `..` part), a symbolic link, or an encrypted
    entry refuses the whole archive, as does an archive with more than `max_files` files or more
    than `max_total_bytes` when uncompressed (a zip bomb). While extracting, the bytes actually
    written are counted too, so an entry that lies about its size cannot fill the disk. The
    archive is extracted into a hidden staging folder and renamed into place when complete, so
    a half-extracted upload is never used; the same bytes uploaded again reuse the folder.

    Args:
        archive: a path, the archive's bytes, or a binary file object (such as an upload).
        destination: the folder that receives one sub-folder per archive; default
            `$CATDOG_CACHE_DIR/uploads`.
        max_total_bytes: the most uncompressed bytes accepted (default 2 GiB).
        max_files: the most files accepted (default 50,000).

    Returns:
        The extracted folder, ready for `load_dataset`.

    Raises:
        CatdogError: the file is not a zip, is damaged, or breaks one of the rules above.
    """
    import hashlib
    import shutil

    payload = _archive_bytes(archive)
    destination = Path(destination) if destination is not None else cache_dir() / "uploads"
    final = destination / hashlib.sha256(payload).hexdigest()[:16]
    if (final / _COMPLETE_MARKER).exists():
        return final
    try:
        bundle = zipfile.ZipFile(io.BytesIO(payload))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError):
        raise CatdogError("the upload is not a readable zip file; zip the folder of class folders and upload it again.") from None
    with bundle:
        members = _checked_zip_members(bundle, max_total_bytes, max_files)
        destination.mkdir(parents=True, exist_ok=True)
        staging = destination / f".{final.name}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            written = 0
            top = staging.resolve()
            for info, parts in members:
                target = staging.joinpath(*parts)
                if not target.resolve().is_relative_to(top):  # belt and braces after the name checks
                    raise CatdogError(f"the zip entry {info.filename!r} points outside the folder; the archive was refused.")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                written += _copy_member(bundle, info, target, max_total_bytes - written)
            (staging / _COMPLETE_MARKER).write_text("extracted\n")
            if final.exists():  # an earlier, interrupted extraction of the same bytes
                shutil.rmtree(final)
            os.replace(staging, final)
        except CatdogError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError) as error:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(error, OSError) and error.errno == 28:
                raise CatdogError("the disk is full while extracting the upload; free some space and try again.") from None
            raise CatdogError(f"the zip file is damaged ({error}); create it again and upload it again.") from None
    return final


def extract_dataset_files(files, destination: str | Path | None = None) -> Path:
    """Save a folder uploaded from a browser (a list of (relative path, bytes)) as a dataset.

    Browsers send a folder upload as files named by their path inside the chosen folder
    ("pets/cats/1.jpg"). They are packed into an in-memory zip and go through
    `extract_dataset_zip`, so the same rules hold: no path may leave the folder, and the size and
    file-count limits apply.

    Returns:
        The folder holding the uploaded tree, ready for `load_dataset`.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        for name, payload in files:
            bundle.writestr(str(name).replace("\\", "/"), payload)
    return extract_dataset_zip(buffer.getvalue(), destination)


def confine_to_root(folder: str | Path, root: str | Path) -> Path:
    """The dataset folder `folder` resolved inside `root`, refusing anything that leaves it.

    Used by the dashboard, where anyone who can open the page can type a path: a relative path
    is taken inside `root`; an absolute path must already lie inside it; `..` parts are refused;
    and so is any symbolic link, at the folder itself or anywhere below it, that points outside
    `root` (the dataset's images are shown on the page).

    Args:
        folder: what the user typed, relative to `root` or absolute.
        root: the allowed tree (`$CATDOG_DATA_ROOT` in the dashboard).

    Returns:
        The resolved folder, which exists and is a directory.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise CatdogError(f"the data folder {root} does not exist; create it and put datasets in it, or set CATDOG_DATA_ROOT.")
    text = str(folder).strip()
    if not text:
        raise CatdogError(f"type the name of a dataset folder inside {root}.")
    candidate = Path(text).expanduser()
    if ".." in candidate.parts:
        raise CatdogError(f"'..' is not allowed in a dataset path; choose a folder inside {root}.")
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not resolved.is_relative_to(root):
        raise CatdogError(
            f"{text} is outside {root}; local datasets must be inside that folder (set CATDOG_DATA_ROOT to change it)."
        )
    if not resolved.is_dir():
        raise CatdogError(f"{text} is not a folder inside {root}; choose an existing dataset folder.")
    for directory, subdirectories, filenames in os.walk(resolved, followlinks=False):
        for name in subdirectories + filenames:
            path = Path(directory, name)
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise CatdogError(f"{path} is a link to a place outside {root}; remove the link or copy the files in.")
    return resolved


def _archive_bytes(archive) -> bytes:
    if isinstance(archive, (bytes, bytearray, memoryview)):
        return bytes(archive)
    if isinstance(archive, (str, Path)):
        try:
            return Path(archive).read_bytes()
        except OSError as error:
            raise CatdogError(f"cannot read {archive} ({error.strerror or error}).") from None
    if hasattr(archive, "getvalue"):
        return archive.getvalue()
    return archive.read()


def _checked_zip_members(bundle: zipfile.ZipFile, max_total_bytes: int, max_files: int):
    """(info, path parts) of every entry, after refusing unsafe or oversized archives."""
    members, files, total = [], 0, 0
    for info in bundle.infolist():
        name = info.filename.replace("\\", "/")
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if name.startswith("/") or ".." in parts or (parts and len(parts[0]) >= 2 and parts[0][1] == ":"):
            raise CatdogError(f"the zip entry {info.filename!r} points outside the folder; the archive was refused.")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise CatdogError(f"the zip entry {info.filename!r} is a symbolic link; zip the images themselves, not links.")
        if info.flag_bits & 0x1:
            raise CatdogError(f"the zip entry {info.filename!r} is encrypted; upload an archive without a password.")
        if not parts:
            continue
        if not info.is_dir():
            files += 1
            total += info.file_size
        if files > max_files:
            raise CatdogError(f"the zip holds more than {max_files:,} files; upload a smaller dataset.")
        if total > max_total_bytes:
            raise CatdogError(f"the zip would unpack to more than {max_total_bytes / 1024**2:,.0f} MB; upload a smaller dataset.")
        members.append((info, parts))
    if files == 0:
        raise CatdogError("the zip holds no files; zip a folder with one sub-folder of images per class.")
    return members


def _copy_member(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, allowance: int) -> int:
    written = 0
    with bundle.open(info) as source, open(target, "wb") as sink:
        while chunk := source.read(_ZIP_CHUNK):
            written += len(chunk)
            if written > info.file_size or written > allowance:
                raise CatdogError(f"the zip entry {info.filename!r} unpacks to more than it declares; the archive was refused.")
            sink.write(chunk)
    return written


# ----------------------------------------------------------------------------- check and split


def load_dataset(
    data: str | Path | None = None,
    batch_size: int = 32,
    seed: int = 0,
    progress: Progress | None = None,
) -> Dataset:
    """Find, check and split a dataset.

    Args:
        data: a dataset folder; `None` downloads (or reuses) the tutorial's dataset.
        batch_size: the test split is a fifth of the validation *batches*, as in the tutorial.
        seed: fixes the validation/test split (and the train/validation split of a single folder).
        progress: called as `progress(done, total, what)` while downloading and checking files.

    Returns:
        A `Dataset`; unreadable and junk files are left out and listed in `skipped`.
    """
    root = fetch_tutorial_dataset(progress) if data is None else Path(data).expanduser()
    if not root.exists():
        raise CatdogError(f"dataset folder {root} does not exist; pass an existing folder.")
    if not root.is_dir():
        raise CatdogError(f"{root} is not a folder; a dataset is a folder of class folders.")
    root = _descend_single_wrapper(root.resolve())
    skipped = [
        SkippedFile(str(child), "junk folder (hidden or macOS metadata)")
        for child in sorted(root.iterdir())
        if is_junk(child.name) and child.is_dir()
    ]
    if (root / "train").is_dir() and (root / "validation").is_dir():
        layout = "train/validation folders"
        class_names = _class_folders(root / "train")
        _require_classes(class_names, root / "train")
        validation_classes = _class_folders(root / "validation")
        if validation_classes != class_names:
            raise CatdogError(
                f"train/ has classes {class_names} but validation/ has {validation_classes}; give both the same class folders."
            )
        train_files = _scan_classes(root / "train", class_names, skipped)
        validation_files = _scan_classes(root / "validation", class_names, skipped)
    else:
        layout = "one folder of class folders"
        class_names = _class_folders(root)
        _require_classes(class_names, root)
        train_files, validation_files = _split_by_class(_scan_classes(root, class_names, skipped), len(class_names), seed)
    train_files, validation_files = (_keep_readable(files, skipped, progress) for files in (train_files, validation_files))
    _require_minimum(class_names, train_files + validation_files, root)
    _require_images(class_names, train_files, "training", root)
    _require_images(class_names, validation_files, "validation", root)
    validation, test = _split_test(validation_files, batch_size, seed)
    return Dataset(
        root=root,
        layout=layout,
        class_names=tuple(class_names),
        train=_as_split(train_files),
        validation=_as_split(validation),
        test=_as_split(test),
        skipped=tuple(sorted(skipped, key=lambda item: item.path)),
    )


def is_junk(name: str) -> bool:
    """Files and folders that are never data: hidden files, macOS resource forks and folders."""
    return name.startswith(".") or name == "__MACOSX" or name in ("Thumbs.db", "desktop.ini")


def _descend_single_wrapper(root: Path) -> Path:
    # Zips often wrap the dataset in one extra folder (cats_and_dogs_extracted/cats_and_dogs_filtered).
    children = [child for child in root.iterdir() if not is_junk(child.name)]
    if len(children) == 1 and children[0].is_dir():
        inner = children[0]
        grandchildren = [c for c in inner.iterdir() if c.is_dir() and not is_junk(c.name)]
        if len(grandchildren) >= 2 or (inner / "train").is_dir():
            return inner
    return root


def _class_folders(folder: Path) -> list[str]:
    return sorted(child.name for child in folder.iterdir() if child.is_dir() and not is_junk(child.name))


def _require_classes(class_names: list[str], folder: Path) -> None:
    if len(class_names) < 2:
        found = f"only {class_names[0]!r}" if class_names else "none"
        raise CatdogError(
            f"{folder} needs at least two class folders (one sub-folder of images per class); "
            f"found {found}. Add a folder for each class."
        )


def _require_minimum(class_names, files, root: Path) -> None:
    counts = np.bincount([label for _, label in files], minlength=len(class_names))
    short = [f"{name!r} has {count}" for name, count in zip(class_names, counts) if count < MIN_IMAGES_PER_CLASS]
    if short:
        raise CatdogError(
            f"too few readable images in {root}: {', '.join(short)}. Every class needs at least "
            f"{MIN_IMAGES_PER_CLASS} images; add more to those class folders."
        )


def _require_images(class_names, files, split_name: str, root: Path) -> None:
    counts = np.bincount([label for _, label in files], minlength=len(class_names))
    empty = [name for name, count in zip(class_names, counts) if count == 0]
    if empty:
        raise CatdogError(
            f"no readable {split_name} images for class(es) {', '.join(empty)} in {root}; "
            f"every class needs at least {MIN_IMAGES_PER_CLASS} images."
        )


def _scan_classes(folder: Path, class_names: list[str], skipped: list[SkippedFile]) -> list[tuple[str, int]]:
    files = []
    for label, name in enumerate(class_names):
        for directory, subdirectories, filenames in os.walk(folder / name, followlinks=False):
            for junk in sorted(d for d in subdirectories if is_junk(d)):
                skipped.append(SkippedFile(os.path.join(directory, junk), "junk folder (hidden or macOS metadata)"))
            subdirectories[:] = sorted(d for d in subdirectories if not is_junk(d))
            for filename in sorted(filenames):
                path = os.path.join(directory, filename)
                if is_junk(filename):
                    skipped.append(SkippedFile(path, "junk file (hidden or macOS metadata)"))
                elif not filename.lower().endswith(IMAGE_SUFFIXES):
                    skipped.append(SkippedFile(path, "not an image file (unsupported extension)"))
                else:
                    files.append((path, label))
    return files


def _keep_readable(files, skipped: list[SkippedFile], progress: Progress | None):
    """Decode every file once (at reduced scale where the format allows) and drop bad ones."""
    kept = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        for index, ((path, label), problem) in enumerate(zip(files, pool.map(check_image, [p for p, _ in files]))):
            if problem is None:
                kept.append((path, label))
            else:
                skipped.append(SkippedFile(path, problem))
            if progress is not None and (index % 50 == 0 or index == len(files) - 1):
                progress(index + 1, len(files), "checking images")
    return kept


def check_image(path: str | Path) -> str | None:
    """Why the image at `path` cannot be used, or None if it decodes cleanly."""
    try:
        if os.path.getsize(path) == 0:
            return "empty file"
        load_image(path, (32, 32))
    except CatdogError as error:
        return str(error)
    except OSError as error:
        return f"cannot be read ({error})"
    return None


def _split_by_class(files, num_classes: int, seed: int):
    train, validation = [], []
    rng = random.Random(seed)
    for label in range(num_classes):
        members = [item for item in files if item[1] == label]
        rng.shuffle(members)
        held_out = max(1, round(len(members) * VALIDATION_SHARE)) if len(members) >= 2 else 0
        validation += members[:held_out]
        train += members[held_out:]
    return sorted(train), sorted(validation)


def _split_test(files, batch_size: int, seed: int):
    """The tutorial's test split (a fifth of the validation batches), fixed by `seed`."""
    order = sorted(files)
    random.Random(seed).shuffle(order)
    batches = -(-len(order) // batch_size)
    test_size = (batches // TEST_BATCH_SHARE) * batch_size
    return order[test_size:], order[:test_size]


def _as_split(files) -> Split:
    return Split(tuple(path for path, _ in files), tuple(label for _, label in files))


# ----------------------------------------------------------------------------- images


def open_image(source) -> Image.Image:
    """Open an image from a path, bytes, a file object or a PIL image, refusing oversize ones.

    The size check reads only the header, so a decompression bomb is refused before decoding.
    """
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            if len(source) == 0:
                raise CatdogError("the file is empty (0 bytes); choose a photo.")
            source = io.BytesIO(source)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(source)
        except Image.DecompressionBombError:
            raise CatdogError(
                f"the image has more than {MAX_PIXELS // 1_000_000} megapixels; shrink it before using it."
            ) from None
        except UnidentifiedImageError:
            raise CatdogError("not an image catdog can read; use JPEG, PNG, GIF, WebP, BMP or TIFF.") from None
        except FileNotFoundError:
            raise CatdogError(f"no such file: {source}") from None
        except (PermissionError, IsADirectoryError) as error:
            raise CatdogError(f"cannot read {source} ({error.strerror}).") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:  # damaged headers, cut-off files
            raise CatdogError(f"the image is truncated or corrupt ({error}).") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise CatdogError(
            f"the image is {width}x{height} pixels; images above {MAX_PIXELS // 1_000_000} "
            "megapixels are refused. Shrink it before using it."
        )
    if width < 1 or height < 1:
        raise CatdogError("the image has no pixels.")
    return image


def load_image(source, image_size: tuple[int, int] | None = (160, 160)) -> np.ndarray:
    """Decode any common image to an RGB uint8 array, resized as in training.

    Handles JPEG (decoded at reduced scale when much larger than needed), PNG with transparency
    (composited on white), 16-bit and grayscale images, CMYK, the first frame of a GIF, WebP and
    BMP; applies the EXIF orientation so phone photos come out upright.

    Args:
        source: a path, bytes, a binary file object or a PIL image.
        image_size: (height, width) to resize to with bilinear filtering, or None to keep the size.

    Returns:
        An array of shape (height, width, 3), dtype uint8.
    """
    image = open_image(source)
    try:
        if image_size is not None and image.format == "JPEG":
            # Decode at 1/2, 1/4 or 1/8 scale when that still covers the target: a 12-megapixel
            # photo then costs a fraction of a full decode.
            side = max(image_size)
            image.draft("RGB", (side, side))
        image.seek(0)  # first frame of animations
        image.load()
        image = ImageOps.exif_transpose(image)
        image = _to_rgb(image)
    except CatdogError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise CatdogError(f"the image is truncated or corrupt ({error}).") from None
    if image_size is not None:
        height, width = image_size
        image = image.resize((width, height), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16/32-bit grayscale: scale to 8 bits instead of clipping everything to white.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        gray = np.clip(values / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def load_sample(split: Split, image_size: tuple[int, int], count: int = 256) -> np.ndarray:
    """Up to `count` images of `split`, spread evenly over it, decoded (uint8, N x H x W x 3)."""
    step = max(1, len(split) // count)
    return np.stack([load_image(path, image_size) for path in split.paths[::step][:count]])


def sample_files(dataset: Dataset, split: str = "train", per_class: int = 3, seed: int | None = None) -> dict[str, list[str]]:
    """Up to `per_class` random image paths of each class, for the two-row sample grid."""
    chosen = dataset.split(split)
    rng = random.Random(seed)
    result = {}
    for label, name in enumerate(dataset.class_names):
        members = [path for path, lab in zip(chosen.paths, chosen.labels) if lab == label]
        result[name] = rng.sample(members, min(per_class, len(members)))
    return result


# ----------------------------------------------------------------------------- tf.data


def make_tf_dataset(
    split: Split,
    image_size: tuple[int, int],
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    cache: bool = True,
):
    """A batched `tf.data.Dataset` of (uint8 images, int labels) for Keras.

    Images are decoded with `load_image` in parallel, cached in memory after the first pass when
    they fit (decoding is then paid once, not every epoch), reshuffled every epoch when `shuffle`,
    and prefetched so the model never waits for data. A file that fails to decode is dropped
    rather than ending the epoch.
    """
    import tensorflow as tf

    height, width = image_size

    def decode(path):
        return load_image(path.decode() if isinstance(path, bytes) else str(path), (height, width))

    def tf_decode(path, label):
        image = tf.numpy_function(decode, [path], tf.uint8, stateful=False)
        image.set_shape((height, width, 3))
        return image, label

    dataset = tf.data.Dataset.from_tensor_slices((list(split.paths), np.asarray(split.labels, np.int32)))
    dataset = dataset.map(tf_decode, num_parallel_calls=os.cpu_count() or 2, deterministic=True).ignore_errors()
    if cache and len(split) * height * width * 3 < 2 * 1024**3:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(max(len(split), 1), seed=seed, reshuffle_each_iteration=True)
    return without_autotuning(dataset.batch(batch_size).prefetch(2))


@contextlib.contextmanager
def length_unknown_to_keras():
    """Keras' fit/predict over a `make_tf_dataset` dataset, without its end-of-data warning.

    Keras warns "Your input ran out of data" at the end of every pass over a dataset whose length
    it cannot know, as ours (undecodable files are dropped): expected, not a fault.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        yield


def without_autotuning(dataset):
    """`dataset` with fixed parallelism instead of tf.data's autotuning.

    With autotuning, deleting an iterator waits for its tuning thread's next wake-up, which
    backs off to a minute: Keras deletes the validation iterator after every epoch, so each
    epoch of a long training stalled for up to 60 s with the CPU idle (TensorFlow 2.21, seen
    with py-spy in ~UnboundedThreadPool::LogicalThreadWrapper). A worker per core and two
    batches in flight keep the model as busy on a laptop's few cores.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
