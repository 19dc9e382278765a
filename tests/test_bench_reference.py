"""The reference is the tutorial's pipeline: its models' sizes and its data split."""

from __future__ import annotations

import pytest

from catdog.bench import reference


@pytest.mark.parametrize("key", ["model1", "model2", "model3", "model4"])
def test_reference_models_have_the_tutorials_parameter_counts(key):
    model = reference.build_model(key, weights=None)
    if not model.built:  # Model 4 starts with the preprocessor model, as in the tutorial
        model.build((None, 160, 160, 3))
    assert model.count_params() == reference.PARAMS[key]


def test_reference_data_is_the_tutorials_split(tiny_data):
    train_dataset, validation_dataset, test_dataset = reference.load_datasets(tiny_data, image_size=(32, 32), batch_size=8)
    assert train_dataset.class_names == ["cats", "dogs"]
    assert sum(int(images.shape[0]) for images, _ in train_dataset) == 80
    # 48 validation images = 6 batches of 8: the test set takes 6 // 5 = 1 batch of them.
    assert sum(int(images.shape[0]) for images, _ in test_dataset) == 8
    assert sum(int(images.shape[0]) for images, _ in validation_dataset) == 40
