"""Which TensorFlow operations a training step spends its time in, from TensorFlow's profiler.

    ops = step_ops(lambda: network.train_on_batch(images, labels))
    print(format_ops(ops, top=12))

`bench-epoch --ops N` prints this for each precision: the parts a step is made of (each
convolution's forward, its two gradients, the dense layer's products and casts, the optimizer's
update of each weight, the augmentation layers) in milliseconds, so that a precision's gain can
be followed operation by operation. The profiler slows every operation somewhat; compare the
shares, and take the step's own time from `bench-epoch`'s median.
"""

from __future__ import annotations

import collections
import tempfile
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

PROFILED_STEPS = 4  # steps recorded, after as many unrecorded (tracing, oneDNN's set-up)


def step_ops(step: Callable[[], object], steps: int = PROFILED_STEPS) -> list[tuple[str, float]]:
    """(operation, milliseconds a step) for every operation `step` ran, the slowest first.

    An operation is named as TensorFlow names it: the layer's path and the kernel's type, e.g.
    `gradient_tape/model1_1/conv2d_1_2/convolution/Conv2DBackpropFilter:_MklNativeConv2DBackpropFilterWithBias`.
    """
    for _ in range(steps):
        step()
    with tempfile.TemporaryDirectory(prefix="catdog-ops-") as folder:
        tf.profiler.experimental.start(folder)
        try:
            for _ in range(steps):
                step()
        finally:
            tf.profiler.experimental.stop()
        files = sorted(Path(folder).rglob("*.xplane.pb"))
        if not files:
            return []
        space = xplane_pb2.XSpace.FromString(files[-1].read_bytes())
    totals: collections.Counter[str] = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # the executor's threads, where operations run
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # "name:type" is an operation; the rest ("ExecutorState::Process", ...) is the executor's own.
                if ":" in name.replace("::", ""):
                    totals[name] += event.duration_ps / 1e9 / steps
    return totals.most_common()


def format_ops(ops: list[tuple[str, float]], top: int) -> str:
    """The `top` slowest operations, a line each, then what the rest add up to."""
    lines = [f"  {ms:7.1f} ms  {name}" for name, ms in ops[:top]]
    rest = ops[top:]
    if rest:
        lines.append(f"  {sum(ms for _, ms in rest):7.1f} ms  {len(rest)} other operations")
    lines.append(f"  {sum(ms for _, ms in ops):7.1f} ms  in all (profiled)")
    return "\n".join(lines)
