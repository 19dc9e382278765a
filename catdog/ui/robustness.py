"""Stress tests for the Augmentation page, cached: one image's confidence under each perturbation,
its occlusion map, and the test split's accuracy under each perturbation (with a progress bar).

Cache keys hold the model file's and the kept temperature's stamps, so a run trained again, or
calibrated, is measured anew.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from catdog import calibration, explain, runs, stress
from catdog.images import load_image
from catdog.ui import inference
from catdog.ui.training import format_duration


def confidence_sweep(run: runs.Run, image: np.ndarray) -> tuple[dict, int]:
    """({perturbation: (strengths, probability)}, the class followed: the one predicted for the image)."""
    return _confidence_sweep(str(run.path), _stamp(run), image)


def occlusion(run: runs.Run, image: np.ndarray) -> tuple[np.ndarray, float, int]:
    """(the image, at the model's size, with its occlusion map blended in; the largest drop; the class)."""
    return _occlusion(str(run.path), _stamp(run), image)


def split_accuracy(run: runs.Run, max_images: int = 200) -> dict:
    """`catdog.stress.accuracy_under_stress` on the run's test split, computed once per model
    (a progress bar with the time left meanwhile)."""
    key = (str(run.path), _stamp(run), max_images)
    done = _split_results()
    if key not in done:
        evaluation = inference.evaluation_for(run)
        bar = st.progress(0.0, text="Perturbing and predicting the test images…")

        def progress(finished, total, seconds_left):
            bar.progress(finished / total, text=f"{finished} of {total} test images · {format_duration(seconds_left)} left")

        done[key] = stress.accuracy_under_stress(
            inference.predictor_for(run), evaluation.paths, evaluation.labels, max_images, progress
        )
        bar.empty()
    return done[key]


def _stamp(run: runs.Run) -> tuple[int, int]:
    try:
        model = (run.path / runs.MODEL_FILE).stat().st_mtime_ns
    except OSError:
        model = 0
    return model, calibration.temperature_stamp(run.path)


def _at_model_size(run: runs.Run, image: np.ndarray) -> np.ndarray:
    return load_image(Image.fromarray(np.asarray(image, np.uint8)), tuple(run.config.image_size))


@st.cache_data(show_spinner="Perturbing and predicting…", max_entries=32)
def _confidence_sweep(run_path: str, stamp: tuple, image: np.ndarray) -> tuple[dict, int]:
    run = runs.load_run(run_path)
    resized = _at_model_size(run, image)
    predictor = inference.predictor_for(run)
    followed = int(predictor.predict_arrays(resized).argmax())
    return stress.confidence_sweep(predictor, resized, followed), followed


@st.cache_data(show_spinner="Sliding a grey patch over the image…", max_entries=32)
def _occlusion(run_path: str, stamp: tuple, image: np.ndarray) -> tuple[np.ndarray, float, int]:
    run = runs.load_run(run_path)
    resized = _at_model_size(run, image)
    heat, drop, followed = stress.occlusion_map(inference.predictor_for(run), resized)
    return explain.overlay(resized, heat), drop, followed


@st.cache_resource
def _split_results() -> dict:
    # Shared by sessions: the same run and model give the same figures to everyone.
    return {}
