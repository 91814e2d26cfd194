"""Rendering a card into colour, resin-black and overlay panels."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from render_samples import SAMPLE_FIELDS, b64, sample_card

from drivers.base import CardArtwork, SideArtwork
from printd.card import ArtworkCard, ChipData
from printd.render import CARD_SIZE, InvalidCard, TemplateLibrary, render_card, validate_card
from printd.render.fonts import load_font
from printd.render.library import _decode_asset
from printd.render.model import TextElement
from printd.render.text import TextFit, compose, fit_at, fit_text

EXPECTED = Path(__file__).parent / "expected"
UPDATE = os.environ.get("PRINTD_UPDATE_EXPECTED") == "1"

NAME_BOX = (470, 176, 285, 50)
PHOTO_BOX = (772, 130, 195, 260)
SIGNATURE_BOX = (777, 456, 185, 84)


def _digest(artwork: CardArtwork) -> str:
    h = hashlib.sha256()
    for side in (artwork.front, artwork.back):
        assert side is not None
        for image in (side.color, side.black, side.overlay):
            h.update(b"-" if image is None else image.mode.encode() + image.tobytes())
    return h.hexdigest()


def _crop(image: Image.Image | None, box: tuple[int, int, int, int]) -> Image.Image:
    assert image is not None
    x, y, w, h = box
    return image.crop((x, y, x + w, y + h))


def _set_pixels(mask: Image.Image) -> int:
    gray = mask.convert("L")
    return gray.width * gray.height - gray.histogram()[0]


def _name_element(library: TemplateLibrary) -> TextElement:
    loaded = library.get("ktp-v1")
    assert loaded is not None
    for element in loaded.template.front.elements:
        if isinstance(element, TextElement) and element.text == "{name}":
            return element
    raise LookupError("ktp-v1 has no name element")


def _mm(mm: float) -> int:
    return round(mm * 300 / 25.4)


class TestDeterminism:
    def test_same_card_gives_same_pixels_with_cold_caches(self, library: TemplateLibrary) -> None:
        """Two renders of one card, caches emptied between them, are identical to the byte."""
        first = _digest(render_card(sample_card(), None, library))
        load_font.cache_clear()
        _decode_asset.cache_clear()
        second = _digest(render_card(sample_card(), None, TemplateLibrary()))
        assert first == second

    def test_different_name_gives_different_pixels(self, library: TemplateLibrary) -> None:
        """The digest is sensitive: another name changes the rendered card."""
        one = _digest(render_card(sample_card(), None, library))
        other = _digest(render_card(sample_card(name="BUDI SANTOSO"), None, library))
        assert one != other

    @pytest.mark.parametrize("side_name", ["front", "back"])
    def test_resin_black_matches_checked_in_expectation(
        self, library: TemplateLibrary, side_name: str
    ) -> None:
        """The K panel of the sample card equals the checked-in one pixel for pixel."""
        artwork = render_card(sample_card(), None, library)
        side = artwork.front if side_name == "front" else artwork.back
        assert side is not None
        assert side.black is not None
        path = EXPECTED / f"ktp-v1-{side_name}-k.png"
        if UPDATE:
            side.black.save(path, optimize=True)
        with Image.open(path) as expected:
            diff = ImageChops.difference(expected.convert("L"), side.black.convert("L"))
        assert diff.getbbox() is None

    @pytest.mark.parametrize("side_name", ["front", "back"])
    def test_colour_matches_checked_in_thumbnail(
        self, library: TemplateLibrary, side_name: str
    ) -> None:
        """The colour panel, reduced to a quarter, matches the checked-in thumbnail."""
        artwork = render_card(sample_card(), None, library)
        side = artwork.front if side_name == "front" else artwork.back
        assert side is not None
        assert side.color is not None
        thumb = side.color.reduce(4)
        path = EXPECTED / f"ktp-v1-{side_name}-color-quarter.png"
        if UPDATE:
            thumb.save(path, optimize=True)
        with Image.open(path) as expected:
            diff = ImageChops.difference(expected.convert("RGB"), thumb)
        worst = max(high for _low, high in diff.getextrema())  # type: ignore[misc]
        assert worst <= 2


class TestPanels:
    def test_sides_have_the_printer_size(self, library: TemplateLibrary) -> None:
        """Every panel of both sides is 1016 x 648, colour RGB and masks 1-bit."""
        artwork = render_card(sample_card(), None, library)
        for side in (artwork.front, artwork.back):
            assert side is not None
            assert side.color is not None
            assert side.color.size == CARD_SIZE
            assert side.color.mode == "RGB"
            assert side.black is not None
            assert side.black.size == CARD_SIZE
            assert side.black.mode == "1"

    def test_text_goes_to_resin_black_not_colour(self, library: TemplateLibrary) -> None:
        """The name is drawn on K; the colour panel there is the bare background."""
        artwork = render_card(sample_card(), None, library)
        assert _set_pixels(_crop(artwork.front.black, NAME_BOX)) > 200
        loaded = library.get("ktp-v1")
        assert loaded is not None
        background = loaded.asset("ktp-v1-front.png", CARD_SIZE).convert("RGB")
        colour = _crop(artwork.front.color, NAME_BOX)
        assert ImageChops.difference(colour, _crop(background, NAME_BOX)).getbbox() is None

    def test_photo_goes_to_colour_not_resin_black(self, library: TemplateLibrary) -> None:
        """The photo fills its box on the colour panel and leaves K empty there."""
        artwork = render_card(sample_card(), None, library)
        photo = _crop(artwork.front.color, PHOTO_BOX)
        corner = photo.getpixel((5, 5))
        assert isinstance(corner, tuple)
        assert corner[0] > 150
        assert corner[1] < 80
        assert _set_pixels(_crop(artwork.front.black, PHOTO_BOX)) == 0

    def test_signature_goes_to_resin_black(self, library: TemplateLibrary) -> None:
        """The signature strokes are on K, thresholded, within the signature box."""
        artwork = render_card(sample_card(), None, library)
        assert _set_pixels(_crop(artwork.front.black, SIGNATURE_BOX)) > 300

    def test_codes_go_to_resin_black(self, library: TemplateLibrary) -> None:
        """The back's barcode and QR code are printed in resin black."""
        artwork = render_card(sample_card(), None, library)
        assert artwork.back is not None
        assert _set_pixels(_crop(artwork.back.black, (208, 430, 600, 110))) > 10_000
        assert _set_pixels(_crop(artwork.back.black, (60, 140, 250, 250))) > 10_000

    def test_overlay_window_is_clear_over_chip_contacts(self, library: TemplateLibrary) -> None:
        """The front overlay is 0 over the ISO 7816-2 contact area and 1 elsewhere."""
        artwork = render_card(sample_card(), None, library)
        overlay = artwork.front.overlay
        assert overlay is not None
        assert overlay.mode == "1"
        contacts = (_mm(10.25), _mm(19.23), _mm(19.87) - _mm(10.25), _mm(28.55) - _mm(19.23))
        assert _set_pixels(_crop(overlay, contacts)) == 0
        assert _set_pixels(_crop(overlay, PHOTO_BOX)) == PHOTO_BOX[2] * PHOTO_BOX[3]
        assert artwork.back is not None
        assert artwork.back.overlay is None

    def test_chip_data_travels_with_the_artwork(self, library: TemplateLibrary) -> None:
        """The chip's bytes come out in CardArtwork.chip_data unchanged."""
        chip = ChipData(data=base64.b64encode(b"\x01\x02chip"))
        assert render_card(sample_card(), chip, library).chip_data == b"\x01\x02chip"


class TestArtworkCards:
    @staticmethod
    def _png(size: tuple[int, int] = CARD_SIZE, color: str = "navy") -> bytes:
        out = io.BytesIO()
        Image.new("RGB", size, color).save(out, format="PNG")
        return out.getvalue()

    def test_artwork_goes_to_colour_as_is(self, library: TemplateLibrary) -> None:
        """Finished artwork becomes the colour panel unchanged, with no K panel."""
        card = ArtworkCard(front=b64(self._png()), back=b64(self._png(color="teal")))
        artwork = render_card(card, None, library)
        assert artwork.front.color is not None
        assert artwork.front.color.getpixel((10, 10)) == (0, 0, 128)
        assert artwork.front.black is None
        assert artwork.front.overlay is None
        assert isinstance(artwork.back, SideArtwork)

    def test_contact_chip_opens_overlay_window_on_artwork(self, library: TemplateLibrary) -> None:
        """With a contact chip, artwork gets a clear overlay window over the contacts."""
        card = ArtworkCard(front=b64(self._png()))
        chip = ChipData(station="contact", data=base64.b64encode(b"x"))
        overlay = render_card(card, chip, library).front.overlay
        assert overlay is not None
        assert overlay.getpixel((_mm(15), _mm(24))) == 0
        assert overlay.getpixel((900, 600)) == 255

    def test_wrong_size_artwork_is_refused(self, library: TemplateLibrary) -> None:
        """Artwork that is not 1016 x 648 raises InvalidCard naming the side."""
        card = ArtworkCard(front=b64(self._png()), back=b64(self._png((648, 1016))))
        with pytest.raises(InvalidCard) as caught:
            render_card(card, None, library)
        assert [(p.field, p.code) for p in caught.value.problems] == [("back", "wrong_size")]


class TestShrinkToFit:
    def test_long_name_shrinks_but_fits(self, library: TemplateLibrary) -> None:
        """A long name is drawn smaller than the template size, not below the minimum."""
        element = _name_element(library)
        loaded = library.get("ktp-v1")
        assert loaded is not None
        long_name = "MUHAMMAD RIZKY ADITYA PRATAMA SUSANTO"
        fit = fit_text(element, loaded.font_path(element), compose(element, {"name": long_name}))
        assert isinstance(fit, TextFit)
        assert element.smallest <= fit.size < element.size
        assert all(fit.font.getlength(line) <= element.box[2] for line in fit.lines)
        # The largest size that fits: one pixel more does not.
        assert isinstance(fit_at(element, loaded.font_path(element), long_name, fit.size + 1), str)
        assert validate_card(sample_card(name=long_name), library) == []
        render_card(sample_card(name=long_name), None, library)

    def test_short_name_keeps_full_size(self, library: TemplateLibrary) -> None:
        """Text that fits is drawn at the template's size."""
        element = _name_element(library)
        loaded = library.get("ktp-v1")
        assert loaded is not None
        fit = fit_text(element, loaded.font_path(element), "SITI")
        assert isinstance(fit, TextFit)
        assert fit.size == element.size

    def test_name_too_long_even_at_minimum_is_refused(self, library: TemplateLibrary) -> None:
        """Beyond the minimum size, validation and rendering both name fields.name."""
        too_long = "W" * 58
        card = sample_card(name=too_long)
        problems = validate_card(card, library)
        assert [(p.field, p.code) for p in problems] == [("fields.name", "does_not_fit")]
        assert "14 px" in problems[0].message
        with pytest.raises(InvalidCard) as caught:
            render_card(card, None, library)
        assert [p.field for p in caught.value.problems] == ["fields.name"]


def test_sample_fields_cover_the_template(library: TemplateLibrary) -> None:
    """The sample card gives every field the shipped template declares."""
    loaded = library.get("ktp-v1")
    assert loaded is not None
    assert set(SAMPLE_FIELDS) == set(loaded.template.fields)
