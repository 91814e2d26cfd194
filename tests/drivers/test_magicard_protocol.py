"""The Magicard codec and panels, byte for byte, with no I/O."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from drivers.base import SideArtwork
from drivers.magicard import panels
from drivers.magicard.protocol import (
    COLOR_PLANE_BYTES,
    MONO_PLANE_BYTES,
    BadInput,
    HostConnection,
    Job,
    JobEnd,
    JobHeader,
    JobState,
    LocalProtocolError,
    Plane,
    Reply,
    Request,
    RequestParser,
    parse_job_header,
    parse_job_status,
    status_query,
)

QUERY_MSR = b"\x05" * 9 + b"\x01REQ,STA,MSR,\x1c\x03"


def small_job() -> Job:
    planes = tuple(
        Plane(letter, bytes([0x01, 0x1C, 0x03, 0x05]) * (size // 4))
        for letter, size in (
            ("B", COLOR_PLANE_BYTES),
            ("G", COLOR_PLANE_BYTES),
            ("R", COLOR_PLANE_BYTES),
            ("K", MONO_PLANE_BYTES),
        )
    )
    return Job(("LC1", "DPXOFF", "REJON", "NCT1,2,3,4", "TDT0000002A"), planes)


def test_status_query_and_simple_request_encode_exactly() -> None:
    """Queries are 9 ENQ, SOH, REQ,STA,KEY, then FS ETX; simple ones likewise."""
    assert status_query("MSR").encode() == QUERY_MSR
    assert Request(("RST",)).encode() == b"\x05" * 9 + b"\x01RST,\x1c\x03"
    with pytest.raises(LocalProtocolError):
        Request(("REQ", "A,B")).encode()


def test_reply_encodes_and_parses() -> None:
    """A reply is SOH STA,KEY,value, ETX and comes back as the same reply."""
    assert Reply("MSR", "AB1234").encode() == b"\x01STA,MSR,AB1234,\x03"
    conn = HostConnection()
    assert conn.send_query("MSR") == QUERY_MSR
    conn.receive_data(b"\x01STA,MSR,AB1234,\x03")
    assert conn.next_reply() == Reply("MSR", "AB1234")
    assert conn.in_flight is None


def test_job_encodes_header_planes_and_trailers_exactly() -> None:
    """64 ENQ, SOH, comma-led settings with IMF and SZ derived, FS, planes, ETX."""
    job = small_job()
    data = job.encode()
    header = (
        b"\x05" * 64
        + b"\x01,LC1,DPXOFF,REJON,NCT1,2,3,4,TDT0000002A,IMFBGRK,"
        + b"SZB512064,SZG512064,SZR512064,SZK85344\x1c"
    )
    assert data.startswith(header)
    body = data[len(header) :]
    offset = 0
    for plane in job.planes:
        assert body[offset : offset + len(plane.data)] == plane.data
        offset += len(plane.data)
        assert body[offset : offset + 3] == b"\x1c" + plane.letter.encode() + b":"
        offset += 3
    assert body[offset:] == b"\x03"


def test_jobs_that_cannot_be_expressed_are_refused() -> None:
    """Wrong plane sizes, derived tags given by hand and stray commas are refused."""
    good = small_job()
    with pytest.raises(LocalProtocolError, match="bytes"):
        Job((), (Plane("K", b"\x00"),)).encode()
    with pytest.raises(LocalProtocolError, match="derived"):
        Job(("IMFK",), good.planes).encode()
    with pytest.raises(LocalProtocolError, match="numbers"):
        Job(("NCT1,two",), good.planes).encode()
    with pytest.raises(LocalProtocolError, match="planes"):
        Job((), good.planes[:2]).encode()


@pytest.mark.parametrize("chunk", [None, 1, 4093])
def test_printer_reads_planes_by_length_however_bytes_arrive(chunk: int | None) -> None:
    """Plane data full of SOH, FS and ETX is read by length; a query follows intact."""
    job = small_job()
    stream = b"\xff\x00noise" + job.encode() + QUERY_MSR
    parser = RequestParser()
    if chunk is None:
        parser.receive_data(stream)
    else:
        for start in range(0, len(stream), chunk):
            parser.receive_data(stream[start : start + chunk])
    events = []
    while (event := parser.next_event()) is not None:
        events.append(event)
    header, *planes, end, query = events
    assert isinstance(header, JobHeader)
    assert header.image_format == "BGRK"
    assert header.get("NCT") == "1,2,3,4"
    assert header.get("TDT") == "0000002A"
    assert planes == list(job.planes)
    assert end == JobEnd()
    assert query == status_query("MSR")
    assert parser.discarded == 7


def test_broken_job_is_reported_and_the_next_query_still_parses() -> None:
    """A header without plane lengths is bad input; framing resumes at the next SOH."""
    parser = RequestParser()
    parser.receive_data(b"\x05" * 64 + b"\x01,LC1,IMFBGR\x1c" + QUERY_MSR)
    first = parser.next_event()
    assert isinstance(first, BadInput)
    assert "length" in first.reason
    assert parser.next_event() == status_query("MSR")


def test_wrong_trailer_after_a_plane_is_bad_input() -> None:
    """A plane not followed by FS, its letter and a colon cannot be trusted."""
    data = bytearray(small_job().encode())
    header_end = data.index(b"\x1c", 65)
    trailer = header_end + 1 + COLOR_PLANE_BYTES
    data[trailer + 1] = ord("X")
    parser = RequestParser()
    parser.receive_data(bytes(data))
    assert isinstance(parser.next_event(), JobHeader)
    assert isinstance(parser.next_event(), BadInput)


def test_reply_noise_and_late_replies_are_dropped() -> None:
    """Noise with SOH and ETX in it, and a late answer to another key, are skipped."""
    conn = HostConnection()
    conn.send_query("ERS")
    conn.receive_data(b"\x01\x02\x03\x01\xfe\x03" + b"\x01STA,MSR,OLD,\x03")
    assert conn.next_reply() is None
    conn.receive_data(b"\x01STA,ERS,READY,\x03")
    assert conn.next_reply() == Reply("ERS", "READY")
    assert conn.discarded > 0


def test_one_query_in_flight() -> None:
    """A second query, or a job, while one is in flight is a local error."""
    conn = HostConnection()
    conn.send_query("ERS")
    with pytest.raises(LocalProtocolError):
        conn.send_query("DFR")
    with pytest.raises(LocalProtocolError):
        conn.send_job(small_job())
    conn.reset()
    assert conn.send_query("DFR").endswith(b"DFR,\x1c\x03")


def test_job_status_parses_id_state_and_reason() -> None:
    """JOB replies carry the TDT number, a state and an optional reason."""
    status = parse_job_status(Reply("JOB", "0000002A:REJECTED:DYE FILM END"))
    assert status.job_id == "0000002A"
    assert (status.state, status.why) == (JobState.REJECTED, "DYE FILM END")
    assert parse_job_status(Reply("JOB", "0000002A:DONE")).why == ""


def test_header_joins_the_numbers_of_a_hole() -> None:
    """NCT's four numbers are one setting, not four tags."""
    header = parse_job_header(",OVRON,NCT1,2,3,4,NCT5,6,7,8,IMFK,SZK85344")
    assert [v for k, v in header.settings if k == "NCT"] == ["1,2,3,4", "5,6,7,8"]
    assert header.sizes == (("K", MONO_PLANE_BYTES),)


# ---------------------------------------------------------------- panels


def test_colour_stripes_are_lowest_bit_first_top_bit_first_dot() -> None:
    """Dot 0 at level 1 sets stripe 0's top bit; dot 1 at 32 sets stripe 5's next bit."""
    levels = np.zeros((1016, 672), dtype=np.uint8)
    levels[0, 0] = 0b000001
    levels[0, 1] = 0b100000
    packed = panels.pack_color(levels)
    assert len(packed) == COLOR_PLANE_BYTES
    assert packed[0] == 0x80
    assert packed[5 * 84] == 0x40
    assert sum(packed) == 0x80 + 0x40
    rng = np.random.default_rng(5)
    noisy = rng.integers(0, 64, (1016, 672), dtype=np.uint8)
    assert (panels.unpack_color(panels.pack_color(noisy)) == noisy).all()


def test_overlay_windows_become_rectangular_holes() -> None:
    """Two clear windows give two NCT holes, and the simulator sees them back."""
    mask = Image.new("1", (1016, 648), 1)
    draw = ImageDraw.Draw(mask)
    draw.rectangle((100, 200, 199, 299), fill=0)
    draw.rectangle((600, 50, 649, 79), fill=0)
    holes = panels.overlay_holes(mask)
    assert holes == ((600, 50, 650, 80), (100, 200, 200, 300))
    job = panels.encode_side(SideArtwork(None, None, mask))
    header = parse_job_header(job.header_text())
    overlay = panels.decode_overlay(header).image()
    expected = np.asarray(mask.convert("L")) > 127
    assert (np.asarray(overlay)[:648] > 0).tolist() == expected.tolist()


def test_overlay_that_is_not_rectangles_is_refused() -> None:
    """A speckled overlay mask is an artwork error, not a wrong print."""
    speckled = Image.new("1", (1016, 648), 1)
    for x in range(0, 200, 10):
        speckled.putpixel((x, x), 0)
    with pytest.raises(panels.ArtworkError, match="rectangles"):
        panels.overlay_holes(speckled)
    assert panels.overlay_settings(panels.overlay_holes(Image.new("1", (1016, 648), 0))) == (
        "OVROFF",
    )


def test_wrong_artwork_size_is_refused() -> None:
    """Artwork that is not 1016 x 648 dots is refused with its size named."""
    with pytest.raises(panels.ArtworkError, match="1016x648"):
        panels.encode_side(SideArtwork(Image.new("RGB", (100, 100))))
