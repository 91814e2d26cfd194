"""The Magicard protocol as pure data: no I/O, no clocks.

Both ends live here, h11 style: :class:`HostConnection` is what a driver uses
(``send_query`` / ``send_job`` return bytes, ``receive_data`` then
``next_reply``) and :class:`RequestParser` is what a printer (the simulator)
uses to cut the host's byte stream back into requests and job pieces.

What is public (reverse-engineered by the gutenprint project for the
Tango/Rio/Enduro family):

- A request is 9 x ENQ (0x05), SOH (0x01), comma-separated text ending in a
  comma, then FS (0x1C) and ETX (0x03). Status queries are
  ``REQ,STA,<KEY>,``: MSR printer serial, VRS firmware, MDL model, TCQ cards
  printed, DFR dye-film panels left, and more.
- A reply is SOH, ``STA,<KEY>``, the value after a comma, then ``,`` ETX.
- A job is 64 x ENQ, SOH, then comma-led settings (``,LC1,DPXOFF,REJON...``),
  ``IMF`` naming the planes (``BGRK``), ``SZB/SZG/SZR/SZK`` their lengths, FS;
  then each plane's bytes followed by FS, the plane's letter and ``:``; then
  ETX. Planes are read by length: plane data contains every byte value.

What printd adds, because no public source says how a Magicard reports
trouble (see docs/drivers.md; to be checked against a real printer):

- ``REQ,STA,ERS,`` answers the printer's current conditions (``READY`` or
  ``/``-joined words such as ``LID OPEN/NO CARDS``).
- ``REQ,STA,JOB,`` answers the last job's fate as ``<TDT>:<STATE>[:<why>]``,
  where ``TDT`` is the job's own ``TDT`` setting (the public "driver
  timestamp" tag, used by printd as a job number).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

ENQ = 0x05
SOH = 0x01
ETX = 0x03
FS = 0x1C

COMMAND_GUARD = 9
JOB_GUARD = 64

PLANE_ROWS = 1016
PLANE_ROW_PIXELS = 672
ROW_BYTES = PLANE_ROW_PIXELS // 8
COLOR_BITS = 6
COLOR_PLANE_BYTES = PLANE_ROWS * ROW_BYTES * COLOR_BITS
MONO_PLANE_BYTES = PLANE_ROWS * ROW_BYTES
# Plane letters in the order a job carries them: B, G, R hold yellow, magenta
# and cyan dye (a filter's complement), K resin black.
PLANE_BYTES = {"B": COLOR_PLANE_BYTES, "G": COLOR_PLANE_BYTES, "R": COLOR_PLANE_BYTES}
PLANE_BYTES["K"] = MONO_PLANE_BYTES
IMAGE_FORMATS = ("BGRK", "BGR", "K")

# Header text longer than this is not a request but noise (gutenprint's bound).
MAX_HEADER = 2048
MAX_REPLY = 256

ERROR_KEY = "ERS"
JOB_KEY = "JOB"
READY = "READY"
# A YMCKO print uses five dye-film panels; DFR counts panels.
PANELS_PER_PRINT = 5


class MagicardProtocolError(Exception):
    """Bytes or a request that the protocol does not allow."""


class LocalProtocolError(MagicardProtocolError):
    """We were asked to send something the protocol cannot express."""


class RemoteProtocolError(MagicardProtocolError):
    """The other end sent something the protocol does not allow."""


def _printable(byte: int) -> bool:
    return 0x20 <= byte <= 0x7E


def _check_word(word: str, what: str) -> None:
    if not word or not word.isascii() or not word.isprintable() or "," in word:
        raise LocalProtocolError(f"{what} must be printable ASCII without commas: {word!r}")


# ---------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class Request:
    """A short request: comma-separated words, e.g. ``("REQ", "STA", "MSR")``."""

    words: tuple[str, ...]

    def encode(self) -> bytes:
        if not self.words:
            raise LocalProtocolError("a request needs at least one word")
        for word in self.words:
            _check_word(word, "a request word")
        text = "".join(f"{w}," for w in self.words)
        return bytes([ENQ] * COMMAND_GUARD + [SOH]) + text.encode("ascii") + bytes([FS, ETX])

    @property
    def status_key(self) -> str | None:
        if len(self.words) == 3 and self.words[:2] == ("REQ", "STA"):
            return self.words[2]
        return None


def status_query(key: str) -> Request:
    return Request(("REQ", "STA", key))


@dataclass(frozen=True, slots=True)
class Plane:
    """One plane of a job: its letter and raw bytes (read by length)."""

    letter: str
    data: bytes

    def __repr__(self) -> str:
        # Plane data may carry a person's photo: never print it.
        return f"Plane({self.letter!r}, <{len(self.data)} bytes>)"


def plane_trailer(letter: str) -> bytes:
    return bytes([FS]) + letter.encode("ascii") + b":"


@dataclass(frozen=True, slots=True)
class Job:
    """One print job: settings (``LC1``, ``NCT10,20,30,40``...) and planes.

    ``IMF`` and the ``SZ`` lengths are derived from the planes when encoding,
    so they can never disagree with the data.
    """

    settings: tuple[str, ...]
    planes: tuple[Plane, ...]

    @property
    def image_format(self) -> str:
        return "".join(p.letter for p in self.planes)

    def header_text(self) -> str:
        fmt = self.image_format
        if fmt not in IMAGE_FORMATS:
            raise LocalProtocolError(f"planes must be one of {IMAGE_FORMATS}, got {fmt!r}")
        for plane in self.planes:
            if len(plane.data) != PLANE_BYTES[plane.letter]:
                raise LocalProtocolError(
                    f"plane {plane.letter} must be {PLANE_BYTES[plane.letter]} bytes, "
                    f"got {len(plane.data)}"
                )
        for setting in self.settings:
            _check_setting(setting)
        sizes = [f"SZ{p.letter}{len(p.data)}" for p in self.planes]
        return "".join(f",{item}" for item in (*self.settings, f"IMF{fmt}", *sizes))

    def encode(self) -> bytes:
        text = self.header_text()
        if len(text) > MAX_HEADER:
            raise LocalProtocolError(f"job header is {len(text)} characters, over {MAX_HEADER}")
        out = bytearray([ENQ] * JOB_GUARD + [SOH])
        out += text.encode("ascii")
        out.append(FS)
        for plane in self.planes:
            out += plane.data
            out += plane_trailer(plane.letter)
        out.append(ETX)
        return bytes(out)

    def __repr__(self) -> str:
        return f"Job({self.settings!r}, {self.planes!r})"


def _check_setting(setting: str) -> None:
    """A setting is letters then a value; extra numbers may follow after commas."""
    if not setting.isascii() or not setting.isprintable() or not setting[:1].isalpha():
        raise LocalProtocolError(f"a setting is printable ASCII led by a letter: {setting!r}")
    numbers = setting.split(",")[1:]
    if setting.startswith(("IMF", "SZ")):
        raise LocalProtocolError(f"{setting!r} is derived from the planes, not given")
    if not all(_is_number(n) for n in numbers):
        raise LocalProtocolError(f"only numbers may follow a comma in a setting: {setting!r}")


def _is_number(text: str) -> bool:
    return text.removeprefix("-").isdigit()


# ---------------------------------------------------------------- replies


@dataclass(frozen=True, slots=True)
class Reply:
    """A status reply: the key it answers and its value."""

    key: str
    value: str

    def encode(self) -> bytes:
        _check_word(self.key, "a reply key")
        if not self.value.isascii() or not self.value.isprintable() or "," in self.value:
            raise LocalProtocolError(f"a reply value is printable ASCII: {self.value!r}")
        return bytes([SOH]) + f"STA,{self.key},{self.value},".encode("ascii") + bytes([ETX])


def parse_reply(body: str) -> Reply:
    """``STA,KEY,value,`` (the text between SOH and ETX) to a :class:`Reply`."""
    fields = body.split(",")
    if len(fields) < 3 or fields[0] != "STA" or not fields[1]:
        raise RemoteProtocolError(f"not a status reply: {body!r}")
    value = ",".join(fields[2:])
    return Reply(fields[1], value.removesuffix(","))


class ReplyParser:
    """Cuts the printer's byte stream into reply bodies and drops line noise.

    A reply is SOH, printable ASCII, ETX. Any other byte inside a frame means
    the frame is noise (replies are all text), so it is dropped and counted in
    ``discarded``; a new SOH starts a new frame.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_frame = False
        self._bodies: deque[str] = deque()
        self.discarded = 0

    def receive_data(self, data: bytes) -> None:
        for byte in data:
            if byte == SOH:
                self.discarded += len(self._buffer) + (1 if self._in_frame else 0)
                self._buffer.clear()
                self._in_frame = True
            elif not self._in_frame:
                self.discarded += 1
            elif byte == ETX:
                if self._buffer:
                    self._bodies.append(self._buffer.decode("ascii"))
                else:
                    self.discarded += 2
                self._buffer.clear()
                self._in_frame = False
            elif _printable(byte) and len(self._buffer) < MAX_REPLY:
                self._buffer.append(byte)
            else:
                self.discarded += len(self._buffer) + 2
                self._buffer.clear()
                self._in_frame = False

    def next_body(self) -> str | None:
        return self._bodies.popleft() if self._bodies else None

    def clear(self) -> None:
        self.discarded += len(self._buffer) + sum(len(b) for b in self._bodies)
        self._buffer.clear()
        self._bodies.clear()
        self._in_frame = False


class HostConnection:
    """The driver's side: at most one status query in flight.

    A reply is handed back only if it answers the key in flight; a late answer
    to an earlier, timed-out query is dropped. Jobs get no reply (their fate
    is read with the ``JOB`` key), so sending one needs no query in flight.
    """

    def __init__(self) -> None:
        self.in_flight: str | None = None
        self._parser = ReplyParser()

    @property
    def discarded(self) -> int:
        return self._parser.discarded

    def send_query(self, key: str) -> bytes:
        if self.in_flight is not None:
            raise LocalProtocolError(f"cannot ask {key}: {self.in_flight} in flight")
        data = status_query(key).encode()
        self.in_flight = key
        return data

    def send_job(self, job: Job) -> bytes:
        if self.in_flight is not None:
            raise LocalProtocolError(f"cannot send a job: {self.in_flight} in flight")
        return job.encode()

    def receive_data(self, data: bytes) -> None:
        self._parser.receive_data(data)

    def next_reply(self) -> Reply | None:
        while (body := self._parser.next_body()) is not None:
            try:
                reply = parse_reply(body)
            except RemoteProtocolError:
                self._parser.discarded += len(body)
                continue
            if reply.key != self.in_flight:
                self._parser.discarded += len(body)
                continue
            self.in_flight = None
            return reply
        return None

    def reset(self) -> None:
        self.in_flight = None
        self._parser.clear()


# ------------------------------------------------------------ printer side


@dataclass(frozen=True, slots=True)
class JobHeader:
    """A job's settings as received; ``settings`` maps each tag to its value."""

    settings: tuple[tuple[str, str], ...]
    image_format: str
    sizes: tuple[tuple[str, int], ...]

    def get(self, name: str) -> str | None:
        for key, value in self.settings:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class JobEnd:
    """The ETX after a job's last plane."""


@dataclass(frozen=True, slots=True)
class BadInput:
    """Framing the printer could not follow; the rest of that job is lost."""

    reason: str


PrinterEvent = Request | JobHeader | Plane | JobEnd | BadInput

# Settings the parser knows the name length of; others are 3 letters.
_LONG_NAMES = ("X-GP-8", "X-GP-RK")


def split_setting(token: str) -> tuple[str, str]:
    """``LC1`` -> ("LC", "1"); ``DPXOFF`` -> ("DPX", "OFF"); ``SZB123`` -> ("SZB", "123")."""
    if token in _LONG_NAMES:
        return token, ""
    if token.startswith("SZ") or token.startswith("LC"):
        cut = 3 if token.startswith("SZ") else 2
        return token[:cut], token[cut:]
    return token[:3], token[3:]


def parse_job_header(text: str) -> JobHeader:
    """The comma-led settings between SOH and FS of a job."""
    if not text.startswith(","):
        raise RemoteProtocolError("a job header starts with a comma")
    tokens: list[str] = []
    for token in text[1:].split(","):
        if tokens and _is_number(token):
            tokens[-1] += "," + token  # NCT/PCT carry four numbers
        elif token:
            tokens.append(token)
        else:
            raise RemoteProtocolError("empty setting in a job header")
    settings = tuple(split_setting(t) for t in tokens)
    formats = [v for k, v in settings if k == "IMF"]
    if len(formats) != 1 or formats[0] not in IMAGE_FORMATS:
        raise RemoteProtocolError(f"job header needs one IMF of {IMAGE_FORMATS}")
    declared = {k[2]: v for k, v in settings if k.startswith("SZ") and len(k) == 3}
    sizes: list[tuple[str, int]] = []
    for letter in formats[0]:
        raw = declared.get(letter)
        if raw is None or not raw.isdigit():
            raise RemoteProtocolError(f"job header lacks a length for plane {letter}")
        if int(raw) != PLANE_BYTES[letter]:
            raise RemoteProtocolError(
                f"plane {letter} must be {PLANE_BYTES[letter]} bytes, header says {raw}"
            )
        sizes.append((letter, int(raw)))
    return JobHeader(settings, formats[0], tuple(sizes))


class _ParseState(enum.Enum):
    SEEK = "seek"
    TEXT = "text"
    REQUEST_END = "request_end"
    PLANE = "plane"
    TRAILER = "trailer"
    JOB_END = "job_end"


class RequestParser:
    """The printer's side: bytes in, :class:`PrinterEvent` objects out.

    ENQ guards and bytes outside a request are skipped up to the next SOH.
    A job's header gives its planes' lengths; planes are read by length and
    must each be followed by their FS-letter-colon trailer, and the job by
    ETX. A framing error yields :class:`BadInput` and a return to seeking.
    """

    def __init__(self) -> None:
        self._state = _ParseState.SEEK
        self._text = bytearray()
        self._plane = bytearray()
        self._planes: deque[tuple[str, int]] = deque()
        self._letter = ""
        self._need = 0
        self._trailer = bytearray()
        self._events: deque[PrinterEvent] = deque()
        self.discarded = 0

    def receive_data(self, data: bytes) -> None:
        view = memoryview(data)
        i, n = 0, len(view)
        while i < n:
            if self._state is _ParseState.PLANE:
                take = min(self._need - len(self._plane), n - i)
                self._plane += view[i : i + take]
                i += take
                if len(self._plane) == self._need:
                    self._state = _ParseState.TRAILER
                    self._trailer.clear()
                continue
            byte = view[i]
            i += 1
            self._byte(byte)

    def _byte(self, byte: int) -> None:
        state = self._state
        if state is _ParseState.SEEK:
            if byte == SOH:
                self._state = _ParseState.TEXT
                self._text.clear()
            elif byte != ENQ:
                self.discarded += 1
        elif state is _ParseState.TEXT:
            self._text_byte(byte)
        elif state is _ParseState.REQUEST_END:
            self._state = _ParseState.SEEK
            if byte == ETX:
                self._finish_request()
            else:
                self._bad(f"request not ended by ETX: {bytes(self._text)!r}")
        elif state is _ParseState.TRAILER:
            self._trailer_byte(byte)
        elif state is _ParseState.JOB_END:
            self._state = _ParseState.SEEK
            if byte == ETX:
                self._events.append(JobEnd())
            else:
                self._bad("job not ended by ETX")

    def _text_byte(self, byte: int) -> None:
        if byte == FS:
            if self._text.startswith(b","):
                self._start_job()
            else:
                self._state = _ParseState.REQUEST_END
        elif byte == SOH:
            self.discarded += len(self._text) + 1
            self._text.clear()
        elif not _printable(byte) or len(self._text) >= MAX_HEADER:
            self.discarded += len(self._text) + 1
            self._text.clear()
            self._state = _ParseState.SEEK
        else:
            self._text.append(byte)

    def _start_job(self) -> None:
        try:
            header = parse_job_header(self._text.decode("ascii"))
        except RemoteProtocolError as exc:
            self._bad(str(exc))
            self._state = _ParseState.SEEK
            return
        self._events.append(header)
        self._planes = deque(header.sizes)
        self._next_plane()

    def _next_plane(self) -> None:
        if not self._planes:
            self._state = _ParseState.JOB_END
            return
        self._letter, self._need = self._planes.popleft()
        self._plane = bytearray()
        self._state = _ParseState.PLANE

    def _trailer_byte(self, byte: int) -> None:
        self._trailer.append(byte)
        want = plane_trailer(self._letter)
        if self._trailer != want[: len(self._trailer)]:
            self.discarded += len(self._plane) + len(self._trailer)
            self._bad(f"plane {self._letter} not followed by its trailer")
            self._state = _ParseState.SEEK
            return
        if len(self._trailer) == len(want):
            self._events.append(Plane(self._letter, bytes(self._plane)))
            self._plane = bytearray()
            self._next_plane()

    def _finish_request(self) -> None:
        text = self._text.decode("ascii")
        if not text.endswith(","):
            self._bad(f"request text does not end with a comma: {text!r}")
            return
        self._events.append(Request(tuple(text[:-1].split(","))))

    def _bad(self, reason: str) -> None:
        self._events.append(BadInput(reason))

    def next_event(self) -> PrinterEvent | None:
        return self._events.popleft() if self._events else None


# ----------------------------------------------------- conditions and jobs


class Condition(enum.StrEnum):
    """Words of the ``ERS`` reply (printd's convention, see the module doc)."""

    LID_OPEN = "LID OPEN"
    CARD_JAM = "CARD JAM"
    DYE_FILM_END = "DYE FILM END"
    REJECT_FULL = "REJECT FULL"
    NO_CARDS = "NO CARDS"
    BUSY = "BUSY"


def encode_conditions(conditions: list[Condition]) -> str:
    return "/".join(conditions) if conditions else READY


def parse_conditions(reply: Reply) -> frozenset[Condition]:
    if reply.value == READY:
        return frozenset()
    try:
        return frozenset(Condition(word) for word in reply.value.split("/"))
    except ValueError:
        raise RemoteProtocolError(f"condition reply not understood: {reply.value!r}") from None


class JobState(enum.StrEnum):
    """The fate of the last job, as the ``JOB`` reply names it."""

    NONE = "NONE"  # no job since power-on
    PRINTING = "PRINTING"
    DONE = "DONE"  # printed and ejected to the output hopper
    NOT_FED = "NOT_FED"  # refused before a blank left the feeder
    MISFEED = "MISFEED"  # two blanks taken; both in the reject box
    JAMMED = "JAMMED"  # the card is stuck inside
    REJECTED = "REJECTED"  # failed while printing; the card is in the reject box
    HELD = "HELD"  # failed and could not be rejected; the card is inside


@dataclass(frozen=True, slots=True)
class JobStatus:
    job_id: str
    state: JobState
    why: str = ""

    def encode(self) -> str:
        return (
            ":".join((self.job_id, self.state, self.why))
            if self.why
            else (f"{self.job_id}:{self.state}")
        )


def parse_job_status(reply: Reply) -> JobStatus:
    parts = reply.value.split(":", 2)
    try:
        state = JobState(parts[1])
    except (IndexError, ValueError):
        raise RemoteProtocolError(f"job reply not understood: {reply.value!r}") from None
    return JobStatus(parts[0], state, parts[2] if len(parts) == 3 else "")


def parse_int(reply: Reply) -> int:
    try:
        return int(reply.value.strip())
    except ValueError:
        raise RemoteProtocolError(f"{reply.key} reply is not a number: {reply.value!r}") from None
