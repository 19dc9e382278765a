"""Runs: compare every saved run, overlay their curves, export, delete, or train again with the
same settings."""

import streamlit as st

from catdog import runs, ui

st.title("Runs")
every = runs.list_runs()
if not every:
    st.info("No runs yet. Train a model on the Train page; each run is saved here.", icon=":material/model_training:")
    st.page_link(ui.TRAIN_PAGE, label="Go to Train", icon=":material/model_training:")
    st.stop()

table = []
for run in every:
    summary = run.summary()
    table.append(
        {
            "run": run.name,
            "model": run.config.model,
            "state": run.state,
            "epochs": f"{summary['epochs']}/{summary['epochs_planned']}",
            "batch": run.config.batch_size,
            "learning rate": run.config.learning_rate,
            "best val accuracy": summary["best_val_accuracy"],
            "final val accuracy": summary["val_accuracy"],
            "test accuracy": summary["test_accuracy"],
            "wall time (s)": round(summary["seconds"], 1) if summary["seconds"] else None,
            "fast path": "yes" if summary["fast_path"] else "no",
        }
    )
st.dataframe(
    table,
    hide_index=True,
    column_config={
        name: st.column_config.NumberColumn(format="percent")
        for name in ("best val accuracy", "final val accuracy", "test accuracy")
    },
    key="runs_table",
)
st.caption("Test accuracy appears once a run has been evaluated (Evaluate page, or `python -m catdog evaluate RUN_DIR`).")

by_name = {run.name: run for run in every}
chosen = st.multiselect("Overlay the curves of", list(by_name), default=list(by_name)[: min(3, len(by_name))], key="runs_compare")
if chosen:
    st.plotly_chart(ui.comparison_figure([by_name[name] for name in chosen]), key="runs_compare_chart")

st.subheader("One run")
name = st.selectbox("Run", list(by_name), format_func=lambda key: ui.run_label(by_name[key]), key="runs_selected")
run = by_name[name]
st.json(run.config.to_dict(), expanded=False)
actions = st.columns(4)
if actions[0].button("Train again with these settings", key="runs_load_settings", icon=":material/replay:"):
    ui.load_settings_into_train(run.config)
    st.switch_page(ui.TRAIN_PAGE)
with ui.reported_errors():
    if run.usable:
        from catdog.export import keras_bytes, labels_text

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
                ui.tflite_bundle(str(run.path), ui.model_stamp(run)),
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
from catdog.models import MODELS  # noqa: E402  (TensorFlow-free registry)

table = []
for key, spec in MODELS.items():
    if spec.tutorial_val_accuracy is None:
        continue
    done = [
        r
        for r in every
        if r.config.model == key and r.state == runs.FINISHED and r.config.epochs == 20 and r.config.batch_size == 32
    ]
    latest = done[0] if done else None
    table.append(
        {
            "model": spec.title,
            "tutorial val accuracy": spec.tutorial_val_accuracy,
            "catdog val accuracy": latest.final("val_accuracy") if latest else None,
            "catdog test accuracy": (latest.evaluation or {}).get("test_accuracy") if latest else None,
            "wall time (s)": round(latest.status.get("seconds", 0), 1) if latest else None,
            "run": latest.name if latest else "not trained yet",
        }
    )
st.dataframe(
    table,
    hide_index=True,
    column_config={
        name: st.column_config.NumberColumn(format="percent")
        for name in ("tutorial val accuracy", "catdog val accuracy", "catdog test accuracy")
    },
    key="runs_reproduce_table",
)
dataset = ui.current_dataset(prompt=False)
if dataset is None:
    st.caption("Choose the tutorial's dataset on the Data page to reproduce it.")
elif st.button("Reproduce the tutorial (all four models)", key="runs_reproduce", icon=":material/science:"):
    with ui.reported_errors():
        st.session_state["train_launch"] = ui.launch_reproduce(dataset.root)
        st.switch_page(ui.TRAIN_PAGE)
