"""A real Mosquitto broker for tests and benchmarks, on a free loopback port.

``MosquittoBroker(workdir)`` writes a config (persistence on, in ``workdir``;
large queues so an offline client's backlog is kept; every client allowed)
and runs ``mosquitto -c CONF``. ``stop()`` / ``start()`` / ``restart()`` keep
the same port and the same persistence file, so a test can take the broker
down in the middle of a run; ``kill()`` is a SIGKILL (no persistence save).

``MosquittoBroker(workdir, tls=True)`` also generates a CA, a server
certificate for 127.0.0.1 and a client certificate (``broker.tls``: paths),
and listens with TLS only, requiring a client certificate.

Used by ``tests/conftest.py`` fixtures (``broker``, ``tls_broker``) and by
``bench/*.py``. Never uses the shared port 1883.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from printd.demo.broker import find_mosquitto as _find
from printd.demo.broker import free_port, mosquitto_config
from printd.demo.proxy import TcpProxy  # noqa: F401 - tests import it from here

START_TIMEOUT_S = 10.0


def find_mosquitto() -> str:
    """Path of the mosquitto binary; a clear error when it is missing."""
    found = _find()
    if found is None:
        raise RuntimeError(
            "mosquitto not found: install it (apt-get install mosquitto mosquitto-clients)"
        )
    return found


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path
    client_cert_file: Path
    client_key_file: Path


class MosquittoBroker:
    """One Mosquitto process; same port and persistence across restarts."""

    def __init__(
        self,
        workdir: Path,
        *,
        tls: bool = False,
        max_queued_messages: int = 200_000,
        autosave_s: int = 1,
        extra_config: str = "",
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls: TlsFiles | None = make_tls_files(workdir / "tls") if tls else None
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        lines = [
            mosquitto_config(
                self.port, workdir, self.log_path, max_queued_messages, autosave_s
            ).rstrip(),
            "log_type notice",
        ]
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.cert_file}",
                f"keyfile {self.tls.key_file}",
                "require_certificate true",
                "use_identity_as_username true",
            ]
        self.config_path.write_text("\n".join(lines) + "\n" + extra_config)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self._proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"mosquitto exited at start: {err} {self._log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self._log_tail()}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM): Mosquitto saves its persistence file."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._close()

    def kill(self) -> None:
        """SIGKILL: whatever Mosquitto has not autosaved is gone."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _close(self) -> None:
        if self._proc is not None and self._proc.stderr is not None:
            self._proc.stderr.close()
        self._proc = None

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text()[-2000:]
        except OSError:
            return ""

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_tls_files(directory: Path) -> TlsFiles:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    valid = (now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("printd test CA"))
        .issuer_name(_name("printd test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def issue(cn: str, server: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid[0])
            .not_valid_after(valid[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        return builder.sign(ca_key, hashes.SHA256()), key

    files = TlsFiles(
        ca_file=directory / "ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server.key",
        client_cert_file=directory / "client.pem",
        client_key_file=directory / "client.key",
    )
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server_cert, server_key = issue("127.0.0.1", server=True)
    files.cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.key_file, server_key)
    client_cert, client_key = issue("printd-station", server=False)
    files.client_cert_file.write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.client_key_file, client_key)
    return files
