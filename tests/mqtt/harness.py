"""Helpers for the MQTT tests: a station link on a real store, a registry simulator."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brokers import MosquittoBroker

from printd.config import Settings
from printd.messages import CommandMessage, now_utc, outbox_body
from printd.mqtt.checks import CardValidator, no_card_checks
from printd.mqtt.link import CommandResult, RegistryLink
from printd.signing import Signer, Verifier
from printd.store import Store
from simulators.registry import JobFactory, RegistrySimulator


@dataclass
class RecordingHandler:
    """A station-side command handler that records what it was asked."""

    seen: list[CommandMessage] = field(default_factory=list)

    async def handle(self, command: CommandMessage) -> CommandResult:
        self.seen.append(command)
        return CommandResult(ok=True, message=f"{command.command} done")


@dataclass
class Keys:
    registry: Signer
    station: Signer

    @property
    def registry_keys(self) -> dict[str, str]:
        from printd.signing import public_b64

        return {self.registry.key_id: public_b64(self.registry.public_key)}


def make_keys() -> Keys:
    return Keys(registry=Signer.generate("registry-1"), station=Signer.generate())


def station_settings(
    broker: MosquittoBroker,
    state_dir: Path,
    keys: Keys,
    *,
    station_id: str = "st-1",
    **mqtt: Any,
) -> Settings:
    mqtt_settings: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 1.0,
        "keepalive_s": 5,
        **mqtt,
    }
    if broker.tls is not None and "tls" not in mqtt_settings:
        mqtt_settings["tls"] = {
            "enabled": True,
            "ca_file": broker.tls.ca_file,
            "cert_file": broker.tls.client_cert_file,
            "key_file": broker.tls.client_key_file,
        }
    return Settings(
        station={"id": station_id, "state_dir": state_dir},
        mqtt=mqtt_settings,
        signing={"registry_keys": keys.registry_keys},
    )


@dataclass
class RunningStation:
    link: RegistryLink
    store: Store
    handler: RecordingHandler
    accepted: list[str]
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def running_station(
    settings: Settings,
    keys: Keys,
    *,
    credit: int | None = 1000,
    card_validator: CardValidator = no_card_checks,
    auto_result: bool = False,
    wait_connected: bool = True,
) -> AsyncIterator[RunningStation]:
    """A RegistryLink on a real store, connected; stopped and closed on exit.

    ``auto_result``: each accepted job gets a ``printed`` result in the outbox
    at once (as the print pipeline would), with a serial derived from its id.
    """
    store = Store.open(settings.station.state_dir, daemon=True)
    accepted: list[str] = []
    handler = RecordingHandler()
    fixed = credit

    def credit_fn() -> int:
        if fixed is None:
            return 0
        # Jobs committed but not yet checked hold credit too, as in store_credit.
        return max(0, fixed - store.jobs.active_count() - store.inbox.count())

    def on_job(job_id: str) -> None:
        accepted.append(job_id)
        if auto_result:
            body = outbox_body(
                "result",
                job_id=job_id,
                outcome="printed",
                serial=serial_for(job_id),
                printer="sim-1",
                at=now_utc(),
            )
            with store.transaction() as conn:
                store.outbox.enqueue(conn, "results", body)
            link.notify_outbox()

    link = RegistryLink(
        settings,
        store,
        signer=keys.station,
        verifier=Verifier.from_b64(settings.signing.registry_keys),
        credit=credit_fn,
        commands=handler,
        card_validator=card_validator,
        on_job=on_job,
    )
    task = asyncio.create_task(link.run(), name="station-link")
    try:
        if wait_connected:
            await asyncio.wait_for(link.connected.wait(), 10)
        yield RunningStation(link, store, handler, accepted, task)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        store.close()


def serial_for(job_id: str) -> str:
    """A blank serial unique to a job (what a printer would have reported)."""
    return "SN-" + hashlib.sha256(job_id.encode()).hexdigest()[:12]


def registry_for(broker: MosquittoBroker, keys: Keys, **kwargs: Any) -> RegistrySimulator:
    import aiomqtt

    tls = None
    if broker.tls is not None:
        tls = aiomqtt.TLSParameters(
            ca_certs=str(broker.tls.ca_file),
            certfile=str(broker.tls.client_cert_file),
            keyfile=str(broker.tls.client_key_file),
        )
    return RegistrySimulator(
        broker.host,
        broker.port,
        station_keys={keys.station.key_id: keys.station.public_key},
        tls_params=tls,
        **kwargs,
    )


def factory(keys: Keys, seed: int = 1, **kwargs: Any) -> JobFactory:
    return JobFactory(keys.registry, seed=seed, **kwargs)


async def eventually(predicate: Any, within_s: float = 20.0) -> bool:
    """Poll ``predicate()`` until true or ``within_s`` passes; its last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())
