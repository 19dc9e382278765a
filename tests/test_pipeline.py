"""The tf.data pipelines: every image once a pass, kept decoded or, for a split too big to keep,
streamed; bad files dropped; how many images a batch of forward passes takes."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from catdog import pipeline
from catdog.data import load_dataset
from catdog.images import load_image

SIZE = (32, 32)


@pytest.fixture
def decodes(monkeypatch):
    """Counts `load_image` calls by path, as the pipeline makes them."""
    counts = collections.Counter()

    def counting(path, image_size):
        counts[path] += 1
        return load_image(path, image_size)

    monkeypatch.setattr(pipeline, "load_image", counting)
    return counts


def one_pass(dataset):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def test_each_pass_has_every_image_once_in_a_new_order_decoded_once(tiny_data, decodes):
    split = load_dataset(tiny_data, batch_size=8).train
    expected = {load_image(path, SIZE).tobytes(): label for path, label in zip(split.paths, split.labels, strict=True)}
    dataset = pipeline.make_tf_dataset(split, SIZE, 8, shuffle=True, seed=0)
    passes = [one_pass(dataset) for _ in range(2)]
    for images, labels in passes:
        assert len(images) == len(split)
        assert {image.tobytes(): label for image, label in zip(images, labels, strict=True)} == expected
    assert not np.array_equal(passes[0][1], passes[1][1]) or not np.array_equal(passes[0][0], passes[1][0])
    assert set(decodes) == set(split.paths) and set(decodes.values()) == {1}  # kept after the first pass
    # The same seed, the same orders: a run can be repeated.
    again = pipeline.make_tf_dataset(split, SIZE, 8, shuffle=True, seed=0)
    np.testing.assert_array_equal(one_pass(again)[0], passes[0][0])


def test_without_cache_every_pass_decodes_again(tiny_data, decodes):
    split = load_dataset(tiny_data, batch_size=8).validation
    dataset = pipeline.make_tf_dataset(split, SIZE, 8, cache=False)
    first, second = one_pass(dataset), one_pass(dataset)
    np.testing.assert_array_equal(first[0], second[0])
    assert set(decodes.values()) == {2}


def test_a_split_too_big_to_keep_streams_in_a_new_order_every_pass(tiny_data, decodes, monkeypatch):
    monkeypatch.setattr(pipeline, "KEEP_DECODED_BYTES", 1)  # as if the split took more memory than allowed
    split = load_dataset(tiny_data, batch_size=8).train
    dataset = pipeline.make_tf_dataset(split, SIZE, 8, shuffle=True, seed=0)
    assert len(next(iter(dataset))[0]) == 8
    # A buffer of decoded images to shuffle would have decoded all 80 before the first batch; here
    # only the first batch, those prefetched and those the decoding threads have begun.
    assert sum(decodes.values()) < len(split)
    passes = [one_pass(dataset) for _ in range(2)]
    assert all(sorted(labels) == sorted(split.labels) for _, labels in passes)
    assert not np.array_equal(passes[0][1], passes[1][1])
    assert all(2 <= decodes[path] <= 3 for path in split.paths)  # decoded again every pass (and the first batch's)


def test_a_file_that_stopped_decoding_is_dropped(tiny_data):
    split = load_dataset(tiny_data, batch_size=8).train
    broken = split.paths[3]
    with open(broken, "r+b") as handle:
        handle.truncate(20)
    images, labels = one_pass(pipeline.make_tf_dataset(split, SIZE, 8, shuffle=True, seed=1))
    assert len(images) == len(labels) == len(split) - 1


def test_forward_passes_take_bigger_batches_of_the_same_pixels_never_smaller_than_trainings():
    assert pipeline.forward_batch_size(32, (160, 160)) == 128
    assert pipeline.forward_batch_size(32, (320, 320)) == 32  # the same pixels would be 32 images: as training's
    assert pipeline.forward_batch_size(16, (640, 640)) == 16
    assert pipeline.forward_batch_size(256, (160, 160)) == 256
    assert pipeline.forward_batch_size(8, (80, 80)) == 512
