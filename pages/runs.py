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
            "Download .keras", keras_bytes(run), file_name=f"{run.name}.keras", mime="application/octet-stream",
            on_click="ignore", key="runs_download_keras", icon=":material/download:",
        )
        if actions[2].toggle("Prepare TensorFlow Lite", key="runs_prepare_tflite"):
            actions[2].download_button(
                "Download TFLite + labels", ui.tflite_bundle(str(run.path), ui.model_stamp(run)), file_name=f"{run.name}-tflite.zip",
                mime="application/zip", on_click="ignore", key="runs_download_tflite", icon=":material/download:",
            )
        st.caption(f"labels.txt in the TFLite zip: {labels_text(run).strip().replace(chr(10), ', ')}")
    if run.state != runs.RUNNING and actions[3].button("Delete this run", key="runs_delete", icon=":material/delete:", type="secondary"):
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
