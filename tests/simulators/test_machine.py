"""The machine model on its own: blanks, bins, faults, random faults."""

from __future__ import annotations

import pytest

from simulators.control import ControlHandler
from simulators.machine import Fault, Machine, MachineError, Position, Trouble, expand_serials


def test_blank_ranges_expand_in_order() -> None:
    """A range keeps its prefix and zero padding."""
    assert expand_serials("AB-000098..AB-000101") == [
        "AB-000098",
        "AB-000099",
        "AB-000100",
        "AB-000101",
    ]
    assert expand_serials("X7..9") == ["X7", "X8", "X9"]
    with pytest.raises(ValueError, match="range"):
        expand_serials("AB-5..AB-1")


def test_blanks_come_out_in_loading_order_with_chip_uids() -> None:
    """Feeding takes the first blank loaded; each blank has a distinct UID."""
    machine = Machine()
    machine.load(["S1", "S2"])
    machine.feed(Position.CONTACT)
    uid = machine.write_chip(b"data")
    assert machine.card is not None
    assert machine.card.serial == "S1"
    assert uid == machine.card.chip_uid
    machine.eject()
    machine.feed(Position.PRINT)
    assert machine.card.serial == "S2"
    assert machine.card.chip_uid != uid


def test_seeded_random_faults_repeat() -> None:
    """The same seed and rate strike the same faults at the same cards."""

    def run(seed: int) -> list[str]:
        machine = Machine(seed=seed, fault_rate=0.5)
        machine.load(expand_serials("A001..A040"))
        troubles = []
        for _ in range(20):
            try:
                machine.feed(Position.PRINT)
                machine.eject()
                troubles.append("ok")
            except MachineError as exc:
                troubles.append(str(exc.trouble))
                machine.clear()
        return troubles

    assert run(3) == run(3)
    assert "ok" in run(3)
    assert set(run(3)) != {"ok"}


def test_reject_bin_fills_up() -> None:
    """A full reject bin refuses another card and blocks new sequences."""
    machine = Machine(reject_capacity=1)
    machine.load(["S1", "S2"])
    machine.feed(Position.PRINT)
    machine.reject_card()
    assert machine.blocking_trouble() is Trouble.REJECT_BIN_FULL


def test_control_handler_refuses_bad_requests_without_change() -> None:
    """Malformed control requests answer ok=false and leave the machine alone."""
    machine = Machine()
    handler = ControlHandler(machine)
    before = machine.snapshot()
    for request in (
        [],
        {"op": 3},
        {"op": "fly"},
        {"op": "fault", "name": "meteor"},
        {"op": "fault", "name": "ribbon-out", "args": {"after": -1}},
        {"op": "load", "serials": [1, 2]},
    ):
        assert handler.handle(request)["ok"] is False
    assert machine.snapshot() == before
    assert handler.handle({"op": "fault", "name": str(Fault.COVER_OPEN)})["ok"] is True
    assert machine.cover_open
