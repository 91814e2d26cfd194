"""printd's PUBLISH decoder gives what paho-mqtt's own gives, for any packet."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from printd.mqtt import fast_publish

V5 = MQTTProtocolVersion.MQTTv5
V311 = MQTTProtocolVersion.MQTTv311

texts = st.text(max_size=12)
publish_properties = st.fixed_dictionaries(
    {},
    optional={
        "PayloadFormatIndicator": st.integers(0, 1),
        "MessageExpiryInterval": st.integers(0, 2**32 - 1),
        "ContentType": texts,
        "ResponseTopic": texts,
        "CorrelationData": st.binary(max_size=12),
        "TopicAlias": st.integers(1, 65535),
        "UserProperty": st.lists(st.tuples(texts, texts), min_size=1, max_size=3),
    },
)


@st.composite
def publish_packets(draw: st.DrawFn) -> tuple[int, bytes, MQTTProtocolVersion]:
    protocol = draw(st.sampled_from([V5, V311]))
    qos = draw(st.integers(0, 2))
    header = 0x30 | (draw(st.booleans()) << 3) | (qos << 1) | draw(st.booleans())
    topic = draw(st.binary(max_size=40))
    body = struct.pack("!H", len(topic)) + topic
    if qos:
        body += struct.pack("!H", draw(st.integers(1, 65535)))
    if protocol == V5:
        properties = Properties(PacketTypes.PUBLISH)
        for name, value in draw(publish_properties).items():
            setattr(properties, name, value)
        body += properties.pack()
    body += draw(st.binary(max_size=3000))
    if draw(st.booleans()):  # malformed: cut anywhere
        body = body[: draw(st.integers(0, len(body)))]
    return header, body, protocol


def _decoded(decoder: Any, header: int, body: bytes | bytearray, protocol: Any) -> Any:
    try:
        packet = decoder(header, body, protocol)
    except MalformedPacket:
        return MalformedPacket
    properties = None if packet.properties is None else packet.properties.json()
    assert type(packet.payload) is bytes
    return packet._replace(properties=properties)


@given(publish_packets())
def test_same_result_as_paho(packet: tuple[int, bytes, MQTTProtocolVersion]) -> None:
    header, body, protocol = packet
    expected = _decoded(fast_publish.paho_decoder(), header, body, protocol)
    # paho hands the decoder the bytearray it read the packet into.
    assert _decoded(fast_publish.decode_publish, header, bytearray(body), protocol) == expected


def test_empty_properties_are_separate_objects() -> None:
    body = bytearray(struct.pack("!H", 1) + b"t" + struct.pack("!H", 7) + b"\x00payload")
    first = fast_publish.decode_publish(0x32, body, V5)
    second = fast_publish.decode_publish(0x32, body, V5)
    assert first.properties is not None
    assert second.properties is not None
    first.properties.UserProperty = ("a", "b")
    assert second.properties.isEmpty()
    assert (first.topic, first.mid, first.payload) == (b"t", 7, b"payload")


def test_install_is_used_by_paho_and_refuses_a_foreign_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_packet, "decode_publish", fast_publish.paho_decoder())
    assert fast_publish.install()
    assert _packet.decode_publish is fast_publish.decode_publish

    monkeypatch.setattr(_packet, "decode_publish", fast_publish.paho_decoder())
    monkeypatch.setattr(_packet, "PublishPacket", tuple)
    assert not fast_publish.install()
    assert _packet.decode_publish is fast_publish.paho_decoder()
