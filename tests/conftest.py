"""Shared fixtures: a real Mosquitto per test (see tests/brokers.py).

- ``broker``: plain TCP on a free loopback port, persistence on; call
  ``broker.stop()`` / ``start()`` / ``restart()`` / ``kill()`` mid-test.
- ``tls_broker``: TLS only, with a generated CA, server and client
  certificates (``tls_broker.tls``), client certificate required.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from brokers import MosquittoBroker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A running Mosquitto with persistence in the test's temp dir."""
    with MosquittoBroker(tmp_path / "broker") as running:
        yield running


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A running Mosquitto that requires TLS client certificates."""
    with MosquittoBroker(tmp_path / "tls-broker", tls=True) as running:
        yield running
