"""The whole station: registry simulator -> Mosquitto -> printd run -> simulated printers.

Everything real but the printers: a Mosquitto started by the fixture, the
daemon as its own process, simulated Evolis printers in their own processes
on ptys, and the registry simulator signing jobs and checking every answer.
"""

from __future__ import annotations

import json
from pathlib import Path

from brokers import MosquittoBroker
from stations import daemon, start_simulator, wait_for, write_config

from printd.serials import parse_serials
from printd.signing import Signer, public_b64
from printd.store import Store
from simulators.registry import JobFactory, RegistrySimulator, printed

RANGES = {"evolis-1": "AB-100001..AB-100030", "evolis-2": "AB-200001..AB-200030"}


async def test_signed_jobs_are_printed_once_and_reported_with_their_serials(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """30 signed e-KTP jobs: each accepted, printed once, its result carries a blank
    that is in a printer's output bin; the ledger balances; no personal data is logged."""
    registry_key = Signer.generate("registry-2026")
    sims = [start_simulator(tmp_path, name, blanks) for name, blanks in RANGES.items()]
    try:
        config = write_config(
            tmp_path,
            sims,
            broker=(broker.host, broker.port),
            registry_keys={registry_key.key_id: public_b64(registry_key.public_key)},
            station_id="ngawi-01",
        )
        config.write_text(config.read_text().replace('level = "info"', 'level = "debug"'))
        station_key = Signer.from_file(tmp_path / "station.key")
        with Store.open(tmp_path / "state") as store:
            for name, blanks in RANGES.items():
                store.ledger.receive(f"BOX-{name}", parse_serials([blanks]), "t")
                store.ledger.load(name, parse_serials([blanks]), "t")
        jobs = JobFactory(registry_key, seed=7, urgent_ratio=0.2).many(30)
        ids = [job_id for job_id, _ in jobs]
        log = tmp_path / "daemon.log"
        with daemon(config, log):
            async with RegistrySimulator(
                broker.host,
                broker.port,
                station_keys={station_key.key_id: station_key.public_key},
                resend_after_s=20.0,
            ) as registry:
                registry.submit(jobs, station="ngawi-01")
                assert await registry.wait_final(ids, 120), "not every job got its final result"
                report = registry.report(ids)
        assert report.ok, report.problems
        assert report.accepted == set(ids)
        results = {j: [r for r in report.results[j] if printed(r)] for j in ids}
        serials = [r[0]["serial"] for r in results.values()]
        assert len(set(serials)) == 30
        out_bins = {c["serial"] for s in sims for c in s.state()["output"]}
        assert set(serials) == out_bins
        with Store.open(tmp_path / "state") as store:
            assert store.ledger.reconcile().balanced
            assert store.ledger.verify().ok
            wait_for(lambda: store.outbox.depth() == 0, 1, "an empty outbox")

        # Personal data never reaches a log line, even at debug level.
        text = log.read_text()
        assert '"card_issued"' in text
        personal = set()
        for _, payload in jobs:
            card = json.loads(payload)["card"]
            personal |= {v for v in card["fields"].values() if len(v) >= 4}
            personal |= {img[:40] for img in card["images"].values()}
        leaked = sorted(value for value in personal if value in text)
        assert not leaked, f"personal data in the log: {leaked[:3]}"
    finally:
        for sim in sims:
            sim.stop()
