"""Prometheus metrics and supply warnings from a running daemon."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

from stations import add_jobs, daemon, printd_cli, start_simulator, wait_for, write_config

from printd.serials import parse_serials
from printd.store import Store

BLANKS = "AB-100001..AB-100012"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_metrics_count_cards_and_read_the_ledger(tmp_path: Path) -> None:
    """Cards issued, jobs by state, blanks per batch and feeder, outbox depth, printer up."""
    sim = start_simulator(tmp_path, "evolis-1", BLANKS)
    port = free_port()
    try:
        config = write_config(tmp_path, [sim], low_stock_threshold=5)
        config.write_text(
            config.read_text() + f"[metrics]\nenabled = true\nhost = '127.0.0.1'\nport = {port}\n"
        )
        with Store.open(tmp_path / "state") as store:
            serials = parse_serials([BLANKS])
            store.ledger.receive("BOX-1", serials, "t")
            store.ledger.load("evolis-1", serials, "t")
            add_jobs(store, 8)
        with daemon(config, tmp_path / "daemon.log"):

            def printed() -> bool:
                try:
                    return scrape(port).get('printd_jobs{state="printed"}') == 8
                except OSError:
                    return False

            wait_for(printed, 60, "8 cards in the metrics")
            m = scrape(port)
            assert m['printd_cards_issued_total{printer="evolis-1"}'] == 8
            assert m['printd_card_seconds_count{printer="evolis-1"}'] == 8
            assert m['printd_blanks{batch="BOX-1",state="issued"}'] == 8
            assert m['printd_blanks{batch="BOX-1",state="loaded"}'] == 4
            assert m['printd_blanks_loaded{printer="evolis-1"}'] == 4
            assert m['printd_printer_up{printer="evolis-1"}'] == 1
            assert "printd_outbox_depth" in m

            # 4 blanks left, threshold 5: a low-stock warning, once, as an event.
            def warned() -> bool:
                status = json.loads(printd_cli(config, "status", "--json").stdout)
                return any(e["event"] == "low_stock" for e in status["events"])

            wait_for(warned, 30, "a low_stock event")
            status = json.loads(printd_cli(config, "status", "--json").stdout)
            assert [w["code"] for w in status["warnings"]] == ["low_stock"]
            assert sum(e["event"] == "low_stock" for e in status["events"]) == 1
    finally:
        sim.stop()


def test_queue_longer_than_the_stock_is_warned(tmp_path: Path) -> None:
    """More jobs queued than blanks on hand shows in status before any job fails."""
    with Store.open(tmp_path / "state") as store:
        store.ledger.receive("BOX-1", parse_serials(["AB-1..AB-3"]), "t")
        add_jobs(store, 6000)
    config = write_config(tmp_path, [], low_stock_threshold=2)
    status = json.loads(printd_cli(config, "status", "--json").stdout)
    codes = {w["code"]: w["message"] for w in status["warnings"]}
    assert set(codes) == {"blanks_short_of_queue"}
    assert "6,000 job(s) queued but only 3 blank(s) on hand" in codes["blanks_short_of_queue"]
