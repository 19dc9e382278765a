"""Every odd or hostile upload on Predict and Augmentation: a label or a clear message, never a
traceback, and the other uploads still work."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png_bomb() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 40), color) for color in ((220, 40, 30), (30, 40, 220))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(Image.new("RGB", (60, 40), (200, 50, 40)), "JPEG", exif=exif)


GOOD = {
    "transparent.png": _save(Image.new("RGBA", (40, 40), (200, 40, 40, 100)), "PNG"),
    "sixteen-bit.png": _save(Image.fromarray(np.full((40, 40), 40000, np.uint16)), "PNG"),
    "gray.jpg": _save(Image.new("L", (40, 40), 128), "JPEG"),
    "cmyk.jpg": _save(Image.new("CMYK", (40, 40), (0, 200, 200, 0)), "JPEG"),
    "animated.gif": _animated_gif(),
    "phone.jpg": _exif_rotated(),
    "one-pixel.png": _save(Image.new("RGB", (1, 1), (10, 20, 200)), "PNG"),
}
BAD = {
    "empty.jpg": (b"", "empty"),
    "truncated.jpg": (_save(Image.new("RGB", (200, 200), (1, 2, 3)), "JPEG")[:300], "truncated"),
    "notes.jpg": (b"just some text, not a photo", "not an image"),
    "bomb.png": (_png_bomb(), "megapixels"),
}


def test_predict_page_handles_every_odd_upload(app, trained_run):
    at = app.run().switch_page("pages/predict.py").run()
    uploader = at.file_uploader(key="predict_uploads")
    for name, payload in GOOD.items():
        uploader.upload(name, payload, "application/octet-stream")
    for name, (payload, _) in BAD.items():
        uploader.upload(name, payload, "application/octet-stream")
    at.run()
    assert not at.exception, at.exception
    errors = " ".join(error.value for error in at.error)
    for name, (_, message) in BAD.items():
        assert f"{name}: " in errors and message in errors.split(f"{name}: ", 1)[1], name
    shown = [caption for image in at.image for caption in image.captions]
    assert set(GOOD) <= set(shown)  # every readable upload was predicted and shown
    assert len([m for m in at.markdown if m.value.startswith("### ")]) == len(GOOD)


@pytest.mark.parametrize("name", list(BAD))
def test_augmentation_page_refuses_bad_uploads_clearly(app, name):
    payload, message = BAD[name]
    at = app.run().switch_page("pages/augmentation.py").run()
    at.radio(key="aug_source").set_value("upload").run()
    at.file_uploader(key="aug_upload").upload(name, payload, "application/octet-stream").run()
    assert not at.exception and message in at.error[0].value


@pytest.mark.parametrize("name", ["phone.jpg", "cmyk.jpg", "animated.gif"])
def test_augmentation_page_accepts_odd_but_valid_images(app, name):
    at = app.run().switch_page("pages/augmentation.py").run()
    at.radio(key="aug_source").set_value("upload").run()
    at.file_uploader(key="aug_upload").upload(name, GOOD[name], "application/octet-stream").run()
    assert not at.exception and not at.error and at.image[0].captions[0] == "original"
