"""A station link in its own process, for kill -9 tests.

Usage: python station_proc.py CONFIG_JSON [--die-before-ack | --die-before-settle]

With --die-before-ack the process SIGKILLs itself at the first PUBACK it is
about to send, i.e. after the batch is committed as received and before the
broker hears of it. With --die-before-settle it SIGKILLs itself once the
PUBACKs are out and the checks are done, just before their outcome commits.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt

from printd.config import Settings
from printd.messages import CommandMessage
from printd.mqtt import intake, manual_ack
from printd.mqtt.link import CommandResult, RegistryLink
from printd.signing import Signer, Verifier
from printd.store import Store


class _NoCommands:
    async def handle(self, command: CommandMessage) -> CommandResult:
        return CommandResult(ok=True)


def _die(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _die_in_settle(*args: Any) -> None:
    time.sleep(0.5)  # the PUBACKs were queued just before: let the loop send them
    os.kill(os.getpid(), signal.SIGKILL)


async def main(config: dict[str, object], flags: list[str]) -> None:
    settings = Settings.model_validate(config["settings"])
    if "--die-before-ack" in flags:
        manual_ack.ack = _die
    if "--die-before-settle" in flags:
        intake.settle_verdicts = _die_in_settle
    store = Store.open(settings.station.state_dir, daemon=True)
    link = RegistryLink(
        settings,
        store,
        signer=Signer.from_file(Path(str(config["station_key"]))),
        verifier=Verifier.from_b64(settings.signing.registry_keys),
        credit=lambda: 100,
        commands=_NoCommands(),
    )
    await link.run()


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2:]))
