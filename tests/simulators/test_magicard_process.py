"""`printd sim magicard` as its own process: a real pty for the Magicard
driver (opened with pyserial) and the same control API as every simulator."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from drivers.base import CardArtwork, DriverOptions, Issued, PrinterState, SideArtwork
from drivers.registry import open_driver
from simulators.control import ControlClient


@pytest.fixture
def magicard_process(tmp_path: Path) -> Iterator[tuple[str, ControlClient]]:
    control = f"unix:{tmp_path / 'control.sock'}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "printd",
            "sim",
            "magicard",
            "--pty",
            "--speed",
            "2000",
            "--blanks",
            "MC-000001..MC-000005",
            "--control",
            control,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        pty_line = process.stdout.readline().strip()
        assert pty_line.startswith("pty: /dev/")
        assert process.stdout.readline().strip() == f"control: {control}"
        yield pty_line.removeprefix("pty: "), ControlClient(control)
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_magicard_prints_through_a_real_pty(
    magicard_process: tuple[str, ControlClient],
) -> None:
    """The driver on the pty reads status, issues the next blank, bins show it."""
    pty_path, client = magicard_process
    color = Image.new("RGB", (1016, 648), "white")
    ImageDraw.Draw(color).rectangle((10, 10, 500, 300), fill=(0, 0, 0))
    options = DriverOptions(timeout_s=2, card_timeout_s=20)
    url = f"serial://{pty_path}?baudrate=115200"
    async with open_driver("desk-2", "magicard", url, options) as driver:
        assert "SIM0001" in driver.capabilities.model
        assert (await driver.status()).state is PrinterState.READY
        outcome = await driver.print_card(
            driver.prepare(CardArtwork(SideArtwork(color))), "MC-000001"
        )
        assert outcome == Issued("MC-000001")
        client.inject("cover-open")
        assert (await driver.status()).state is PrinterState.COVER_OPEN
        client.clear("cover-open")
        assert (await driver.status()).state is PrinterState.READY
    state = client.state()
    assert [c["serial"] for c in state["output"]] == ["MC-000001"]
    assert state["output"][0]["sides"] == {"front": ["y", "m", "c", "k", "o"]}
    assert state["feeder"][0] == "MC-000002"
    assert client.picture_png("c").startswith(b"\x89PNG")
