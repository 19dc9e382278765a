"""Uploads: datasets that arrive as a zip, a browser's folder upload, or a typed local path.

One file for a security reviewer: everything a stranger can send the dashboard passes the checks
here. Zip entries may not leave their folder (absolute names, drive letters, `..`), may not be
links or encrypted, and an archive may not unpack past its file-count and byte limits (zip
bombs), counted on the bytes actually written. A typed path must stay inside the allowed data
root, links included.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path

from catdog.errors import CatdogError
from catdog.paths import cache_dir

COMPLETE_MARKER = ".catdog-complete"  # written last into an extracted folder: it is whole

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
    payload = _archive_bytes(archive)
    destination = Path(destination) if destination is not None else cache_dir() / "uploads"
    final = destination / hashlib.sha256(payload).hexdigest()[:16]
    if (final / COMPLETE_MARKER).exists():
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
            (staging / COMPLETE_MARKER).write_text("extracted\n")
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
