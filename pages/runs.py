"""Runs: compare every saved run, overlay their curves, see the test images two runs disagree on,
export, delete, or train again with the same settings."""

import streamlit as st

from catdog import runs
from catdog.export import keras_bytes, labels_text
from catdog.ui import datasets, inference, run_diff, run_views, state, training

state.through_app()  # first: a page opened by its address on a fresh server goes through app.py

st.title("Runs")
every = runs.list_runs()
if not every:
    run_views.no_runs_yet("No runs yet. Train a model on the Train page; each run is saved here.")

run_views.runs_table(every, key="runs")
st.caption("Test accuracy appears once a run has been evaluated (Evaluate page, or `python -m catdog evaluate RUN_DIR`).")
run_views.curve_overlay(every, key="runs", preselected=3)
if st.toggle("Compare two runs image by image: the test images they disagree on", key="runs_diff"):
    run_diff.run_diff(run_views.usable_runs(), key="runs")

st.subheader("One run")
run = run_views.run_picker("Run", every, key="runs_selected")
st.json(run.config.to_dict(), expanded=False)
actions = st.columns(4)
if actions[0].button("Train again with these settings", key="runs_load_settings", icon=":material/replay:"):
    st.session_state[state.TRAIN_SETTINGS] = run.config.to_dict()  # the Train page puts them into its widgets
    st.switch_page(state.TRAIN_PAGE)
with state.reported_errors():
    if run.usable:
        actions[1].download_button(
            "Download .keras",
            keras_bytes(run),
            file_name=f"{run.name}.keras",
            mime="application/octet-stream",
            on_click="ignore",
            key="runs_download_keras",
            icon=":material/download:",
        )
        if actions[2].toggle("Prepare TensorFlow Lite", key="runs_prepare_tflite"):
            actions[2].download_button(
                "Download TFLite + labels",
                inference.tflite_bundle(run),
                file_name=f"{run.name}-tflite.zip",
                mime="application/zip",
                on_click="ignore",
                key="runs_download_tflite",
                icon=":material/download:",
            )
        st.caption(f"labels.txt in the TFLite zip: {labels_text(run).strip().replace(chr(10), ', ')}")
    if run.state != runs.RUNNING and actions[3].button(
        "Delete this run", key="runs_delete", icon=":material/delete:", type="secondary"
    ):
        st.session_state["runs_confirm_delete"] = run.name
    if st.session_state.get("runs_confirm_delete") == run.name:
        st.warning(f"Delete {run.name} and its model for good?")
        yes, no = st.columns(2)
        if yes.button("Yes, delete", key="runs_delete_yes", type="primary"):
            runs.delete_run(run)
            st.session_state.pop("runs_confirm_delete")
            st.rerun()
        if no.button("Keep it", key="runs_delete_no"):
            st.session_state.pop("runs_confirm_delete")
            st.rerun()

st.subheader("Reproduce the tutorial")
st.write(
    "Train the tutorial's four models with its settings (20 epochs, batch 32, Adam, 160×160), one after the other, "
    "and compare with the validation accuracy it reported. Each run appears on the Train page while it trains."
)
run_views.tutorial_table(every, key="runs_reproduce_table")
dataset = datasets.current_dataset(prompt=False)
if dataset is None:
    st.caption("Choose the tutorial's dataset on the Data page to reproduce it.")
elif st.button("Reproduce the tutorial (all four models)", key="runs_reproduce", icon=":material/science:"):
    with state.reported_errors():
        st.session_state[state.TRAIN_LAUNCH] = training.launch_reproduce(dataset.root)
        st.switch_page(state.TRAIN_PAGE)
