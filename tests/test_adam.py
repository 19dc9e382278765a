"""FusedAdam: the same weights as Keras' Adam, step for step, through TensorFlow's fused kernel."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from catdog.adam import FusedAdam


def _gradients(step: int, shapes) -> list:
    generator = np.random.default_rng(step)
    return [tf.constant(generator.normal(size=shape).astype("float32")) for shape in shapes]


def _train(optimizer, steps: int = 6, shapes=((7, 5), (5,), (3, 3, 2, 4))) -> list[np.ndarray]:
    start = np.random.default_rng(0)
    weights = [keras.Variable(start.normal(size=shape).astype("float32")) for shape in shapes]
    optimizer.build(weights)
    apply = tf.function(lambda grads: optimizer.apply(grads, weights))
    for step in range(steps):
        apply(_gradients(step, shapes))
    return [weight.numpy() for weight in weights]


@pytest.mark.parametrize("rate", [1e-3, "cosine"])
def test_fused_adam_moves_every_weight_as_keras_adam_does(rate):
    def learning_rate():
        return keras.optimizers.schedules.CosineDecay(0.01, 6) if rate == "cosine" else rate

    ours = _train(FusedAdam(learning_rate()))
    keras_own = _train(keras.optimizers.Adam(learning_rate()))
    untouched = _train(keras.optimizers.Adam(0.0))
    for mine, theirs, before in zip(ours, keras_own, untouched):
        assert not np.allclose(mine, before)  # the steps moved the weights
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_the_update_is_one_fused_kernel_per_weight():
    weights = [keras.Variable(np.ones((4, 3), "float32")), keras.Variable(np.ones((3,), "float32"))]
    grads = [tf.ones((4, 3)), tf.ones((3,))]

    def kernels(optimizer) -> int:
        optimizer.build(weights)
        graph = tf.function(lambda: optimizer.apply(grads, weights)).get_concrete_function().graph
        return sum(operation.type == "ResourceApplyAdam" for operation in graph.get_operations())

    assert kernels(FusedAdam(0.001)) == 2
    assert kernels(keras.optimizers.Adam(0.001)) == 0


def _fitted(optimizer, policy: str = "float32", strategy=None) -> list[np.ndarray]:
    """A small classifier's weights after two epochs of `fit` with `optimizer`."""
    images = np.random.default_rng(1).normal(size=(16, 6)).astype("float32")
    labels = (images[:, 0] > 0).astype("int32")
    keras.utils.set_random_seed(3)
    keras.mixed_precision.set_global_policy(policy)
    try:
        with strategy.scope() if strategy else contextlib.nullcontext():
            model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
            model.compile(optimizer=optimizer(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.fit(images, labels, batch_size=4, epochs=2, verbose=0, shuffle=False)
    return model.get_weights()


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_a_model_trains_with_fit_as_with_keras_adam(policy):
    ours = _fitted(lambda: FusedAdam(0.01), policy)
    for mine, theirs in zip(ours, _fitted(lambda: keras.optimizers.Adam(0.01), policy)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_under_a_distribution_strategy_it_is_keras_adam():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    ours = _fitted(lambda: FusedAdam(0.01), strategy=strategy)
    for mine, theirs in zip(ours, _fitted(lambda: keras.optimizers.Adam(0.01))):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
