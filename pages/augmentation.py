"""Augmentation: what random flips and rotations do to one image (Keras' own layers, as in training)."""

import random
from pathlib import Path

import streamlit as st

from catdog.augment import FLIP_MODES, rotation_degrees
from catdog.data import sample_files
from catdog.images import load_image
from catdog.ui import charts, datasets, inference, robustness, run_views, state, trust_charts

state.through_app()  # first: a page opened by its address on a fresh server goes through app.py

st.title("Augmentation")
st.write(
    "Models 2-4 see each training image randomly flipped and rotated, a little differently every epoch, "
    "so they learn that a mirrored or tilted cat is still a cat. Validation, test and your own photos are never augmented."
)

dataset = datasets.current_dataset(prompt=False)
sources = ["sample", "upload"] if dataset is not None else ["upload"]
source = st.radio(
    "Image",
    sources,
    format_func={"sample": "A sample from the dataset", "upload": "Upload an image"}.get,
    horizontal=True,
    key="aug_source",
)
image = None
if source == "sample":
    candidates = [path for paths in sample_files(dataset, "train", per_class=6, seed=0).values() for path in paths]
    picked = st.selectbox(
        "Sample", candidates, format_func=lambda path: f"{Path(path).parent.name} · {Path(path).name}", key="aug_sample"
    )
    with state.reported_errors():  # a file removed since the dataset was checked
        image = load_image(picked, (160, 160))
else:
    upload = st.file_uploader("Image", type=datasets.IMAGE_TYPES, key="aug_upload")
    if upload is None:
        st.info("Upload a photo to see its augmented variants.")
    else:
        with state.reported_errors():
            image = load_image(upload.getvalue(), (160, 160))

first, second, third = st.columns(3)
flip = first.selectbox("Flip", FLIP_MODES, index=FLIP_MODES.index("horizontal"), key="aug_flip")
rotation = second.slider("Rotation factor (fraction of a full turn)", 0.0, 0.5, 0.1, 0.01, key="aug_rotation")
second.caption(f"Rotates by up to ±{rotation_degrees(rotation):.0f}° either way")
count = third.slider("Variants", 1, 8, 4, key="aug_count")
if "aug_seed" not in st.session_state:
    st.session_state["aug_seed"] = 0
if st.button("New random variants", icon=":material/shuffle:", key="aug_redraw"):
    st.session_state["aug_seed"] = random.randrange(2**31)

if image is not None:
    with state.reported_errors():
        images = inference.augmentation_preview(image, flip, rotation, count, st.session_state["aug_seed"])
        st.image(images, caption=["original"] + [f"variant {index}" for index in range(1, len(images))], width=160)

    st.subheader("Why it matters: a model's confidence as this image turns")
    trained = run_views.usable_runs()
    if not trained:
        st.caption("Train a model first; then see how its prediction holds up when this image is rotated or mirrored.")
    else:
        run = run_views.run_picker("Model", trained, key="aug_sweep_run")
        if st.toggle("Rotate from -180° to 180° and mirror", key="aug_sweep"):
            with state.reported_errors():
                sweep = inference.robustness_sweep(run, image)
                st.plotly_chart(charts.sweep_figure(sweep, run.class_names), key="aug_sweep_chart")
                st.caption(
                    "Solid: the image turned; dotted: its mirror image turned. A model trained with rotation augmentation "
                    "(Models 2-4) should stay confident over the angles it was shown (±36° for factor 0.1); Model 1 never was."
                )
        if st.toggle("Stress tests: brightness, contrast, blur, JPEG quality, zoom, and a grey patch", key="aug_stress"):
            with state.reported_errors():
                curves, followed = robustness.confidence_sweep(run, image)
                name = run.class_names[followed]
                st.plotly_chart(trust_charts.stress_figure(curves, f"probability of {name}"), key="aug_stress_chart")
                shown, drop, _ = robustness.occlusion(run, image)
                st.image(
                    shown, caption=f"Occlusion: warm where a grey patch costs the most, up to {drop:.0%} of {name}", width=240
                )
                st.caption(
                    "Each plot degrades the image a little more (strength 0: the image as it is) and follows the probability "
                    "of the class predicted for it. The occlusion map slides a grey square over the image: where hiding a "
                    "part lowers that probability, the model relied on it."
                )
        if st.toggle("Accuracy on the test split under each perturbation", key="aug_stress_split"):
            with state.reported_errors():
                curves = robustness.split_accuracy(run)
                st.plotly_chart(trust_charts.stress_figure(curves, "test accuracy"), key="aug_stress_split_chart")
                st.caption("Up to 200 test images, spread over the split, each degraded at every strength.")
