"""Images decoded ahead of their use, in another process: the feature caches' reader.

A frozen base's first use on a CPU starts with its LiteRT conversion, seconds of work on one core
that holds Python's interpreter lock for much of it: decoding threads gained nothing there, a
decoding process started before it has the images ready when the features are computed (README,
"Speed").
Decoded batches wait in a fixed ring of slots in a shared file that the reader frees as it takes
them, so memory holds `BUDGET_BYTES` at most, however many images there are.

    with ReadAhead([train.paths, validation.paths], (160, 160), 32) as reader:
        ...  # slow work on one core; decoding goes on meanwhile
        for images, decoded in reader.job(0): ...  # uint8 (n, 160, 160, 3); which paths of the batch decoded
        for images, decoded in reader.job(1): ...

The child is `python -m catdog.readahead`, started with `subprocess`: not `multiprocessing`, whose
children import the caller's `__main__` (a script, Streamlit) first, and whose start waits for
the child to take its arguments.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection

import numpy as np

from catdog.errors import CatdogError
from catdog.images import load_image

BUDGET_BYTES = 256 * 1024**2  # decoded images waiting at most: the whole tutorial data at 160x160
SHARED_MEMORY = "/dev/shm"  # a folder in memory, where the system has one


class ReadAhead:
    """Decodes lists of image paths ("jobs"), in order, in batches, in one child process.

    The child starts at once. Read the jobs in the order given with `job`; close (or leave the
    `with` block) to stop the child and free the memory, whether or not everything was read.
    """

    def __init__(self, jobs: Sequence[Sequence[str]], image_size: tuple[int, int], batch_size: int):
        self._jobs = [list(paths) for paths in jobs]
        self._batch = batch_size
        batches = sum(math.ceil(len(paths) / batch_size) for paths in self._jobs)
        slot_bytes = batch_size * image_size[0] * image_size[1] * 3
        directory, slots = _place(slot_bytes, max(1, min(BUDGET_BYTES // slot_bytes, batches)))
        shape = (slots, batch_size, *image_size, 3)
        # One unlinked file holds the jobs, then the ring: nothing to write down a pipe before the
        # child runs, and nothing left behind however either process ends.
        header = pickle.dumps((self._jobs, shape))
        self._file = tempfile.TemporaryFile(dir=directory)
        self._file.write(len(header).to_bytes(8, "little") + header)
        self._file.truncate(_ring_offset(len(header)) + math.prod(shape))  # sparse: pages come as used
        self._file.flush()
        self._map = mmap.mmap(self._file.fileno(), 0)
        self._ring = _ring(self._map, len(header), shape)
        ready_read, ready_write = os.pipe()
        free_read, free_write = os.pipe()
        descriptors = (self._file.fileno(), ready_write, free_read)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, *map(str, descriptors)], pass_fds=descriptors, stdin=subprocess.DEVNULL
            )
        finally:
            os.close(ready_write)  # the child holds the only writing end: its exit ends our reads
            os.close(free_read)
        self._ready = Connection(ready_read, writable=False)
        self._free = free_write
        self._next_job = 0

    def job(self, index: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The batches of job `index` (the jobs are read in order): (decoded images, which of the
        batch's paths decoded); a path that does not decode is left out of the images."""
        if index != self._next_job:
            raise ValueError(f"jobs are read in order: job {self._next_job} comes next, not {index}")
        self._next_job += 1
        for _ in range(0, len(self._jobs[index]), self._batch):
            slot, decoded = self._receive()
            decoded = np.asarray(decoded, bool)
            images = self._ring[slot, : len(decoded)][decoded]  # boolean indexing copies
            with contextlib.suppress(BrokenPipeError):  # the child may have decoded everything and left
                os.write(self._free, b"\0")  # the slot is the child's again
            yield images, decoded

    def _receive(self):
        try:
            message = self._ready.recv()
        except EOFError:
            raise CatdogError(
                f"the process decoding the images ended unexpectedly (exit code {self._process.poll()}); "
                "check free memory and try again."
            ) from None
        if isinstance(message, BaseException):
            raise message
        return message

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
        self._process.wait()
        self._ready.close()
        os.close(self._free)
        del self._ring  # the view goes before the mapping it looks into
        self._map.close()
        self._file.close()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _place(slot_bytes: int, wanted: int) -> tuple[str, int]:
    """(folder, slots) for the ring's file: memory (/dev/shm) when it has room for every slot
    wanted, else the temporary folder, with as many as fit there. A container's /dev/shm is often
    64 MB, and a process writing past a full one is killed, not told."""
    if _room(SHARED_MEMORY, slot_bytes) >= wanted:
        return SHARED_MEMORY, wanted
    folder = tempfile.gettempdir()
    return folder, max(1, min(wanted, _room(folder, slot_bytes)))


def _room(folder: str, slot_bytes: int) -> int:
    """Slots that fit in half the free space of `folder` (the rest is for everything else)."""
    try:
        stats = os.statvfs(folder)
    except OSError:  # no such folder (no /dev/shm on macOS)
        return 0
    return stats.f_bavail * stats.f_frsize // 2 // slot_bytes


def _ring_offset(header_length: int) -> int:
    return math.ceil((8 + header_length) / mmap.PAGESIZE) * mmap.PAGESIZE


def _ring(mapping, header_length: int, shape) -> np.ndarray:
    return np.frombuffer(mapping, np.uint8, math.prod(shape), _ring_offset(header_length)).reshape(shape)


def _serve(file_descriptor: int, ready_descriptor: int, free_descriptor: int) -> None:
    """The child: decode each job's paths batch by batch into a free slot, then say which."""
    header_length = int.from_bytes(os.pread(file_descriptor, 8, 0), "little")
    jobs, shape = pickle.loads(os.pread(file_descriptor, header_length, 8))
    ring = _ring(mmap.mmap(file_descriptor, 0), header_length, shape)
    slots, batch, height, width, _ = shape
    ready = Connection(ready_descriptor, readable=False)
    free, slot = slots, 0
    try:
        for paths in jobs:
            for start in range(0, len(paths), batch):
                while free == 0:
                    freed = os.read(free_descriptor, 4096)  # a byte per slot the reader took
                    if not freed:
                        return  # the reader has closed
                    free += len(freed)
                decoded = []
                for row, path in enumerate(paths[start : start + batch]):
                    try:
                        ring[slot, row] = load_image(path, (height, width))
                        decoded.append(True)
                    except (CatdogError, OSError):  # the reader drops it, as tf.data's ignore_errors does
                        decoded.append(False)
                ready.send((slot, decoded))
                free, slot = free - 1, (slot + 1) % slots
    except BrokenPipeError:
        return  # the reader is gone
    except Exception as error:  # noqa: BLE001  (anything else reaches the reader, which raises it)
        ready.send(error)


if __name__ == "__main__":
    # Ctrl-C in a terminal reaches the whole process group: the reader stops this child itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(*map(int, sys.argv[1:]))
