"""The simulator's control API: JSON lines over a unix socket or loopback TCP.

Kept apart from the printer's command channel, as a technician's hands are:
load blanks, cause and clear faults, look into the bins. One request per
line, one answer per line: ``{"op": "fault", "name": "jam"}`` ->
``{"ok": true}``; failures answer ``{"ok": false, "error": "..."}`` and change
nothing. Addresses are ``unix:/path/to/socket`` or ``tcp:127.0.0.1:PORT``.

:class:`ControlClient` is the synchronous client for tests and the command
line; :class:`ControlChipEncoder` lets a driver in another process encode the
simulated card's chip.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import socket
from typing import Any

from drivers.base import ChipError
from simulators.machine import Card, Fault, Machine, MachineError, Position, expand_serials

MAX_LINE = 1 << 20


class ControlError(Exception):
    """The simulator refused a control request (or could not be reached)."""


def parse_address(address: str) -> tuple[str, str, int]:
    """``unix:PATH`` -> ("unix", PATH, 0); ``tcp:HOST:PORT`` -> ("tcp", HOST, PORT)."""
    kind, _, rest = address.partition(":")
    if kind == "unix" and rest:
        return "unix", rest, 0
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            return "tcp", host, int(port)
    raise ControlError(f"control address must be unix:PATH or tcp:HOST:PORT, got {address!r}")


class ControlHandler:
    """Answers control requests against one machine (no I/O here)."""

    def __init__(self, machine: Machine, link: list[str] | None = None) -> None:
        self.machine = machine
        self.link = link if link is not None else []

    def handle(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": "a request is an object with an 'op'"}
        try:
            return {"ok": True, **self._dispatch(request)}
        except (ValueError, KeyError, TypeError, MachineError, IndexError) as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    def _dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        m = self.machine
        op = request["op"]
        if op == "state":
            return {"state": m.snapshot(), "pty": self.link[0] if self.link else None}
        if op == "load":
            serials = request.get("serials")
            if serials is None:
                serials = expand_serials(str(request["range"]))
            if not isinstance(serials, list) or not all(isinstance(s, str) for s in serials):
                raise ValueError("serials must be a list of strings")
            m.load(serials)
            return {"feeder": len(m.feeder)}
        if op == "fault":
            args = request.get("args") or {}
            if not isinstance(args, dict):
                raise ValueError("args must be an object")
            m.inject(Fault(request["name"]), **args)
            return {}
        if op == "clear":
            name = request.get("name")
            m.clear(Fault(name) if name else None)
            return {}
        if op == "remove_card":
            return {"serial": m.remove_card()}
        if op == "chip_write":
            want = Position(request.get("station", "contact"))
            if m.position is not want:
                raise ValueError(f"no card parked at the {want} station")
            return {"uid": m.write_chip(bytes.fromhex(str(request["data"])))}
        if op == "chip_read":
            uid, data = m.read_chip()
            return {"uid": uid, "data": data.hex() if data is not None else None}
        if op == "picture":
            return {"png": _picture(m, request)}
        raise ValueError(f"unknown op {op!r}")


def _picture(machine: Machine, request: dict[str, Any]) -> str:
    bins: dict[str, list[Card]] = {"output": machine.output, "reject": machine.reject}
    card = bins[str(request.get("bin", "output"))][int(request.get("index", -1))]
    panels = card.sides[str(request.get("side", "front"))]
    wanted = str(request["panel"])
    for panel in panels:
        if panel.panel == wanted:
            buffer = io.BytesIO()
            panel.image().save(buffer, format="PNG")
            return base64.b64encode(buffer.getvalue()).decode("ascii")
    raise KeyError(f"no {wanted!r} panel on that side")


class ControlServer:
    def __init__(self, handler: ControlHandler, address: str) -> None:
        self.handler = handler
        self.address = address
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        kind, host, port = parse_address(self.address)
        if kind == "unix":
            self._server = await asyncio.start_unix_server(self._client, path=host, limit=MAX_LINE)
        else:
            self._server = await asyncio.start_server(self._client, host, port, limit=MAX_LINE)
            bound = self._server.sockets[0].getsockname()
            self.address = f"tcp:{bound[0]}:{bound[1]}"
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                except json.JSONDecodeError as exc:
                    answer: dict[str, Any] = {"ok": False, "error": f"not JSON: {exc}"}
                else:
                    answer = self.handler.handle(request)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()


class ControlClient:
    """Talk to a running simulator's control API (one connection per call)."""

    def __init__(self, address: str, timeout_s: float = 10.0) -> None:
        parse_address(address)
        self.address = address
        self.timeout_s = timeout_s

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        kind, host, port = parse_address(self.address)
        try:
            if kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout_s)
                sock.connect(host)
            else:
                sock = socket.create_connection((host, port), timeout=self.timeout_s)
            with sock, sock.makefile("rwb") as stream:
                stream.write(json.dumps({"op": op, **fields}).encode() + b"\n")
                stream.flush()
                line = stream.readline(MAX_LINE * 8)
        except OSError as exc:
            raise ControlError(f"cannot reach simulator at {self.address}: {exc}") from exc
        if not line:
            raise ControlError("simulator closed the control connection")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise ControlError(str(answer.get("error")))
        return answer

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.call("state")["state"]
        return state

    def pty_path(self) -> str | None:
        path: str | None = self.call("state")["pty"]
        return path

    def load(self, serials: list[str] | str) -> int:
        if isinstance(serials, str):
            answer = self.call("load", range=serials)
        else:
            answer = self.call("load", serials=serials)
        return int(answer["feeder"])

    def inject(self, fault: Fault | str, **args: Any) -> None:
        self.call("fault", name=str(Fault(fault)), args=args)

    def clear(self, fault: Fault | str | None = None) -> None:
        self.call("clear", name=str(Fault(fault)) if fault is not None else None)

    def remove_card(self) -> str | None:
        """Take out a card left inside the printer (it goes to the reject bin)."""
        serial = self.call("remove_card")["serial"]
        return None if serial is None else str(serial)

    def picture_png(
        self, panel: str, side: str = "front", bin: str = "output", index: int = -1
    ) -> bytes:
        answer = self.call("picture", panel=panel, side=side, bin=bin, index=index)
        return base64.b64decode(answer["png"])


class ControlChipEncoder:
    """A chip encoder for a simulator in another process, via its control API."""

    def __init__(self, address: str) -> None:
        self.client = ControlClient(address)

    async def encode(self, station: str, data: bytes) -> str:
        try:
            answer = await asyncio.to_thread(
                self.client.call, "chip_write", station=station, data=data.hex()
            )
        except ControlError as exc:
            raise ChipError(str(exc)) from exc
        return str(answer["uid"])
