from collections.abc import Iterator
from pathlib import Path

import pytest

from printd.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state") as opened:
        yield opened


def snapshot(store_path: Path) -> list[str]:
    """Every row of every table, to prove a refused command changed nothing."""
    import sqlite3

    conn = sqlite3.connect(store_path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()
