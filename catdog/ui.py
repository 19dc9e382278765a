"""Streamlit helpers shared by the dashboard's pages: the chosen dataset, caches, training launches
and charts.

The only module of catdog that imports Streamlit. Pages stay short scripts (read inputs, call
catdog through these helpers, render). Nothing here imports TensorFlow at import time, so the
first page appears quickly; model code is imported inside the functions that need it.

Session state keys shared by every page:

    dataset   {"kind": "tutorial" | "folder" | "zip" | "upload", "root": str, "label": str} or None

A new session (a new tab, or a refresh) starts with the dataset chosen last on this machine,
remembered in `$CATDOG_CACHE_DIR/dashboard-dataset.json` and checked again before it is used.

Page-specific keys are prefixed with the page's name (samples_, aug_, train_, predict_).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from catdog import runs
from catdog.config import RunConfig
from catdog.data import Dataset, load_dataset
from catdog.download import cached_tutorial_dataset, fetch_tutorial_dataset
from catdog.errors import CatdogError
from catdog.images import IMAGE_SUFFIXES, load_image, open_image
from catdog.models import MODELS
from catdog.paths import cache_dir, data_root, runs_dir, write_json_atomic
from catdog.uploads import confine_to_root, extract_dataset_files, extract_dataset_zip

REPO = Path(__file__).resolve().parent.parent
DATASET_KEY = "dataset"
DATA_PAGE = "pages/data.py"
TRAIN_PAGE = "pages/train.py"
IMAGE_TYPES = [suffix.lstrip(".") for suffix in IMAGE_SUFFIXES]  # for st.file_uploader(type=...)
TUTORIAL_LABEL = "the tutorial's cats_and_dogs_filtered"
_REMEMBERED = "dashboard-dataset.json"  # in the cache folder: the dataset chosen last


# ----------------------------------------------------------------------------- session state and errors


def init_state() -> None:
    """Give the shared session-state keys their defaults (app.py calls this on every run).

    A new session (a new tab, a refresh) starts with the dataset chosen last on this machine
    when it is still there and still allowed; else with the tutorial's dataset when a complete
    copy is already on disk (a cheap check that neither downloads nor imports Keras); else none.
    """
    if DATASET_KEY not in st.session_state:
        found = cached_tutorial_dataset()
        tutorial = _source("tutorial", found, TUTORIAL_LABEL) if found else None
        st.session_state[DATASET_KEY] = _remembered_source() or tutorial


def dataset_source() -> dict | None:
    """The dataset chosen on the Data page: {"kind", "root", "label"}, or None."""
    return st.session_state.get(DATASET_KEY)


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """Show a mistake the user can fix (CatdogError) as an error box instead of a traceback.

    The rest of the `with` block is skipped; the page goes on after it.
    """
    try:
        yield
    except CatdogError as error:
        st.error(str(error))


# ----------------------------------------------------------------------------- datasets


def current_dataset(prompt: bool = True) -> Dataset | None:
    """The checked dataset chosen on the Data page (cached), or None.

    Args:
        prompt: when no dataset is chosen (or it cannot be read), say so and link to the Data page.
    """
    source = dataset_source()
    if source is None:
        if prompt:
            st.info("No dataset chosen yet: choose one on the Data page first.")
            st.page_link(DATA_PAGE, label="Choose a dataset", icon=":material/folder_open:")
        return None
    try:
        return load_cached_dataset(source["root"])
    except CatdogError as error:
        st.error(f"The dataset in use cannot be read: {error}")
        if prompt:
            st.page_link(DATA_PAGE, label="Choose another dataset", icon=":material/folder_open:")
        return None


def load_cached_dataset(root: str | Path) -> Dataset:
    """`catdog.data.load_dataset(root)`, checked once and cached until files are added or removed."""
    root = Path(root)
    return _load_dataset(str(root), _fingerprint(root))


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


def use_tutorial_dataset(progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Fetch (on first use) and check the tutorial's dataset, and make it the one in use."""
    root = fetch_tutorial_dataset(progress)
    return _choose("tutorial", root, TUTORIAL_LABEL)


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


def _choose(kind: str, root: Path, label: str) -> dict:
    load_cached_dataset(root)  # refuse a folder that is not a usable dataset before switching to it
    source = _source(kind, root, label)
    st.session_state[DATASET_KEY] = source
    with contextlib.suppress(OSError):  # remembering is a convenience; never fail the choice over it
        cache_dir().mkdir(parents=True, exist_ok=True)
        write_json_atomic(cache_dir() / _REMEMBERED, source)
    return source


def _remembered_source() -> dict | None:
    # The file is ours, but it is checked like user input: it must still name an allowed folder.
    try:
        source = json.loads((cache_dir() / _REMEMBERED).read_text())
        kind, root = source["kind"], Path(source["root"])
        if kind == "folder":
            allowed = confine_to_root(root, data_root()) == root
        elif kind in ("zip", "upload"):
            allowed = root.is_dir() and root.resolve().is_relative_to((cache_dir() / "uploads").resolve())
        else:
            allowed = kind == "tutorial" and root == cached_tutorial_dataset()
    except (OSError, ValueError, KeyError, TypeError, CatdogError):
        return None
    return _source(kind, root, str(source.get("label", root.name))) if allowed else None


def _source(kind: str, root: Path, label: str) -> dict:
    return {"kind": kind, "root": str(root), "label": label}


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


def label_frequency_figure(dataset: Dataset):
    """A Plotly bar chart of each class's share of the training images, with the baseline."""
    import plotly.graph_objects as go

    frequencies = dataset.summary()["label_frequencies"]
    figure = go.Figure(go.Bar(x=list(frequencies), y=list(frequencies.values()), text=[f"{v:.1%}" for v in frequencies.values()]))
    figure.add_hline(y=dataset.baseline_accuracy(), line_dash="dot", annotation_text="baseline accuracy")
    figure.update_layout(
        yaxis_title="share of training images", yaxis_tickformat=".0%", yaxis_range=[0, 1], height=320, margin=dict(t=30, b=30)
    )
    return figure


# ----------------------------------------------------------------------------- images


def thumbnail(source, side: int = 256) -> np.ndarray:
    """An upright RGB preview of an image (path or bytes) at most `side` pixels on its long side,
    decoded by catdog's own loader (which refuses oversize images)."""
    image = open_image(source)
    width, height = image.size
    if image.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF says "rotate 90°": sides swap
        width, height = height, width
    scale = min(1.0, side / max(width, height))
    return load_image(source, (max(1, round(height * scale)), max(1, round(width * scale))))


@st.cache_data(show_spinner="Starting Keras for the preview…", max_entries=64)
def augmentation_preview(image: np.ndarray, flip: str, rotation: float, count: int, seed: int) -> list[np.ndarray]:
    """`catdog.augment.preview`, cached (the same arguments always give the same variants)."""
    from catdog.augment import preview

    return preview(image, flip=flip, rotation=rotation, count=count, seed=seed)


# ----------------------------------------------------------------------------- models and prediction


@st.cache_data(show_spinner="Counting the model's parameters…", max_entries=64)
def parameter_count(model: str, image_size: tuple[int, int], num_classes: int) -> dict:
    """{"total", "trainable", "error"} for a registered model at this input size.

    Builds the model without pretrained weights (nothing to download). A model that cannot take
    this input size (Model 2's valid convolutions need about 80 pixels) gets `error` instead.
    """
    from catdog.models import count_params, create_model

    try:
        built = create_model(model, tuple(image_size), num_classes, pretrained=False)
    except CatdogError as error:
        return {"total": None, "trainable": None, "error": str(error)}
    except ValueError as error:  # Keras: the feature map shrank to nothing
        return {
            "total": None,
            "trainable": None,
            "error": f"{model} cannot take {image_size[0]}x{image_size[1]} images ({str(error).splitlines()[0]}); choose a larger image size.",
        }
    total, trainable = count_params(built)
    return {"total": total, "trainable": trainable, "error": None}


def usable_runs() -> list[runs.Run]:
    """Runs with a saved model that are not training, best final validation accuracy first."""
    usable = [run for run in runs.list_runs() if run.usable]
    return sorted(
        usable, key=lambda run: run.final("val_accuracy") if run.final("val_accuracy") is not None else -1.0, reverse=True
    )


def run_label(run: runs.Run) -> str:
    """One line naming a run for pickers: model, validation accuracy, epochs, name."""
    accuracy = run.final("val_accuracy")
    shown = f"val accuracy {accuracy:.1%}" if accuracy is not None else "no validation yet"
    return f"{run.config.model} · {shown} · {len(run.history)} epochs · {run.state} · {run.name}"


def predictor_for(run: runs.Run):
    """A loaded `catdog.predict.Predictor`, shared by sessions and reloaded when the model file changes."""
    model_file = run.path / runs.MODEL_FILE
    try:
        stamp = model_file.stat().st_mtime_ns
    except OSError:
        raise CatdogError(f"run {run.name} has no saved model; choose another run or train one.") from None
    return _predictor(str(run.path), stamp)


@st.cache_resource(max_entries=3, show_spinner="Loading the model…")
def _predictor(run_path: str, model_stamp: int):
    # Keyed by the model file's modification time too, so a run trained again is reloaded.
    # Shared by all sessions: inference only, never modified.
    from catdog.predict import Predictor

    predictor = Predictor(runs.load_run(run_path))
    # Switch to LiteRT (faster on a CPU) once its one conversion is done, without making the
    # first predictions wait for it; it is cached, so later loads of this model start on LiteRT.
    threading.Thread(target=predictor.use_litert, name="catdog-litert", daemon=True).start()
    return predictor


def engine_note(predictor) -> str:
    """Which engine made the predictions shown, and whether a faster one is on its way."""
    from catdog import lite

    if predictor.engine == "TensorFlow" and lite.available():
        return "Predicted with TensorFlow; LiteRT (faster on this CPU) takes over once its one-time conversion is done."
    return f"Predicted with {predictor.engine}."


def classify(predictor, files) -> list[tuple[str, bytes, object]]:
    """Classify uploaded files (anything with .name and .getvalue()): (name, bytes, Prediction)
    each, in order; an unreadable file gets `Prediction.error` and the others still work."""
    names = [getattr(upload, "name", f"image {index + 1}") for index, upload in enumerate(files)]
    payloads = [upload.getvalue() for upload in files]
    predictions = predictor.predict(payloads, names=names)
    return list(zip(names, payloads, predictions, strict=True))


# ----------------------------------------------------------------------------- training in the background


@dataclasses.dataclass(frozen=True)
class TrainingState:
    """What is training under the runs folder right now."""

    run: runs.Run | None  # the run in progress, once its process has created it
    starting: bool  # a process this server launched is alive but has not created its run yet

    @property
    def active(self) -> bool:
        return self.run is not None or self.starting


@st.cache_resource
def _launched() -> dict[int, subprocess.Popen]:
    # Training processes started by this server, shared by all sessions: polled so finished
    # ones are reaped, and so a process still loading its data counts as a training.
    return {}


def training_state() -> TrainingState:
    """The training in progress (started from any page, session or the command line)."""
    processes = _launched()
    alive = {pid for pid, process in list(processes.items()) if process.poll() is None}
    found = runs.list_runs()
    run = next((run for run in found if run.state == runs.RUNNING), None)
    if run is not None:
        return TrainingState(run, False)
    # A launched process that is alive and has no run directory yet is still starting up; one
    # whose run already ended (it is just exiting) is not.
    with_runs = {run.status.get("pid") for run in found}
    return TrainingState(None, bool(alive - with_runs))


def launch_training(config: RunConfig, dataset_root: str | Path) -> dict:
    """Start `python -m catdog train ...` as a background process and return {"pid", "log", "started"}.

    A separate process in its own session (start_new_session), so page switches, refreshes,
    closed tabs and even a restart of the dashboard do not stop it; it reports through its run
    directory (history.json per epoch, progress.json per batch), which every page reads.
    """
    if training_state().active:
        raise CatdogError("A training is running: wait for it to finish or stop it, then start again.")
    root = runs_dir()
    logs = root / ".launches"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{config.model}.log"
    command = [sys.executable, "-m", "catdog", "train", *training_arguments(config, dataset_root, root)]
    return _launch(command, log_path)


def training_arguments(config: RunConfig, dataset_root: str | Path, root: Path) -> list[str]:
    """`python -m catdog train` options that recreate `config` (all of its settings)."""
    arguments = [
        "--model", config.model,
        "--epochs", str(config.epochs),
        "--batch-size", str(config.batch_size),
        "--learning-rate", repr(float(config.learning_rate)),
        "--image-size", str(config.image_size[0]),
        "--seed", str(config.seed),
        "--early-stopping", str(config.early_stopping),
        "--fine-tune-epochs", str(config.fine_tune_epochs),
        "--fine-tune-from", str(config.fine_tune_from),
        *(["--fine-tune-learning-rate", repr(float(config.fine_tune_learning_rate))] if config.fine_tune_learning_rate is not None else []),
        "--precision", config.precision,
        "--strategy", config.strategy,
        "--runs-dir", str(root),
        "--data", str(dataset_root),
    ]  # fmt: skip
    if not config.fast:
        arguments.append("--no-fast")
    if config.flip is not None:
        arguments += ["--flip", config.flip]
    if config.rotation is not None:
        arguments += ["--rotation", repr(float(config.rotation))]
    return arguments


def launch_reproduce(dataset_root: str | Path, epochs: int = 20) -> dict:
    """Start `python -m catdog reproduce` (the tutorial's four models, one after the other) in
    the background; each model's run shows live on the Train page like any training."""
    if training_state().active:
        raise CatdogError("A training is running: wait for it to finish or stop it, then start again.")
    root = runs_dir()
    (root / ".launches").mkdir(parents=True, exist_ok=True)
    log_path = root / ".launches" / f"{time.strftime('%Y%m%d-%H%M%S')}-reproduce.log"
    command = [
        sys.executable,
        "-m",
        "catdog",
        "reproduce",
        "--epochs",
        str(epochs),
        "--runs-dir",
        str(root),
        "--data",
        str(dataset_root),
    ]
    return _launch(command, log_path)


def _launch(command: list[str], log_path: Path) -> dict:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _launched()[process.pid] = process
    return {"pid": process.pid, "log": str(log_path), "started": time.time()}


def launch_error(launch: dict | None) -> str | None:
    """Why a launched training ended before creating its run (its `error:` line), or None."""
    if not launch:
        return None
    process = _launched().get(launch["pid"])
    if process is None or process.poll() in (None, 0):
        return None
    if any(run.status.get("pid") == launch["pid"] for run in runs.list_runs()):
        return None  # it made a run: the run's own state says what happened
    try:
        lines = Path(launch["log"]).read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    return errors[-1] if errors else f"the training process ended with exit code {process.returncode}; see {launch['log']}."


def progress_summary(run: runs.Run) -> tuple[float, str]:
    """(fraction done, one line) for a run in progress, from its progress.json."""
    progress = runs.read_progress(run.path) or {}
    phase = progress.get("phase")
    epochs = progress.get("epochs") or run.config.epochs
    epoch, batch, batches = progress.get("epoch", 0), progress.get("batch", 0), progress.get("batches", 0)
    eta = progress.get("eta")
    left = f" · {format_duration(eta)} left" if eta is not None else ""
    if phase == "train" and batches:
        fraction = ((epoch - 1) * batches + batch) / (epochs * batches)
        return min(max(fraction, 0.0), 1.0), f"Epoch {epoch} of {epochs} · batch {batch} of {batches}{left}"
    if phase == "features" and batches:
        return batch / batches, f"{progress.get('message') or 'computing features'}: batch {batch} of {batches}{left}"
    if phase == "features":  # a step without batches, e.g. the one-time LiteRT conversion
        return 0.0, f"{progress.get('message') or 'preparing the features'}…"
    if phase == "epoch":
        return min(epoch / epochs, 1.0), f"Epoch {epoch} of {epochs} finished"
    finished = len(run.history)
    return min(finished / max(epochs, 1), 1.0), "Starting (loading the data, building the model)…"


def format_duration(seconds: float) -> str:
    """'about 1 min 20 s' style, rounded to what a person can use."""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return "a few seconds"
    if seconds < 60:
        return f"about {round(seconds / 5) * 5:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"about {minutes} min {rest // 10 * 10} s" if minutes < 10 and rest >= 10 else f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min"


def baseline_for(run: runs.Run) -> float | None:
    """The baseline accuracy of the data a run trained on (cached), or None if it is gone."""
    root = run.config.data or cached_tutorial_dataset()
    if root is None:
        return None
    try:
        return load_cached_dataset(root).baseline_accuracy()
    except CatdogError:
        return None


# ----------------------------------------------------------------------------- charts


_METRICS = (("accuracy", "Accuracy"), ("loss", "Loss"))


def history_figure(
    history,
    epochs: int,
    baseline: float | None = None,
    tutorial: float | None = None,
    tutorial_label: str = "tutorial",
    fine_tune_from_epoch: int | None = None,
):
    """Training and validation accuracy and loss per epoch, side by side, with the baseline and
    the tutorial's reported validation accuracy as horizontal lines on the accuracy plot.

    Args:
        history: the run's history entries (one dict per finished epoch).
        epochs: the planned number of epochs (fixes the x axis, so the curves grow into it).
        fine_tune_from_epoch: the first epoch of a fine-tuning stage, marked on both plots.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title in _METRICS])
    xs = [entry["epoch"] for entry in history]
    for column, (metric, _) in enumerate(_METRICS, start=1):
        for prefix, name, dash in (("", "training", "solid"), ("val_", "validation", "dash")):
            ys = [entry.get(prefix + metric) for entry in history]
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines+markers",
                    name=f"{name} {metric}",
                    line=dict(dash=dash, color="#d9480f" if prefix else "#1c7ed6"),
                ),
                row=1,
                col=column,
            )
    if baseline is not None:
        figure.add_hline(y=baseline, line_dash="dot", line_color="gray", annotation_text=f"baseline {baseline:.0%}", row=1, col=1)
    if tutorial is not None:
        figure.add_hline(
            y=tutorial, line_dash="dot", line_color="green", annotation_text=f"{tutorial_label} {tutorial:.1%}", row=1, col=1
        )
    if fine_tune_from_epoch:
        for column in (1, 2):
            figure.add_vline(
                x=fine_tune_from_epoch - 0.5,
                line_dash="dash",
                line_color="purple",
                annotation_text="fine-tuning" if column == 1 else None,
                row=1,
                col=column,
            )
    figure.update_xaxes(title_text="epoch", range=[0.5, max(epochs, len(xs), 1) + 0.5], dtick=max(1, epochs // 10))
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=1)
    figure.update_layout(height=360, margin=dict(t=40, b=40), legend=dict(orientation="h", y=-0.25))
    return figure


def comparison_figure(chosen: list[runs.Run]):
    """Validation (solid) and training (dotted) accuracy and loss of several runs, overlaid."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title in _METRICS])
    for index, run in enumerate(chosen):
        color = qualitative.Plotly[index % len(qualitative.Plotly)]
        xs = [entry["epoch"] for entry in run.history]
        for column, (metric, _) in enumerate(_METRICS, start=1):
            for prefix, dash, kind in (("val_", "solid", "validation"), ("", "dot", "training")):
                figure.add_trace(
                    go.Scatter(
                        x=xs,
                        y=[entry.get(prefix + metric) for entry in run.history],
                        mode="lines",
                        name=f"{run.config.model} {kind} ({run.name})",
                        legendgroup=run.name,
                        showlegend=column == 1,
                        line=dict(color=color, dash=dash),
                    ),
                    row=1,
                    col=column,
                )
        if run.status.get("fine_tune_from_epoch"):
            figure.add_vline(
                x=run.status["fine_tune_from_epoch"] - 0.5, line_dash="dash", line_color=color, annotation_text="fine-tuning"
            )
    figure.update_xaxes(title_text="epoch")
    figure.update_yaxes(tickformat=".0%", row=1, col=1)
    figure.update_layout(height=380, margin=dict(t=40, b=40), legend=dict(orientation="h", y=-0.3))
    return figure


# ----------------------------------------------------------------------------- evaluation, explanation, export


def evaluation_for(run: runs.Run):
    """The run's test-set `Evaluation` (cached per model file), also saved beside the run."""
    stamp = (run.path / runs.MODEL_FILE).stat().st_mtime_ns
    return _evaluation(str(run.path), stamp)


@st.cache_data(show_spinner="Predicting every test image…", max_entries=8)
def _evaluation(run_path: str, model_stamp: int):
    from catdog.evaluate import evaluate

    run = runs.load_run(run_path)
    model = predictor_for(run).model
    result = evaluate(run, model=model)
    runs.save_evaluation(run, result.summary())
    return result


@st.cache_data(show_spinner="Computing the Grad-CAM heat map…", max_entries=64)
def grad_cam_overlay(run_path: str, model_stamp: int, image: np.ndarray) -> tuple[np.ndarray, int]:
    """(image with its Grad-CAM heat map blended in, explained class index) for a run's model."""
    from catdog.explain import grad_cam, overlay

    predictor = _predictor(run_path, model_stamp)
    heat, explained = grad_cam(predictor.model, image)
    return overlay(image, heat), explained


def model_stamp(run: runs.Run) -> int:
    """The model file's modification time: part of every cache key that depends on the model."""
    return (run.path / runs.MODEL_FILE).stat().st_mtime_ns


@st.cache_data(show_spinner="Converting to TensorFlow Lite…", max_entries=4)
def tflite_bundle(run_path: str, model_stamp: int) -> bytes:
    """A zip with model.tflite, labels.txt and the settings, for the download button."""
    from catdog.export import tflite_bundle as bundle

    run = runs.load_run(run_path)
    return bundle(run, _predictor(run_path, model_stamp).model)


def confusion_figure(matrix: np.ndarray, class_names):
    """The confusion matrix as an annotated heat map (rows: true class, columns: predicted)."""
    import plotly.graph_objects as go

    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=[f"predicted {name}" for name in class_names],
            y=[f"true {name}" for name in class_names],
            text=matrix,
            texttemplate="%{text}",
            colorscale="Oranges",
            showscale=False,
        )
    )
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(height=320, margin=dict(t=20, b=20))
    return figure


def roc_figure(fpr: np.ndarray, tpr: np.ndarray, auc: float, threshold_point: tuple[float, float] | None = None):
    """The ROC curve with its AUC and, optionally, the point of the chosen threshold."""
    import plotly.graph_objects as go

    figure = go.Figure(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"ROC (AUC {auc:.3f})"))
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="gray"), name="chance"))
    if threshold_point is not None:
        figure.add_trace(
            go.Scatter(x=[threshold_point[0]], y=[threshold_point[1]], mode="markers", marker=dict(size=12), name="threshold")
        )
    figure.update_layout(height=320, margin=dict(t=20, b=20), xaxis_title="false positive rate", yaxis_title="true positive rate")
    return figure


def sweep_figure(sweep, class_names):
    """Probability of each class as the image turns from -180 to 180 degrees, plain and mirrored."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for index, name in enumerate(class_names):
        figure.add_trace(
            go.Scatter(x=sweep.angles.tolist(), y=sweep.probabilities[:, index].tolist(), mode="lines+markers", name=f"{name}")
        )
        figure.add_trace(
            go.Scatter(
                x=sweep.angles.tolist(),
                y=sweep.mirrored[:, index].tolist(),
                mode="lines",
                line=dict(dash="dot"),
                name=f"{name} (mirrored)",
            )
        )
    figure.update_layout(
        height=340, margin=dict(t=20, b=20), xaxis_title="rotation (degrees)", yaxis_title="probability", yaxis_range=[0, 1.02]
    )
    return figure


def speed_notes(run: runs.Run) -> list[str]:
    """Which fast paths a run used, from its status: a line each for the dashboard."""
    notes = []
    if run.status.get("fast_path"):
        notes.append(f"fast path: {run.status['fast_path']}")
    if run.status.get("feature_engine"):
        notes.append(f"frozen features computed with {run.status['feature_engine']}")
    if run.status.get("precision") and run.status["precision"] != "float32":
        notes.append(f"{run.status['precision']} arithmetic (saved in float32)")
    if run.status.get("replicas", 1) > 1:
        notes.append(f"{run.status['replicas']} devices ({run.status.get('strategy')})")
    return notes


def load_settings_into_train(config: RunConfig) -> None:
    """Put a run's settings into the Train page's widgets (their session-state keys)."""
    spec = MODELS.get(config.model)
    st.session_state.update(
        {
            f"train_flip_{config.model}": config.flip or (spec.flip if spec else "none"),
            f"train_rotation_{config.model}": float(
                config.rotation if config.rotation is not None else (spec.rotation if spec else 0.0)
            ),
            "train_fine_tune_epochs": config.fine_tune_epochs,
            "train_fine_tune_from": config.fine_tune_from,
            "train_fine_tune_rate": config.fine_tune_learning_rate,
            "train_model": config.model,
            "train_epochs": config.epochs,
            "train_batch_size": config.batch_size,
            f"train_learning_rate_{config.model}": config.learning_rate,
            "train_image_size": config.image_size[0],
            "train_seed": config.seed,
            "train_patience": config.early_stopping,
            "train_fast": config.fast,
        }
    )


@st.cache_data(show_spinner="Rotating and predicting…", max_entries=32)
def robustness_sweep(run_path: str, model_stamp: int, image: np.ndarray):
    """`catdog.explain.robustness_sweep` of `image` for a run's model (resized to its input)."""
    from catdog.explain import robustness_sweep as sweep

    predictor = _predictor(run_path, model_stamp)
    resized = load_image(Image.fromarray(image), predictor.image_size)
    return sweep(predictor, resized)
