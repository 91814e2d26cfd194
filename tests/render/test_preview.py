"""Previews: what will be printed, side by side and panel by panel, as PNG."""

from __future__ import annotations

import stat
from pathlib import Path

from PIL import Image, ImageChops
from render_samples import sample_card

from printd.render import TemplateLibrary, render_card, write_preview


def test_writes_composite_and_every_panel(library: TemplateLibrary, tmp_path: Path) -> None:
    """Both sides give a composite and colour, K and overlay files, in a fixed order."""
    paths = write_preview(render_card(sample_card(), None, library), tmp_path / "out")
    assert [p.name for p in paths] == [
        "front.png",
        "front-color.png",
        "front-k.png",
        "front-overlay.png",
        "back.png",
        "back-color.png",
        "back-k.png",
        "back-overlay.png",
    ]
    for path in paths:
        with Image.open(path) as image:
            assert image.size == (1016, 648)


def test_files_are_owner_only(library: TemplateLibrary, tmp_path: Path) -> None:
    """Preview files show personal data, so only their owner can read them."""
    for path in write_preview(render_card(sample_card(), None, library), tmp_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_panels_round_trip_pixel_for_pixel(library: TemplateLibrary, tmp_path: Path) -> None:
    """The PNGs hold exactly the rendered panels (K and overlay shown black = laid)."""
    artwork = render_card(sample_card(), None, library)
    write_preview(artwork, tmp_path)
    front = artwork.front
    assert front.color is not None
    assert front.black is not None
    assert front.overlay is not None
    with Image.open(tmp_path / "front-color.png") as color:
        assert ImageChops.difference(color.convert("RGB"), front.color).getbbox() is None
    with Image.open(tmp_path / "front-k.png") as k:
        laid = k.convert("L").point(lambda v: 255 - v)
        assert ImageChops.difference(laid, front.black.convert("L")).getbbox() is None
    with Image.open(tmp_path / "front-overlay.png") as overlay:
        laid = overlay.convert("L").point(lambda v: 255 - v)
        assert ImageChops.difference(laid, front.overlay.convert("L")).getbbox() is None


def test_composite_puts_resin_black_over_colour(library: TemplateLibrary, tmp_path: Path) -> None:
    """Where K is laid the composite is black; elsewhere it is the colour panel."""
    artwork = render_card(sample_card(), None, library)
    write_preview(artwork, tmp_path)
    front = artwork.front
    assert front.color is not None
    assert front.black is not None
    with Image.open(tmp_path / "front.png") as composite:
        rgb = composite.convert("RGB")
    x, y = next(
        (x, y) for y in range(176, 200) for x in range(470, 755) if front.black.getpixel((x, y))
    )
    assert rgb.getpixel((x, y)) == (0, 0, 0)
    assert rgb.getpixel((870, 250)) == front.color.getpixel((870, 250))
