"""Learning curve: how many images do I need? A model trained on 5% to 100% of the training images,
several times each, judged on the validation split (`python -m catdog learning-curve`)."""

import streamlit as st

from catdog.models import MODELS
from catdog.ui import datasets, learning, state, trust_charts
from catdog.ui.training import format_duration

state.through_app()  # first: a page opened by its address on a fresh server goes through app.py

st.title("Learning curve")
st.write(
    "How many images do you need? Each point is a model trained on a share of the training images (the same share of "
    "each class), several times with different seeds, and judged on the whole validation split. Where the curve flattens, "
    "more images of the same kind will help little."
)
dataset = datasets.current_dataset()
if dataset is None:
    st.stop()

left, middle, right = st.columns(3)
model = left.selectbox("Model", list(MODELS), format_func=lambda key: MODELS[key].title, key="curve_model")
frozen = MODELS[model].frozen_base
seeds = middle.slider("Trainings per size (seeds)", 1, 5, 3, key="curve_seeds")
epochs = right.slider("Epochs per training", 1, 30, 20 if frozen else 5, key=f"curve_epochs_{'frozen' if frozen else 'full'}")
st.caption(
    "Model 4 trains only its head, on the frozen base's features computed once and cached: the whole curve takes seconds."
    if frozen
    else f"This model trains for real: {5 * seeds} trainings of {epochs} epochs, on subsets of the training images."
)
files = learning.curve_files(dataset.root, model, seeds, epochs)
now = learning.curve_state(files)
if st.button("Draw the learning curve", key="curve_draw", icon=":material/show_chart:", disabled=now.running):
    learning.launch(dataset.root, model, seeds, epochs)
    st.rerun()


@st.fragment(run_every=1.0 if now.running else None)
def curve_view():
    current = learning.curve_state(files)
    if current.running:
        progress = current.progress or {}
        done, total = progress.get("done", 0), progress.get("total") or 1
        left = progress.get("seconds_left")
        eta = f" · {format_duration(left)} left" if left is not None else ""
        st.progress(min(done / total, 1.0), text=f"{progress.get('message') or 'starting'}{eta}")
        return
    if now.running:  # it just finished: draw the whole page again, without polling
        st.rerun()
    if current.error:
        st.error(current.error)
    if current.rows:
        st.plotly_chart(trust_charts.learning_curve_figure(current.rows), key="curve_chart")
        st.dataframe(
            [
                {key: row[key] for key in ("fraction", "train_images", "val_accuracy", "low", "high", "seconds")}
                for row in current.rows
            ],
            hide_index=True,
            column_config={
                name: st.column_config.NumberColumn(format="percent") for name in ("fraction", "val_accuracy", "low", "high")
            },
            key="curve_table",
        )
        st.caption(
            "The band is a 95% t-interval of the mean over the seeds (with one seed, a Wilson interval over the validation "
            "images); seconds are those of one training at that size."
        )


curve_view()
