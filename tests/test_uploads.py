"""Uploads: what a stranger can send the dashboard (a zip, a browser's folder, a typed path) is
checked before anything lands on disk, and a refused upload leaves nothing behind."""

from __future__ import annotations

import io
import os
import struct
import zipfile

import pytest
from helpers import png_bytes, write_class_folders

from catdog.errors import CatdogError
from catdog.uploads import COMPLETE_MARKER, confine_to_root, extract_dataset_files, extract_dataset_zip


def _zip(entries: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, payload in entries.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def _files_under(folder) -> list:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_a_zip_of_class_folders_is_extracted_whole_and_reused(tmp_path):
    payload = _zip({"pets/cats/a.png": png_bytes(0), "pets/dogs/b.png": png_bytes(1)})
    folder = extract_dataset_zip(payload, tmp_path / "up")
    assert (folder / "pets" / "cats" / "a.png").read_bytes() == png_bytes(0)
    assert (folder / COMPLETE_MARKER).exists()
    assert not [path for path in (tmp_path / "up").iterdir() if path.name.startswith(".")]  # no staging left
    stamp = (folder / "pets" / "dogs" / "b.png").stat().st_mtime_ns
    assert extract_dataset_zip(io.BytesIO(payload), tmp_path / "up") == folder  # same bytes: same folder, not redone
    assert (folder / "pets" / "dogs" / "b.png").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "bad_entry", ["../evil.png", "/abs/evil.png", "ok/../../evil.png", "C:/evil.png", "ok\\..\\..\\evil.png"]
)
def test_entries_that_leave_the_folder_refuse_the_whole_archive(tmp_path, bad_entry):
    payload = _zip({"ok/cats/a.png": png_bytes(0), bad_entry: png_bytes(1)})
    with pytest.raises(CatdogError, match="points outside the folder"):
        extract_dataset_zip(payload, tmp_path / "up")
    assert _files_under(tmp_path / "up") == [] and not (tmp_path / "evil.png").exists()


def test_links_and_encrypted_entries_are_refused(tmp_path):
    linked = io.BytesIO()
    with zipfile.ZipFile(linked, "w") as archive:
        link = zipfile.ZipInfo("cats/passwd.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(CatdogError, match="symbolic link"):
        extract_dataset_zip(linked.getvalue(), tmp_path / "up")
    locked = bytearray(_zip({"cats/a.png": png_bytes(0)}))
    # Set the "encrypted" flag bit in the central directory entry (what a password-protected zip has).
    central = locked.index(b"PK\x01\x02")
    flags = struct.unpack_from("<H", locked, central + 8)[0]
    struct.pack_into("<H", locked, central + 8, flags | 0x1)
    with pytest.raises(CatdogError, match="encrypted"):
        extract_dataset_zip(bytes(locked), tmp_path / "up")
    assert _files_under(tmp_path / "up") == []


def test_zip_bombs_are_refused_by_declared_size_file_count_and_bytes_written(tmp_path):
    bomb = _zip({"cats/huge.bin": b"\0" * 3_000_000}, zipfile.ZIP_DEFLATED)  # a few KB compressed
    with pytest.raises(CatdogError, match="more than"):
        extract_dataset_zip(bomb, tmp_path / "up", max_total_bytes=1_000_000)
    many = _zip({f"cats/{index}.png": b"x" for index in range(30)})
    with pytest.raises(CatdogError, match="more than 20 files"):
        extract_dataset_zip(many, tmp_path / "up", max_files=20)
    # An entry whose header lies about its size: caught while writing, not trusted.
    liar = bytearray(_zip({"cats/a.bin": b"y" * 5000}))
    central = liar.index(b"PK\x01\x02")
    struct.pack_into("<I", liar, central + 24, 10)  # uncompressed size in the central directory
    with pytest.raises(CatdogError, match="more than it declares|damaged"):
        extract_dataset_zip(bytes(liar), tmp_path / "up")
    assert _files_under(tmp_path / "up") == []


@pytest.mark.parametrize(
    "payload, message",
    [(b"", "not a readable zip"), (b"PK\x03\x04 garbage", "not a readable zip"), (_zip({"cats/": b""}), "no files")],
)
def test_what_is_not_a_dataset_zip_gets_a_message(tmp_path, payload, message):
    with pytest.raises(CatdogError, match=message):
        extract_dataset_zip(payload, tmp_path / "up")


def test_folder_upload_paths_cannot_escape(tmp_path):
    with pytest.raises(CatdogError, match="outside the folder"):
        extract_dataset_files([("pets/cats/1.jpg", b"x"), ("../../evil.jpg", b"x")], tmp_path / "uploads")
    assert not (tmp_path / "evil.jpg").exists()
    folder = extract_dataset_files([("pets\\cats\\1.png", png_bytes(0)), ("pets/dogs/2.png", png_bytes(1))], tmp_path / "uploads")
    assert (folder / "pets" / "cats" / "1.png").is_file() and (folder / "pets" / "dogs" / "2.png").is_file()


def test_typed_folders_stay_inside_the_data_root(tmp_path):
    root = tmp_path / "root"
    inside = write_class_folders(root / "pets", 2)
    assert confine_to_root("pets", root) == inside.resolve()
    assert confine_to_root(str(inside), root) == inside.resolve()
    outside = write_class_folders(tmp_path / "elsewhere", 2)
    for typed, message in [
        ("../elsewhere", r"'\.\.' is not allowed"),
        (str(outside), "outside"),
        ("", "type the name"),
        ("missing", "not a folder"),
    ]:
        with pytest.raises(CatdogError, match=message):
            confine_to_root(typed, root)
    os.symlink(outside / "cats", inside / "more-cats")
    with pytest.raises(CatdogError, match="link to a place outside"):
        confine_to_root("pets", root)
    os.symlink(outside, root / "shortcut")
    with pytest.raises(CatdogError, match="outside"):
        confine_to_root("shortcut", root)
