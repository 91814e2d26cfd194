"""Render (and, where the Evolis panel encoder is present, encode) one dual-sided card.

Prints milliseconds per side for a templated e-KTP card with a 600 x 800 JPEG
photo, and the intake validation cost per card. Target: <= 30 ms per side.
Run: python bench/render.py [--rounds N]
"""

from __future__ import annotations

import argparse
import base64
import io
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import structlog
from PIL import Image, ImageDraw

from printd.card import TemplateCard
from printd.render import TemplateLibrary, render_card, validate_card

FIELDS = {
    "province": "JAWA TIMUR",
    "regency": "KABUPATEN NGAWI",
    "nik": "3521014107890003",
    "name": "MUHAMMAD RIZKY ADITYA PRATAMA",
    "birth_place": "NGAWI",
    "birth_date": "01-07-1989",
    "sex": "LAKI-LAKI",
    "blood_type": "AB",
    "address": "JL. RAYA NGAWI-SOLO KM 5 NO. 12",
    "rt": "003",
    "rw": "007",
    "village": "BERINGIN",
    "district": "GENENG",
    "religion": "ISLAM",
    "marital_status": "BELUM KAWIN",
    "occupation": "PELAJAR/MAHASISWA",
    "nationality": "WNI",
    "valid_until": "SEUMUR HIDUP",
    "issue_place": "NGAWI",
    "issue_date": "12-06-2024",
}


def _picture(size: tuple[int, int], fmt: str) -> bytes:
    image = Image.new("RGB", size, (190, 40, 50))
    draw = ImageDraw.Draw(image)
    w, h = size
    for i in range(0, w, 7):  # texture so the JPEG is photo-sized, not trivially small
        draw.line((i, 0, w - i, h), fill=(120 + i % 100, 90, 60), width=2)
    draw.ellipse((w * 0.25, h * 0.15, w * 0.75, h * 0.65), fill=(224, 180, 140))
    out = io.BytesIO()
    image.save(out, format=fmt, quality=85)
    return out.getvalue()


def _card() -> TemplateCard:
    signature = Image.new("L", (400, 160), 255)
    ImageDraw.Draw(signature).line([(20, 120), (90, 30), (150, 130), (380, 50)], fill=0, width=7)
    out = io.BytesIO()
    signature.save(out, format="PNG")
    return TemplateCard(
        template="ktp-v1",
        fields=FIELDS,
        images={
            "photo": base64.b64encode(_picture((600, 800), "JPEG")),
            "signature": base64.b64encode(out.getvalue()),
        },
    )


def _encoder() -> Callable[[Any], object]:
    """Evolis panel encoding of a whole card (both sides), as the driver prepares it."""
    from drivers.evolis.panels import encode_side

    def encode(card: Any) -> object:
        sides = [encode_side(card.front)]
        if card.back is not None:
            sides.append(encode_side(card.back))
        return sides

    return encode


def _timed(rounds: int, action: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    library = TemplateLibrary()
    card = _card()
    if validate_card(card, library):
        raise SystemExit("bench card does not validate")
    render_card(card, None, library)  # warm the font and background caches
    renders = _timed(args.rounds, lambda: render_card(card, None, library))
    print(
        f"render ktp-v1, 2 sides: median {statistics.median(renders):.1f} ms/card, "
        f"{statistics.median(renders) / 2:.1f} ms/side (best {min(renders) / 2:.1f}, "
        f"worst {max(renders) / 2:.1f}) over {args.rounds} rounds"
    )
    encode = _encoder()
    artwork = render_card(card, None, library)
    encodes = _timed(args.rounds, lambda: encode(artwork))
    print(f"Evolis panel encoding: median {statistics.median(encodes) / 2:.1f} ms/side")
    total = [r + e for r, e in zip(renders, encodes, strict=True)]
    per_side = statistics.median(total) / 2
    verdict = "meets" if per_side <= 30 else "MISSES"
    print(f"render + encode: {per_side:.1f} ms/side ({verdict} the 30 ms/side target)")
    checks = _timed(args.rounds, lambda: validate_card(card, library))
    print(
        f"validate_card at intake: median {statistics.median(checks):.2f} ms/card "
        f"(~{1000 / statistics.median(checks):.0f} cards/s on one core)"
    )


if __name__ == "__main__":
    main()
