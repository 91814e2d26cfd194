"""Deferred PUBACK for aiomqtt: the one place that reaches into its internals.

Why this module exists: printd's first contract is that a job is acknowledged
to the broker only after it is committed to the store. With QoS 1, the PUBACK
is what tells the broker it may forget a message; sent too early, a crash
between PUBACK and commit loses the job for good.

aiomqtt 2.5.1 (the asyncio client printd uses) has no API for this: its
``Client`` lets paho-mqtt acknowledge each message the moment it is read from
the socket, before the application has even seen it (aiomqtt issue #345).
The paho-mqtt client it wraps does support it: ``manual_ack_set(True)`` makes
paho hold the PUBACK until ``ack(mid, qos)`` is called. aiomqtt keeps that
paho client in the private attribute ``_client``, so we use it here, and only
here; if a later aiomqtt grows a public manual-ack API, this module is the
only thing to change.

Also here: taking every message already waiting in aiomqtt's queue without
waiting (``drain_ready``), so intake can commit a batch in one transaction
and acknowledge it afterwards; and queueing a publish without waiting for its
PUBACK (``publish_nowait``). aiomqtt's ``publish`` always waits, and while a
backlog streams in, the broker's PUBACK for a small message sits behind
thousands of jobs already on their way: waiting for it stalled intake for
over a second per burst.

Message ids are per connection: a message must be acknowledged on the same
``Client`` (and the same connection) it came from. The link makes a new
``Client`` per connection, so messages read before a disconnect are never
acknowledged on a later connection; the broker redelivers them instead.
"""

from __future__ import annotations

import asyncio

import aiomqtt
import paho.mqtt.client as paho


class AckError(Exception):
    """The PUBACK could not be queued (the connection is gone)."""


def enable(client: aiomqtt.Client) -> None:
    """Hold PUBACKs until :func:`ack`; call before the client connects."""
    client._client.manual_ack_set(True)  # private API: see module docstring


def ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    """Send the PUBACK for a QoS 1 message (no-op for QoS 0)."""
    if message.qos == 0:
        return
    rc = client._client.ack(message.mid, message.qos)  # private API: see module docstring
    if rc != paho.MQTT_ERR_SUCCESS:
        raise AckError(f"PUBACK for mid {message.mid} not sent: {paho.error_string(rc)}")


def publish_nowait(
    client: aiomqtt.Client, topic: str, payload: bytes, *, qos: int, retain: bool
) -> None:
    """Queue a publish on the connection now, in order with what follows; no wait.

    Only for messages that are sent again on the next connection anyway
    (retained state such as the credit), since nothing here notices a lost one.
    """
    info = client._client.publish(topic, payload, qos, retain)  # private API: see module docstring
    if info.rc != paho.MQTT_ERR_SUCCESS:
        raise AckError(f"publish to {topic} not queued: {paho.error_string(info.rc)}")


def waiting(client: aiomqtt.Client) -> int:
    """Messages received and not yet taken."""
    return client._queue.qsize()  # private API: see module docstring


def drain_ready(client: aiomqtt.Client, limit: int) -> list[aiomqtt.Message]:
    """Up to ``limit`` messages already received, without waiting."""
    queue: asyncio.Queue[aiomqtt.Message] = client._queue  # private API: see module docstring
    out: list[aiomqtt.Message] = []
    while len(out) < limit:
        try:
            out.append(queue.get_nowait())
        except asyncio.QueueEmpty:
            break
    return out
