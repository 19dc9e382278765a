"""Everything that runs a trained model for a page, cached: predictors, test-set evaluations,
Grad-CAM, the rotation sweep, TensorFlow Lite bundles, parameter counts and augmentation previews.

Cache keys include the model file's modification time, so a run trained again is reloaded. One
`Predictor` per model serves every session (its LiteRT interpreter takes one call at a time).
"""

from __future__ import annotations

import dataclasses
import io
import sys
import threading

import numpy as np
import streamlit as st
from PIL import Image
from streamlit.runtime.scriptrunner import script_runner  # its after-run hook: no setting exists

from catdog import augment, calibration, explain, export, lite, runs
from catdog.errors import CatdogError
from catdog.evaluate import Evaluation, calibration_summary, evaluate
from catdog.images import load_image, thumbnail
from catdog.models import count_params, create_model
from catdog.predict import Prediction, Predictor


def keep_keras_state_between_runs() -> None:
    """Stop Streamlit from calling `keras.backend.clear_session()` after every script run.

    Streamlit does it for apps that build a model on each rerun. This dashboard loads each model
    once and shares it between sessions, so the reset only costs: its full garbage collection holds
    the GIL for long once TensorFlow is loaded, queueing every other session (README, "Many people
    at once"), and it empties TensorFlow's kernel cache under a Grad-CAM running in another
    session. Matplotlib's figures are still closed, as Streamlit does.
    """
    script_runner._clean_problem_modules = _close_pyplot_figures


def _close_pyplot_figures() -> None:
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


keep_keras_state_between_runs()  # every page that can load Keras imports this module


def predictor_for(run: runs.Run) -> Predictor:
    """A loaded `Predictor`, shared by sessions and reloaded when the model file or the
    temperature the run keeps changes."""
    return _predictor(str(run.path), _model_stamp(run))


@dataclasses.dataclass(frozen=True)
class Answer:
    """One uploaded photo as the Predict page shows it."""

    name: str
    payload: bytes  # the file as uploaded (Grad-CAM reads it again, on request only)
    preview: bytes | None  # an upright JPEG thumbnail; None when the file cannot be read
    prediction: Prediction  # its `error` says why a file cannot be read


def classify(run: runs.Run, files, tta: bool = False) -> list[Answer]:
    """Classify uploaded files (anything with .name and .getvalue()) with the run's shared
    `Predictor`, in order; an unreadable file gets `Prediction.error` and the others still work.
    `tta` averages each photo with its mirror image.

    Each photo is decoded, predicted and shrunk to a thumbnail once: a rerun (another photo added,
    a toggle) takes the earlier ones from a cache shared by sessions, keyed by the model, its
    engine and the file's bytes.
    """
    path, stamp = str(run.path), _model_stamp(run)
    temperature = calibration.temperature_stamp(path)
    engine = _loaded_predictor(path, stamp, temperature).engine  # LiteRT's answers replace TensorFlow's
    answers = []
    for index, upload in enumerate(files):
        name, payload = getattr(upload, "name", f"image {index + 1}"), upload.getvalue()
        preview, prediction = _answer(path, stamp, temperature, engine, tta, name, payload)
        answers.append(Answer(name, payload, preview, prediction))
    return answers


def engine_note(predictor: Predictor) -> str:
    """Which engine made the predictions shown, and whether a faster one is on its way."""
    if predictor.engine == "TensorFlow" and lite.available():
        return "Predicted with TensorFlow; LiteRT (faster on this CPU) takes over once its one-time conversion is done."
    return f"Predicted with {predictor.engine}."


def evaluation_for(run: runs.Run, tta: bool = False, split: str = "test") -> Evaluation:
    """The run's `Evaluation` of a split (cached per model file); the test split's without
    test-time augmentation is also saved beside the run."""
    return _evaluation(str(run.path), _model_stamp(run), tta, split)


def calibration_for(run: runs.Run, tta: bool = False) -> dict:
    """`catdog.evaluate.calibration_summary`: temperature fitted on validation, ECE on test."""
    return calibration_summary(evaluation_for(run, tta), evaluation_for(run, tta, "validation"))


def grad_cam_overlay(run: runs.Run, image: np.ndarray) -> tuple[np.ndarray, int]:
    """(image with its Grad-CAM heat map blended in, explained class index) for a run's model."""
    return _grad_cam_overlay(str(run.path), _model_stamp(run), image)


def robustness_sweep(run: runs.Run, image: np.ndarray) -> explain.Sweep:
    """`catdog.explain.robustness_sweep` of `image` for a run's model (resized to its input)."""
    return _robustness_sweep(str(run.path), _model_stamp(run), image)


def tflite_bundle(run: runs.Run) -> bytes:
    """A zip with model.tflite, labels.txt and the settings, for the download button."""
    return _tflite_bundle(str(run.path), _model_stamp(run))


@st.cache_data(show_spinner="Counting the model's parameters…", max_entries=64)
def parameter_count(model: str, image_size: tuple[int, int], num_classes: int) -> dict:
    """{"total", "trainable", "error"} for a registered model at this input size.

    Builds the model without pretrained weights (nothing to download). A model that cannot take
    this input size (Model 2's valid convolutions need about 80 pixels) gets `error` instead.
    """
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


@st.cache_data(show_spinner="Starting Keras for the preview…", max_entries=64)
def augmentation_preview(image: np.ndarray, flip: str, rotation: float, count: int, seed: int) -> list[np.ndarray]:
    """`catdog.augment.preview`, cached (the same arguments always give the same variants)."""
    return augment.preview(image, flip=flip, rotation=rotation, count=count, seed=seed)


def _model_stamp(run: runs.Run) -> int:
    try:
        return (run.path / runs.MODEL_FILE).stat().st_mtime_ns
    except OSError:
        raise CatdogError(f"run {run.name} has no saved model; choose another run or train one.") from None


def _predictor(run_path: str, model_stamp: int) -> Predictor:
    return _loaded_predictor(run_path, model_stamp, calibration.temperature_stamp(run_path))


@st.cache_resource(max_entries=3, show_spinner="Loading the model…")
def _loaded_predictor(run_path: str, model_stamp: int, temperature_stamp: int) -> Predictor:
    # Shared by all sessions: inference only, never modified.
    predictor = Predictor(runs.load_run(run_path))
    # Switch to LiteRT (faster on a CPU) once its one conversion is done, without making the
    # first predictions wait for it; it is cached, so later loads of this model start on LiteRT.
    threading.Thread(target=predictor.use_litert, name="catdog-litert", daemon=True).start()
    return predictor


@st.cache_data(show_spinner=False, max_entries=256)
def _answer(
    run_path: str, model_stamp: int, temperature_stamp: int, engine: str, tta: bool, name: str, payload: bytes
) -> tuple[bytes | None, Prediction]:
    # Only the thumbnail is kept, not the photo: a cache entry stays small whatever was uploaded.
    (prediction,) = _loaded_predictor(run_path, model_stamp, temperature_stamp).predict([payload], names=[name], tta=tta)
    if prediction.error:
        return None, prediction
    preview = io.BytesIO()
    Image.fromarray(thumbnail(payload)).save(preview, format="JPEG", quality=90)
    return preview.getvalue(), prediction


@st.cache_data(show_spinner="Predicting every image of the split…", max_entries=16)
def _evaluation(run_path: str, model_stamp: int, tta: bool = False, split: str = "test") -> Evaluation:
    run = runs.load_run(run_path)
    result = evaluate(run, split=split, model=_predictor(run_path, model_stamp).model, tta=tta)
    if split == "test" and not tta:  # runs are compared on the model alone
        runs.save_evaluation(run, result.summary())
    return result


@st.cache_data(show_spinner="Computing the Grad-CAM heat map…", max_entries=64)
def _grad_cam_overlay(run_path: str, model_stamp: int, image: np.ndarray) -> tuple[np.ndarray, int]:
    heat, explained = explain.grad_cam(_predictor(run_path, model_stamp).model, image)
    return explain.overlay(image, heat), explained


@st.cache_data(show_spinner="Rotating and predicting…", max_entries=32)
def _robustness_sweep(run_path: str, model_stamp: int, image: np.ndarray) -> explain.Sweep:
    predictor = _predictor(run_path, model_stamp)
    return explain.robustness_sweep(predictor, load_image(Image.fromarray(image), predictor.image_size))


@st.cache_data(show_spinner="Converting to TensorFlow Lite…", max_entries=4)
def _tflite_bundle(run_path: str, model_stamp: int) -> bytes:
    return export.tflite_bundle(runs.load_run(run_path), _predictor(run_path, model_stamp).model)
