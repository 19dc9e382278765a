"""Images decoded ahead in a child process: the same pixels as `load_image`, in order, through a
ring of slots smaller than the images, bad files left out, the child gone when the reader closes."""

from __future__ import annotations

import os
import tempfile
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import write_class_folders

from catdog import readahead
from catdog.errors import CatdogError
from catdog.images import find_images, load_image
from catdog.readahead import ReadAhead


@pytest.fixture
def paths(tmp_path):
    return sorted(find_images([write_class_folders(tmp_path / "images", per_class=11)]))


def test_batches_hold_the_decoded_images_in_order_through_a_ring_smaller_than_the_jobs(paths, monkeypatch):
    batch, size = 4, (24, 20)
    monkeypatch.setattr(readahead, "BUDGET_BYTES", 2 * batch * size[0] * size[1] * 3)  # two slots for seven batches
    first, second = paths[:17], paths[17:]
    with ReadAhead([first, second], size, batch) as reader:
        assert reader._ring.shape[0] == 2
        for index, job in enumerate((first, second)):
            batches = list(reader.job(index))
            assert [len(decoded) for _, decoded in batches] == [len(job[i : i + batch]) for i in range(0, len(job), batch)]
            images = np.concatenate([images for images, _ in batches])
            np.testing.assert_array_equal(images, np.stack([load_image(path, size) for path in job]))


def test_a_file_that_does_not_decode_is_left_out_and_marked(paths, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    job = [paths[0], str(broken), str(tmp_path / "missing.png"), paths[1]]
    with ReadAhead([job], (16, 16), 8) as reader:
        ((images, decoded),) = list(reader.job(0))
    assert decoded.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(images, np.stack([load_image(paths[0], (16, 16)), load_image(paths[1], (16, 16))]))


def test_jobs_are_read_in_order_and_closing_early_stops_the_child(paths):
    reader = ReadAhead([paths[:8], paths[8:]], (16, 16), 4)
    with pytest.raises(ValueError, match="job 0 comes next"):
        next(reader.job(1))
    next(reader.job(0))
    reader.close()
    assert reader._process.returncode is not None  # waited for, not left running


def test_a_child_that_dies_is_a_clear_error_not_a_hang(paths):
    with ReadAhead([paths], (16, 16), 2) as reader:
        reader._process.kill()
        reader._process.wait()
        with pytest.raises(CatdogError, match="ended unexpectedly"):
            list(reader.job(0))


def test_the_ring_goes_to_disk_when_shared_memory_is_short_and_shrinks_to_what_fits(paths, monkeypatch):
    free = {readahead.SHARED_MEMORY: 0, tempfile.gettempdir(): 10**12}
    real_statvfs = os.statvfs
    monkeypatch.setattr(
        os,
        "statvfs",
        lambda folder: SimpleNamespace(f_bavail=free[folder], f_frsize=1) if folder in free else real_statvfs(folder),
    )
    slot = 4 * 16 * 16 * 3
    assert readahead._place(slot, 6) == (tempfile.gettempdir(), 6)
    with ReadAhead([paths], (16, 16), 4) as reader:  # decodes through a file on disk just the same
        images = np.concatenate([images for images, _ in reader.job(0)])
    np.testing.assert_array_equal(images, np.stack([load_image(path, (16, 16)) for path in paths]))
    free[readahead.SHARED_MEMORY] = 2 * 6 * slot  # room for all six (half the free space)
    assert readahead._place(slot, 6) == (readahead.SHARED_MEMORY, 6)
    free[readahead.SHARED_MEMORY], free[tempfile.gettempdir()] = 0, 2 * 3 * slot
    assert readahead._place(slot, 6) == (tempfile.gettempdir(), 3)
    free[tempfile.gettempdir()] = 0
    assert readahead._place(slot, 6) == (tempfile.gettempdir(), 1)  # one slot still: the write, not this, reports a full disk
