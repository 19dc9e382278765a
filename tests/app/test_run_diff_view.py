"""Run diff on the Runs page: two runs on the same test split, the images they disagree on, each
with both predictions and Grad-CAM heat maps."""

from __future__ import annotations

import numpy as np
from helpers_app import texts

from catdog import runs
from catdog.evaluate import disagreements, evaluate


def _always_cats(trained_run) -> runs.Run:
    """A second run on the same data, seed and batch size whose model says "cats" to everything."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((*trained_run.config.image_size, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ]
    )
    model.layers[-1].set_weights([np.zeros((3, 2)), np.array([3.0, 0.0])])
    run_dir = runs.create_run(trained_run.config, trained_run.class_names)
    runs.write_history(run_dir, [{"epoch": 1, "accuracy": 0.5, "val_accuracy": 0.5, "loss": 1.0, "val_loss": 1.0}])
    runs.save_model(run_dir, model)
    runs.update_status(run_dir, state=runs.FINISHED)
    return runs.load_run(run_dir)


def test_run_diff_shows_the_images_two_runs_disagree_on(app, trained_run):
    cats = _always_cats(trained_run)
    expected = disagreements(evaluate(trained_run), evaluate(cats))
    assert expected, "the trained run should call some test image a dog"
    at = app.run().switch_page("pages/runs.py").run()
    at.toggle(key="runs_diff").set_value(True).run()
    assert not at.exception, at.exception
    at.selectbox(key="runs_diff_first").set_value(trained_run.name).run()
    at.selectbox(key="runs_diff_second").set_value(cats.name).run()
    assert not at.exception and not at.error, texts(at.error)
    assert any(caption.startswith(f"{len(expected)} test images get different classes") for caption in texts(at.caption))
    captions = [caption for image in at.image for caption in image.captions]
    shown = min(6, len(expected))
    assert len(captions) == 3 * shown
    assert all(f"model3 ({trained_run.name}): dogs" in caption for caption in captions[1::3])
    assert all(f"({cats.name}): cats" in caption for caption in captions[2::3])
    plain = [image.value for image in at.image]
    at.toggle(key="runs_diff_gradcam").set_value(False).run()
    assert [image.value for image in at.image] != plain  # the heat maps were drawn over the images
