"""A station link in its own process, for kill -9 tests.

Usage: python station_proc.py CONFIG_JSON [--die-before-ack]

With --die-before-ack the process SIGKILLs itself at the first PUBACK it is
about to send, i.e. after the batch is committed and before the broker hears
of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiomqtt

from printd.config import Settings
from printd.messages import CommandMessage
from printd.mqtt import manual_ack
from printd.mqtt.link import CommandResult, RegistryLink
from printd.signing import Signer, Verifier
from printd.store import Store


class _NoCommands:
    async def handle(self, command: CommandMessage) -> CommandResult:
        return CommandResult(ok=True)


def _die(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(config: dict[str, object], die_before_ack: bool) -> None:
    settings = Settings.model_validate(config["settings"])
    if die_before_ack:
        manual_ack.ack = _die
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
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), "--die-before-ack" in sys.argv))
