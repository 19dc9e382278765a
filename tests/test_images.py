"""Images: every common format decodes upright to RGB; damaged, empty and oversize files are refused clearly."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from catdog.errors import CatdogError
from catdog.images import load_image


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_load_image_decodes_common_formats():
    red = Image.new("RGB", (40, 30), (220, 20, 20))
    for fmt in ("JPEG", "PNG", "BMP", "WEBP", "GIF", "TIFF"):
        array = load_image(_encode(red, fmt), (16, 16))
        assert array.shape == (16, 16, 3) and array.dtype == np.uint8
        assert array[..., 0].mean() > 150 and array[..., 2].mean() < 90, fmt


def test_transparent_png_is_composited_on_white():
    clear = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    assert load_image(_encode(clear, "PNG"), (8, 8)).min() == 255


def test_sixteen_bit_grayscale_and_cmyk():
    gray16 = Image.fromarray(np.full((20, 20), 32768, np.uint16))
    assert 120 < load_image(_encode(gray16, "PNG"), (8, 8)).mean() < 135
    cmyk = Image.new("CMYK", (20, 20), (0, 255, 255, 0))  # pure red in CMYK
    array = load_image(_encode(cmyk, "JPEG"), (8, 8))
    assert array[..., 0].mean() > 180 and array[..., 1].mean() < 80


def test_gif_first_frame_is_used():
    frames = [Image.new("RGB", (20, 20), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    array = load_image(buffer.getvalue(), (8, 8))
    assert array[..., 0].mean() > 200 and array[..., 2].mean() < 50


def test_exif_orientation_is_applied():
    # A landscape image whose EXIF says "rotate 90": decoded, it must come out portrait.
    image = Image.new("RGB", (60, 20), (10, 10, 10))
    image.paste((250, 250, 250), (0, 0, 10, 20))  # white band on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW
    array = load_image(_encode(image, "JPEG", exif=exif), None)
    assert array.shape[:2] == (60, 20)
    assert array[:10].mean() > 200  # the left band is now at the top


def test_decompression_bomb_is_refused_before_decoding():
    # A PNG header claiming 20000x20000 pixels, with no pixel data: refused from the header.
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    bomb = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    with pytest.raises(CatdogError, match="megapixels"):
        load_image(bomb, (8, 8))


def test_unreadable_inputs_raise_clear_errors():
    with pytest.raises(CatdogError, match="empty"):
        load_image(b"", (8, 8))
    with pytest.raises(CatdogError, match="not an image"):
        load_image(b"hello, I am text", (8, 8))
    one_pixel = load_image(_encode(Image.new("RGB", (1, 1), (5, 6, 7)), "PNG"), (4, 4))
    assert one_pixel.shape == (4, 4, 3)


# ----------------------------------------------------------------------------- downloader
