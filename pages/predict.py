"""Predict: classify your own photos with a trained run (the best one by default)."""

import streamlit as st

from catdog import ui
from catdog.images import load_image

st.title("Predict")
candidates = ui.usable_runs()
if not candidates:
    st.info(
        "No trained model yet. Train one on the Train page first: Model 4 (transfer learning, the tutorial's "
        "best at about 98% validation accuracy) trains in about a minute on a laptop CPU.",
        icon=":material/model_training:",
    )
    st.page_link(ui.TRAIN_PAGE, label="Go to Train", icon=":material/model_training:")
    st.stop()

by_name = {run.name: run for run in candidates}
name = st.selectbox(
    "Model",
    list(by_name),
    format_func=lambda key: ui.run_label(by_name[key]),
    key="predict_run",
    help="The best run (highest validation accuracy) comes first.",
)
run = by_name[name]
st.caption(
    f"Classes: {', '.join(run.class_names)} · images are resized to {run.config.image_size[0]}×{run.config.image_size[1]}, as in training"
)

uploads = st.file_uploader("Photos", type=ui.IMAGE_TYPES, accept_multiple_files=True, key="predict_uploads")
photo = st.camera_input("Take a photo", key="predict_camera") if st.toggle("Use the camera", key="predict_use_camera") else None
files = list(uploads or []) + ([photo] if photo is not None else [])
if not files:
    st.caption("Upload one or more photos (JPEG, PNG, GIF, WebP, BMP or TIFF), or take one with the camera.")
    st.stop()

explain = st.toggle("Explain with Grad-CAM (where the model looked)", key="predict_gradcam")
with ui.reported_errors():
    predictor = ui.predictor_for(run)
    results = ui.classify(predictor, files)
    st.caption(ui.engine_note(predictor))
    for file_name, payload, prediction in results:
        with st.container(border=True):
            left, right = st.columns([1, 2])
            if prediction.error:
                left.markdown(f"**{file_name}**")
                right.error(f"{file_name}: {prediction.error}")
                continue
            left.image(ui.thumbnail(payload), caption=file_name)
            if explain:
                heat_map, _ = ui.grad_cam_overlay(str(run.path), ui.model_stamp(run), load_image(payload, run.config.image_size))
                left.image(heat_map, caption="Grad-CAM: warm colours mattered most", width=256)
            confidence = prediction.probabilities[prediction.label]
            right.markdown(f"### {prediction.label}")
            right.caption(f"{confidence:.1%} sure")
            for class_name, probability in sorted(prediction.probabilities.items(), key=lambda item: -item[1]):
                right.progress(probability, text=f"{class_name}: {probability:.1%}")
