"""Topic names, all under ``{root}/{station}/`` except a pool's shared job stream.

A pool's jobs are published by the registry to ``{root}/pools/{pool}/jobs``;
each station of the pool subscribes ``$share/{pool}/{root}/pools/{pool}/jobs``,
so the broker hands each job to exactly one of them. The pool topic is not
under any station id because no one station owns it. Every station also
takes jobs addressed to it alone on ``{root}/{station}/jobs`` (re-sends of a
job after a station's receipt, jobs for a station's own queue).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    name: str
    address: str
    message: str
    inbound: bool
    retain: bool
    operation: str
    summary: str
    description: str


CHANNELS: tuple[Channel, ...] = (
    Channel("jobs", "{root}/{station}/jobs", "job", True, False, "receiveJob",
            "A signed job for this station.",
            "Jobs addressed to one station. QoS 1; the station sends PUBACK only after "
            "the job (or its rejection) is committed."),
    Channel("poolJobs", "{root}/pools/{pool}/jobs", "job", True, False, "receivePoolJob",
            "A signed job for any station of the pool.",
            "Subscribed as `$share/{pool}/{root}/pools/{pool}/jobs`: each job goes to one "
            "station of the pool."),
    Channel("commands", "{root}/{station}/cmd/{command}", "command", True, False,
            "receiveCommand", "A signed command.",
            "cancel, pause, resume, drain, inventory. The name in the topic must match the "
            "message's `command`."),
    Channel("receipts", "{root}/{station}/receipts", "receipt", False, False, "sendReceipt",
            "Accepted or rejected, for every job message received.",
            "Through the durable outbox, with `seq`."),
    Channel("results", "{root}/{station}/results", "result", False, False, "sendResult",
            "The outcome of an accepted job.", "Through the durable outbox, with `seq`."),
    Channel("events", "{root}/{station}/events", "event", False, False, "sendEvent",
            "Faults, stock warnings and other happenings.",
            "Through the durable outbox, with `seq`."),
    Channel("replies", "{root}/{station}/replies", "reply", False, False, "sendReply",
            "The answer to a command, with its correlation id.",
            "Through the durable outbox, with `seq`."),
    Channel("inventory", "{root}/{station}/inventory", "inventory", False, True,
            "sendInventory", "Blank stock per batch and per printer; ribbon prints left.",
            "Retained; through the durable outbox, with `seq`."),
    Channel("status", "{root}/{station}/status", "status", False, True, "sendStatus",
            "online / paused / draining / offline.",
            "Retained; re-published on every connect; the last will publishes `offline`."),
    Channel("credit", "{root}/{station}/credit", "credit", False, True, "sendCredit",
            "How many more jobs the station takes now.",
            "Retained; published on change and periodically. The registry sends no more "
            "jobs than the credit allows."),
)  # fmt: skip


@dataclass(frozen=True)
class Topics:
    root: str
    station: str
    pool: str | None = None

    def station_topic(self, suffix: str) -> str:
        return f"{self.root}/{self.station}/{suffix}"

    @property
    def jobs(self) -> str:
        return self.station_topic("jobs")

    @property
    def pool_jobs(self) -> str | None:
        return None if self.pool is None else f"{self.root}/pools/{self.pool}/jobs"

    @property
    def pool_subscription(self) -> str | None:
        return None if self.pool is None else f"$share/{self.pool}/{self.pool_jobs}"

    @property
    def commands(self) -> str:
        return self.station_topic("cmd/+")

    def command_name(self, topic: str) -> str | None:
        prefix = self.station_topic("cmd/")
        return topic[len(prefix) :] if topic.startswith(prefix) else None

    def is_job_topic(self, topic: str) -> bool:
        return topic in (self.jobs, self.pool_jobs)
