"""Test helpers: a real station from the outside.

Simulated printers run as their own processes on real ptys (so they survive
the daemon being killed), the daemon runs as `python -m printd run`, and the
test looks at the same SQLite file and at the simulators' bins, like a
technician would.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from printd.signing import Signer
from printd.store import Store
from simulators.process import SimulatorProcess

SimPrinter = SimulatorProcess


def start_simulator(
    workdir: Path,
    name: str,
    blanks: str,
    *,
    speed: float = 500.0,
    family: str = "evolis",
    extra: tuple[str, ...] = (),
) -> SimulatorProcess:
    return SimulatorProcess.start(workdir, name, blanks, speed=speed, family=family, extra=extra)


def write_config(
    workdir: Path,
    printers: list[SimPrinter],
    *,
    broker: tuple[str, int] | None = None,
    registry_keys: dict[str, str] | None = None,
    station_id: str = "test-station",
    **station: Any,
) -> Path:
    """A station config for these simulators; with a broker, a station key too."""
    lines = [
        "[station]",
        f'id = "{station_id}"',
        f'state_dir = "{workdir / "state"}"',
        'operator = "test technician"',
        *(f"{k} = {json.dumps(v)}" for k, v in station.items()),
        "[logging]",
        'format = "json"',
        'level = "info"',
        "[mqtt]",
    ]
    if broker is None:
        lines.append("enabled = false")
    else:
        key = workdir / "station.key"
        if not key.exists():
            Signer.generate().write(key)
        lines += [
            f'host = "{broker[0]}"',
            f"port = {broker[1]}",
            "reconnect_max_s = 2",
            "[signing]",
            f'station_key_file = "{key}"',
            "[signing.registry_keys]",
            *(f'"{kid}" = "{pub}"' for kid, pub in (registry_keys or {}).items()),
        ]
    for printer in printers:
        lines += [
            "[[printers]]",
            f'name = "{printer.name}"',
            f'url = "serial://{printer.pty}"',
            "timeout_s = 5",
            "card_timeout_s = 30",
        ]
    path = workdir / "printd.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


_ARTWORK_CACHE: dict[str, str] = {}


def artwork_png(label: str = "printd") -> str:
    """A finished card side as base64 PNG (1016 x 648), the same for a given label."""
    if label not in _ARTWORK_CACHE:
        image = Image.new("RGB", (1016, 648), (235, 240, 250))
        draw = ImageDraw.Draw(image)
        draw.rectangle((40, 140, 300, 480), fill=(120, 90, 60))
        draw.text((340, 160), label, fill=(0, 0, 0))
        out = io.BytesIO()
        image.save(out, "PNG")
        _ARTWORK_CACHE[label] = base64.b64encode(out.getvalue()).decode()
    return _ARTWORK_CACHE[label]


def accept_job(
    store: Store,
    conn: sqlite3.Connection,
    job_id: str,
    *,
    not_after: datetime | None = None,
) -> None:
    """One queued job with an empty card, in the caller's transaction (for ledger
    and upkeep tests, where the card itself plays no part)."""
    store.jobs.accept(
        conn,
        job_id=job_id,
        priority="normal",
        not_after=not_after or datetime.now(UTC) + timedelta(days=1),
        payload=b"{}",
        content_hash="h",
        key_id="k",
    )


def add_jobs(
    store: Store, count: int, *, prefix: str = "job", urgent_every: int = 0, ttl_s: float = 86400
) -> list[str]:
    """Queue jobs straight into the store, as intake would after verifying them."""
    payload = json.dumps({"card": {"kind": "artwork", "front": artwork_png()}}).encode()
    ids = []
    with store.transaction() as conn:
        for n in range(count):
            job_id = f"{prefix}-{n:05d}"
            urgent = urgent_every and n % urgent_every == 0
            store.jobs.accept(
                conn,
                job_id=job_id,
                priority="urgent" if urgent else "normal",
                not_after=datetime.now(UTC) + timedelta(seconds=ttl_s),
                payload=payload,
                content_hash=f"h{n}",
                key_id="test",
            )
            ids.append(job_id)
    return ids


@contextmanager
def daemon(
    config: Path, log_path: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`printd run` in its own process; stopped (SIGTERM) on the way out if still running."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "printd", "--config", str(config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def printd_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printd", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )
