"""bench-load end to end on tiny data: a real server, Chromium, one person uploading twice."""

from __future__ import annotations

import pytest

from catdog.bench.load import CHROMIUM, format_row, run_load_bench
from catdog.errors import CatdogError

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_one_person_gets_answers_timed_with_the_servers_memory(tiny_run):
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (make browser)")
    run, data = tiny_run
    lines = []
    report = run_load_bench(run.path, people=(1,), rounds=2, photos=data, say=lines.append)
    (row,) = report["rows"]
    assert row["people"] == 1 and row["uploads"] == 2 and row["errors"] == 0, row
    assert 0 < row["p50_s"] <= row["p95_s"] <= row["max_s"] < 120
    assert row["server_peak_mb"] > 50 and row["server_cpu_ms_per_upload"] >= 0
    assert report["machine"]["cores"] >= 1 and lines[-1] == format_row(row)
    assert any(line.startswith("warmed up: Predicted with") for line in lines)


def test_a_folder_without_photos_is_refused_before_anything_starts(tiny_run, tmp_path):
    run, _ = tiny_run
    with pytest.raises(CatdogError, match="no photos found"):
        run_load_bench(run.path, people=(1,), rounds=1, photos=tmp_path)
