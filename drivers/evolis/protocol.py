"""The Evolis escape-command protocol as pure data: no I/O, no clocks.

Both ends live here, h11 style: :class:`HostConnection` is what a driver uses
(``send(command) -> bytes``, ``receive_data(bytes)``, ``next_reply()``) and
:class:`CommandParser` is what a printer (the simulator) uses to cut a byte
stream back into commands. Framing is ``ESC name;p1;p2 CR``; panel downloads
(``Db`` and ``Dbc``) carry binary data that may itself contain ESC and CR, so
they are read by length, never by terminator.

Replies are printable text ended by CR (a NUL may follow on some links). Each
command gets exactly one reply: ``OK``, a value, or text starting ``ERR``.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

ESC = 0x1B
CR = 0x0D
NUL = 0x00

PANEL_LINES = 1016
PANEL_LINE_PIXELS = 648

# Bytes of an uncompressed panel for each number of grey levels (bits/pixel).
PANEL_BYTES_BY_LEVELS = {
    2: PANEL_LINE_PIXELS * PANEL_LINES // 8,
    32: PANEL_LINE_PIXELS * PANEL_LINES * 5 // 8,
    64: PANEL_LINE_PIXELS * PANEL_LINES * 6 // 8,
    128: PANEL_LINE_PIXELS * PANEL_LINES * 7 // 8,
}
PANELS = ("y", "m", "c", "k", "o")

# A text command longer than this without its CR is line noise, not a command.
MAX_TEXT_COMMAND = 512
# A reply longer than this without its CR is noise; keep the tail only.
MAX_REPLY = 256
# The largest compressed panel a printer accepts (never more than raw 8 bits).
MAX_COMPRESSED_PANEL = PANEL_LINE_PIXELS * PANEL_LINES * 2


class EvolisProtocolError(Exception):
    """Bytes or a command that the protocol does not allow."""


class LocalProtocolError(EvolisProtocolError):
    """We were asked to send something the protocol cannot express."""


class RemoteProtocolError(EvolisProtocolError):
    """The other end sent something the protocol does not allow."""


@dataclass(frozen=True, slots=True)
class Command:
    """One escape command: ``name`` and text ``params``, plus panel ``data``."""

    name: str
    params: tuple[str, ...] = ()
    data: bytes = b""

    def encode(self) -> bytes:
        if not self.name.isascii() or not self.name.isalpha():
            raise LocalProtocolError(f"command name must be ASCII letters: {self.name!r}")
        for p in self.params:
            if not p.isascii() or any(ch in p for ch in ";\r\x1b"):
                raise LocalProtocolError(f"bad parameter for {self.name}: {p!r}")
        if self.name == "Db" and self.data:
            _check_db(self.params, len(self.data))
        if self.name == "Dbc" and self.data:
            _check_dbc(self.params, len(self.data))
        head = ";".join((self.name, *self.params)).encode("ascii")
        if self.data:
            return b"\x1b" + head + b";" + self.data + b"\r"
        return b"\x1b" + head + b"\r"

    def __repr__(self) -> str:
        # Panel data is large and may carry personal images: never print it.
        extra = f", data=<{len(self.data)} bytes>" if self.data else ""
        return f"Command({self.name!r}, {self.params!r}{extra})"


@dataclass(frozen=True, slots=True)
class Stream:
    """Commands encoded once and sent as they are: their names, in order
    (each is answered by one reply), and their bytes.

    A card's panel downloads are encoded where the card is prepared, in a
    worker process, and a driver's fixed commands when it is imported; the
    printer's link then only writes bytes.
    """

    names: tuple[str, ...]
    data: bytes

    @classmethod
    def of(cls, commands: Iterable[Command]) -> Stream:
        """Encode ``commands``; raises :class:`LocalProtocolError` if any cannot be."""
        commands = tuple(commands)
        return cls(
            tuple(command.name for command in commands),
            b"".join([command.encode() for command in commands]),
        )

    def __repr__(self) -> str:
        # The bytes carry panel images: never print them.
        return f"Stream({'+'.join(self.names)}, <{len(self.data)} bytes>)"


def _levels(text: str) -> int:
    try:
        levels = int(text)
    except ValueError:
        raise LocalProtocolError(f"panel levels must be a number: {text!r}") from None
    if levels not in PANEL_BYTES_BY_LEVELS:
        raise LocalProtocolError(f"unsupported panel levels: {levels}")
    return levels


def _check_db(params: tuple[str, ...], size: int) -> None:
    if len(params) != 2 or params[0] not in PANELS:
        raise LocalProtocolError(f"Db takes panel;levels, got {params!r}")
    want = PANEL_BYTES_BY_LEVELS[_levels(params[1])]
    if size != want:
        raise LocalProtocolError(f"Db;{params[1]} needs {want} bytes, got {size}")


def _check_dbc(params: tuple[str, ...], size: int) -> None:
    if len(params) != 3 or params[0] not in PANELS:
        raise LocalProtocolError(f"Dbc takes panel;levels;nbytes, got {params!r}")
    _levels(params[1])
    if params[2] != str(size):
        raise LocalProtocolError(f"Dbc announces {params[2]} bytes but carries {size}")


def db(panel: str, levels: int, data: bytes) -> Command:
    """Download one uncompressed panel."""
    return Command("Db", (panel, str(levels)), data)


def dbc(panel: str, levels: int, data: bytes) -> Command:
    """Download one compressed panel (``Dbc;panel;levels;nbytes;data``)."""
    return Command("Dbc", (panel, str(levels), str(len(data))), data)


# ---------------------------------------------------------------- replies


class ErrorKind(enum.StrEnum):
    """What an ``ERR ...`` reply says went wrong, in this codec's vocabulary."""

    COMMAND = "command"
    PARAMETER = "parameter"
    COVER_OPEN = "cover_open"
    FEEDER_EMPTY = "feeder_empty"
    FEEDER = "feeder"  # a pick failed: no card taken
    DOUBLE_FEED = "double_feed"
    RIBBON_OUT = "ribbon_out"
    CARD_JAM = "card_jam"
    REJECT_BIN_FULL = "reject_bin_full"
    NO_CARD = "no_card"
    BUSY = "busy"
    UNKNOWN = "unknown"


# Reply texts, most specific first; the first one contained in a reply wins.
ERROR_TEXTS: tuple[tuple[str, ErrorKind], ...] = (
    ("ERROR CDE", ErrorKind.COMMAND),
    ("ERR CDE", ErrorKind.COMMAND),
    ("ERR PARAM", ErrorKind.PARAMETER),
    ("ERR COVER", ErrorKind.COVER_OPEN),
    ("ERR FEEDER EMPTY", ErrorKind.FEEDER_EMPTY),
    ("ERR DOUBLE FEED", ErrorKind.DOUBLE_FEED),
    ("ERR FEEDER", ErrorKind.FEEDER),
    ("ERR RIBBON", ErrorKind.RIBBON_OUT),
    ("ERR CARD JAM", ErrorKind.CARD_JAM),
    ("ERR MECHANICAL", ErrorKind.CARD_JAM),
    ("ERR REJECT", ErrorKind.REJECT_BIN_FULL),
    ("ERR NO CARD", ErrorKind.NO_CARD),
    ("ERR BUSY", ErrorKind.BUSY),
)

# What the simulator (and this codec's encoders) say for each kind.
ERROR_REPLY: dict[ErrorKind, str] = {
    ErrorKind.COMMAND: "ERROR CDE",
    ErrorKind.PARAMETER: "ERR PARAM",
    ErrorKind.COVER_OPEN: "ERR COVER OPEN",
    ErrorKind.FEEDER_EMPTY: "ERR FEEDER EMPTY",
    ErrorKind.FEEDER: "ERR FEEDER",
    ErrorKind.DOUBLE_FEED: "ERR DOUBLE FEED",
    ErrorKind.RIBBON_OUT: "ERR RIBBON ENDED",
    ErrorKind.CARD_JAM: "ERR CARD JAM",
    ErrorKind.REJECT_BIN_FULL: "ERR REJECT BOX FULL",
    ErrorKind.NO_CARD: "ERR NO CARD",
    ErrorKind.BUSY: "ERR BUSY",
    ErrorKind.UNKNOWN: "ERR",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply line from the printer, without its terminator."""

    text: str

    @property
    def ok(self) -> bool:
        return self.text == "OK"

    @property
    def error(self) -> ErrorKind | None:
        if not self.text.startswith("ERR"):
            return None
        for prefix, kind in ERROR_TEXTS:
            if self.text.startswith(prefix):
                return kind
        return ErrorKind.UNKNOWN

    def encode(self) -> bytes:
        if not self.text.isascii() or not self.text.isprintable():
            raise LocalProtocolError(f"a reply is printable ASCII: {self.text!r}")
        return self.text.encode("ascii") + b"\r"


# One or more replies, each ended by its CR, with no noise and none too long.
_WHOLE_REPLIES = re.compile(rb"(?:[\x20-\x7e]{0,%d}\r)+" % MAX_REPLY)


def _printable(byte: int) -> bool:
    return 0x20 <= byte <= 0x7E


class ReplyParser:
    """Cuts the printer's byte stream into replies and drops line noise.

    A reply is the printable ASCII run that ends at a CR (or NUL). Bytes that
    are not printable ASCII cannot be part of a reply, so anything before the
    last of them on a line is noise and is counted in ``discarded``.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._replies: deque[Reply] = deque()
        self.discarded = 0

    def receive_data(self, data: bytes) -> None:
        if not self._buffer and _WHOLE_REPLIES.fullmatch(data):
            # What a printer almost always sends: whole replies, nothing else.
            self._replies.extend(
                Reply(line.decode("ascii")) for line in data[:-1].split(b"\r") if line
            )
            return
        for byte in data:
            if byte in (CR, NUL):
                if self._buffer:
                    self._replies.append(Reply(self._buffer.decode("ascii")))
                    self._buffer.clear()
            elif _printable(byte):
                self._buffer.append(byte)
                if len(self._buffer) > MAX_REPLY:
                    self.discarded += 1
                    del self._buffer[0]
            else:
                self.discarded += len(self._buffer) + 1
                self._buffer.clear()

    def next_reply(self) -> Reply | None:
        return self._replies.popleft() if self._replies else None

    def clear(self) -> None:
        """Forget partial input (after a timeout, the next reply starts afresh)."""
        self.discarded += len(self._buffer) + sum(len(r.text) for r in self._replies)
        self._buffer.clear()
        self._replies.clear()


class HostState(enum.Enum):
    IDLE = "idle"
    AWAITING_REPLY = "awaiting_reply"


class HostConnection:
    """The driver's side: commands sent, each answered by one reply, in order.

    Several commands may be in flight: an Evolis printer buffers a job stream
    and answers its commands one by one, so a side's panels can go out in one
    write. ``next_reply`` hands back the oldest command's reply; ``reset``
    forgets every command in flight after a timeout or a dropped link, and
    anything half-received.
    """

    def __init__(self) -> None:
        self._in_flight: deque[str] = deque()
        self._parser = ReplyParser()

    @property
    def state(self) -> HostState:
        return HostState.AWAITING_REPLY if self._in_flight else HostState.IDLE

    @property
    def in_flight(self) -> str | None:
        """The name of the oldest command still waiting for its reply."""
        return self._in_flight[0] if self._in_flight else None

    @property
    def discarded(self) -> int:
        return self._parser.discarded

    def send(self, command: Command) -> bytes:
        return self.send_stream(Stream.of((command,)))

    def send_all(self, commands: Iterable[Command]) -> bytes:
        """The bytes of ``commands`` in one stream; nothing is in flight if
        any of them cannot be encoded."""
        return self.send_stream(Stream.of(commands))

    def send_stream(self, stream: Stream) -> bytes:
        """The bytes of commands encoded beforehand; each now awaits its reply."""
        self._in_flight.extend(stream.names)
        return stream.data

    def receive_data(self, data: bytes) -> None:
        self._parser.receive_data(data)

    def next_reply(self) -> Reply | None:
        reply = self._parser.next_reply()
        if reply is None:
            return None
        if not self._in_flight:
            # A reply nobody asked for (late answer after a timeout): drop it.
            self._parser.discarded += len(reply.text)
            return None
        self._in_flight.popleft()
        return reply

    def reset(self) -> None:
        self._in_flight.clear()
        self._parser.clear()


# ------------------------------------------------------------ printer side


class _ParseState(enum.Enum):
    SEEK_ESC = "seek_esc"
    HEADER = "header"
    DATA = "data"
    TRAILER = "trailer"


class CommandParser:
    """The printer's side: bytes in, :class:`Command` objects out.

    Bytes outside a command (line noise, NUL padding) are skipped up to the next
    ESC. A text command that runs too long, or is interrupted by a new ESC, is
    dropped and counted in ``discarded``. Panel data is read by its length.
    """

    def __init__(self) -> None:
        self._state = _ParseState.SEEK_ESC
        self._header = bytearray()
        self._data = bytearray()
        self._need = 0
        self._pending_name = ""
        self._pending_params: tuple[str, ...] = ()
        self._commands: deque[Command] = deque()
        self._errors: deque[str] = deque()
        self.discarded = 0

    def receive_data(self, data: bytes) -> None:
        view = memoryview(data)
        i = 0
        n = len(view)
        while i < n:
            if self._state is _ParseState.DATA:
                take = min(self._need - len(self._data), n - i)
                self._data += view[i : i + take]
                i += take
                if len(self._data) == self._need:
                    self._state = _ParseState.TRAILER
                continue
            byte = view[i]
            i += 1
            if self._state is _ParseState.SEEK_ESC:
                if byte == ESC:
                    self._state = _ParseState.HEADER
                    self._header.clear()
                elif byte != NUL:
                    self.discarded += 1
            elif self._state is _ParseState.TRAILER:
                self._finish_data(byte)
            else:
                self._header_byte(byte)

    def _header_byte(self, byte: int) -> None:
        if byte == ESC:
            self.discarded += len(self._header) + 1
            self._header.clear()
            return
        if byte == CR:
            self._finish_text()
            return
        self._header.append(byte)
        if byte == ord(";"):
            self._maybe_start_data()
        if len(self._header) > MAX_TEXT_COMMAND:
            self.discarded += len(self._header) + 1
            self._header.clear()
            self._state = _ParseState.SEEK_ESC

    def _maybe_start_data(self) -> None:
        fields = bytes(self._header[:-1]).split(b";")
        name = fields[0]
        if name == b"Db" and len(fields) == 3:
            levels = _int_or_none(fields[2])
            if levels in PANEL_BYTES_BY_LEVELS and fields[1].decode("latin-1") in PANELS:
                self._start_data("Db", fields, PANEL_BYTES_BY_LEVELS[levels])
            else:
                self._reject_header(f"bad Db header {bytes(self._header)!r}")
        elif name == b"Dbc" and len(fields) == 4:
            levels = _int_or_none(fields[2])
            size = _int_or_none(fields[3])
            if (
                levels in PANEL_BYTES_BY_LEVELS
                and fields[1].decode("latin-1") in PANELS
                and size is not None
                and 0 < size <= MAX_COMPRESSED_PANEL
            ):
                self._start_data("Dbc", fields, size)
            else:
                self._reject_header(f"bad Dbc header {bytes(self._header)!r}")

    def _start_data(self, name: str, fields: list[bytes], size: int) -> None:
        self._pending_name = name
        self._pending_params = tuple(f.decode("ascii") for f in fields[1:])
        self._need = size
        self._data = bytearray()
        self._state = _ParseState.DATA

    def _reject_header(self, why: str) -> None:
        self.discarded += len(self._header)
        self._header.clear()
        self._errors.append(why)
        self._state = _ParseState.SEEK_ESC

    def _finish_data(self, byte: int) -> None:
        self._state = _ParseState.SEEK_ESC
        if byte != CR:
            # The announced length was wrong; the panel cannot be trusted.
            self.discarded += len(self._data) + 1
            self._errors.append(f"{self._pending_name} data not followed by CR")
            if byte == ESC:
                self._state = _ParseState.HEADER
                self._header.clear()
            return
        self._commands.append(Command(self._pending_name, self._pending_params, bytes(self._data)))
        self._data = bytearray()

    def _finish_text(self) -> None:
        self._state = _ParseState.SEEK_ESC
        raw = bytes(self._header)
        self._header.clear()
        if not raw or not all(_printable(b) for b in raw):
            self.discarded += len(raw) + 1
            return
        fields = raw.decode("ascii").split(";")
        if not fields[0].isalpha():
            self.discarded += len(raw) + 1
            return
        self._commands.append(Command(fields[0], tuple(fields[1:])))

    def next_command(self) -> Command | None:
        return self._commands.popleft() if self._commands else None

    def next_error(self) -> str | None:
        """A framing error the printer should answer with an error reply."""
        return self._errors.popleft() if self._errors else None


def _int_or_none(raw: bytes) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


# ----------------------------------------------------- queries and decoders


def query(name: str, *params: str) -> Command:
    return Command(name, params)


def parse_voltage(reply: Reply) -> float:
    """Sensor replies (``Rse``) are volts; 0 V means open or empty."""
    try:
        return float(reply.text.split()[0])
    except (ValueError, IndexError):
        raise RemoteProtocolError(f"sensor reply is not a voltage: {reply.text!r}") from None


def parse_count(reply: Reply) -> int:
    try:
        return int(reply.text.split(";")[0].split()[0])
    except (ValueError, IndexError):
        raise RemoteProtocolError(f"counter reply is not a number: {reply.text!r}") from None


class CardPosition(enum.StrEnum):
    NONE = "none"
    CARD = "card"
    SMART = "smart"
    CONTACTLESS = "contactless"


def parse_card_position(reply: Reply) -> CardPosition:
    """``Rlr;p``: where the card is, if there is one."""
    text = reply.text.upper()
    if text in ("OK", "NO CARD"):
        return CardPosition.NONE
    if text == "SMART CARD":
        return CardPosition.SMART
    if text == "CONTACTLESS CARD":
        return CardPosition.CONTACTLESS
    if text in ("CARD", "ERR CARD"):
        return CardPosition.CARD
    raise RemoteProtocolError(f"card position reply not understood: {reply.text!r}")
