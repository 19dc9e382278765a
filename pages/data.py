"""Data (the home page): which dataset is in use, choosing another, and what is in it."""

import pandas as pd
import streamlit as st

from catdog.paths import data_root
from catdog.ui import charts, datasets, state

state.through_app()  # first: a page opened by its address on a fresh server goes through app.py

st.title("catdog")
st.write(
    "Build a binary image classifier, cats vs dogs by default, following the Keras tutorial: look at "
    "the **Samples**, see what **Augmentation** does, **Train** any of the tutorial's models with live "
    "curves, and classify your own photos on **Predict**. Everything starts with a dataset."
)

st.subheader("Dataset in use")
source = state.dataset_source()
if source is None:
    st.info("None yet: choose one below.")
else:
    st.markdown(f"**{source['label']}**  \n`{source['root']}`")

with st.expander("Choose a dataset", expanded=source is None):
    kinds = {"tutorial": "The tutorial's dataset", "folder": "A local folder", "zip": "Upload a zip", "upload": "Upload a folder"}
    kind = st.radio("Source", list(kinds), format_func=kinds.get, horizontal=True, key="data_kind")
    if kind == "tutorial":
        st.caption(
            "cats_and_dogs_filtered: 2,000 training and 1,000 validation photos. Downloaded once (68 MB) "
            "into the Keras cache (KERAS_HOME), then used offline."
        )
        if st.button("Use the tutorial's dataset", type="primary", key="data_use_tutorial"):
            bar = st.progress(0.0, text="Looking for the dataset…")

            def show_progress(done, total, what):
                fraction = min(done / total, 1.0) if total else 0.0
                bar.progress(
                    fraction,
                    text=f"{what}: {done / 1e6:.1f} of {total / 1e6:.1f} MB"
                    if what == "download"
                    else f"{what}: {done} of {total}",
                )

            with state.reported_errors(), st.spinner("Fetching and checking the tutorial's dataset…"):
                datasets.use_tutorial_dataset(show_progress)
                st.rerun()
    elif kind == "folder":
        st.caption(
            f"A folder inside `{data_root()}` (set CATDOG_DATA_ROOT to change it) holding either train/ and "
            "validation/ with one sub-folder per class, or just one sub-folder per class (split 80/20)."
        )
        found = datasets.dataset_folders()
        picked = st.selectbox(
            "Folders found there", found, index=None, placeholder="none found" if not found else "pick one", key="data_found"
        )
        typed = st.text_input("…or type a folder, relative to that folder", key="data_folder")
        if st.button("Use this folder", type="primary", key="data_use_folder"):
            with state.reported_errors():
                datasets.use_local_folder(typed.strip() or picked or "")
                st.rerun()
    elif kind == "upload":
        st.caption(
            "Pick a folder with one sub-folder of images per class (at least 10 images each), or with train/ and "
            "validation/. Its images are copied into catdog's cache."
        )
        folder = st.file_uploader(
            "Folder", type=datasets.IMAGE_TYPES, accept_multiple_files="directory", key="data_upload_folder"
        )
        if st.button("Use this folder", type="primary", disabled=not folder, key="data_use_upload"):
            with state.reported_errors(), st.spinner("Saving and checking the images…"):
                datasets.use_uploaded_folder(folder)
                st.rerun()
    else:
        st.caption(
            "A zip of a folder of class folders (or of train/ and validation/). It is unpacked into catdog's "
            "cache; archives with paths leaving the folder, links, or more than 2 GB / 50,000 files are refused."
        )
        upload = st.file_uploader("Zip file", type=["zip"], key="data_zip")
        if st.button("Unpack and use", type="primary", disabled=upload is None, key="data_use_zip"):
            with state.reported_errors(), st.spinner("Unpacking and checking the images…"):
                datasets.use_uploaded_zip(upload)
                st.rerun()

dataset = datasets.current_dataset(prompt=False)
if dataset is not None:
    summary = dataset.summary()
    st.subheader("What is in it")
    st.caption(f"{summary['layout']} · classes: {', '.join(summary['class_names'])}")
    first, second, third = st.columns(3)
    first.metric("Training images", len(dataset.train))
    second.metric("Validation + test images", len(dataset.validation) + len(dataset.test))
    third.metric(
        "Baseline accuracy",
        f"{summary['baseline_accuracy']:.1%}",
        help="Always guessing the most frequent training class: a model must beat this.",
    )
    left, right = st.columns(2)
    with left:
        st.markdown("**Images per class and split**")
        counts = pd.DataFrame(summary["counts"]).rename_axis("class")
        counts["all"] = counts.sum(axis=1)
        st.dataframe(counts, key="data_counts")
        st.caption("The test split is a fifth of the validation batches, fixed by the seed.")
    with right:
        st.markdown("**Label frequencies (training split)**")
        st.plotly_chart(
            charts.label_frequency_figure(summary["label_frequencies"], summary["baseline_accuracy"]), key="data_frequencies"
        )
    skipped = summary["skipped"]
    if skipped:
        st.markdown(f"**{len(skipped)} files skipped**")
        st.dataframe(pd.DataFrame(skipped), hide_index=True, key="data_skipped")
    else:
        st.success("Every file is a readable image: none skipped.")
