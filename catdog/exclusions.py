"""Images a person chose to leave out of training: one list per dataset, in catdog's own files.

Data health (`catdog.health`) flags likely label errors, duplicates and outliers; a person marks
the ones to leave out (`python -m catdog exclude PATH...`, or the Data health page). The user's
files are never moved or deleted: the list lives in
`$CATDOG_CACHE_DIR/exclusions/<digest of the dataset folder>.json`, beside the other records
catdog keeps about a dataset, and `catdog.data.load_dataset` leaves those images out of every
split, so training and evaluation honour it and a run records what it left out.

    add(root, ["/data/pets/train/cats/cat.12.jpg"]); load(root) -> frozenset of absolute paths
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from catdog.errors import CatdogError
from catdog.paths import cache_dir, write_json_atomic

Files = list[tuple[str, int]]  # (path, label) of each image of a split, as catdog.data builds them


def exclusions_file(root: str | Path) -> Path:
    """Where the list of the dataset at `root` (a dataset's resolved folder) is kept."""
    digest = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:24]
    return cache_dir() / "exclusions" / f"{digest}.json"


def load(root: str | Path) -> frozenset[str]:
    """The absolute paths of the images of the dataset at `root` to leave out (empty when none).

    Raises:
        CatdogError: when the list is damaged (it says how to start a new one).
    """
    path = exclusions_file(root)
    try:
        record = json.loads(path.read_text())
        relative = record["excluded"]
    except FileNotFoundError:
        return frozenset()
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CatdogError(
            f"the list of images left out of training ({path}) cannot be read ({error}); "
            "run `python -m catdog exclude --clear` to start a new one."
        ) from None
    return frozenset(os.path.join(str(Path(root).resolve()), item) for item in relative)


def add(root: str | Path, paths: Iterable[str]) -> frozenset[str]:
    """Leave `paths` (images of the dataset at `root`) out of training; returns the whole list."""
    return _save(root, load(root) | _inside(root, paths))


def remove(root: str | Path, paths: Iterable[str]) -> frozenset[str]:
    """Put `paths` back into training; returns what is still left out."""
    return _save(root, load(root) - _inside(root, paths))


def clear(root: str | Path) -> None:
    """Put every image of the dataset at `root` back into training."""
    exclusions_file(root).unlink(missing_ok=True)


def stamp() -> int:
    """Changes whenever any dataset's list is saved or cleared (the folder's modification time,
    as each save is a rename into it): lets a cache of checked datasets see a new list."""
    try:
        return (cache_dir() / "exclusions").stat().st_mtime_ns
    except OSError:
        return 0


def leave_out(root: str | Path, splits: dict[str, Files], class_names) -> tuple[dict[str, Files], tuple[str, ...]]:
    """`splits` without the images on the dataset's list, and the paths it left out (sorted).

    Raises:
        CatdogError: when the list would leave a class without training or validation images.
    """
    excluded = load(root)
    if not excluded:
        return splits, ()
    kept = {name: [item for item in files if item[0] not in excluded] for name, files in splits.items()}
    for name in ("train", "validation"):
        labels = {label for _, label in kept[name]}
        empty = [class_name for label, class_name in enumerate(class_names) if label not in labels]
        if empty:
            raise CatdogError(
                f"the images left out of training leave no {name} images of {', '.join(empty)}; put some back "
                "(`python -m catdog exclude --remove PATH...` or `--clear`, or the Data health page)."
            )
    left_out = sorted(path for files in splits.values() for path, _ in files if path in excluded)
    return kept, tuple(left_out)


def _inside(root: str | Path, paths: Iterable[str]) -> frozenset[str]:
    root = Path(root).resolve()
    found = set()
    for path in paths:
        absolute = Path(os.path.abspath(Path(path).expanduser()))
        if not absolute.is_relative_to(root):
            absolute = absolute.resolve()  # reached through a link to the dataset's folder
        if not absolute.is_relative_to(root):
            raise CatdogError(f"{path} is not an image of the dataset in {root}; give paths inside that folder.")
        found.add(str(absolute))
    return frozenset(found)


def _save(root: str | Path, paths: frozenset[str]) -> frozenset[str]:
    root = Path(root).resolve()
    if not paths:
        clear(root)
        return paths
    path = exclusions_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"root": str(root), "excluded": sorted(os.path.relpath(item, root) for item in paths)}
    write_json_atomic(path, record)
    return paths
