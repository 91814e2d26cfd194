"""Backlog burst and idle latency of job intake, against a real Mosquitto.

1. 10,000 signed ~25 KB jobs (a JPEG photo inside) wait on the broker for an
   offline station (persistent session). ``mosquitto_sub`` with its own
   persistent session holds the same 10,000, and so does a bare aiomqtt client
   that only acknowledges (the MQTT client library's own ceiling). Each drains
   its copy in turn, timed; then the station connects and drains its copy:
   time until all are committed and acknowledged (absorbed), and time until
   all are checked and queued with their receipts written. The station runs
   the daemon's own checks, the card validator included, in its check
   processes (``mqtt.intake_workers``).
2. Where the time goes: the same payloads through each step alone (JSON
   parse, canonical form + signature, content hash, schema, card validation,
   the inbox commit, settling).
3. Latency from publish to ``queued`` on an idle, connected station (p50, p99).

Run: ``python bench/intake.py [--jobs N] [--workers N] [--protocol 5|3.1.1]``.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import aiomqtt  # noqa: E402
import orjson  # noqa: E402
from brokers import MosquittoBroker  # noqa: E402

from printd.cli.run import SWITCH_INTERVAL_S  # noqa: E402
from printd.config import Settings  # noqa: E402
from printd.messages import CommandMessage, JobMessage, now_utc  # noqa: E402
from printd.mqtt import fast_publish, manual_ack  # noqa: E402
from printd.mqtt.checks import JobChecker  # noqa: E402
from printd.mqtt.intake import settle_verdicts  # noqa: E402
from printd.mqtt.link import CommandResult, RegistryLink, session_options  # noqa: E402
from printd.render import CardChecker  # noqa: E402
from printd.signing import Signer, Verifier, canonical_bytes, public_b64  # noqa: E402
from printd.store import Store  # noqa: E402
from simulators.registry import JobFactory  # noqa: E402

TOPIC = "printd/v1/st-1/jobs"


class _NoCommands:
    async def handle(self, command: CommandMessage) -> CommandResult:
        return CommandResult(ok=True)


WORKERS = 2
PROTOCOL = "5"


def _settings(broker: MosquittoBroker, state_dir: Path, registry: Signer) -> Settings:
    return Settings(
        station={"id": "st-1", "state_dir": state_dir, "max_queue": 1_000_000},
        mqtt={
            "host": broker.host,
            "port": broker.port,
            "keepalive_s": 30,
            "intake_workers": WORKERS,
            "protocol": PROTOCOL,
        },
        signing={"registry_keys": {registry.key_id: public_b64(registry.public_key)}},
    )


def _link(settings: Settings, store: Store, on_job: object) -> RegistryLink:
    """A station's link as `printd run` makes it: the same checks, card validator included."""
    registry_keys = settings.signing.registry_keys
    return RegistryLink(
        settings,
        store,
        signer=Signer.generate(),
        verifier=Verifier.from_b64(registry_keys),
        credit=lambda: 1000,
        commands=_NoCommands(),
        card_validator=CardChecker(None),
        on_job=on_job,  # type: ignore[arg-type]
    )


async def _publish_all(broker: MosquittoBroker, payloads: list[bytes]) -> None:
    async with aiomqtt.Client(
        broker.host, broker.port, identifier="bench-registry", max_inflight_messages=1000
    ) as client:
        client.pending_calls_threshold = 1_000_000
        for i in range(0, len(payloads), 500):
            await asyncio.gather(
                *(client.publish(TOPIC, p, qos=1, timeout=60) for p in payloads[i : i + 500])
            )


def _sub_cmd(broker: MosquittoBroker, *extra: str) -> list[str]:
    return [
        "mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-V", "5", "-c",
        "-i", "bench-sub", "-x", "3600", "-q", "1", "-t", TOPIC, *extra,
    ]  # fmt: skip


def _bare_client(broker: MosquittoBroker) -> aiomqtt.Client:
    """An aiomqtt client set up as the station's (protocol, manual PUBACK, PUBLISH
    decoder), doing nothing else."""
    client = aiomqtt.Client(
        broker.host, broker.port, identifier="bench-bare", **session_options(PROTOCOL, 3600, 1000)
    )
    manual_ack.enable(client)
    fast_publish.install()
    return client


async def _bare_drain(broker: MosquittoBroker, n: int) -> None:
    got = 0
    async with _bare_client(broker) as client:
        messages = aiter(client.messages)
        while got < n:
            batch = [await anext(messages), *manual_ack.drain_ready(client, 499)]
            for message in batch:
                manual_ack.ack(client, message)
            got += len(batch)


async def burst(n: int, work: Path) -> None:
    registry = Signer.generate("registry-1")
    factory = JobFactory(registry, seed=7, urgent_ratio=0.1)
    t = time.perf_counter()
    jobs = factory.many(n)
    payloads = [p for _, p in jobs]
    size = statistics.mean(len(p) for p in payloads)
    print(f"made {n} signed jobs of {size / 1024:.1f} KB mean in {time.perf_counter() - t:.1f} s")

    # Saved as often as docs/protocol.md advises a deployment: each save writes
    # every queued job, so a 1 s autosave (the tests' value) slows the drain.
    with MosquittoBroker(work / "broker", max_queued_messages=n * 4, autosave_s=60) as broker:
        settings = _settings(broker, work / "station", registry)
        store = Store.open(settings.station.state_dir, daemon=True)
        queued = 0
        all_queued = asyncio.Event()

        def on_job(job_id: str) -> None:
            nonlocal queued
            queued += 1
            if queued >= n:
                all_queued.set()

        # Create the three persistent sessions (subscriptions), then go offline.
        link = _link(settings, store, on_job)
        task = asyncio.create_task(link.run())
        await asyncio.wait_for(link.connected.wait(), 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(
            subprocess.run, _sub_cmd(broker, "-E"), check=True, capture_output=True, timeout=10
        )
        async with _bare_client(broker) as bare:
            await bare.subscribe(TOPIC, qos=1)

        t = time.perf_counter()
        await _publish_all(broker, payloads)
        print(f"published the backlog in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        await asyncio.to_thread(
            subprocess.run,
            _sub_cmd(broker, "-C", str(n)),
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=300,
        )
        sub_s = time.perf_counter() - t
        t = time.perf_counter()
        await _bare_drain(broker, n)
        bare_s = time.perf_counter() - t

        link = _link(settings, store, on_job)
        absorbed = 0
        all_absorbed = asyncio.Event()
        absorb = link.intake.absorb

        async def counting_absorb(batch: list[bytes]) -> None:
            nonlocal absorbed
            await absorb(batch)
            absorbed += len(batch)
            if absorbed >= n:
                all_absorbed.set()

        link.intake.absorb = counting_absorb  # type: ignore[method-assign]
        # A running station whose link comes back: its check processes are up.
        await link.intake.start()
        cpu0 = time.process_time()
        start = time.perf_counter()
        task = asyncio.create_task(link.run())
        try:
            await asyncio.wait_for(all_absorbed.wait(), 600)
            absorbed_s = time.perf_counter() - start
            await asyncio.wait_for(all_queued.wait(), 600)
            queued_s = time.perf_counter() - start
            daemon_cpu = time.process_time() - cpu0
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        committed = store.jobs.active_count()
        store.close()

    sub_rate, bare_rate = n / sub_s, n / bare_s
    absorbed_rate, queued_rate = n / absorbed_s, n / queued_s
    print(f"mosquitto_sub           : {n} messages in {sub_s:6.2f} s = {sub_rate:8,.0f} msg/s")
    print(f"aiomqtt, PUBACK only    : {n} messages in {bare_s:6.2f} s = {bare_rate:8,.0f} msg/s")
    print(
        f"station, committed+acked: {n} jobs     in {absorbed_s:6.2f} s = {absorbed_rate:8,.0f} "
        "jobs/s (station running, link comes back; includes connect)"
    )
    print(
        f"station, checked+queued : {committed} jobs     in {queued_s:6.2f} s = "
        f"{queued_rate:8,.0f} jobs/s ({WORKERS} check processes, card validation included)"
    )
    print(f"ratio committed+acked / mosquitto_sub = {absorbed_rate / sub_rate:.2f}")
    print(f"ratio committed+acked / aiomqtt alone = {absorbed_rate / bare_rate:.2f}")
    print(f"daemon process CPU: {daemon_cpu / n * 1e6:.0f} us a job (check processes not counted)")

    profile(payloads, registry, work / "profile")


def profile(payloads: list[bytes], registry: Signer, state_dir: Path) -> None:
    verifier = Verifier({registry.key_id: registry.public_key})
    cards = CardChecker(None)
    sample = payloads[:2000]
    n = len(sample)
    print(f"\nwhere the time goes ({n} jobs, one step at a time, microseconds per job):")

    def step(name: str, fn: object, items: list[object]) -> None:
        t = time.perf_counter()
        for item in items:
            fn(item)  # type: ignore[operator]
        print(f"  {name:<36} {(time.perf_counter() - t) / len(items) * 1e6:8.1f}")

    docs = [orjson.loads(p) for p in sample]
    canon = [canonical_bytes(d) for d in docs]
    jobs = [JobMessage.model_validate(d) for d in docs]
    step("json parse (orjson)", orjson.loads, list(sample))
    step("canonical form", canonical_bytes, list(docs))
    signed = list(zip(docs, canon, strict=True))
    step("signature (Ed25519 verify)", lambda d: verifier.verify(d[0], d[1]), signed)
    step("content hash (SHA-256)", lambda c: hashlib.sha256(c).digest(), list(canon))
    step("schema (pydantic)", JobMessage.model_validate, list(docs))
    step("card validation (fonts, codes, images)", cards, list(jobs))
    checker = JobChecker(verifier, max_job_bytes=2_000_000, card_validator=cards)
    now = now_utc()
    t = time.perf_counter()
    verdicts = [checker.check(p, now) for p in sample]
    check_us = (time.perf_counter() - t) / n * 1e6
    print(f"  {'= all checks of one job':<36} {check_us:8.1f}")
    with Store.open(state_dir) as store:
        t = time.perf_counter()
        for i in range(0, n, 500):
            with store.transaction() as conn:
                store.inbox.add(conn, sample[i : i + 500])
        absorb_us = (time.perf_counter() - t) / n * 1e6
        t = time.perf_counter()
        for i in range(0, n, 500):
            with store.transaction() as conn:
                checked = zip(sample[i : i + 500], verdicts[i : i + 500], strict=True)
                settle_verdicts(store, conn, checked, 10**7)
        settle_us = (time.perf_counter() - t) / n * 1e6
    print(f"  {'commit as received (batches of 500)':<36} {absorb_us:8.1f}")
    print(f"  {'settle: job, receipt (batches of 500)':<36} {settle_us:8.1f}")


async def latency(samples: int, work: Path) -> None:
    registry = Signer.generate("registry-1")
    factory = JobFactory(registry, seed=9)
    jobs = factory.many(samples)
    with MosquittoBroker(work / "broker-idle") as broker:
        settings = _settings(broker, work / "station-idle", registry)
        with Store.open(settings.station.state_dir, daemon=True) as store:
            arrived: dict[str, float] = {}
            waiter: asyncio.Event = asyncio.Event()

            def on_job(job_id: str) -> None:
                arrived[job_id] = time.perf_counter()
                waiter.set()

            link = _link(settings, store, on_job)
            task = asyncio.create_task(link.run())
            await asyncio.wait_for(link.connected.wait(), 10)
            delays = []
            async with aiomqtt.Client(broker.host, broker.port) as client:
                for job_id, payload in jobs:
                    waiter.clear()
                    sent = time.perf_counter()
                    await client.publish(TOPIC, payload, qos=1)
                    await asyncio.wait_for(waiter.wait(), 10)
                    delays.append((arrived[job_id] - sent) * 1000)
                    await asyncio.sleep(0.01)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    delays.sort()
    p50 = delays[len(delays) // 2]
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"\nidle latency publish -> queued ({samples} jobs): p50 {p50:.2f} ms, p99 {p99:.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="mqtt.intake_workers")
    parser.add_argument("--protocol", choices=["5", "3.1.1"], default="5", help="mqtt.protocol")
    args = parser.parse_args()
    global WORKERS, PROTOCOL
    WORKERS, PROTOCOL = args.workers, args.protocol
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # as `printd run` sets it
    print(f"MQTT {PROTOCOL}, {WORKERS} check processes")
    with tempfile.TemporaryDirectory(prefix="printd-bench-") as tmp:
        await burst(args.jobs, Path(tmp))
        await latency(args.latency_samples, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
