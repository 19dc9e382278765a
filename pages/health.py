"""Data health: likely label errors, near-duplicates across splits and outliers, each as a gallery
where images can be left out of training; and the embedding map of the whole dataset."""

import streamlit as st

from catdog.ui import datasets, health, state

state.through_app()  # first: a page opened by its address on a fresh server goes through app.py

st.title("Data health")
dataset = datasets.current_dataset()
if dataset is None:
    st.stop()
if "health_error" in st.session_state:
    st.error(st.session_state.pop("health_error"))

with state.reported_errors():
    report, features = health.health_for(dataset)
    health.summary(report)
    tabs = ["Likely label errors", "Near-duplicates", "Outliers", "Embedding map"]
    labels, duplicates, outliers, atlas = st.tabs(tabs, key="health_tab")  # a key keeps the open tab over reruns
    with labels:
        health.label_issue_gallery(report)
    with duplicates:
        health.duplicate_gallery(report)
    with outliers:
        health.outlier_gallery(report)
    with atlas:
        health.embedding_map(report, features)
