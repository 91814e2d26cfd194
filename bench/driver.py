"""Prints how long printd takes to encode a card into Evolis panels and to push
one through a fast simulator (no printing delays), for a simple card and a
photo card; then the same for a single-sided Magicard job. Target: encoding
<= 20 ms per side."""

from __future__ import annotations

import asyncio
import statistics
import time

import numpy as np
from PIL import Image, ImageDraw

from drivers.base import CardArtwork, DriverOptions, Issued, SideArtwork
from drivers.evolis.driver import EvolisDriver
from drivers.evolis.panels import encode_side
from drivers.magicard import panels as magicard_panels
from drivers.magicard.driver import MagicardDriver
from simulators.evolis import EvolisPrinter
from simulators.local import LocalSimulator
from simulators.machine import Machine, expand_serials
from simulators.magicard import MagicardPrinter

ROUNDS = 20


def id_card_side() -> SideArtwork:
    """Flat colours, a photo patch and black text: a typical ID card front."""
    rng = np.random.default_rng(1)
    color = Image.new("RGB", (1016, 648), (235, 240, 250))
    draw = ImageDraw.Draw(color)
    draw.rectangle((0, 0, 1016, 90), fill=(180, 20, 40))
    photo = Image.fromarray(rng.integers(0, 256, (300, 240, 3), dtype=np.uint8), "RGB")
    color.paste(photo, (40, 140))
    black = Image.new("1", (1016, 648), 0)
    ImageDraw.Draw(black).text((320, 160), "NIK 3521 0000 1111 2222", fill=1)
    return SideArtwork(color, black)


def photo_side() -> SideArtwork:
    rng = np.random.default_rng(2)
    return SideArtwork(Image.fromarray(rng.integers(0, 256, (648, 1016, 3), dtype=np.uint8)))


def time_encode(side: SideArtwork) -> tuple[float, int]:
    encode_side(side)  # warm-up
    times = []
    size = 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        commands = encode_side(side)
        times.append(time.perf_counter() - start)
        size = sum(len(c.data) for c in commands)
    return statistics.median(times) * 1000, size


def time_encode_magicard(side: SideArtwork) -> tuple[float, int]:
    magicard_panels.encode_side(side)  # warm-up
    times = []
    size = 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        size = len(magicard_panels.encode_side(side).encode())
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, size


async def time_push(card: CardArtwork, family: str = "evolis") -> float:
    machine = Machine(speed=1e9)
    machine.load(expand_serials("BN-000001..BN-000050"))
    options = DriverOptions(timeout_s=5, card_timeout_s=30)
    driver: EvolisDriver | MagicardDriver
    if family == "evolis":
        sim = LocalSimulator("bench", EvolisPrinter(machine))
        driver = EvolisDriver(await sim.connect(), options)
    else:
        sim = LocalSimulator("bench", MagicardPrinter(machine))
        driver = MagicardDriver(await sim.connect(), options)
    times = []
    async with driver:
        prepared = driver.prepare(card)
        for n in range(5):
            start = time.perf_counter()
            outcome = await driver.print_card(prepared, f"BN-{n + 1:06d}")
            times.append(time.perf_counter() - start)
            if not isinstance(outcome, Issued):
                raise SystemExit(f"bench card not issued: {outcome}")
    await sim.stop()
    return statistics.median(times) * 1000


def main() -> None:
    print("Evolis panel encoding, median of", ROUNDS, "(target <= 20 ms per side)")
    for name, side in (("id-card side", id_card_side()), ("full-photo side", photo_side())):
        ms, size = time_encode(side)
        print(f"  {name:16s} {ms:7.1f} ms/side  {size / 1024:7.0f} KiB of panel data")
    card = CardArtwork(id_card_side(), SideArtwork(None, id_card_side().black))
    ms = asyncio.run(time_push(card))
    print(f"Dual-sided card through an instant simulator (in-memory link): {ms:.1f} ms/card")
    print("Magicard job encoding (planes and framing), median of", ROUNDS)
    for name, side in (("id-card side", id_card_side()), ("full-photo side", photo_side())):
        ms, size = time_encode_magicard(side)
        print(f"  {name:16s} {ms:7.1f} ms/side  {size / 1024:7.0f} KiB of job data")
    ms = asyncio.run(time_push(CardArtwork(id_card_side()), "magicard"))
    print(f"Single-sided Magicard card through an instant simulator: {ms:.1f} ms/card")


if __name__ == "__main__":
    main()
