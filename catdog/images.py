"""Images: which files are images, and one safe decoder for all of them.

Every image anywhere in catdog (training, samples, prediction, the dashboard's thumbnails) is
decoded by `load_image`, so training and serving resize identically. Oversize images are refused
from their header, before decoding (decompression bombs).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from catdog.errors import CatdogError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
MAX_PIXELS = 100_000_000  # larger images are refused before decoding (decompression bombs)


def is_junk(name: str) -> bool:
    """Files and folders that are never data: hidden files, macOS resource forks and folders."""
    return name.startswith(".") or name == "__MACOSX" or name in ("Thumbs.db", "desktop.ini")


def open_image(source) -> Image.Image:
    """Open an image from a path, bytes, a file object or a PIL image, refusing oversize ones.

    The size check reads only the header, so a decompression bomb is refused before decoding.
    """
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            if len(source) == 0:
                raise CatdogError("the file is empty (0 bytes); choose a photo.")
            source = io.BytesIO(source)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(source)
        except Image.DecompressionBombError:
            raise CatdogError(
                f"the image has more than {MAX_PIXELS // 1_000_000} megapixels; shrink it before using it."
            ) from None
        except UnidentifiedImageError:
            raise CatdogError("not an image catdog can read; use JPEG, PNG, GIF, WebP, BMP or TIFF.") from None
        except FileNotFoundError:
            raise CatdogError(f"no such file: {source}") from None
        except (PermissionError, IsADirectoryError) as error:
            raise CatdogError(f"cannot read {source} ({error.strerror}).") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:  # damaged headers, cut-off files
            raise CatdogError(f"the image is truncated or corrupt ({error}).") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise CatdogError(
            f"the image is {width}x{height} pixels; images above {MAX_PIXELS // 1_000_000} "
            "megapixels are refused. Shrink it before using it."
        )
    if width < 1 or height < 1:
        raise CatdogError("the image has no pixels.")
    return image


def load_image(source, image_size: tuple[int, int] | None = (160, 160)) -> np.ndarray:
    """Decode any common image to an RGB uint8 array, resized as in training.

    Handles JPEG (decoded at reduced scale when much larger than needed), PNG with transparency
    (composited on white), 16-bit and grayscale images, CMYK, the first frame of a GIF, WebP and
    BMP; applies the EXIF orientation so phone photos come out upright.

    Args:
        source: a path, bytes, a binary file object or a PIL image.
        image_size: (height, width) to resize to with bilinear filtering, or None to keep the size.

    Returns:
        An array of shape (height, width, 3), dtype uint8.
    """
    image = open_image(source)
    try:
        if image_size is not None and image.format == "JPEG":
            # Decode at 1/2, 1/4 or 1/8 scale when that still covers the target: a 12-megapixel
            # photo then costs a fraction of a full decode.
            side = max(image_size)
            image.draft("RGB", (side, side))
        image.seek(0)  # first frame of animations
        image.load()
        image = ImageOps.exif_transpose(image)
        image = _to_rgb(image)
    except CatdogError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise CatdogError(f"the image is truncated or corrupt ({error}).") from None
    if image_size is not None:
        height, width = image_size
        image = image.resize((width, height), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16/32-bit grayscale: scale to 8 bits instead of clipping everything to white.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        gray = np.clip(values / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def check_image(path: str | Path) -> str | None:
    """Why the image at `path` cannot be used, or None if it decodes cleanly."""
    try:
        if os.path.getsize(path) == 0:
            return "empty file"
        load_image(path, (32, 32))
    except CatdogError as error:
        return str(error)
    except OSError as error:
        return f"cannot be read ({error})"
    return None


def thumbnail(source, side: int = 256) -> np.ndarray:
    """An upright RGB preview of an image (path or bytes) at most `side` pixels on its long side."""
    image = open_image(source)
    width, height = image.size
    if image.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF says "rotate 90°": sides swap
        width, height = height, width
    scale = min(1.0, side / max(width, height))
    return load_image(source, (max(1, round(height * scale)), max(1, round(width * scale))))


def find_images(paths) -> Iterator[str]:
    """Every image file under `paths`, in order: folders are walked recursively (image suffixes
    only, hidden and macOS metadata files and folders skipped); a file named directly is always
    yielded, so a bad one is reported rather than silently left out."""
    for given in paths:
        if not Path(given).is_dir():
            yield str(given)
            continue
        for directory, subdirectories, filenames in os.walk(given):
            subdirectories[:] = sorted(name for name in subdirectories if not is_junk(name))
            for filename in sorted(filenames):
                if not is_junk(filename) and filename.lower().endswith(IMAGE_SUFFIXES):
                    yield os.path.join(directory, filename)
