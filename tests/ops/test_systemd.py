"""The systemd notify and watchdog protocol over a real datagram socket, and the unit file."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from printd.sdnotify import SystemdNotifier

ROOT = Path(__file__).parents[2]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield str(path), sock
    sock.close()


def test_ready_status_and_watchdog_reach_the_socket(
    notify_socket: tuple[str, socket.socket],
) -> None:
    """Each notification arrives as one datagram in systemd's format."""
    path, sock = notify_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.ready("2 printer(s)")
    assert sock.recv(4096) == b"READY=1\nSTATUS=2 printer(s)"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_namespace_socket() -> None:
    """An '@' address is systemd's abstract socket namespace."""
    name = f"printd-test-{id(object())}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()


def test_without_systemd_nothing_is_sent() -> None:
    """Outside systemd the notifier is a no-op that says so."""
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert notifier.watchdog_interval is None


def test_watchdog_interval_is_half_of_watchdogsec() -> None:
    """WATCHDOG_USEC=30 s means a ping every 15 s; another process's watchdog is ignored."""
    import os

    assert SystemdNotifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval == 15.0
    mine = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert SystemdNotifier(mine).watchdog_interval == 15.0
    other = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    assert SystemdNotifier(other).watchdog_interval is None
    assert SystemdNotifier({"WATCHDOG_USEC": "soon"}).watchdog_interval is None


def test_a_vanished_socket_does_not_break_the_daemon(tmp_path: Path) -> None:
    """If systemd's socket is gone, notify reports failure instead of raising."""
    assert not SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).ready()


def test_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """The shipped unit is valid for systemd (with ExecStart pointed at this install)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    printd = shutil.which("printd") or str(Path(__file__).parents[2] / ".venv" / "bin" / "printd")
    unit = (ROOT / "systemd" / "printd.service").read_text()
    for required in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "User=printd",
        "ProtectSystem=strict",
        "StateDirectory=printd",
        "ConfigurationDirectory=printd",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "DevicePolicy=closed",
    ):
        assert required in unit, required
    local = tmp_path / "printd.service"
    local.write_text(unit.replace("/opt/printd/bin/printd", printd))
    result = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_udev_rules_cover_the_supported_vendors() -> None:
    """USB printers of every supported family are given to the printd group."""
    rules = (ROOT / "systemd" / "70-printd.rules").read_text()
    for vendor in ("0f49", "0c1f"):
        assert f'ATTR{{idVendor}}=="{vendor}"' in rules
    for line in rules.splitlines():
        if line and not line.startswith("#"):
            assert 'GROUP="printd"' in line
            assert 'MODE="0660"' in line
