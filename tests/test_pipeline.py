"""The tf.data pipelines: how many images a batch of forward passes takes."""

from __future__ import annotations

from catdog.pipeline import forward_batch_size


def test_forward_passes_take_bigger_batches_of_the_same_pixels_never_smaller_than_trainings():
    assert forward_batch_size(32, (160, 160)) == 128
    assert forward_batch_size(32, (320, 320)) == 32  # the same pixels would be 32 images: as training's
    assert forward_batch_size(16, (640, 640)) == 16
    assert forward_batch_size(256, (160, 160)) == 256
    assert forward_batch_size(8, (80, 80)) == 512
