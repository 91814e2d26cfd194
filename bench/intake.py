"""Backlog burst and idle latency of job intake, against a real Mosquitto.

1. 10,000 signed ~25 KB jobs (a JPEG photo inside) wait on the broker for an
   offline station (persistent session). ``mosquitto_sub`` with its own
   persistent session holds the same 10,000. Then mosquitto_sub connects and
   drains its copy (timed); then the station connects and drains its copy:
   time until all are committed and acknowledged. Both rates and the ratio.
2. Where the time goes: the same 10,000 payloads through each intake step
   alone (JSON parse, signature check, content hash, schema validation, store
   commit in batches).
3. Latency from publish to ``queued`` on an idle, connected station (p50, p99).

Run: ``python bench/intake.py [--jobs N]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from brokers import MosquittoBroker  # noqa: E402

from printd.config import Settings  # noqa: E402
from printd.messages import CommandMessage, JobMessage, now_utc  # noqa: E402
from printd.mqtt.intake import Intake  # noqa: E402
from printd.mqtt.link import CommandResult, RegistryLink  # noqa: E402
from printd.signing import Signer, Verifier, content_hash, public_b64  # noqa: E402
from printd.store import Store  # noqa: E402
from simulators.registry import JobFactory  # noqa: E402

TOPIC = "printd/v1/st-1/jobs"


class _NoCommands:
    async def handle(self, command: CommandMessage) -> CommandResult:
        return CommandResult(ok=True)


def _settings(broker: MosquittoBroker, state_dir: Path, registry: Signer) -> Settings:
    return Settings(
        station={"id": "st-1", "state_dir": state_dir, "max_queue": 1_000_000},
        mqtt={"host": broker.host, "port": broker.port, "keepalive_s": 30},
        signing={"registry_keys": {registry.key_id: public_b64(registry.public_key)}},
    )


def _link(settings: Settings, store: Store, on_job: object) -> RegistryLink:
    registry_keys = settings.signing.registry_keys
    return RegistryLink(
        settings,
        store,
        signer=Signer.generate(),
        verifier=Verifier.from_b64(registry_keys),
        credit=lambda: 1000,
        commands=_NoCommands(),
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


async def _run_until(link: RegistryLink, done: asyncio.Event, within_s: float) -> float:
    start = time.perf_counter()
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(done.wait(), within_s)
        return time.perf_counter() - start
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _sub_cmd(broker: MosquittoBroker, *extra: str) -> list[str]:
    return [
        "mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-V", "5", "-c",
        "-i", "bench-sub", "-x", "3600", "-q", "1", "-t", TOPIC, *extra,
    ]  # fmt: skip


async def burst(n: int, work: Path) -> None:
    registry = Signer.generate("registry-1")
    factory = JobFactory(registry, seed=7, urgent_ratio=0.1)
    t = time.perf_counter()
    jobs = factory.many(n)
    payloads = [p for _, p in jobs]
    size = statistics.mean(len(p) for p in payloads)
    print(f"made {n} signed jobs of {size / 1024:.1f} KB mean in {time.perf_counter() - t:.1f} s")

    with MosquittoBroker(work / "broker", max_queued_messages=n * 2) as broker:
        settings = _settings(broker, work / "station", registry)
        store = Store.open(settings.station.state_dir, daemon=True)
        count = 0
        done = asyncio.Event()

        def on_job(job_id: str) -> None:
            nonlocal count
            count += 1
            if count >= n:
                done.set()

        # Create both persistent sessions (subscriptions), then go offline.
        link = _link(settings, store, on_job)
        task = asyncio.create_task(link.run())
        await asyncio.wait_for(link.connected.wait(), 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(
            subprocess.run, _sub_cmd(broker, "-E"), check=True, capture_output=True, timeout=10
        )

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

        link = _link(settings, store, on_job)
        station_s = await _run_until(link, done, 600)
        committed = store.jobs.active_count()
        store.close()

    sub_rate, station_rate = n / sub_s, n / station_s
    print(f"mosquitto_sub : {n} messages in {sub_s:.2f} s = {sub_rate:,.0f} msg/s")
    print(
        f"station       : {committed} committed + acknowledged in {station_s:.2f} s "
        f"= {station_rate:,.0f} jobs/s (includes connect)"
    )
    print(f"ratio station / mosquitto_sub = {station_rate / sub_rate:.2f}")

    profile(payloads, registry, work / "profile")


def profile(payloads: list[bytes], registry: Signer, state_dir: Path) -> None:
    verifier = Verifier({registry.key_id: registry.public_key})
    n = len(payloads)
    print(f"\nwhere the time goes ({n} jobs, one step at a time, microseconds per job):")

    def step(name: str, fn: object) -> None:
        t = time.perf_counter()
        for p in payloads:
            fn(p)  # type: ignore[operator]
        print(f"  {name:<28} {(time.perf_counter() - t) / n * 1e6:8.1f}")

    docs = [json.loads(p) for p in payloads]
    step("json parse", json.loads)
    it = iter(docs * 1)
    step("signature check", lambda _p: verifier.verify(next(it)))
    it = iter(docs)
    step("content hash", lambda _p: content_hash(next(it)))
    it = iter(docs)
    step("schema validation", lambda _p: JobMessage.model_validate(next(it)))
    with Store.open(state_dir) as store:
        intake = Intake(store, verifier, max_job_bytes=2_000_000, max_queue=10**7, clock=now_utc)
        t = time.perf_counter()
        for i in range(0, n, 500):
            intake.process(payloads[i : i + 500])
        total = (time.perf_counter() - t) / n * 1e6
    print(f"  {'whole intake, batches of 500':<28} {total:8.1f}  (all of the above + commit)")


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="printd-bench-") as tmp:
        await burst(args.jobs, Path(tmp))
        await latency(args.latency_samples, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
