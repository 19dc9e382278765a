"""Train: pick a model and its settings, train it in the background, watch it live, compare runs."""

import streamlit as st

from catdog import runs
from catdog.models import MODELS
from catdog.ui import charts, datasets, queue_views, run_views, state, train_form, training

state.through_app()  # first: a page opened by its address on a fresh server goes through app.py

train_form.apply_handed_settings()  # settings handed over by the Runs page, before the widgets exist
st.title("Train")
now = training.training_state()


@st.fragment(run_every=1.0 if now.busy else None)
def live_training():
    """The training in progress and the queue, redrawn every second from the runs folder."""
    current = training.training_state()
    position = queue_views.my_position(current, st.session_state.get(state.TRAIN_LAUNCH))
    if position is not None:
        st.info(
            f"Your training is number {position} in the queue; it starts by itself when the ones before it have finished.",
            icon=":material/schedule:",
        )
    queue_views.queue_list(current, key="train")
    if not current.active:
        if st.session_state.get("train_watching"):
            st.session_state["train_watching"] = False
            st.rerun()  # it has just ended: redraw the whole page (settings, list of runs)
        return
    st.session_state["train_watching"] = True
    if current.run is None:
        st.info("Starting the training: loading the data and TensorFlow…", icon=":material/hourglass_top:")
        return
    run = current.run
    spec = MODELS.get(run.config.model)
    planned = run.epochs_planned
    st.subheader(f"Training now: {spec.title if spec else run.config.model}")
    st.caption(
        f"{run.name} · batch size {run.config.batch_size} · learning rate {run.config.learning_rate:g} · {run.config.image_size[0]}×{run.config.image_size[1]} images"
        + "".join(f" · {line}" for line in training.speed_notes(run))
    )
    fraction, line = training.progress_summary(run)
    st.progress(fraction, text=line)
    figure = charts.history_figure(
        run.history,
        planned,
        baseline=datasets.baseline_for(run),
        tutorial=spec.tutorial_val_accuracy if spec else None,
        tutorial_label=f"tutorial's {spec.short_name}" if spec else "tutorial",
        fine_tune_from_epoch=run.status.get("fine_tune_from_epoch"),
    )
    st.plotly_chart(figure, key="train_live_chart")
    st.caption(f"{len(run.history)} of {planned} epochs finished")
    owner, _ = training.who_am_i()
    if runs.stop_requested(run.path):
        st.caption("Stopping after the current batch…")
    elif not training.may_stop(run):
        st.caption(f"Started by {queue_views.starter_label(run, owner)}: only they can stop it.")
    else:
        # A callback runs before the rerun it causes, so that rerun already says "Stopping".
        st.button(
            "Stop",
            icon=":material/stop:",
            key="train_stop",
            help="Ends the training after the current batch and keeps the finished epochs.",
            on_click=runs.request_stop,
            args=(run.path,),
        )


live_training()
failure = training.launch_error(st.session_state.get(state.TRAIN_LAUNCH))
if failure:
    st.error(f"The training could not start: {failure}")

st.subheader("New training")
dataset = datasets.current_dataset()  # the training in progress above and the runs below show without one
if dataset is not None:
    config = train_form.settings_form(dataset, training_active=now.active or bool(now.waiting))
    if config is not None:
        with state.reported_errors():
            st.session_state[state.TRAIN_LAUNCH] = training.launch_training(config, dataset.root)
            st.rerun()

st.subheader("Runs")
finished = [run for run in runs.list_runs() if run.state != runs.RUNNING]
if not finished:
    st.caption("No runs yet: a finished, stopped or failed training is listed here.")
else:
    run_views.runs_table(finished, key="train")
    run_views.curve_overlay(finished, key="train")
