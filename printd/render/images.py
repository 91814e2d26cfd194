"""Decoding untrusted pictures safely and fitting them into a box."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from printd.render.model import ImageElement

MAX_IMAGE_PIXELS = 16_000_000
"""Largest picture accepted (width x height), against decompression bombs."""

FORMATS = ("JPEG", "PNG")


class ImageProblem(Exception):
    """A picture the card brought cannot be used; ``code`` as in CardProblem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageProblem("image_too_large", "the picture has too many pixels") from None
    except Exception:  # Pillow raises many types on garbage
        raise ImageProblem("bad_image", "not a JPEG or PNG picture") from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageProblem(
            "image_too_large",
            f"the picture is {width} x {height} pixels; at most {MAX_IMAGE_PIXELS:,} are taken",
        )
    if width < 1 or height < 1:
        raise ImageProblem("bad_image", "the picture is empty")
    return image


def _load(image: Image.Image) -> Image.Image:
    try:
        image.load()
        # In place: without an orientation to undo, a copy would be wasted work
        # on every card.
        ImageOps.exif_transpose(image, in_place=True)
    except Exception:  # truncated or corrupt data: Pillow raises OSError, SyntaxError, ...
        raise ImageProblem("bad_image", "the picture is truncated or corrupt") from None
    return image


def probe_image(data: bytes) -> tuple[int, int]:
    """Check that ``data`` is a whole JPEG/PNG within the pixel cap; its size.

    JPEGs are decoded at an eighth of their size, which still reads every
    byte of the stream, so a truncated file is caught at a fraction of the cost.
    """
    image = _open(data)
    size = image.size
    if image.format == "JPEG":
        image.draft(image.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
    _load(image)
    return size


def decode_image(data: bytes, at_least: tuple[int, int] | None = None) -> Image.Image:
    """The picture decoded as RGB or RGBA, upright.

    With ``at_least``, a JPEG may be decoded at a reduced scale no smaller
    than that, which is much faster for a large photo going into a small box.
    """
    image = _open(data)
    if at_least is not None and image.format == "JPEG":
        image.draft("RGB", at_least)
    image = _load(image)
    try:
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            return image.convert("RGBA")
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            image = image.point(lambda v: v / 256, "L") if image.mode == "I" else image.convert("L")
        return image if image.mode == "RGB" else image.convert("RGB")
    except Exception:
        raise ImageProblem("bad_image", "the picture's colour format is not supported") from None


def cover_size(source: tuple[int, int], box: tuple[int, int], fit: str) -> tuple[int, int]:
    """The size the whole source is scaled to for ``fit`` into ``box``."""
    sw, sh = source
    bw, bh = box
    scale = max(bw / sw, bh / sh) if fit == "cover" else min(bw / sw, bh / sh)
    return max(1, round(sw * scale)), max(1, round(sh * scale))


def fit_image(image: Image.Image, element: ImageElement) -> tuple[Image.Image, tuple[int, int]]:
    """The picture scaled (and cropped) for its box, and where its top-left goes."""
    x, y, bw, bh = element.box
    sw, sh = image.size
    if element.fit == "cover":
        scale = max(bw / sw, bh / sh)
        crop_w, crop_h = bw / scale, bh / scale
        left = (sw - crop_w) * element.anchor[0]
        top = (sh - crop_h) * element.anchor[1]
        region = (left, top, left + crop_w, top + crop_h)
        fitted = image.resize((bw, bh), Image.Resampling.LANCZOS, box=region, reducing_gap=3.0)
        return fitted, (x, y)
    width, height = cover_size((sw, sh), (bw, bh), "contain")
    fitted = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return fitted, (x + (bw - width) // 2, y + (bh - height) // 2)


def to_mask(image: Image.Image, threshold: int) -> Image.Image:
    """1-bit mask of the dark parts (for resin black); transparent parts stay clear."""
    if image.mode == "RGBA":
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    gray = image.convert("L")
    table = [255 if v < threshold else 0 for v in range(256)]
    return gray.point(table, "1")
