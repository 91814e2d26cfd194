"""Checking cards at intake: every problem names its field and never its value."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from render_samples import SAMPLE_FIELDS, b64, photo_bytes, sample_card, signature_bytes

from printd.card import ArtworkCard, TemplateCard
from printd.render import (
    PROBLEM_CODES,
    CardProblem,
    InvalidCard,
    TemplateLibrary,
    check_card,
    render_card,
    validate_card,
)


def _pairs(problems: list[CardProblem]) -> list[tuple[str, str]]:
    return [(p.field, p.code) for p in problems]


def _card(
    fields: dict[str, str] | None = None, images: dict[str, bytes] | None = None
) -> TemplateCard:
    return TemplateCard(
        template="ktp-v1",
        fields=SAMPLE_FIELDS if fields is None else fields,
        images={
            k: b64(v)
            for k, v in (images or {"photo": photo_bytes(), "signature": signature_bytes()}).items()
        },
    )


def _png_header_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge picture (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


class TestTemplateCards:
    def test_sample_card_is_printable(self, library: TemplateLibrary) -> None:
        """A complete, well-formed card has no problems and check_card passes."""
        assert validate_card(sample_card(), library) == []
        check_card(sample_card(), library)

    def test_unknown_template(self, library: TemplateLibrary) -> None:
        """An unknown template name is reported on 'template'."""
        card = TemplateCard(template="no-such-card", fields={})
        assert _pairs(validate_card(card, library)) == [("template", "unknown_template")]

    def test_missing_field(self, library: TemplateLibrary) -> None:
        """A required field left out is reported on that field."""
        fields = {k: v for k, v in SAMPLE_FIELDS.items() if k != "religion"}
        assert _pairs(validate_card(_card(fields), library)) == [("fields.religion", "missing")]

    def test_blank_field_counts_as_missing(self, library: TemplateLibrary) -> None:
        """A required field given only spaces is missing."""
        assert _pairs(validate_card(sample_card(occupation="   "), library)) == [
            ("fields.occupation", "missing")
        ]

    def test_optional_field_may_be_absent(self, library: TemplateLibrary) -> None:
        """blood_type is optional: leaving it out is fine (its default is printed)."""
        fields = {k: v for k, v in SAMPLE_FIELDS.items() if k != "blood_type"}
        assert validate_card(_card(fields), library) == []

    def test_extra_field(self, library: TemplateLibrary) -> None:
        """A field the template does not declare is reported by name."""
        assert _pairs(validate_card(sample_card(nickname="SITI"), library)) == [
            ("fields.nickname", "unexpected")
        ]

    def test_pattern(self, library: TemplateLibrary) -> None:
        """A NIK that is not 16 digits is reported on fields.nik."""
        assert _pairs(validate_card(sample_card(nik="35210141078900"), library)) == [
            ("fields.nik", "pattern")
        ]

    def test_too_long(self, library: TemplateLibrary) -> None:
        """A value beyond max_length is reported as too_long."""
        assert _pairs(validate_card(sample_card(address="JL " * 40), library)) == [
            ("fields.address", "too_long")
        ]

    def test_control_character(self, library: TemplateLibrary) -> None:
        """A newline or other control character is refused on its field."""
        assert _pairs(validate_card(sample_card(village="BERINGIN\nX"), library)) == [
            ("fields.village", "bad_character")
        ]

    def test_character_the_font_lacks(self, library: TemplateLibrary) -> None:
        """A character outside the shipped font would print as a box: refused."""
        problems = validate_card(sample_card(name="SITI 王"), library)
        assert _pairs(problems) == [("fields.name", "bad_character")]
        assert "U+738B" in problems[0].message

    def test_accented_latin_is_fine(self, library: TemplateLibrary) -> None:
        """Latin letters with accents are in the font and accepted."""
        assert validate_card(sample_card(name="JOSÉ ÅNGSTRÖM ŁUKASZ"), library) == []

    def test_missing_image(self, library: TemplateLibrary) -> None:
        """A required picture left out is reported on images.<name>."""
        card = _card(images={"photo": photo_bytes()})
        assert _pairs(validate_card(card, library)) == [("images.signature", "missing")]

    def test_extra_image(self, library: TemplateLibrary) -> None:
        """A picture the template does not declare is reported by name."""
        images = {"photo": photo_bytes(), "signature": signature_bytes(), "thumb": photo_bytes()}
        assert _pairs(validate_card(_card(images=images), library)) == [
            ("images.thumb", "unexpected")
        ]

    def test_garbage_image(self, library: TemplateLibrary) -> None:
        """Bytes that are no picture are reported as bad_image on that image."""
        card = _card(images={"photo": b"not a picture at all", "signature": signature_bytes()})
        assert _pairs(validate_card(card, library)) == [("images.photo", "bad_image")]

    def test_truncated_jpeg(self, library: TemplateLibrary) -> None:
        """A JPEG cut short is caught at intake, not at the printer."""
        jpeg = photo_bytes("JPEG", (600, 800))
        card = _card(images={"photo": jpeg[: len(jpeg) // 2], "signature": signature_bytes()})
        assert _pairs(validate_card(card, library)) == [("images.photo", "bad_image")]

    def test_gif_is_refused(self, library: TemplateLibrary) -> None:
        """Only JPEG and PNG are taken, even when Pillow could read the format."""
        out = io.BytesIO()
        Image.new("RGB", (30, 40), "red").save(out, format="GIF")
        card = _card(images={"photo": out.getvalue(), "signature": signature_bytes()})
        assert _pairs(validate_card(card, library)) == [("images.photo", "bad_image")]

    def test_decompression_bomb(self, library: TemplateLibrary) -> None:
        """A small file claiming 40000 x 40000 pixels is refused before decoding."""
        card = _card(
            images={"photo": _png_header_bomb(40_000, 40_000), "signature": signature_bytes()}
        )
        problems = validate_card(card, library)
        assert _pairs(problems) == [("images.photo", "image_too_large")]

    def test_several_problems_are_all_reported(self, library: TemplateLibrary) -> None:
        """Every problem is listed at once, each on its own field."""
        fields = {**SAMPLE_FIELDS, "nik": "12", "extra": "x"}
        del fields["name"]
        problems = validate_card(_card(fields), library)
        assert sorted(_pairs(problems)) == [
            ("fields.extra", "unexpected"),
            ("fields.name", "missing"),
            ("fields.nik", "pattern"),
        ]

    def test_check_card_raises_with_problems(self, library: TemplateLibrary) -> None:
        """check_card raises InvalidCard carrying the same problems."""
        with pytest.raises(InvalidCard) as caught:
            check_card(sample_card(nik="x"), library)
        assert _pairs(caught.value.problems) == [("fields.nik", "pattern")]

    def test_messages_never_quote_the_value(self, library: TemplateLibrary) -> None:
        """Problem text names fields but never repeats what the citizen's data was."""
        secret = "RAHASIA PRIBADI " * 5
        problems = validate_card(
            sample_card(name=secret.strip(), nik="ABCDEFGHIJKLMNOP", village="DESA\tRAHASIA"),
            library,
        )
        assert {p.field for p in problems} == {"fields.name", "fields.nik", "fields.village"}
        for problem in problems:
            assert "RAHASIA" not in str(problem)
            assert "ABCDEFGH" not in str(problem)
            assert problem.code in PROBLEM_CODES


class TestArtworkCards:
    @staticmethod
    def _png(size: tuple[int, int]) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", size, "white").save(out, format="PNG")
        return out.getvalue()

    def test_right_size_passes(self, library: TemplateLibrary) -> None:
        """1016 x 648 artwork on both sides is printable."""
        card = ArtworkCard(front=b64(self._png((1016, 648))), back=b64(self._png((1016, 648))))
        assert validate_card(card, library) == []

    def test_wrong_size_names_the_side(self, library: TemplateLibrary) -> None:
        """Portrait or scaled artwork is refused on the side it came for."""
        card = ArtworkCard(front=b64(self._png((1016, 648))), back=b64(self._png((1011, 638))))
        problems = validate_card(card, library)
        assert _pairs(problems) == [("back", "wrong_size")]
        assert "1011 x 638" in problems[0].message

    def test_garbage_artwork(self, library: TemplateLibrary) -> None:
        """Artwork that is not a picture is refused on its side."""
        card = ArtworkCard(front=base64.b64encode(b"\x89PNG but not really"))
        assert _pairs(validate_card(card, library)) == [("front", "bad_image")]


_FIELD_NAMES = st.sampled_from([*SAMPLE_FIELDS, "extra", "x" * 70, "bad name!", ""])
_VALUES = st.text(max_size=120)
_IMAGE_BYTES = st.one_of(
    st.binary(max_size=200),
    st.just(photo_bytes()),
    st.just(signature_bytes()),
    st.just(_png_header_bomb(50_000, 50_000)),
    st.binary(min_size=10, max_size=200).map(lambda tail: photo_bytes()[:300] + tail),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.dictionaries(_FIELD_NAMES, _VALUES, max_size=25),
    images=st.dictionaries(
        st.sampled_from(["photo", "signature", "other"]), _IMAGE_BYTES, max_size=3
    ),
)
def test_random_cards_never_crash_validation(
    library: TemplateLibrary, fields: dict[str, str], images: dict[str, bytes]
) -> None:
    """Any field and image dict gives a list of named problems, never an exception."""
    card = TemplateCard(
        template="ktp-v1", fields=fields, images={k: b64(v) for k, v in images.items()}
    )
    problems = validate_card(card, library)
    for problem in problems:
        assert problem.code in PROBLEM_CODES
        assert problem.field == "template" or problem.field.startswith(("fields.", "images."))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    overrides=st.dictionaries(
        st.sampled_from(["name", "address", "birth_place", "occupation", "regency", "issue_place"]),
        st.text(
            alphabet=st.characters(min_codepoint=32, max_codepoint=0x17F), min_size=1, max_size=80
        ),
        max_size=4,
    )
)
def test_valid_means_renderable(library: TemplateLibrary, overrides: dict[str, str]) -> None:
    """A card validation accepts always renders; one it refuses for fit also fails to render."""
    card = sample_card(**overrides)
    problems = validate_card(card, library)
    if not problems:
        render_card(card, None, library)
        return
    fit = [p for p in problems if p.code == "does_not_fit"]
    if fit and len(fit) == len(problems):
        with pytest.raises(InvalidCard) as caught:
            render_card(card, None, library)
        assert {p.field for p in caught.value.problems} == {p.field for p in fit}
