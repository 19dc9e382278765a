"""Predict: classify your own photos with a trained run (the best one by default)."""

import streamlit as st

from catdog.images import load_image
from catdog.ui import datasets, inference, run_views, state

state.through_app()  # first: a page opened by its address on a fresh server goes through app.py

st.title("Predict")
candidates = run_views.usable_runs()
if not candidates:
    run_views.no_runs_yet(
        "No trained model yet. Train one on the Train page first: Model 4 (transfer learning, the tutorial's "
        "best at about 98% validation accuracy) trains in about a minute on a laptop CPU."
    )

run = run_views.run_picker("Model", candidates, key="predict_run", help="The best run (highest validation accuracy) comes first.")
st.caption(
    f"Classes: {', '.join(run.class_names)} · images are resized to {run.config.image_size[0]}×{run.config.image_size[1]}, as in training"
)


@st.fragment
def photos_and_answers() -> None:
    """The photos and their answers: choosing a photo reruns this part of the page only (not
    app.py, the list of runs or the picker)."""
    uploads = st.file_uploader("Photos", type=datasets.IMAGE_TYPES, accept_multiple_files=True, key="predict_uploads")
    use_camera = st.toggle("Use the camera", key="predict_use_camera")
    photo = st.camera_input("Take a photo", key="predict_camera") if use_camera else None
    files = list(uploads or []) + ([photo] if photo is not None else [])
    if not files:
        st.caption("Upload one or more photos (JPEG, PNG, GIF, WebP, BMP or TIFF), or take one with the camera.")
        return

    explain = st.toggle("Explain with Grad-CAM (where the model looked)", key="predict_gradcam")
    tta = st.toggle("Test-time augmentation: average with the mirror image", key="predict_tta")
    with state.reported_errors():
        predictor = inference.predictor_for(run)
        answers = inference.classify(run, files, tta)
        st.caption(inference.engine_note(predictor))
        if predictor.calibrated:
            st.caption(
                f"Calibrated probabilities: the run keeps temperature {predictor.temperature:.2f} (see the Evaluate page)."
            )
        for answer in answers:
            show_answer(answer, explain)


def show_answer(answer: inference.Answer, explain: bool) -> None:
    """One photo's card: its thumbnail and label with a bar per class, or why it cannot be read."""
    prediction = answer.prediction
    with st.container(border=True):
        left, right = st.columns([1, 2])
        if prediction.error:
            left.markdown(f"**{answer.name}**")
            right.error(f"{answer.name}: {prediction.error}")
            return
        left.image(answer.preview, caption=answer.name)
        if explain:
            heat_map, _ = inference.grad_cam_overlay(run, load_image(answer.payload, run.config.image_size))
            left.image(heat_map, caption="Grad-CAM: warm colours mattered most", width=256)
        confidence = prediction.probabilities[prediction.label]
        right.markdown(f"### {prediction.label}")
        right.caption(f"{confidence:.1%} sure")
        for class_name, probability in sorted(prediction.probabilities.items(), key=lambda item: -item[1]):
            right.progress(probability, text=f"{class_name}: {probability:.1%}")


photos_and_answers()
