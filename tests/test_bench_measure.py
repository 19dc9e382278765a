"""Memory is measured in a fresh process (prediction latency is checked through run_bench)."""

from __future__ import annotations

import pytest

from catdog.bench.measure import measure_memory


@pytest.mark.slow
def test_memory_is_measured_in_a_fresh_process(tiny_data):
    memory = measure_memory(str(tiny_data), epochs=1, image_size=(32, 32), batch_size=8, pretrained=False, fast=True, trainings=2)
    assert len(memory["rss_mb_after_each"]) == 2
    assert 0.1 < memory["peak_rss_gb"] < 8
