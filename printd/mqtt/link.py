"""The station's MQTT link to the registry: one persistent session, kept up forever.

Per connection (a fresh aiomqtt ``Client`` each time, so PUBACKs never cross
connections): connect with the fixed client id, MQTT v5, clean start off and
a session expiry, so the broker keeps our subscriptions and queues jobs while
we are away; last will = status ``offline`` (retained). Then publish the
current status, subscribe, and run three tasks until the connection fails:

- intake: take every message already received (up to ``mqtt.intake_batch``),
  commit the jobs as received in one transaction (:mod:`printd.mqtt.intake`),
  run commands, and only then send the PUBACKs (:mod:`printd.mqtt.manual_ack`);
- the outbox flusher (:mod:`printd.mqtt.outbox`);
- state: status on change; credit on change (checked every second, after
  each outbox flush) and at least every ``mqtt.credit_interval_s``.

On failure: reconnect after a jittered exponential backoff between
``mqtt.reconnect_min_s`` and ``mqtt.reconnect_max_s``.

Beside the connections, for the link's whole life: the checker, which checks
and settles committed jobs (receipts go to the outbox), connected or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import aiomqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from printd.config import MqttSettings, Settings
from printd.messages import (
    COMMAND_NAMES,
    CommandMessage,
    CommandReply,
    Credit,
    PrinterState,
    RejectReason,
    Status,
    now_utc,
    outbox_body,
    seal,
)
from printd.mqtt import fast_publish, manual_ack
from printd.mqtt.checkpool import CheckPool
from printd.mqtt.checks import CardValidator, CheckerSpec, no_card_checks
from printd.mqtt.intake import Intake, IntakeOutcome
from printd.mqtt.outbox import FLUSH_INTERVAL_S, OutboxFlusher, StoreWrites
from printd.mqtt.topics import Topics
from printd.signing import Signer, SigningError, Verifier
from printd.store import Store

log = structlog.get_logger("printd.mqtt")

StationState = Literal["online", "paused", "draining"]
REPLIES = "replies"
CHECK_IDLE_S = 2.0
BATCHES_AHEAD = 2  # batches being committed while the next is read
_SEEN_COMMANDS = 10_000


@dataclass(frozen=True)
class CommandResult:
    """What the station's command handler answers; becomes the reply."""

    ok: bool
    message: str | None = None
    data: Mapping[str, str | int | bool | None] = field(default_factory=dict)


class CommandHandler(Protocol):
    """Implemented by the station: carries out a verified command."""

    async def handle(self, command: CommandMessage) -> CommandResult: ...


class RegistryLink:
    """Takes signed jobs and commands from the registry; sends receipts, results, status."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        signer: Signer,
        verifier: Verifier,
        credit: Callable[[], int],
        commands: CommandHandler,
        card_validator: CardValidator = no_card_checks,
        on_job: Callable[[str], None] = lambda job_id: None,
        clock: Callable[[], datetime] = now_utc,
        command_timeout_s: float = 30.0,
        outbox_writes: StoreWrites | None = None,
    ) -> None:
        """``outbox_writes`` runs the outbox's marks inside a transaction it
        commits: the station hands its store writer, so marking a batch sent
        rides in a commit the printers make anyway. Without it the marks are
        committed on their own in the intake thread."""
        self._settings = settings
        self._mqtt = settings.mqtt
        self._store = store
        self._signer = signer
        self._verifier = verifier
        self._credit = credit
        self._commands = commands
        self._on_job = on_job
        self._clock = clock
        self._command_timeout_s = command_timeout_s
        self.topics = Topics(self._mqtt.topic_root, settings.station.id, self._mqtt.pool)
        checks = CheckerSpec(verifier.raw_keys(), self._mqtt.max_job_bytes, card_validator)
        self.intake = Intake(
            store,
            CheckPool(checks, self._mqtt.intake_workers),
            max_queue=settings.station.max_queue,
            batch=self._mqtt.intake_batch,
            clock=clock,
        )
        self._check_wake = asyncio.Event()
        self._absorbing = False
        self._check_lock = asyncio.Lock()
        self.flusher = OutboxFlusher(
            store, signer, self.topics, writes=outbox_writes or self._write_in_intake_thread
        )
        self.connected = asyncio.Event()
        self.connections = 0
        self._state: StationState = "online"
        self._printers: tuple[PrinterState, ...] = ()
        self._queued: int | None = None
        self._state_wake = asyncio.Event()
        self._status_dirty = False
        self._last_credit: int | None = None
        self._credit_sent_at = 0.0
        self._seen_commands: OrderedDict[str, None] = OrderedDict()

    async def _write_in_intake_thread(self, write: Callable[[Store], None]) -> None:
        def committed(store: Store) -> None:
            with store.transaction():
                write(store)

        await self.intake.in_thread(committed)

    # ------------------------------------------------------------ public API

    def notify_outbox(self) -> None:
        """New outbox rows were committed (results, events, inventory): send them."""
        self.flusher.notify()

    def notify_credit(self) -> None:
        """Something the credit depends on changed (blanks loaded, a job finished)."""
        self._state_wake.set()

    def set_status(
        self,
        state: StationState,
        printers: Sequence[PrinterState] = (),
        queued: int | None = None,
    ) -> None:
        """The retained status to publish now and on every reconnect."""
        self._state = state
        self._printers = tuple(printers)
        self._queued = queued
        self._status_dirty = True
        self._state_wake.set()

    async def run(self) -> None:
        """Keep the link up, and check what arrives, until cancelled."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._connections(), name="mqtt-connections")
                tasks.create_task(self._check_loop(), name="mqtt-checks")
        finally:
            self.intake.close()

    async def _connections(self) -> None:
        delay = self._mqtt.reconnect_min_s
        while True:
            started = time.monotonic()
            try:
                await self._connection()
            except* (aiomqtt.MqttError, manual_ack.AckError, OSError) as group:
                log.warning("mqtt.disconnected", error=_describe(group))
            self.connected.clear()
            self._absorbing = False
            self._check_wake.set()
            if time.monotonic() - started > self._mqtt.reconnect_max_s:
                delay = self._mqtt.reconnect_min_s
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self._mqtt.reconnect_max_s)

    # ------------------------------------------------------------ one connection

    def _client(self) -> aiomqtt.Client:
        mqtt = self._mqtt
        session = session_options(mqtt.protocol, mqtt.session_expiry_s, mqtt.receive_maximum)
        tls_params = tls_parameters(mqtt)
        tls_insecure = (mqtt.tls.insecure_skip_verify or None) if tls_params else None
        client = aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            identifier=self._settings.client_id,
            username=mqtt.username,
            password=mqtt.password.get_secret_value() if mqtt.password else None,
            keepalive=mqtt.keepalive_s,
            will=aiomqtt.Will(
                self.topics.station_topic("status"),
                self._status_payload("offline"),
                qos=1,
                retain=True,
            ),
            tls_params=tls_params,
            tls_insecure=tls_insecure,
            max_inflight_messages=100,
            timeout=10.0,
            # Without it Nagle holds a small publish (credit, a receipt) behind
            # the PUBACKs just sent, until the broker's delayed ACK: 40 ms each.
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
            **session,
        )
        client.pending_calls_threshold = 10_000  # the flusher pipelines on purpose
        manual_ack.enable(client)
        fast_publish.install()
        return client

    async def _connection(self) -> None:
        client = self._client()
        async with client:
            self.connections += 1
            log.info("mqtt.connected", host=self._mqtt.host, port=self._mqtt.port)
            await self._publish_status(client)
            subscriptions = [(self.topics.jobs, 1), (self.topics.commands, 1)]
            if self.topics.pool_subscription is not None:
                subscriptions.append((self.topics.pool_subscription, 1))
            await client.subscribe(subscriptions)
            self._last_credit = None
            self.connected.set()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._intake_loop(client), name="mqtt-intake")
                tasks.create_task(
                    self.flusher.run(client, self._state_wake.set), name="mqtt-outbox"
                )
                tasks.create_task(self._state_loop(client), name="mqtt-state")

    async def _intake_loop(self, client: aiomqtt.Client) -> None:
        """Take batches as they arrive; the next batch is read while one commits."""
        iterator = aiter(client.messages)
        in_flight: deque[asyncio.Task[None]] = deque()
        try:
            while True:
                first = await anext(iterator)
                batch = [first, *manual_ack.drain_ready(client, self._mqtt.intake_batch - 1)]
                in_flight.append(asyncio.create_task(self._handle_batch(client, batch)))
                while in_flight and (len(in_flight) >= BATCHES_AHEAD or in_flight[0].done()):
                    await in_flight.popleft()
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _handle_batch(self, client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        """Commit the batch's jobs as received, run its commands, then acknowledge it all.

        The intake thread commits batches in arrival order, so batches handled
        concurrently still finish, and acknowledge, in order.
        """
        jobs = [_payload(m) for m in batch if self.topics.is_job_topic(m.topic.value)]
        if jobs:
            await self.intake.absorb(jobs)
        commands = [
            (name, _payload(m))
            for m in batch
            if (name := self.topics.command_name(m.topic.value)) is not None
        ]
        if commands:
            # A command may name a job that arrived just before it (cancel):
            # check everything received so far first, so the job is known.
            while await self._check_round():
                pass
        for name, payload in commands:
            await self._handle_command(name, payload)
        for message in batch:
            manual_ack.ack(client, message)
        if jobs:
            # While a backlog streams in, take it off the broker first and
            # check it after: the checks would slow the intake down.
            self._absorbing = manual_ack.waiting(client) > 0
            if not self._absorbing:
                self._check_wake.set()
            # Jobs waiting for their checks count against the credit, so the
            # lower credit goes out before any receipt for them can: it is in
            # the connection's send queue before this task yields, and their
            # receipts exist only after a check round that starts later.
            self._publish_credit(client)

    async def _check_loop(self) -> None:
        """Check and settle committed jobs, oldest first, until the inbox is empty."""
        await self.intake.start()
        while True:
            if self._absorbing or not await self._check_round():
                try:
                    # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel.
                    async with asyncio.timeout(CHECK_IDLE_S):
                        await self._check_wake.wait()
                except TimeoutError:
                    self._absorbing = False  # nothing new for a while: check regardless
                self._check_wake.clear()

    async def _check_round(self) -> bool:
        """Check and settle the oldest received jobs; False if there were none."""
        async with self._check_lock:
            outcome = await self.intake.check_pending()
        if outcome is None:
            return False
        self._settled(outcome)
        return True

    def _settled(self, outcome: IntakeOutcome) -> None:
        for job_id in outcome.accepted:
            self._on_job(job_id)
        if outcome.receipts:
            self.flusher.notify()
        if outcome.rejected:
            self._state_wake.set()  # a rejection frees its credit again
        for rejected_id, reason in outcome.rejected:
            log.info("job.rejected", job_id=rejected_id, reason=reason.value)

    # ------------------------------------------------------------ commands

    async def _handle_command(self, name: str, payload: bytes) -> None:
        command: CommandMessage | None = None
        try:
            command = self._check_command(name, payload)
            if command.correlation_id in self._seen_commands:
                raise _CommandRefused(RejectReason.REPLAYED, "correlation id already handled")
            if command.command == "resend":
                result = self._resend(command)
            else:
                async with asyncio.timeout(self._command_timeout_s):
                    result = await self._commands.handle(command)
            self._remember_command(command.correlation_id)
            reply = outbox_body(
                CommandReply,
                correlation_id=command.correlation_id,
                command=command.command,
                ok=result.ok,
                message=result.message,
                data=dict(result.data),
            )
        except _CommandRefused as refused:
            reply = outbox_body(
                CommandReply,
                correlation_id=refused.correlation_id,
                command=name if name in COMMAND_NAMES else None,
                ok=False,
                reason=refused.reason,
                message=refused.message,
            )
        except TimeoutError:
            reply = outbox_body(
                CommandReply,
                correlation_id=command.correlation_id if command else None,
                command=command.command if command else None,
                ok=False,
                message=f"the station did not finish the command in {self._command_timeout_s} s",
            )
        with self._store.transaction() as conn:
            self._store.outbox.enqueue(conn, REPLIES, reply)
        log.info("command.done", command=name, ok=reply["ok"])

    def _resend(self, command: CommandMessage) -> CommandResult:
        """Send again what the station sent from ``from_seq`` on (the registry found a gap)."""
        from_seq = command.from_seq or 1
        with self._store.transaction() as conn:
            count, oldest = self._store.outbox.resend_from(conn, from_seq)
        self.flusher.notify()
        log.info("outbox.resend", from_seq=from_seq, messages=count)
        data: dict[str, str | int | bool | None] = {"resent": count, "oldest_kept": oldest}
        if oldest is None or oldest > from_seq:
            return CommandResult(
                ok=False,
                message=f"messages before seq {oldest} are no longer kept (mqtt.keep_sent_h); "
                f"{count} sent again",
                data=data,
            )
        return CommandResult(ok=True, message=f"{count} messages sent again", data=data)

    def _check_command(self, name: str, payload: bytes) -> CommandMessage:
        if len(payload) > self._mqtt.max_job_bytes:
            raise _CommandRefused(RejectReason.OVERSIZED, "command too large")
        try:
            doc = json.loads(payload)
        except ValueError:
            raise _CommandRefused(RejectReason.MALFORMED_JSON, "not JSON") from None
        if not isinstance(doc, dict):
            raise _CommandRefused(RejectReason.MALFORMED_JSON, "not a JSON object")
        raw_cid = doc.get("correlation_id")
        cid = raw_cid if isinstance(raw_cid, str) and len(raw_cid) <= 100 else None
        try:
            self._verifier.verify(doc)
        except SigningError as exc:
            raise _CommandRefused(RejectReason(exc.reason), str(exc), cid) from None
        try:
            command = CommandMessage.model_validate(doc)
        except ValidationError as exc:
            raise _CommandRefused(RejectReason.SCHEMA, str(exc.errors()[0]["msg"]), cid) from None
        if command.command != name:
            raise _CommandRefused(RejectReason.SCHEMA, f"topic says {name}", cid)
        if command.station != self.topics.station:
            raise _CommandRefused(RejectReason.WRONG_STATION, f"for {command.station}", cid)
        if command.not_after <= self._clock():
            raise _CommandRefused(RejectReason.EXPIRED, "command expired", cid)
        return command

    def _remember_command(self, correlation_id: str) -> None:
        self._seen_commands[correlation_id] = None
        while len(self._seen_commands) > _SEEN_COMMANDS:
            self._seen_commands.popitem(last=False)

    # ------------------------------------------------------------ status and credit

    def _status_payload(self, state: str) -> bytes:
        body = outbox_body(
            Status,
            state=state,
            at=self._clock(),
            printers=[p.model_dump() for p in self._printers],
            queued=self._queued,
        )
        return seal(body, station=self.topics.station, seq=None, signer=self._signer)

    async def _publish_status(self, client: aiomqtt.Client) -> None:
        self._status_dirty = False
        await client.publish(
            self.topics.station_topic("status"),
            self._status_payload(self._state),
            qos=1,
            retain=True,
        )

    async def _state_loop(self, client: aiomqtt.Client) -> None:
        while True:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._state_wake.wait()
            self._state_wake.clear()
            if self._status_dirty:
                await self._publish_status(client)
            stale = time.monotonic() - self._credit_sent_at >= self._mqtt.credit_interval_s
            self._publish_credit(client, force=stale)
            # Every card's outcome wakes this loop; changes within this pause
            # are looked at together (the credit costs four queries a look).
            await asyncio.sleep(FLUSH_INTERVAL_S)

    def _publish_credit(self, client: aiomqtt.Client, *, force: bool = True) -> None:
        """Queue the credit on the connection, without waiting for its PUBACK.

        It is retained and sent again on every connection, so a lost one costs
        nothing; waiting would hold intake up behind the backlog (manual_ack).
        """
        credit = max(0, self._credit())
        if credit == self._last_credit and not force:
            return
        self._last_credit = credit
        self._credit_sent_at = time.monotonic()
        body = outbox_body(Credit, at=self._clock(), credit=credit)
        manual_ack.publish_nowait(
            client,
            self.topics.station_topic("credit"),
            seal(body, station=self.topics.station, seq=None, signer=self._signer),
            qos=1,
            retain=True,
        )


class _CommandRefused(Exception):
    def __init__(
        self, reason: RejectReason, message: str, correlation_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.correlation_id = correlation_id


def tls_parameters(mqtt: MqttSettings) -> aiomqtt.TLSParameters | None:
    """TLS from the config, with the client certificate when one is set."""
    if not mqtt.tls.enabled:
        return None
    tls = mqtt.tls
    return aiomqtt.TLSParameters(
        ca_certs=str(tls.ca_file) if tls.ca_file else None,
        certfile=str(tls.cert_file) if tls.cert_file else None,
        keyfile=str(tls.key_file) if tls.key_file else None,
        cert_reqs=ssl.CERT_NONE if tls.insecure_skip_verify else ssl.CERT_REQUIRED,
    )


def session_options(protocol: str, session_expiry_s: int, receive_maximum: int) -> dict[str, Any]:
    """A persistent session in either MQTT version: the broker keeps our
    subscriptions and queues QoS 1 jobs while the station is away."""
    if protocol == "3.1.1":
        return {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": False}
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    props.ReceiveMaximum = receive_maximum
    return {"protocol": aiomqtt.ProtocolVersion.V5, "clean_start": False, "properties": props}


def store_credit(store: Store, max_queue: int) -> Callable[[], int]:
    """Credit = min(queue room, loaded blanks not yet spoken for).

    A job being printed already holds its reserved blank, which
    ``loaded_count`` leaves out; only queued jobs still need one. Jobs
    committed but not yet checked count as queued: most will be.
    """

    def credit() -> int:
        # Looked at after every outbox flush, with the queue possibly holding a
        # large backlog: each count stops as soon as the credit is known to be 0.
        unchecked = store.inbox.count()
        room = max_queue - unchecked - store.jobs.active_count(up_to=max_queue - unchecked)
        if room <= 0:
            return 0
        free = store.ledger.loaded_count() - unchecked
        if free <= 0:
            return 0
        return max(0, min(room, free - store.jobs.queued_count(up_to=free)))

    return credit


def _payload(message: aiomqtt.Message) -> bytes:
    payload: Any = message.payload
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode()


def _describe(group: BaseExceptionGroup[Any]) -> str:
    return "; ".join(f"{type(e).__name__}: {e}" for e in group.exceptions)[:500]
