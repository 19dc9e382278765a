"""The tf.data pipelines Keras reads a split through: decoded once, cached, shuffled, batched.

    train_ds = make_tf_dataset(dataset.train, (160, 160), 32, shuffle=True, seed=0)
    validation_ds = make_tf_dataset(dataset.validation, (160, 160), forward_batch_size(32, (160, 160)))

Images are decoded by `catdog.images.load_image`, the same function prediction uses; splits come
from `catdog.data`.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np

from catdog.data import Split
from catdog.images import load_image

# A split whose decoded images take less memory than this is kept decoded after the first pass.
KEEP_DECODED_BYTES = 2 * 1024**3

# Forward passes alone (validation, evaluation) take batches of this many pixels, 128 images at
# 160x160: a batch's fixed costs (Model 1's 42 million weights cast to bfloat16, oneDNN's set-up)
# then spread over more images, a fifth less time an image on a Zen 4 (README, "Speed").
FORWARD_BATCH_PIXELS = 128 * 160 * 160


def make_tf_dataset(
    split: Split,
    image_size: tuple[int, int],
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    cache: bool = True,
    shard: tuple[int, int] | None = None,
    repeat: bool = False,
):
    """A batched `tf.data.Dataset` of (uint8 images, int labels) for Keras.

    Images are decoded with `load_image` in parallel, cached in memory after the first pass when
    they fit in `KEEP_DECODED_BYTES` (decoding is then paid once, not every epoch; a bigger split
    is decoded every pass, in memory a few batches at a time), reshuffled every epoch when `shuffle`,
    and prefetched so the model never waits for data. A file that fails to decode is dropped
    rather than ending the epoch.

    Args:
        shard: (count, index): only this worker's share of a multi-worker run (`Split.shard`),
            chosen before anything is decoded; default None, every image. See `one_workers_share`.
        repeat: loop over the images without end, in whole batches (each pass drops its last
            partial batch, a different one every pass when shuffled), for a caller that sets the
            steps of an epoch; default False, one pass.
    """
    import tensorflow as tf

    if shard is not None:
        split = split.shard(*shard)
    height, width = image_size

    def decode(path):
        return load_image(path.decode() if isinstance(path, bytes) else str(path), (height, width))

    def tf_decode(path, label):
        image = tf.numpy_function(decode, [path], tf.uint8, stateful=False)
        image.set_shape((height, width, 3))
        return image, label

    keep = cache and len(split) * height * width * 3 < KEEP_DECODED_BYTES
    dataset = tf.data.Dataset.from_tensor_slices((list(split.paths), np.asarray(split.labels, np.int32)))
    # Decoded anew every pass, the file names are shuffled: a buffer of decoded images would hold
    # the whole split and be refilled before each pass's first batch. Kept ones are shuffled after
    # the cache, which replays the order it was filled in.
    reshuffled = lambda d: d.shuffle(max(len(split), 1), seed=seed, reshuffle_each_iteration=True)  # noqa: E731
    if shuffle and not keep:
        dataset = reshuffled(dataset)
    dataset = dataset.map(tf_decode, num_parallel_calls=os.cpu_count() or 2, deterministic=True).ignore_errors()
    if keep:
        dataset = dataset.cache()
    if shuffle and keep:
        dataset = reshuffled(dataset)
    dataset = dataset.batch(batch_size, drop_remainder=True).repeat() if repeat else dataset.batch(batch_size)
    dataset = without_autotuning(dataset.prefetch(2))
    return dataset if shard is None else one_workers_share(dataset)


def forward_batch_size(batch_size: int, image_size: tuple[int, int]) -> int:
    """Images a batch for forward passes alone: `FORWARD_BATCH_PIXELS` of them, never fewer than
    `batch_size`, the run's training batch. A batch's size does not change what the model outputs."""
    return max(batch_size, FORWARD_BATCH_PIXELS // (image_size[0] * image_size[1]))


def one_workers_share(dataset):
    """`dataset`, already one worker's share, made ready for Keras under MultiWorkerMirroredStrategy.

    tf.data's auto-sharding goes off: the share is chosen already (by file, before decoding).
    Its length is hidden from Keras, which takes a known length for the number of steps; but
    tf.distribute splits each batch between the replicas of all the workers, a worker keeps its
    replicas' part, and so a worker's batch lasts as many steps as there are workers. Without a
    length Keras reads to the end, which tf.distribute makes the same step on every worker. (An
    endless dataset keeps its length: Keras then takes steps_per_epoch, and tf.distribute spares
    the collective per step that syncs the end.)
    """
    import tensorflow as tf

    if int(dataset.cardinality()) >= 0:
        dataset = dataset.filter(lambda *_: True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


@contextlib.contextmanager
def length_unknown_to_keras():
    """Keras' fit/predict over a `make_tf_dataset` dataset, without its end-of-data warning.

    Keras warns "Your input ran out of data" at the end of every pass over a dataset whose length
    it cannot know, as ours (undecodable files are dropped): expected, not a fault.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        yield


def without_autotuning(dataset):
    """`dataset` with fixed parallelism instead of tf.data's autotuning.

    Deleting an autotuned iterator waits for its tuning thread, which backs off to a minute, and
    Keras deletes the validation iterator after every epoch: epochs stalled with the CPU idle.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
