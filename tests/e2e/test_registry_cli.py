"""`printd sim registry` against a running station, as an integrator would try it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from brokers import MosquittoBroker
from stations import daemon, start_simulator, write_config

from printd.serials import parse_serials
from printd.signing import Signer, public_b64
from printd.store import Store

BLANKS = "AB-100001..AB-100010"


def test_registry_command_sends_jobs_and_checks_every_answer(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Five jobs from the command line: all accepted and answered, exit code 0."""
    registry = Signer.generate("registry-1")
    registry.write(tmp_path / "registry.key")
    sim = start_simulator(tmp_path, "evolis-1", BLANKS)
    try:
        config = write_config(
            tmp_path,
            [sim],
            broker=(broker.host, broker.port),
            registry_keys={"registry-1": public_b64(registry.public_key)},
        )
        with Store.open(tmp_path / "state") as store:
            store.ledger.receive("BOX-1", parse_serials([BLANKS]), "t")
            store.ledger.load("evolis-1", parse_serials([BLANKS]), "t")
        with daemon(config, tmp_path / "daemon.log"):
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "printd",
                    "sim",
                    "registry",
                    "--host",
                    broker.host,
                    "--port",
                    str(broker.port),
                    "--station",
                    "test-station",
                    "--jobs",
                    "5",
                    "--key",
                    str(tmp_path / "registry.key"),
                    "--key-id",
                    "registry-1",
                    "--timeout",
                    "120",
                ],
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "accepted 5, rejected 0, unanswered 0" in result.stdout
        assert "problem" not in result.stdout
    finally:
        sim.stop()
