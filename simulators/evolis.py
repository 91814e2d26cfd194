"""A software Evolis printer: the production codec in front of the machine model.

Bytes go in through :meth:`EvolisPrinter.receive_data`; :meth:`next_response`
hands back, per command, how long the step takes and the reply bytes (None
when the printer is silent or has no power). No I/O here: ``simulators.serve``
moves the bytes.
"""

from __future__ import annotations

from drivers.evolis.panels import ArtworkError, DecodedPanel, decode_panel
from drivers.evolis.protocol import ERROR_REPLY, Command, CommandParser, ErrorKind
from simulators.machine import Machine, MachineError, Position, PowerCut, Step, Trouble
from simulators.serve import Response

TROUBLE_REPLY: dict[Trouble, ErrorKind] = {
    Trouble.COVER_OPEN: ErrorKind.COVER_OPEN,
    Trouble.FEEDER_EMPTY: ErrorKind.FEEDER_EMPTY,
    Trouble.NO_PICK: ErrorKind.FEEDER,
    Trouble.DOUBLE_FEED: ErrorKind.DOUBLE_FEED,
    Trouble.RIBBON_OUT: ErrorKind.RIBBON_OUT,
    Trouble.CARD_JAM: ErrorKind.CARD_JAM,
    Trouble.REJECT_BIN_FULL: ErrorKind.REJECT_BIN_FULL,
    Trouble.NO_CARD: ErrorKind.NO_CARD,
    Trouble.CARD_INSIDE: ErrorKind.BUSY,
    Trouble.CHIP_FAIL: ErrorKind.UNKNOWN,
}

POSITION_REPLY = {
    Position.NONE: "NO CARD",
    Position.PRINT: "CARD",
    Position.CONTACT: "SMART CARD",
    Position.CONTACTLESS: "CONTACTLESS CARD",
}


class EvolisPrinter:
    family = "evolis"

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.parser = CommandParser()
        self.ribbon_type = "ymcko"
        self.in_sequence = False
        self.side = "front"
        self.pending: list[DecodedPanel] = []
        self.commands_seen: list[str] = []

    def receive_data(self, data: bytes) -> None:
        if not self.machine.powered:
            return  # no power: bytes fall on the floor
        self.parser.receive_data(data)

    def next_response(self) -> Response | None:
        error = self.parser.next_error()
        if error is not None:
            return self._reply(0.0, ERROR_REPLY[ErrorKind.PARAMETER])
        command = self.parser.next_command()
        if command is None:
            return None
        if not self.machine.powered or self.machine.faults.silent:
            return Response(0.0, None)
        self.commands_seen.append(command.name)
        try:
            delay, text = self._handle(command)
        except MachineError as exc:
            return self._reply(
                self.machine.delay(Step.FEED), ERROR_REPLY[TROUBLE_REPLY[exc.trouble]]
            )
        except PowerCut:
            # The printer's memory goes with the power: commands it had
            # buffered but not yet run, and a download half received.
            self.in_sequence = False
            self.pending = []
            self.parser = CommandParser()
            return Response(self.machine.delay(Step.PRINT_PANEL), None)
        return self._reply(delay, text)

    def _reply(self, delay: float, text: str) -> Response:
        garbage = self.machine.take_garbage() if self.machine.faults.garbage_bytes else b""
        return Response(delay, garbage + text.encode("ascii") + b"\r")

    # ---------------------------------------------------------- commands

    def _handle(self, command: Command) -> tuple[float, str]:
        m = self.machine
        name, params = command.name, command.params
        quick = m.delay(Step.QUERY)
        if name.startswith("R"):
            return quick, self._read(name, params)
        if name == "Pr":
            if not params or not params[0].isalpha():
                return quick, ERROR_REPLY[ErrorKind.PARAMETER]
            self.ribbon_type = params[0].lower()
            return quick, "OK"
        if name[0] in "PAMW":
            return quick, "OK"  # settings and adjustments the model ignores
        if name == "Ss":
            trouble = m.blocking_trouble()
            if trouble is not None:
                raise MachineError(trouble)
            self.in_sequence, self.side, self.pending = True, "front", []
            return quick, "OK"
        if name in ("Si", "Sis", "Sic"):
            to = {"Si": Position.PRINT, "Sis": Position.CONTACT, "Sic": Position.CONTACTLESS}[name]
            fed = m.feed(to)
            step = Step.CHIP_PARK if to is not Position.PRINT else Step.FEED
            return m.delay(step) * max(fed, 1), "OK"
        if name == "Sr":
            return quick + self._flush_side(), self._set_side("front")
        if name == "Sv":
            return quick + self._flush_side(), self._set_side("back")
        if name in ("Db", "Dbc"):
            delay = 0.0
            if m.card is None:
                delay += m.delay(Step.FEED) * m.feed(Position.PRINT)
            try:
                self.pending.append(decode_panel(command))
            except (ArtworkError, ValueError):
                return quick, ERROR_REPLY[ErrorKind.PARAMETER]
            return delay + quick, "OK"
        if name == "Se":
            delay = self._flush_side()
            m.eject()
            self.in_sequence = False
            return delay + m.delay(Step.EJECT), "OK"
        if name == "Ser":
            self.pending = []
            m.reject_card("rejected by host")
            self.in_sequence = False
            return m.delay(Step.REJECT), "OK"
        if name == "Srs":
            self.in_sequence, self.pending = False, []
            return quick, "OK"
        return quick, ERROR_REPLY[ErrorKind.COMMAND]

    def _set_side(self, side: str) -> str:
        self.side = side
        return "OK"

    def _flush_side(self) -> float:
        """Print the panels downloaded for the current side, if any."""
        if not self.pending:
            return 0.0
        panels, self.pending = self.pending, []
        self.machine.print_side(self.side, panels)
        return self.machine.delay(Step.PRINT_PANEL, len(panels))

    def _read(self, name: str, params: tuple[str, ...]) -> str:
        m = self.machine
        first = params[0] if params else ""
        if name == "Rtp":
            return m.model
        if name == "Rsn":
            return m.serial_number
        if name == "Rfv":
            return "SIM 1.0"
        if name == "Rr":
            return self.ribbon_type.upper()
        if name == "Rrt":
            return str(max(m.ribbon_left, 0) if not m.ribbon_out else 0)
        if name == "Rco":
            return str(m.cards_fed) if first in ("c", "") else "0"
        if name == "Rse":
            if first == "o":
                return "0.00" if m.cover_open else "4.80"
            if first in ("f", "m"):
                return "0.00" if m.feeder_empty else "4.75"
            if first == "p":
                return "4.70" if m.card is not None else "0.00"
            return ERROR_REPLY[ErrorKind.PARAMETER]
        if name == "Rlr":
            if first == "p":
                return POSITION_REPLY[m.position]
            trouble = m.blocking_trouble()
            return ERROR_REPLY[TROUBLE_REPLY[trouble]] if trouble else "OK"
        return ERROR_REPLY[ErrorKind.COMMAND]
