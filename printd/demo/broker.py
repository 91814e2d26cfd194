"""A local MQTT broker for the demo: Mosquitto when installed, else amqtt.

Mosquitto speaks MQTT 5 and is what a deployment runs; amqtt (pure Python,
MQTT 3.1.1 only) lets the demo run on a machine with nothing but Python.
Both keep their state across a stop/start on the same port, so the demo can
cut the station's link and bring it back.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT_S = 15.0


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if Path(candidate).exists():
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mosquitto_config(
    port: int, workdir: Path, log: Path, max_queued: int = 200_000, autosave_s: int = 1
) -> str:
    """The settings a station's broker needs (see docs/protocol.md), on loopback.

    ``autosave_s`` is short by default so a broker killed in a test or the
    demo loses little; a deployment saves less often (each save writes every
    queued job: see docs/protocol.md).
    """
    lines = [
        # As root Mosquitto would switch to its own user and lose the work directory.
        f"user {getpass.getuser()}",
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {workdir}/",
        "persistence_file mosquitto.db",
        f"autosave_interval {autosave_s}",
        # An offline station's backlog must not be dropped (default 1000).
        f"max_queued_messages {max_queued}",
        "max_queued_bytes 0",
        "max_inflight_messages 0",
        "persistent_client_expiration 1d",
        "set_tcp_nodelay true",
        "log_type error",
        "log_type warning",
        f"log_dest file {log}",
    ]
    return "\n".join(lines) + "\n"


class DemoBroker:
    """One broker process on a free loopback port."""

    def __init__(self, workdir: Path, prefer: str = "auto") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.mosquitto = find_mosquitto() if prefer in ("auto", "mosquitto") else None
        if prefer == "mosquitto" and self.mosquitto is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.protocol = "5" if self.mosquitto else "3.1.1"
        self.kind = "mosquitto" if self.mosquitto else "amqtt"
        self._log = workdir / f"{self.kind}.log"
        if self.mosquitto:
            self._config = workdir / "mosquitto.conf"
            self._config.write_text(mosquitto_config(self.port, workdir, self._log))
            self._argv = [self.mosquitto, "-c", str(self._config)]
        else:
            self._config = workdir / "amqtt.yaml"
            self._config.write_text(
                "listeners:\n  default:\n    type: tcp\n"
                f"    bind: 127.0.0.1:{self.port}\n"
                "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
                "    allow_anonymous: true\n"
            )
            amqtt = Path(sys.executable).with_name("amqtt")
            self._argv = [str(amqtt), "-c", str(self._config)]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(self._argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the {self.kind} broker exited at start; see {self._log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the {self.kind} broker did not listen within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None
