"""Sample cards for the render tests: synthetic pictures, made-up people."""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageDraw

from printd.card import TemplateCard

SAMPLE_FIELDS: dict[str, str] = {
    "province": "JAWA TIMUR",
    "regency": "KABUPATEN NGAWI",
    "nik": "3521014107890003",
    "name": "SITI RAHAYU WULANDARI",
    "birth_place": "NGAWI",
    "birth_date": "01-07-1989",
    "sex": "PEREMPUAN",
    "blood_type": "O",
    "address": "JL. RAYA NGAWI-SOLO KM 5 NO. 12",
    "rt": "003",
    "rw": "007",
    "village": "BERINGIN",
    "district": "GENENG",
    "religion": "ISLAM",
    "marital_status": "KAWIN",
    "occupation": "PEDAGANG",
    "nationality": "WNI",
    "valid_until": "SEUMUR HIDUP",
    "issue_place": "NGAWI",
    "issue_date": "12-06-2024",
}


def photo_bytes(fmt: str = "JPEG", size: tuple[int, int] = (300, 400)) -> bytes:
    """A synthetic portrait: a face-like oval on a red background."""
    image = Image.new("RGB", size, (200, 30, 40))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w * 0.25, h * 0.15, w * 0.75, h * 0.65), fill=(224, 180, 140))
    draw.rectangle((w * 0.15, h * 0.7, w * 0.85, h), fill=(30, 30, 90))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def signature_bytes() -> bytes:
    """A synthetic signature: dark strokes on white, PNG."""
    image = Image.new("L", (400, 160), 255)
    draw = ImageDraw.Draw(image)
    draw.line([(20, 120), (80, 30), (120, 130), (180, 40), (240, 120), (380, 60)], fill=10, width=8)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> bytes:
    """Base64 as the wire carries it (the card model decodes it)."""
    return base64.b64encode(data)


def sample_card(**field_overrides: str) -> TemplateCard:
    fields = {**SAMPLE_FIELDS, **field_overrides}
    return TemplateCard(
        template="ktp-v1",
        fields=fields,
        images={"photo": b64(photo_bytes()), "signature": b64(signature_bytes())},
    )
