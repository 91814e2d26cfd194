"""A leaner decoder for incoming PUBLISH packets, installed into paho-mqtt.

Why this module exists: intake must take a backlog of ~28 KB jobs off the
broker at thousands per second, and paho-mqtt's own decoder (2.2,
``paho.mqtt._packet.decode_publish``) was the largest single cost on the
event loop. It copies the whole payload four to five times per message
(each ``struct.unpack`` of "the rest", each slice of what is left), and for
MQTT 5 builds a fresh ``Properties`` object, whose constructor fills two
27-entry tables, even when the message carries no properties. On a backlog
of 10,000 jobs that was 40% of the event loop's time (py-spy, MQTT 5).

This decoder returns the same ``PublishPacket`` for every packet: the same
fields, the payload copied once, and ``Properties`` parsed by paho itself
when there are any (a copy of one empty instance when there are none).
``tests/mqtt/test_fast_publish.py`` holds it equal to paho's decoder on
generated packets, malformed ones included (both raise ``MalformedPacket``).

:func:`install` replaces the function in paho's private ``_packet`` module,
which paho's client looks up on every packet; it does so only when that
module has the shape this was written against, and otherwise leaves paho as
it is (slower, never wrong). It affects every paho client in the process.
"""

from __future__ import annotations

import copy
import struct
from typing import Any

from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers

_PAHO_DECODER = _packet.decode_publish
_EMPTY_PROPERTIES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
_UNSIGNED_SHORT = struct.Struct("!H")


def decode_publish(
    header: int, packet: bytes | bytearray, protocol: MQTTProtocolVersion
) -> _packet.PublishPacket:
    """Decode a PUBLISH packet's variable header and payload (after the fixed header)."""
    try:
        with memoryview(packet) as view:  # slices of a view copy nothing; bytes() copies once
            return _decode(header, packet, view, protocol)
    except (struct.error, IndexError, KeyError, ValueError) as err:
        raise MalformedPacket(str(err)) from err


def _decode(
    header: int, packet: bytes | bytearray, view: memoryview, protocol: MQTTProtocolVersion
) -> _packet.PublishPacket:
    qos = (header & 0x06) >> 1
    (topic_length,) = _UNSIGNED_SHORT.unpack_from(packet, 0)
    position = 2 + topic_length
    if position > len(packet):
        raise MalformedPacket("topic longer than the packet")
    topic = bytes(view[2:position])
    if protocol != MQTTProtocolVersion.MQTTv5 and topic_length == 0:
        raise MalformedPacket("topic can't be empty in MQTTv3")
    mid = 0
    if qos > 0:
        (mid,) = _UNSIGNED_SHORT.unpack_from(packet, position)
        position += 2
    properties: Properties | None = None
    if protocol == MQTTProtocolVersion.MQTTv5:
        if packet[position] == 0:  # raises IndexError, as paho's does, when missing
            properties = copy.copy(_EMPTY_PROPERTIES)
            position += 1
        else:
            # Hand paho only the properties, not the payload behind them.
            prefix = packet[position : position + 4]
            length, length_bytes = VariableByteIntegers.decode(prefix)  # type: ignore[no-untyped-call]
            end = position + length_bytes + length
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.unpack(bytes(view[position:end]))  # type: ignore[no-untyped-call]
            position = end
    return _packet.PublishPacket(
        dup=(header & 0x08) != 0,
        qos=qos,
        retain=(header & 0x01) != 0,
        topic=topic,
        mid=mid,
        properties=properties,
        payload=bytes(view[position:]),
    )


def install() -> bool:
    """Use this decoder in paho-mqtt; False (and nothing changed) if paho's shape differs."""
    if _packet.decode_publish is decode_publish:
        return True
    if not _compatible(_packet):
        return False
    _packet.decode_publish = decode_publish
    return True


def paho_decoder() -> Any:
    """paho-mqtt's own decoder (for the equivalence tests)."""
    return _PAHO_DECODER


def _compatible(module: Any) -> bool:
    fields = getattr(getattr(module, "PublishPacket", None), "_fields", ())
    return fields == ("dup", "qos", "retain", "topic", "mid", "properties", "payload")
