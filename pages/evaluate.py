"""Evaluate: a run's test accuracy with its uncertainty, per-class figures, ROC, the confusion
matrix and a gallery of the images in any of its cells, with Grad-CAM explanations; calibration
(reliability diagram, temperature scaling) and test-time augmentation."""

import numpy as np
import streamlit as st

from catdog import calibration
from catdog.images import load_image
from catdog.ui import charts, inference, run_views, state, trust_charts

state.through_app()  # first: a page opened by its address on a fresh server goes through app.py

st.title("Evaluate")
candidates = run_views.usable_runs()
if not candidates:
    run_views.no_runs_yet("No trained model yet. Train one on the Train page first.")
run = run_views.run_picker("Run", candidates, key="evaluate_run")
tta = st.toggle("Test-time augmentation: average each image's probabilities with its mirror image's", key="evaluate_tta")

with state.reported_errors():
    evaluation = inference.evaluation_for(run, tta)
    class_names = list(evaluation.class_names)
    binary = len(class_names) == 2  # a threshold and a ROC curve only mean something for two classes
    if binary:
        threshold = st.slider(
            f"Decision threshold: predict {class_names[1]} when its probability is at least",
            0.0,
            1.0,
            0.5,
            0.01,
            key="evaluate_threshold",
        )
        evaluation = evaluation.with_threshold(threshold)
    low, high = evaluation.accuracy_interval()
    columns = st.columns(4)
    columns[0].metric("Test accuracy", f"{evaluation.accuracy:.1%}")
    columns[1].metric("95% interval", f"{low:.1%} – {high:.1%}")
    columns[2].metric("Test images", len(evaluation.labels))
    if binary:
        columns[3].metric("ROC AUC", f"{evaluation.auc():.3f}")
    st.caption(
        f"The test set is a fifth of the validation batches, fixed by the run's seed: images the model never trained or "
        f"was tuned on. With {len(evaluation.labels)} images, the interval shows how far the true accuracy may be from this one."
    )
    if tta:
        changed = evaluation.tta_summary()
        st.caption(
            f"Test-time augmentation: {changed['test_accuracy_without_tta']:.1%} without, {changed['test_accuracy_with_tta']:.1%} "
            f"with; {changed['predictions_changed']} of {len(evaluation.labels)} predictions changed."
        )

    left, right = st.columns(2)
    matrix = evaluation.confusion_matrix()
    left.subheader("Confusion matrix")
    left.plotly_chart(charts.confusion_figure(matrix, class_names), key="evaluate_confusion")
    left.dataframe(
        [
            {"class": name, "accuracy (recall)": values["recall"], "precision": values["precision"], "images": values["support"]}
            for name, values in evaluation.per_class().items()
        ],
        hide_index=True,
    )
    if binary:
        right.subheader("ROC curve")
        fpr, tpr, thresholds = evaluation.roc_curve()
        # The curve's point nearest the chosen threshold (its first threshold is infinite).
        at = int(np.argmin(np.abs(np.where(np.isinf(thresholds), 2.0, thresholds) - threshold)))
        right.plotly_chart(charts.roc_figure(fpr, tpr, evaluation.auc(), (fpr[at], tpr[at])), key="evaluate_roc")

    st.subheader("Calibration: is the model as sure as it is right?")
    calibrated = inference.calibration_for(run, tta)
    columns = st.columns(3)
    columns[0].metric("ECE", f"{calibrated['ece']:.3f}")
    columns[1].metric("Temperature", f"{calibrated['temperature']:.2f}")
    columns[2].metric("ECE after temperature", f"{calibrated['ece_after_temperature']:.3f}")
    st.plotly_chart(
        trust_charts.reliability_figure(calibrated["reliability"], calibrated["reliability_after_temperature"]),
        key="evaluate_reliability",
    )
    st.caption(
        "Test images binned by how sure the model was; a calibrated model is right as often as it is sure (the diagonal). "
        "ECE: the gap between the two, averaged over images. The temperature, fitted on the validation split, divides the "
        "model's logits: above 1 the model was over-confident. It never changes which class is predicted."
    )
    kept = calibration.load_temperature(run.path)
    if kept is None:
        if st.button("Keep this temperature: predictions show calibrated probabilities", key="evaluate_keep_temperature"):
            calibration.save_temperature(
                run.path,
                calibrated["temperature"],
                fitted_on="validation",
                tta=tta,
                ece=calibrated["ece"],
                ece_after_temperature=calibrated["ece_after_temperature"],
            )
            st.rerun()
    else:
        st.caption(f"This run keeps temperature {kept:.2f}: its predictions show calibrated probabilities.")
        if st.button("Forget the temperature", key="evaluate_forget_temperature"):
            calibration.forget_temperature(run.path)
            st.rerun()

    st.subheader("Images in a cell")
    cells = [(true, predicted) for true in range(len(class_names)) for predicted in range(len(class_names))]
    cells.sort(key=lambda cell: (cell[0] == cell[1], -matrix[cell]))  # mistakes first
    chosen = st.selectbox(
        "Cell",
        cells,
        format_func=lambda cell: f"true {class_names[cell[0]]} → predicted {class_names[cell[1]]} ({matrix[cell]} images)",
        key="evaluate_cell",
    )
    members = evaluation.cell(*chosen)
    explain = st.toggle("Show Grad-CAM heat maps (where the model looked)", key="evaluate_gradcam")
    if not members:
        st.caption("No images in this cell.")
    shown = (
        st.slider("Images to show", 1, max(1, min(48, len(members))), min(12, max(1, len(members))), key="evaluate_count")
        if len(members) > 1
        else 1
    )
    grid = st.columns(4)
    for index, (path, probabilities) in enumerate(members[:shown]):
        image = load_image(path, run.config.image_size)
        if explain:
            image, _ = inference.grad_cam_overlay(run, image)
        caption = " · ".join(f"{name} {probability:.0%}" for name, probability in zip(class_names, probabilities))
        grid[index % 4].image(image, caption=f"{path.rsplit('/', 1)[-1]}: {caption}", width="stretch")
