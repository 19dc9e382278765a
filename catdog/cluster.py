"""Training on several machines: TF_CONFIG, the strategy, and what the workers agree on.

`--strategy multi-worker` trains with `tf.distribute.MultiWorkerMirroredStrategy`, set up the
standard way: every machine runs the same `python -m catdog train ...` with its own TF_CONFIG
(what Kubernetes training operators and Ray Train set), for example on the second of two:

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 1}}'

Worker 0 (or the "chief" task, when there is one) is the chief: it writes the run; the others
train their share of the data and write nothing that outlives them (`catdog.train`).

A worker that dies is noticed by TensorFlow's coordination service, which MultiWorkerMirroredStrategy
starts in every process: its heartbeats stop, and within some ten seconds the collectives of the
others fail with an error that `lost_worker` turns into a message. No `timeout_seconds` on the
collectives: TensorFlow keeps a thread alive per collective for that long (it calls the option a
debugging aid), and the workers legitimately wait on each other for minutes (one computes frozen
features that another has cached), so any timeout long enough would mean thousands of threads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re

from catdog.errors import CatdogError

_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\' '
    "on the first machine, index 1 on the second"
)
_HOW = f"set it on every machine, e.g. {_EXAMPLE} (README, 'More data, more GPUs')"


@dataclasses.dataclass(frozen=True)
class Cluster:
    """This process's place in a multi-worker training, as TF_CONFIG describes it."""

    workers: int  # processes training together, the chief included
    index: int  # this one's: 0 is the chief, which writes the run; it also picks the data shard
    task: str  # as TF_CONFIG names it, e.g. "worker 1"

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    @property
    def shard(self) -> tuple[int, int]:
        """(count, index) for `Split.shard`: this worker's share of the images."""
        return self.workers, self.index


def from_tf_config(text: str | None = None) -> Cluster:
    """Read TF_CONFIG (the environment variable unless `text` is given).

    The tasks are TensorFlow's: a "chief" (at most one) and "workers"; the chief, or worker 0
    without one, writes the run. Indices run chief first, then workers, as in TensorFlow.

    Raises:
        CatdogError: TF_CONFIG is missing or does not describe a chief/worker task of its cluster.
    """
    text = os.environ.get("TF_CONFIG", "") if text is None else text
    if not text.strip():
        raise CatdogError(f"--strategy multi-worker needs TF_CONFIG; {_HOW}.")
    try:
        value = json.loads(text)
    except ValueError as error:
        raise CatdogError(f"TF_CONFIG is not valid JSON ({error}); {_HOW}.") from None
    cluster = value.get("cluster") if isinstance(value, dict) else None
    task = value.get("task") if isinstance(value, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise CatdogError(f'TF_CONFIG needs a "cluster" and a "task"; {_HOW}.')
    jobs = {name: addresses for name, addresses in cluster.items()}
    if set(jobs) - {"chief", "worker"} or not jobs:
        raise CatdogError(f'TF_CONFIG\'s cluster may list only "chief" and "worker" tasks, got {sorted(jobs)}; {_HOW}.')
    for name, addresses in jobs.items():
        if not isinstance(addresses, list) or not addresses or not all(_is_address(a) for a in addresses):
            raise CatdogError(f'TF_CONFIG\'s "{name}" must be a list of "host:port" addresses; {_HOW}.')
    if len(jobs.get("chief", [])) > 1:
        raise CatdogError(f"TF_CONFIG lists {len(jobs['chief'])} chiefs; a cluster has at most one; {_HOW}.")
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in jobs or not isinstance(index, int) or not 0 <= index < len(jobs[kind]):
        raise CatdogError(f"TF_CONFIG's task {task!r} is not one of its cluster's; {_HOW}.")
    chiefs = len(jobs.get("chief", []))
    return Cluster(
        workers=chiefs + len(jobs.get("worker", [])),
        index=index if kind == "chief" else chiefs + index,
        task=f"{kind} {index}",
    )


def multi_worker_strategy():
    """`tf.distribute.MultiWorkerMirroredStrategy` from TF_CONFIG; waits until every worker has started.

    TensorFlow requires it before any other TensorFlow operation of the process.
    """
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def sum_over_workers(strategy, value: float) -> float:
    """The sum of `value` over the workers, each passing its own (a collective: all must call it)."""
    import tensorflow as tf

    local = strategy.experimental_distribute_values_from_function(lambda _: tf.constant(value, tf.float64))
    total = strategy.reduce("SUM", local, axis=None)  # every replica contributed: divide by this worker's
    return float(total) / len(strategy.experimental_local_results(local))


def require_same(strategy, cluster: Cluster, description: str) -> None:
    """Stop every worker, with one message, unless they all pass the same `description`.

    A collective. Two, in fact: the sum of a digest of `description`, then whether any worker's
    digest differs from that sum's share, so that all of them stop, not only the odd one out.
    """
    own = int(hashlib.sha256(description.encode()).hexdigest()[:8], 16)  # 32 bits: float64 sums stay exact
    differs = sum_over_workers(strategy, own) != own * cluster.workers
    if sum_over_workers(strategy, float(differs)) > 0:
        raise CatdogError(
            "the workers were given different settings or see different data; start every machine with the same "
            "options and the same data folder (the same files: `python -m catdog data` lists and counts them)."
        )


def lost_worker(error: BaseException, cluster: Cluster) -> CatdogError | None:
    """A CatdogError saying what happened when `error` means another worker stopped; else None."""
    import tensorflow as tf

    message = str(error)
    lost = isinstance(error, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError))
    if not lost and not (isinstance(error, tf.errors.OpError) and "Collective ops is aborted" in message):
        return None
    tasks = {f"{job} {index}" for job, index in re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", message)}
    others = sorted(tasks - {cluster.task})
    who = " and ".join(others) if others else "another worker"
    kept = " (this run keeps its finished epochs and the model of the last one)" if cluster.is_chief else ""
    return CatdogError(
        f"a worker was lost: {who} stopped mid-training, and a multi-worker run cannot go on without every "
        f"worker. See that machine's output for why, then start the training again on every machine{kept}."
    )


def fit_across_workers(model) -> None:
    """Let Keras' `fit` and `evaluate` run `model` under MultiWorkerMirroredStrategy.

    Keras 3 (3.15, and its main branch) fails there twice (keras-team/keras#20585); this mends
    `model` alone, in place, once:

    * Before the first step it "reduces" a whole input batch across workers to learn its shapes,
      which tf.distribute refuses for a tuple. The shapes are those of this worker's batch.
    * After every step it reduces each scalar metric with a mean over axis 0, which a scalar has
      not. Given an axis 0 of one, they reduce to the same value (the metrics themselves are
      already totalled over the workers).
    """
    if getattr(model, "_catdog_across_workers", False):
        return
    import tensorflow as tf

    def symbolic_build(iterator=None, data_batch=None):
        strategy = model.distribute_strategy
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(lambda value: strategy.experimental_local_results(value)[0], next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    def with_axis_0(step):
        return lambda data: tf.nest.map_structure(lambda value: tf.expand_dims(value, 0), step(data))

    model._maybe_symbolic_build = symbolic_build
    model.train_step = with_axis_0(model.train_step)
    model.test_step = with_axis_0(model.test_step)
    model._catdog_across_workers = True


def _is_address(value) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"\S+:\d+", value))
