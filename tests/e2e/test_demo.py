"""`make demo` on a machine with only Python: the embedded amqtt broker path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_to_a_balanced_end_on_the_embedded_broker(tmp_path: Path) -> None:
    """The demo's whole story with amqtt (MQTT 3.1.1): all jobs answered, books balanced."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "printd",
            "demo",
            "--jobs",
            "10",
            "--broker",
            "amqtt",
            "--dir",
            str(tmp_path / "demo"),
        ],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    out = result.stdout
    assert "every job answered once, every blank accounted for" in out
    assert "a card jams" in out
    assert "network link drops" in out
    assert "spoiled blank AB-10000" in out
    assert (tmp_path / "demo" / "state" / "printd.db").exists()
