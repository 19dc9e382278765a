"""catdog's dashboard: `streamlit run app.py` (or `make run`), then open http://localhost:8501.

The entry point: page navigation, shared session state and the sidebar. Each page is a short
script in pages/; their shared helpers are in catdog/ui/. Nothing here imports TensorFlow, so the
first page appears in a moment; the pages that need a model import it when they are opened.
"""

import streamlit as st

from catdog.ui import state, training

st.set_page_config(page_title="catdog", page_icon=":material/pets:", layout="wide")
state.init_state()

page = st.navigation(
    [
        st.Page("pages/data.py", title="Data", icon=":material/folder_open:", default=True),
        st.Page("pages/samples.py", title="Samples", icon=":material/photo_library:"),
        st.Page("pages/augmentation.py", title="Augmentation", icon=":material/flip:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/predict.py", title="Predict", icon=":material/search:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
        st.Page("pages/learning_curve.py", title="Learning curve", icon=":material/show_chart:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    ]
)


@st.fragment(run_every=2.0 if training.training_state().active else None)
def training_status():
    """What is training, kept current on every page while it runs."""
    now = training.training_state()
    if now.run is not None:
        st.caption(f"Training {now.run.config.model}: {len(now.run.history)} of {now.run.epochs_planned} epochs done")
    elif now.starting:
        st.caption("A training is starting…")


with st.sidebar:
    source = state.dataset_source()
    st.caption(f"Dataset: {source['label']}" if source else "Dataset: none chosen yet")
    training_status()

page.run()
