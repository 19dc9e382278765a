"""The dashboard's Streamlit-aware helpers, split by concern; pages import the modules they use.

    state       session-state keys, the dataset in use (remembered across sessions), error boxes
    datasets    choosing, checking and caching datasets
    inference   cached predictors, evaluations, explanations, exports and previews
    training    queueing trainings in the background and reading their progress
    queue_views the trainings in progress and the queue, as the sidebar and the Train page show them
    train_form  the Train page's settings form (the home of its widget keys)
    run_views   run pickers, the runs table and the curve overlay
    charts      Plotly figures, built without Streamlit

The only part of catdog that imports Streamlit. Nothing here imports TensorFlow at import time,
so the first page appears quickly.
"""
