"""The dataset in use: choosing one (tutorial, local folder, uploaded zip or folder), checking it
once and caching the result until its files change."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from catdog import exclusions, runs
from catdog.data import Dataset, load_dataset
from catdog.download import cached_tutorial_dataset, fetch_tutorial_dataset
from catdog.errors import CatdogError
from catdog.images import IMAGE_SUFFIXES
from catdog.paths import cache_dir, data_root
from catdog.ui import state
from catdog.uploads import confine_to_root, extract_dataset_files, extract_dataset_zip

IMAGE_TYPES = [suffix.lstrip(".") for suffix in IMAGE_SUFFIXES]  # for st.file_uploader(type=...)


def current_dataset(prompt: bool = True) -> Dataset | None:
    """The checked dataset chosen on the Data page (cached), or None.

    Args:
        prompt: when no dataset is chosen (or it cannot be read), say so and link to the Data page.
    """
    source = state.dataset_source()
    if source is None:
        if prompt:
            st.info("No dataset chosen yet: choose one on the Data page first.")
            st.page_link(state.DATA_PAGE, label="Choose a dataset", icon=":material/folder_open:")
        return None
    try:
        return load_cached_dataset(source["root"])
    except CatdogError as error:
        st.error(f"The dataset in use cannot be read: {error}")
        if prompt:
            st.page_link(state.DATA_PAGE, label="Choose another dataset", icon=":material/folder_open:")
        return None


def load_cached_dataset(root: str | Path) -> Dataset:
    """`catdog.data.load_dataset(root)`, checked once and cached until files are added or removed."""
    root = Path(root)
    return _load_dataset(str(root), (_fingerprint(root), exclusions.stamp()))  # a changed exclusion list too


def use_tutorial_dataset(progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Fetch (on first use) and check the tutorial's dataset, and make it the one in use."""
    root = fetch_tutorial_dataset(progress)
    return _choose("tutorial", root, state.TUTORIAL_LABEL)


def use_local_folder(folder: str) -> dict:
    """Check a folder inside `$CATDOG_DATA_ROOT` and make it the dataset in use."""
    root = confine_to_root(folder, data_root())
    relative = root.relative_to(data_root())
    return _choose("folder", root, f"local folder {relative if relative.parts else root.name}")


def use_uploaded_zip(upload) -> dict:
    """Extract an uploaded zip of class folders safely (under the cache folder), check it, use it."""
    root = extract_dataset_zip(upload, cache_dir() / "uploads")
    return _choose("zip", root, f"uploaded {getattr(upload, 'name', 'zip file')}")


def use_uploaded_folder(uploads) -> dict:
    """Save a folder uploaded from the browser (files named by their relative paths), check it, use it."""
    root = extract_dataset_files([(upload.name, upload.getvalue()) for upload in uploads], cache_dir() / "uploads")
    top = {upload.name.replace("\\", "/").split("/")[0] for upload in uploads}
    return _choose("upload", root, f"uploaded folder {', '.join(sorted(top))}")


def dataset_folders(limit: int = 50) -> list[str]:
    """Folders inside `$CATDOG_DATA_ROOT` that look like datasets (two or more sub-folders), as
    paths relative to it, for the Data page's picker."""
    root = data_root()
    found = []
    if not root.is_dir():
        return found
    with contextlib.suppress(OSError):
        for directory, subdirectories, _ in os.walk(root):
            subdirectories[:] = sorted(d for d in subdirectories if not d.startswith(".") and d != "__MACOSX")
            relative = Path(directory).relative_to(root)
            if len(relative.parts) >= 3:
                subdirectories[:] = []
            if relative.parts and len(subdirectories) >= 2:
                found.append(str(relative))
                subdirectories[:] = []  # a dataset's own class folders are not datasets
            if len(found) >= limit:
                break
    return found


def baseline_for(run: runs.Run) -> float | None:
    """The baseline accuracy of the data a run trained on (cached), or None if it is gone."""
    root = run.config.data or cached_tutorial_dataset()
    if root is None:
        return None
    try:
        return load_cached_dataset(root).baseline_accuracy()
    except CatdogError:
        return None


@st.cache_data(show_spinner="Checking every image of the dataset…", max_entries=16)
def _load_dataset(root: str, fingerprint: tuple) -> Dataset:
    return load_dataset(root)


def _fingerprint(root: Path, max_depth: int = 4, max_folders: int = 500) -> tuple:
    # A folder's modification time changes when a file in it is added, removed or renamed, so
    # these stamps tell a changed dataset from the cached one without reading every file.
    stamps = []
    with contextlib.suppress(OSError):
        for directory, subdirectories, _ in os.walk(root):
            depth = len(Path(directory).relative_to(root).parts)
            stamps.append((directory, os.stat(directory).st_mtime_ns))
            if depth >= max_depth or len(stamps) >= max_folders:
                subdirectories[:] = []
    return tuple(stamps)


def _choose(kind: str, root: Path, label: str) -> dict:
    load_cached_dataset(root)  # refuse a folder that is not a usable dataset before switching to it
    return state.set_dataset_source(kind, root, label)
