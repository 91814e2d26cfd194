"""The Evolis codec, byte for byte, with no I/O."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.evolis import panels
from drivers.evolis.protocol import (
    PANEL_BYTES_BY_LEVELS,
    Command,
    CommandParser,
    ErrorKind,
    HostConnection,
    HostState,
    LocalProtocolError,
    Reply,
    ReplyParser,
    db,
    dbc,
)


def test_guide_example_commands_encode_exactly() -> None:
    """The programming guide's job opening encodes as ESC cmd;params CR."""
    assert Command("Pr", ("ymcko",)).encode() == b"\x1bPr;ymcko\r"
    assert Command("Pc", ("y", "+")).encode() == b"\x1bPc;y;+\r"
    assert Command("Ss").encode() == b"\x1bSs\r"
    assert Command("Sr").encode() == b"\x1bSr\r"
    assert Command("Pcom", ("1", "9600", "N", "8", "1")).encode() == b"\x1bPcom;1;9600;N;8;1\r"


def test_panel_download_frames_its_data() -> None:
    """Db carries exactly one panel of data between the header and CR."""
    data = bytes(PANEL_BYTES_BY_LEVELS[2])
    assert db("k", 2, data).encode() == b"\x1bDb;k;2;" + data + b"\r"
    assert dbc("o", 2, b"\xff" * 1016).encode() == b"\x1bDbc;o;2;1016;" + b"\xff" * 1016 + b"\r"


def test_wrong_panel_size_is_refused() -> None:
    """A Db whose data is not one whole panel cannot be sent."""
    with pytest.raises(LocalProtocolError):
        db("y", 32, b"\x00" * 10).encode()
    with pytest.raises(LocalProtocolError):
        Command("Pr", ("a;b",)).encode()


def test_parser_reads_panel_data_containing_esc_and_cr_by_length() -> None:
    """ESC and CR inside panel data do not end or restart the command."""
    data = bytes([0x1B, 0x0D] * (PANEL_BYTES_BY_LEVELS[2] // 2))
    parser = CommandParser()
    parser.receive_data(db("k", 2, data).encode() + Command("Se").encode())
    first = parser.next_command()
    assert first is not None
    assert (first.name, first.params, first.data) == ("Db", ("k", "2"), data)
    second = parser.next_command()
    assert second is not None
    assert second.name == "Se"


def test_parser_resynchronises_after_garbage() -> None:
    """Line noise, NUL padding and a truncated command are skipped."""
    parser = CommandParser()
    parser.receive_data(b"\x00\x00zz\x97\x1bRs\x1bRtp\r\x00\x00\xfe\x1bRse;o\r")
    names = []
    while (command := parser.next_command()) is not None:
        names.append((command.name, command.params))
    assert names == [("Rtp", ()), ("Rse", ("o",))]
    assert parser.discarded >= 5


def test_parser_accepts_bytes_one_at_a_time() -> None:
    """Framing does not depend on how the stream was cut."""
    stream = Command("Ss").encode() + dbc("o", 2, b"\x00" * 1016).encode() + b"\x1bSe\r"
    parser = CommandParser()
    for byte in stream:
        parser.receive_data(bytes([byte]))
    got = [parser.next_command() for _ in range(3)]
    assert [c.name for c in got if c] == ["Ss", "Dbc", "Se"]


def test_bad_download_header_is_reported_and_skipped() -> None:
    """A Db with unknown levels is an error, and parsing goes on."""
    parser = CommandParser()
    parser.receive_data(b"\x1bDb;k;3;junk\r\x1bSe\r")
    assert parser.next_error() is not None
    command = parser.next_command()
    assert command is not None
    assert command.name == "Se"


def test_reply_parser_drops_noise_but_keeps_the_reply() -> None:
    """Non-printable bytes before a reply are discarded, the reply survives."""
    parser = ReplyParser()
    parser.receive_data(b"\x8f\x02\xffOK\r4.80\r\x00")
    assert parser.next_reply() == Reply("OK")
    assert parser.next_reply() == Reply("4.80")
    assert parser.next_reply() is None
    assert parser.discarded == 3


def _replies(parser: ReplyParser) -> list[str]:
    texts = []
    while (reply := parser.next_reply()) is not None:
        texts.append(reply.text)
    return texts


@pytest.mark.parametrize(
    "chunk",
    [
        b"OK\r",
        b"OK\rOK\r4.80\r",
        b"OK\r\rOK\r",
        b"OK\rOK",
        b"OK\r\x00",
        b"\x8f\x02OK\r",
        b"A" * 256 + b"\r",
        b"A" * 300 + b"\rOK\r",
        b"ERR FEEDER EMPTY\r",
    ],
)
def test_reply_parser_reads_a_chunk_as_it_reads_its_bytes_one_by_one(chunk: bytes) -> None:
    """Whole replies take a short way through the parser; every chunk, clean
    or not, gives the same replies and the same count of discarded bytes as
    the bytes fed one at a time."""
    whole, bytewise = ReplyParser(), ReplyParser()
    whole.receive_data(chunk)
    for byte in chunk:
        bytewise.receive_data(bytes([byte]))
    assert _replies(whole) == _replies(bytewise)
    assert whole.discarded == bytewise.discarded
    whole.receive_data(b"OK\r")
    bytewise.receive_data(b"OK\r")
    assert _replies(whole) == _replies(bytewise)


def test_reply_parser_keeps_the_tail_of_a_reply_too_long() -> None:
    parser = ReplyParser()
    parser.receive_data(b"B" * 10 + b"A" * 256 + b"\r")
    assert _replies(parser) == ["A" * 256]
    assert parser.discarded == 10


def test_error_replies_are_classified() -> None:
    """ERR texts map to the codec's error kinds; OK is not an error."""
    assert Reply("ERR FEEDER EMPTY").error is ErrorKind.FEEDER_EMPTY
    assert Reply("ERR FEEDER").error is ErrorKind.FEEDER
    assert Reply("ERROR CDE").error is ErrorKind.COMMAND
    assert Reply("ERR CARD JAM").error is ErrorKind.CARD_JAM
    assert Reply("ERR SOMETHING NEW").error is ErrorKind.UNKNOWN
    assert Reply("OK").error is None
    assert Reply("OK").ok


def test_host_connection_answers_pipelined_commands_in_order() -> None:
    """Commands sent in one stream get their replies oldest first; reset
    forgets everything still in flight."""
    conn = HostConnection()
    assert conn.send(Command("Rtp")) == b"\x1bRtp\r"
    assert conn.send_all([Command("Rsn"), Command("Rfv")]) == b"\x1bRsn\r\x1bRfv\r"
    assert conn.in_flight == "Rtp"
    conn.receive_data(b"Primacy\rSN1\r")
    assert conn.next_reply() == Reply("Primacy")
    assert conn.next_reply() == Reply("SN1")
    assert conn.next_reply() is None
    assert conn.in_flight == "Rfv"
    assert conn.state is HostState.AWAITING_REPLY
    conn.receive_data(b"1.0\r")
    assert conn.next_reply() == Reply("1.0")
    assert conn.state is HostState.IDLE
    conn.send(Command("Rsn"))
    conn.reset()
    assert conn.state is HostState.IDLE
    conn.receive_data(b"SN1\r")
    assert conn.next_reply() is None


def test_a_stream_with_a_bad_command_sends_nothing() -> None:
    conn = HostConnection()
    with pytest.raises(LocalProtocolError):
        conn.send_all([Command("Sr"), Command("Db", ("k", "2"), b"short")])
    assert conn.state is HostState.IDLE


def test_unsolicited_reply_is_dropped() -> None:
    """A late reply arriving with nothing in flight is not handed out."""
    conn = HostConnection()
    conn.receive_data(b"OK\r")
    assert conn.next_reply() is None


def test_mono_compression_line_forms() -> None:
    """K/O lines compress to 0x00 (white), 0xFF (black) or N + N bytes."""
    plane = np.zeros((1016, 648), dtype=np.uint8)
    plane[1, :] = 1
    plane[2, 0:8] = 1  # one byte 0xFF then white
    plane[3, 8:16] = 1  # 0x00 then 0xFF
    data = panels.compress_1bit(plane)
    assert data[:1] == b"\x00"
    assert data[1:2] == b"\xff"
    assert data[2:4] == b"\x01\xff"
    assert data[4:7] == b"\x02\x00\xff"
    assert data[7:] == b"\x00" * 1012
    assert (panels.decompress_1bit(data) == plane).all()


def test_colour_compression_runs_and_line_ends() -> None:
    """Y/M/C: single dots, counted runs with 256-extensions, rest-of-line white."""
    plane = np.zeros((1016, 648), dtype=np.uint8)
    plane[0, 0] = 5  # one dot
    plane[0, 1:4] = 31  # a run of 3
    plane[1, :] = 7  # a full line: 256 + 256 + 136
    data = panels.compress_color(plane)
    assert data is not None
    assert data[:6] == bytes([0x05, 0x80 | 31, 3, 0x80, 0x00, 0xE0 | 7])
    assert data[6] == 648 - 512
    assert data[7:] == b"\x80\x00" * 1014
    assert (panels.decompress_color(data) == plane).all()


def test_busy_colour_panel_is_sent_raw() -> None:
    """A photo that compresses badly goes out as an uncompressed 32-level Db."""
    rng = np.random.default_rng(7)
    plane = rng.integers(0, 32, (1016, 648), dtype=np.uint8)
    command = panels.color_command("y", plane)
    assert command.name == "Db"
    assert len(command.data) == PANEL_BYTES_BY_LEVELS[32]
    assert (panels.decode_panel(command).plane == plane).all()


def test_five_bit_packing_is_msb_first() -> None:
    """Eight 5-bit dots pack into five bytes, first dot in the top bits."""
    plane = np.zeros((1016, 648), dtype=np.uint8)
    plane[0, :8] = [31, 0, 0, 0, 0, 0, 0, 1]
    data = panels.pack_5bit(plane)
    assert data[:5] == bytes([0b11111000, 0, 0, 0, 0b00000001])
    assert (panels.unpack_5bit(data) == plane).all()


def test_artwork_of_the_wrong_size_is_refused() -> None:
    """Artwork must be 1016x648 at 300 dpi."""
    from PIL import Image

    from drivers.base import SideArtwork

    with pytest.raises(panels.ArtworkError):
        panels.encode_side(SideArtwork(Image.new("RGB", (100, 100))))


@settings(max_examples=40, deadline=None)
@given(
    runs=st.lists(st.tuples(st.integers(0, 31), st.integers(1, 700)), min_size=1, max_size=60),
    white_tail=st.integers(0, 1015),
)
def test_colour_compression_round_trips(runs: list[tuple[int, int]], white_tail: int) -> None:
    """Any plane of runs (long ones, single dots, white line ends) decodes to itself."""
    flat = np.concatenate([np.full(length, value, dtype=np.uint8) for value, length in runs])
    flat = np.resize(flat, 1016 * 648)
    plane = flat.reshape(1016, 648).copy()
    plane[white_tail:, 600:] = 0
    data = panels.compress_color(plane)
    assert data is not None
    assert (panels.decompress_color(data) == plane).all()


@pytest.mark.parametrize(
    "data",
    [
        b"",  # no lines at all
        b"\x85",  # a counted run with no counter
        b"\x80\x00" * 1017,  # one line too many
        b"\x9f\xff\x9f\xff\x9f\xff",  # runs crossing the end of a line
        b"\x80\x00" * 1015,  # one line short
    ],
)
def test_malformed_colour_panels_are_refused(data: bytes) -> None:
    """A compressed colour panel that does not make 1016 whole lines is an error."""
    with pytest.raises(panels.ArtworkError):
        panels.decompress_color(data)
