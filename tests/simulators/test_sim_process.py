"""The simulator as its own process: a real pty for the driver (opened with
pyserial like /dev/ttyUSB0) and a control socket for faults and bins."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from drivers.base import CardArtwork, DriverOptions, Issued, PrinterState, SideArtwork
from drivers.registry import open_driver
from simulators.control import ControlChipEncoder, ControlClient, ControlError


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[tuple[str, ControlClient, subprocess.Popen[str]]]:
    control = f"unix:{tmp_path / 'control.sock'}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "printd",
            "sim",
            "evolis",
            "--pty",
            "--speed",
            "2000",
            "--blanks",
            "AB-100001..AB-100010",
            "--control",
            control,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        pty_line = process.stdout.readline().strip()
        control_line = process.stdout.readline().strip()
        assert pty_line.startswith("pty: /dev/")
        assert control_line == f"control: {control}"
        yield pty_line.removeprefix("pty: "), ControlClient(control), process
    finally:
        process.terminate()
        process.wait(timeout=10)


def card() -> CardArtwork:
    color = Image.new("RGB", (1016, 648), "white")
    ImageDraw.Draw(color).rectangle((10, 10, 500, 300), fill=(0, 0, 0))
    return CardArtwork(SideArtwork(color), SideArtwork(None), chip_data=b"\xca\xfe")


async def test_driver_prints_through_a_real_pty(
    sim_process: tuple[str, ControlClient, subprocess.Popen[str]],
) -> None:
    """A driver opened on the pty path issues the next blank; bins show it."""
    pty_path, client, _ = sim_process
    options = DriverOptions(
        timeout_s=2, card_timeout_s=10, chip_encoder=ControlChipEncoder(client.address)
    )
    async with open_driver(
        "desk-1", "evolis", f"serial://{pty_path}?baudrate=115200", options
    ) as driver:
        assert (await driver.status()).state is PrinterState.READY
        outcome = await driver.print_card(driver.prepare(card()), "AB-100001")
    assert isinstance(outcome, Issued)
    state = client.state()
    assert [c["serial"] for c in state["output"]] == ["AB-100001"]
    assert state["output"][0]["chip_data"] == "cafe"
    assert outcome.chip_uid == state["output"][0]["chip_uid"]
    assert state["feeder"][0] == "AB-100002"
    png = client.picture_png("y", side="front")
    assert png.startswith(b"\x89PNG")


async def test_simulator_outlives_its_driver_and_keeps_faults(
    sim_process: tuple[str, ControlClient, subprocess.Popen[str]],
) -> None:
    """Closing the driver leaves the simulator running with its state."""
    pty_path, client, process = sim_process
    client.inject("cover-open")
    async with open_driver("desk-1", "evolis", pty_path, DriverOptions(timeout_s=2)) as driver:
        assert (await driver.status()).state is PrinterState.COVER_OPEN
    assert process.poll() is None
    async with open_driver("desk-1", "evolis", pty_path, DriverOptions(timeout_s=2)) as driver:
        assert (await driver.status()).state is PrinterState.COVER_OPEN
        client.clear("cover-open")
        assert (await driver.status()).state is PrinterState.READY


async def test_link_drop_gives_a_new_pty(
    sim_process: tuple[str, ControlClient, subprocess.Popen[str]],
) -> None:
    """After a dropped link is cleared, the printer answers on a new pty path."""
    pty_path, client, _ = sim_process
    async with open_driver("desk-1", "evolis", pty_path, DriverOptions(timeout_s=1)) as driver:
        client.inject("link-drop")
        status = await driver.status()
        for _ in range(20):
            if status.state is PrinterState.OFFLINE:
                break
            status = await driver.status()
        assert status.state is PrinterState.OFFLINE
    client.clear("link-drop")
    new_path = None
    for _ in range(100):
        new_path = client.pty_path()
        if new_path:
            break
    assert new_path is not None
    async with open_driver("desk-1", "evolis", new_path, DriverOptions(timeout_s=2)) as driver:
        assert (await driver.status()).state is PrinterState.READY


def test_bad_control_request_changes_nothing(
    sim_process: tuple[str, ControlClient, subprocess.Popen[str]],
) -> None:
    """Unknown faults and bad ranges are refused and the feeder is untouched."""
    _, client, _ = sim_process
    before = client.state()
    with pytest.raises(ControlError):
        client.call("fault", name="meteor")
    with pytest.raises(ControlError):
        client.load("AB-9..AB-1")
    with pytest.raises(ControlError):
        client.call("chip_write", data="00")
    assert client.state() == before
    assert client.load("AB-100011..AB-100012") == 12


def test_control_command_line_injects_and_reports(
    sim_process: tuple[str, ControlClient, subprocess.Popen[str]],
) -> None:
    """`printd sim control` causes faults and prints state as JSON."""
    _, client, _ = sim_process
    run = [sys.executable, "-m", "printd", "sim", "control", client.address]
    done = subprocess.run([*run, "jam"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert client.state()["faults"]["jam_next"] is True
    bad = subprocess.run([*run, "meteor"], capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 2
    state = subprocess.run([*run, "state"], capture_output=True, text=True, timeout=30, check=True)
    assert '"AB-100001"' in state.stdout
