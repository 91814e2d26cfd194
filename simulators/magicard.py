"""A software Magicard printer: the production codec in front of the machine model.

Bytes go in through :meth:`MagicardPrinter.receive_data`; :meth:`next_response`
hands back, per request or job step, how long it takes and the reply bytes
(None when there is nothing to say: jobs get no reply, a silent or unpowered
printer says nothing). No I/O here: ``simulators.serve`` moves the bytes.
"""

from __future__ import annotations

from drivers.evolis.panels import DecodedPanel
from drivers.magicard.panels import ArtworkError, decode_overlay, decode_plane
from drivers.magicard.protocol import (
    ERROR_KEY,
    JOB_KEY,
    PANELS_PER_PRINT,
    BadInput,
    Condition,
    JobEnd,
    JobHeader,
    JobState,
    JobStatus,
    Plane,
    PrinterEvent,
    Reply,
    Request,
    RequestParser,
    encode_conditions,
)
from simulators.machine import Machine, MachineError, Position, PowerCut, Step, Trouble
from simulators.serve import Response

FEED_TROUBLE: dict[Trouble, tuple[JobState, str]] = {
    Trouble.DOUBLE_FEED: (JobState.MISFEED, "DOUBLE FEED"),
    Trouble.CARD_JAM: (JobState.JAMMED, "CARD JAM"),
    Trouble.NO_PICK: (JobState.NOT_FED, "FEED FAILED"),
    Trouble.FEEDER_EMPTY: (JobState.NOT_FED, "NO CARDS"),
}

TROUBLE_WORDS: dict[Trouble, str] = {
    Trouble.COVER_OPEN: "LID OPEN",
    Trouble.CARD_JAM: "CARD JAM",
    Trouble.RIBBON_OUT: "DYE FILM END",
    Trouble.REJECT_BIN_FULL: "REJECT FULL",
    Trouble.FEEDER_EMPTY: "NO CARDS",
    Trouble.NO_CARD: "NO CARD",
}


class MagicardPrinter:
    family = "magicard"

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.parser = RequestParser()
        self.last = JobStatus("00000000", JobState.NONE)
        self.header: JobHeader | None = None
        self.discarding = False
        self.panels: list[DecodedPanel] = []
        self.requests_seen: list[str] = []

    def receive_data(self, data: bytes) -> None:
        if not self.machine.powered:
            # No power: bytes fall on the floor, and a half-read job is forgotten.
            self.parser = RequestParser()
            self.header = None
            return
        self.parser.receive_data(data)

    def next_response(self) -> Response | None:
        while (event := self.parser.next_event()) is not None:
            if not self.machine.powered or self.machine.faults.silent:
                continue
            response = self._handle(event)
            if response is not None:
                return response
        return None

    def _handle(self, event: PrinterEvent) -> Response | None:
        if isinstance(event, Request):
            return self._request(event)
        if isinstance(event, JobHeader):
            return self._start_job(event)
        if isinstance(event, Plane):
            self._plane(event)
            return None
        if isinstance(event, JobEnd):
            return self._finish_job()
        return self._bad_input(event)

    # ------------------------------------------------------------ queries

    def _request(self, request: Request) -> Response | None:
        self.requests_seen.append(",".join(request.words))
        key = request.status_key
        if key is None:
            return None  # simple commands (RST, EJT...) get no answer
        reply = Reply(key, self._value(key)).encode()
        garbage = self.machine.take_garbage() if self.machine.faults.garbage_bytes else b""
        return Response(self.machine.delay(Step.QUERY), garbage + reply)

    def _value(self, key: str) -> str:
        m = self.machine
        if key == "MSR":
            return m.serial_number
        if key == "VRS":
            return "SIM 1.0"
        if key == "MDL":
            return "0"
        if key == "TCQ":
            return str(len(m.output) + len(m.reject))
        if key == "DFR":
            return "0" if m.ribbon_out else str(max(m.ribbon_left, 0) * PANELS_PER_PRINT)
        if key == ERROR_KEY:
            return encode_conditions(self.conditions())
        if key == JOB_KEY:
            return self.last.encode()
        return "UNKNOWN"

    def conditions(self) -> list[Condition]:
        m = self.machine
        found = []
        if m.cover_open:
            found.append(Condition.LID_OPEN)
        if m.jammed:
            found.append(Condition.CARD_JAM)
        if m.ribbon_out:
            found.append(Condition.DYE_FILM_END)
        if m.reject_full:
            found.append(Condition.REJECT_FULL)
        if m.feeder_empty:
            found.append(Condition.NO_CARDS)
        if m.card is not None and not m.jammed:
            found.append(Condition.BUSY)
        return found

    # --------------------------------------------------------------- jobs

    def _start_job(self, header: JobHeader) -> Response | None:
        m = self.machine
        job_id = header.get("TDT") or "00000000"
        self.header, self.panels, self.discarding = header, [], False
        self.last = JobStatus(job_id, JobState.PRINTING)
        trouble = m.blocking_trouble()
        if trouble is not None:
            return self._end(JobState.NOT_FED, TROUBLE_WORDS.get(trouble, str(trouble)))
        try:
            fed = m.feed(Position.PRINT)
        except MachineError as exc:
            state, why = FEED_TROUBLE.get(exc.trouble, (JobState.NOT_FED, str(exc.trouble)))
            return self._end(state, why, m.delay(Step.FEED))
        return Response(m.delay(Step.FEED) * fed, None)

    def _plane(self, plane: Plane) -> None:
        if self.header is None or self.discarding:
            return
        try:
            self.panels.append(decode_plane(plane))
        except ArtworkError:
            self._fail_card("DATA ERROR")

    def _finish_job(self) -> Response | None:
        m = self.machine
        header = self.header
        if header is None or self.discarding:
            return None
        try:
            panels = [*self.panels, decode_overlay(header)]
        except (ArtworkError, ValueError):
            return self._fail_card("DATA ERROR")
        self.panels = []
        delay = m.delay(Step.PRINT_PANEL, len(panels))
        try:
            m.print_side("front", panels)
        except PowerCut:
            return Response(delay, None)
        except MachineError as exc:
            return self._fail_card(TROUBLE_WORDS.get(exc.trouble, str(exc.trouble)), delay)
        self.header = None
        try:
            m.eject()
        except MachineError as exc:
            return self._end(JobState.HELD, TROUBLE_WORDS.get(exc.trouble, str(exc.trouble)))
        return self._end(JobState.DONE, "", delay + m.delay(Step.EJECT))

    def _bad_input(self, event: BadInput) -> Response | None:
        if self.header is not None:
            return self._fail_card("DATA ERROR")
        return None

    def _fail_card(self, why: str, delay: float = 0.0) -> Response:
        """The card inside failed: to the reject box if the job asked so (REJON)."""
        m = self.machine
        header, self.header = self.header, None
        rejecting = header is None or header.get("REJ") != "OFF"
        if m.card is None:
            return self._end(JobState.NOT_FED, why, delay)
        if rejecting:
            try:
                m.reject_card(why.lower())
            except MachineError as exc:
                return self._end(JobState.HELD, f"{why}; {TROUBLE_WORDS.get(exc.trouble, '')}")
            return self._end(JobState.REJECTED, why, delay + m.delay(Step.REJECT))
        return self._end(JobState.HELD, why, delay)

    def _end(self, state: JobState, why: str, delay: float = 0.0) -> Response:
        self.discarding = True
        self.last = JobStatus(self.last.job_id, state, why)
        return Response(delay, None)
