"""Fresh child processes: a function's JSON result comes back, its lines as it prints them."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from helpers import REPO

from catdog.bench.children import run_in_child
from catdog.errors import CatdogError


# Module-level, so the child can import them (with tests/ on its PYTHONPATH).
def _report_back(settings):
    print("[bench] first line", flush=True)
    print("[bench] second line", flush=True)
    return {
        "settings": settings,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "extra": os.environ.get("CATDOG_TEST_EXTRA"),
    }


def _fail(settings):
    raise ValueError(f"no photo at {settings['path']}")


def _sleep(settings):
    time.sleep(settings["seconds"])
    return {}


@pytest.fixture
def importable_tests(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))


def test_a_child_returns_its_result_and_prints_as_it_goes(importable_tests, monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    lines = []
    result = run_in_child(
        _report_back,
        {"key": "model1", "sizes": [32, 32]},
        failure="the test run",
        environ={"TF_ENABLE_ONEDNN_OPTS": None, "CATDOG_TEST_EXTRA": "yes"},
        on_line=lines.append,
    )
    assert lines == ["[bench] first line", "[bench] second line"]
    assert result["settings"] == {"key": "model1", "sizes": [32, 32]}
    # The child's environment overrides even what catdog sets as it is imported.
    assert result["onednn"] is None and result["extra"] == "yes"


def test_a_failing_child_says_what_failed_and_why(importable_tests):
    with pytest.raises(CatdogError, match=r"the test run failed: ValueError: no photo at /nowhere"):
        run_in_child(_fail, {"path": "/nowhere"}, failure="the test run")
    with pytest.raises(CatdogError, match="the test run failed: timed out after 1s"):
        run_in_child(_sleep, {"seconds": 60}, failure="the test run", timeout=1)


def test_only_a_module_level_function_can_run_in_a_child():
    def nested(settings):
        return settings

    with pytest.raises(ValueError, match="module-level"):
        run_in_child(nested, {}, failure="the test run")


def test_a_child_peak_memory_is_its_own_not_its_parents():
    # A big parent (the benchmark after the reference runs) must not inflate the child's peak.
    ballast = bytearray(600 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: resident, not just reserved
    # The file alone: importing the catdog.bench package loads TensorFlow (about 800 MB).
    code = f"import runpy; print(runpy.run_path({str(REPO / 'catdog' / 'bench' / 'children.py')!r})['peak_rss_mb']())"
    peak = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    del ballast
    assert 10 < peak < 400
