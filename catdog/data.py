"""Data: find a dataset, check its files and split it (`catdog.pipeline` feeds it to Keras).

The pipeline's first stage. A dataset is a folder of class folders, in one of two layouts:

* the tutorial's: `train/<class>/...` and `validation/<class>/...`;
* a single folder of class folders, split 80/20 into train/validation with a fixed seed.

In both, a fifth of the validation batches becomes the test set, as in the tutorial, but chosen
once from a seeded permutation so the test images are the same on every pass and every run.

Images are decoded by `catdog.images`; uploaded zips and folders come in through `catdog.uploads`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import random
from pathlib import Path

import numpy as np

from catdog import exclusions
from catdog.download import Progress, fetch_tutorial_dataset
from catdog.errors import CatdogError
from catdog.images import IMAGE_SUFFIXES, check_image, is_junk, load_image

VALIDATION_SHARE = 0.2  # single-folder datasets: share of each class held out for validation
TEST_BATCH_SHARE = 5  # the tutorial: test = validation batches // 5
MIN_IMAGES_PER_CLASS = 10  # readable images per class (all splits); fewer cannot train or be judged


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

    def shard(self, count: int, index: int) -> Split:
        """Every `count`-th image from the `index`-th: one worker's share (as `tf.data.Dataset.shard`)."""
        return Split(self.paths[index::count], self.labels[index::count])


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
    # Images on the dataset's list of those to leave out of training (`catdog.exclusions`),
    # taken out of every split after splitting, so the other images keep their splits.
    excluded: tuple[str, ...] = ()

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
            "excluded": list(self.excluded),
        }


# ----------------------------------------------------------------------------- check and split


def load_dataset(
    data: str | Path | None = None,
    batch_size: int = 32,
    seed: int = 0,
    progress: Progress | None = None,
    honour_exclusions: bool = True,
) -> Dataset:
    """Find, check and split a dataset.

    Args:
        data: a dataset folder; `None` downloads (or reuses) the tutorial's dataset.
        batch_size: the test split is a fifth of the validation *batches*, as in the tutorial.
        seed: fixes the validation/test split (and the train/validation split of a single folder).
        progress: called as `progress(done, total, what)` while downloading and checking files.
        honour_exclusions: leave out the images on the dataset's exclusion list (default True;
            data health looks at every image).

    Returns:
        A `Dataset`; unreadable and junk files are left out and listed in `skipped`, the images
        left out of training in `excluded`.
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
    splits, excluded = {"train": train_files, "validation": validation, "test": test}, ()
    if honour_exclusions:
        splits, excluded = exclusions.leave_out(root, splits, class_names)
    return Dataset(
        root=root,
        layout=layout,
        class_names=tuple(class_names),
        train=_as_split(splits["train"]),
        validation=_as_split(splits["validation"]),
        test=_as_split(splits["test"]),
        skipped=tuple(sorted(skipped, key=lambda item: item.path)),
        excluded=excluded,
    )


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


# ----------------------------------------------------------------------------- samples


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
