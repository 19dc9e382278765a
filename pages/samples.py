"""Samples: the tutorial's two-row view, one row of random images per class, each titled with its class."""

import random

import streamlit as st

from catdog.data import sample_files
from catdog.images import load_image
from catdog.ui import datasets, state

state.through_app()  # first: a page opened by its address on a fresh server goes through app.py

st.title("Samples")
dataset = datasets.current_dataset()
if dataset is None:
    st.stop()

if "samples_seed" not in st.session_state:
    st.session_state["samples_seed"] = random.randrange(2**31)

first, second, third = st.columns([1, 2, 1], vertical_alignment="bottom")
split = first.selectbox("Split", ["train", "validation", "test"], key="samples_split")
per_class = second.slider("Images per class", 1, 8, 3, key="samples_per_class")
if third.button("Draw new images", icon=":material/shuffle:", key="samples_draw"):
    st.session_state["samples_seed"] = random.randrange(2**31)

chosen = sample_files(dataset, split, per_class, seed=st.session_state["samples_seed"])
for name, paths in chosen.items():
    if not paths:
        st.caption(f"No {name} images in the {split} split.")
        continue
    # One st.image per class: its images flow side by side as one row, each captioned with the class.
    with state.reported_errors():  # a file removed since the dataset was checked
        st.image([load_image(path, (160, 160)) for path in paths], caption=[name] * len(paths), width=160)
