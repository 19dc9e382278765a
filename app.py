"""catdog's dashboard: `streamlit run app.py` (or `make run`), then open http://localhost:8501.

The entry point: page navigation, shared session state and the sidebar. Each page is a short
script in pages/; their shared helpers are in catdog/ui/. Nothing here imports TensorFlow, so the
first page appears in a moment; the pages that need a model import it when they are opened.
"""

import streamlit as st

from catdog.ui import queue_views, state, training

st.set_page_config(page_title="catdog", page_icon=":material/pets:", layout="wide")
state.init_state()

page = st.navigation(
    [
        st.Page("pages/data.py", title="Data", icon=":material/folder_open:", default=True),
        st.Page("pages/samples.py", title="Samples", icon=":material/photo_library:"),
        st.Page("pages/health.py", title="Data health", icon=":material/health_and_safety:"),
        st.Page("pages/augmentation.py", title="Augmentation", icon=":material/flip:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/predict.py", title="Predict", icon=":material/search:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
        st.Page("pages/learning_curve.py", title="Learning curve", icon=":material/show_chart:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    ]
)


@st.fragment(run_every=2.0 if training.training_state().busy else None)
def training_status():
    """What is training and what waits in the queue, kept current on every page meanwhile."""
    now = training.training_state()
    queue_views.training_lines(now)
    queue_views.queue_list(now, key="sidebar")


with st.sidebar:
    source = state.dataset_source()
    st.caption(f"Dataset: {source['label']}" if source else "Dataset: none chosen yet")
    training_status()

page.run()
