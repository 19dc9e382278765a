"""catdog's dashboard: `streamlit run app.py` (or `make run`), then open http://localhost:8501.

The entry point: page navigation, shared session state and the sidebar. Each page is a short
script in pages/. Nothing here imports TensorFlow, so the first page appears in a moment; the
pages that need a model import it when they are opened.
"""

import streamlit as st

from catdog import ui

st.set_page_config(page_title="catdog", page_icon=":material/pets:", layout="wide")
ui.init_state()

page = st.navigation(
    [
        st.Page("pages/data.py", title="Data", icon=":material/folder_open:", default=True),
        st.Page("pages/samples.py", title="Samples", icon=":material/photo_library:"),
        st.Page("pages/augmentation.py", title="Augmentation", icon=":material/flip:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/predict.py", title="Predict", icon=":material/search:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    ]
)


@st.fragment(run_every=2.0 if ui.training_state().active else None)
def training_status():
    """What is training, kept current on every page while it runs."""
    training = ui.training_state()
    if training.run is not None:
        st.caption(
            f"Training {training.run.config.model}: {len(training.run.history)} of {training.run.config.epochs} epochs done"
        )
    elif training.starting:
        st.caption("A training is starting…")


with st.sidebar:
    source = ui.dataset_source()
    st.caption(f"Dataset: {source['label']}" if source else "Dataset: none chosen yet")
    training_status()

page.run()
