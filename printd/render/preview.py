"""What will be printed, as PNG files a technician or an auditor can open.

Previews show a citizen's photo and name: they are personal data, written
readable by the owner only, and must be deleted with the job's payload.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, ImageOps

from drivers.base import CardArtwork, SideArtwork


def side_panels(side: SideArtwork, size: tuple[int, int]) -> dict[str, Image.Image]:
    """The side's panels as viewable images: ``color`` (RGB), ``k`` and ``overlay``.

    In ``k`` black is resin black laid down; in ``overlay`` black is overlay
    laid down and white a clear window. An absent colour or K panel is all
    white (nothing printed); an absent overlay mask means the whole card.
    """
    color = side.color.convert("RGB") if side.color is not None else Image.new("RGB", size, "white")
    if side.black is not None:
        k = ImageOps.invert(side.black.convert("L")).convert("1", dither=None)
    else:
        k = Image.new("1", size, 255)
    if side.overlay is not None:
        overlay = ImageOps.invert(side.overlay.convert("L")).convert("1", dither=None)
    else:
        overlay = Image.new("1", size, 0)
    return {"color": color, "k": k, "overlay": overlay}


def composite(side: SideArtwork, size: tuple[int, int]) -> Image.Image:
    """How the side looks printed: the colour picture with resin black on top."""
    color = side.color.convert("RGB") if side.color is not None else Image.new("RGB", size, "white")
    if side.black is not None:
        color = color.copy()
        color.paste((0, 0, 0), (0, 0, *side.black.size), side.black)
    return color


def _size(side: SideArtwork) -> tuple[int, int]:
    for image in (side.color, side.black, side.overlay):
        if image is not None:
            return image.size
    return (1016, 648)


def _save(image: Image.Image, path: Path) -> None:
    # Owner-only from the first byte: the file shows personal data.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        image.save(out, format="PNG", optimize=False)


def write_preview(card_artwork: CardArtwork, out_dir: Path) -> list[Path]:
    """Write the composite of each side and each of its panels as PNG into ``out_dir``.

    Files, per side (``front``, then ``back`` if printed):
    ``<side>.png`` (the composite), ``<side>-color.png`` (YMC picture),
    ``<side>-k.png`` (resin black, black = printed) and ``<side>-overlay.png``
    (black = overlay laid, white = clear window). ``out_dir`` is created if
    needed; existing files of the same names are replaced. Returns the paths
    written, in that order. The files hold personal data: delete them when
    the job's payload is purged.
    """
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    written: list[Path] = []
    sides = [("front", card_artwork.front)]
    if card_artwork.back is not None:
        sides.append(("back", card_artwork.back))
    for name, side in sides:
        size = _size(side)
        images = {name: composite(side, size)}
        for panel, image in side_panels(side, size).items():
            images[f"{name}-{panel}"] = image
        for stem, image in images.items():
            path = out_dir / f"{stem}.png"
            _save(image, path)
            written.append(path)
    return written
