"""A registry simulator: signs and sends e-KTP print jobs, checks what comes back.

- :class:`JobFactory` makes realistic, fake Indonesian citizens (deterministic
  for a seed; some urgent) as template-card jobs for the shipped ``ktp-v1``
  template, with a small generated JPEG photo and PNG signature, signed with
  the registry's key (:func:`make_citizen` holds the field set).
- :class:`RegistrySimulator` publishes jobs to a station (or a pool), honours
  the station's credit, re-sends jobs that got no receipt after a timeout
  (covering anything a broker dropped), and collects receipts, results and
  replies, de-duplicating by each station's ``seq``. :meth:`report` checks
  every job was answered, signatures were valid and no blank serial was
  issued twice.

``registry_command`` is the click command (``printd sim registry``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PIL import Image, ImageDraw

from printd.mqtt.link import session_options
from printd.signing import Signer, SigningError, Verifier

TEMPLATE = "ktp-v1"

_FIRST_M = [
    "Budi",
    "Agus",
    "Joko",
    "Slamet",
    "Bambang",
    "Eko",
    "Hadi",
    "Sutrisno",
    "Wahyu",
    "Dwi",
    "Rudi",
    "Imam",
    "Ahmad",
    "Muhammad",
    "Teguh",
    "Suparman",
    "Yusuf",
    "Arif",
]
_FIRST_F = [
    "Siti",
    "Sri",
    "Dewi",
    "Endang",
    "Wulan",
    "Rina",
    "Yuliana",
    "Kartini",
    "Nur",
    "Ayu",
    "Lestari",
    "Ratna",
    "Indah",
    "Sumarni",
    "Tri",
    "Fitri",
    "Anisa",
    "Puji",
]
_LAST = [
    "Santoso",
    "Wibowo",
    "Susanto",
    "Rahayu",
    "Handayani",
    "Setiawan",
    "Purnomo",
    "Hidayat",
    "Kurniawan",
    "Lestari",
    "Saputra",
    "Wulandari",
    "Prasetyo",
    "Suryani",
    "Nugroho",
    "Utami",
    "",
    "",
]
# Kecamatan of Ngawi regency (code 35.21) with a few of their desa.
_DISTRICTS = {
    "NGAWI": ["MARGOMULYO", "KARANGTENGAH", "BERAN", "KARTOHARJO"],
    "PARON": ["JAMBANGAN", "GELUNG", "SEMBUNG", "TEGALARUM"],
    "GENENG": ["KERSOHARJO", "KLITIK", "GENENG", "SIDOREJO"],
    "KEDUNGGALAR": ["BANGUNREJO", "GEMARANG", "KEDUNGGALAR", "WONOREJO"],
    "WIDODAREN": ["KAUMAN", "SEKARALAS", "WALIKUKUN", "SIDOLAJU"],
    "MANTINGAN": ["PASTEN", "MANTINGAN", "TEMPURAN", "SAMBIREJO"],
    "KARANGJATI": ["SAWO", "BRANGOL", "PUHHARJO", "JATIPURO"],
    "JOGOROGO": ["SOCO", "GIRIMULYO", "JOGOROGO", "TALANG"],
}
_STREETS = ["JL. RAYA", "JL. MERDEKA", "JL. DIPONEGORO", "JL. SUDIRMAN", "DSN.", "JL. KARTINI"]
_JOBS = [
    "PETANI/PEKEBUN",
    "WIRASWASTA",
    "PELAJAR/MAHASISWA",
    "MENGURUS RUMAH TANGGA",
    "KARYAWAN SWASTA",
    "GURU",
    "PEDAGANG",
    "BURUH HARIAN LEPAS",
    "PELAUT",
    "PERANGKAT DESA",
]
_RELIGIONS = ["ISLAM"] * 17 + ["KRISTEN", "KATOLIK", "HINDU"]
_BLOOD = ["A", "B", "AB", "O", "-"]
_BIRTH_PLACES = ["NGAWI", "MADIUN", "MAGETAN", "SRAGEN", "BOJONEGORO", "SURABAYA", "SOLO"]
_MONTHS = ["", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"]  # fmt: skip


def make_citizen(rng: random.Random, issued: date) -> dict[str, str]:
    """A fake citizen of Ngawi regency with an NIK consistent with birth date and sex."""
    female = rng.random() < 0.5
    first = rng.choice(_FIRST_F if female else _FIRST_M)
    last = rng.choice(_LAST)
    name = f"{first} {rng.choice(_FIRST_F if female else _FIRST_M)} {last}".strip().upper()
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 58))
    district_index = rng.randrange(len(_DISTRICTS))
    district = list(_DISTRICTS)[district_index]
    village = rng.choice(_DISTRICTS[district])
    day = born.day + (40 if female else 0)
    nik = f"3521{district_index + 1:02d}{day:02d}{born.month:02d}{born.year % 100:02d}"
    nik += f"{rng.randrange(1, 9999):04d}"
    married = born.year < 2000 and rng.random() < 0.8
    return {
        "province": "JAWA TIMUR",
        "regency": "KABUPATEN NGAWI",
        "nik": nik,
        "name": name,
        "birth_place": rng.choice(_BIRTH_PLACES),
        "birth_date": f"{born.day:02d}-{born.month:02d}-{born.year}",
        "sex": "PEREMPUAN" if female else "LAKI-LAKI",
        "blood_type": rng.choice(_BLOOD),
        "address": f"{rng.choice(_STREETS)} {rng.choice(_LAST) or 'MELATI'} NO. "
        f"{rng.randrange(1, 200)}".upper(),
        "rt": f"{rng.randrange(1, 20):03d}",
        "rw": f"{rng.randrange(1, 10):03d}",
        "village": village,
        "district": district,
        "religion": rng.choice(_RELIGIONS),
        "marital_status": "KAWIN" if married else "BELUM KAWIN",
        "occupation": rng.choice(_JOBS),
        "nationality": "WNI",
        "valid_until": "SEUMUR HIDUP",
        "issue_place": "NGAWI",
        "issue_date": f"{issued.day:02d}-{issued.month:02d}-{issued.year}",
    }


def make_signature(rng: random.Random) -> bytes:
    """A scribbled 'signature' as a small PNG (dark strokes on white)."""
    image = Image.new("L", (400, 160), 255)
    draw = ImageDraw.Draw(image)
    points = [(20 + i * 45, rng.randrange(30, 130)) for i in range(9)]
    draw.line(points, fill=10, width=7)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def make_photo(rng: random.Random, quality: int = 40) -> bytes:
    """A 240 x 320 JPEG 'photo' (noise over a face-ish oval): about 18 KB."""
    w, h = 120, 160
    im = Image.frombytes("L", (w, h), rng.randbytes(w * h)).convert("RGB").resize((240, 320))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


class JobFactory:
    """Signed e-KTP jobs, deterministic for a seed (except the signing key)."""

    def __init__(
        self,
        signer: Signer,
        *,
        seed: int = 1,
        urgent_ratio: float = 0.1,
        valid_for: timedelta = timedelta(days=7),
        photos: int = 8,
        prefix: str = "KTP",
    ) -> None:
        self.signer = signer
        self._rng = random.Random(seed)
        self._urgent_ratio = urgent_ratio
        self._valid_for = valid_for
        self._photos = [make_photo(random.Random(seed * 1000 + i)) for i in range(photos)]
        self._signatures = [make_signature(random.Random(seed * 2000 + i)) for i in range(photos)]
        self._prefix = prefix
        self._count = 0

    def job_doc(self, *, job_id: str | None = None, now: datetime | None = None) -> dict[str, Any]:
        """The unsigned job (a dict), for tests that tamper with it."""
        self._count += 1
        now = now or datetime.now(UTC)
        citizen = make_citizen(self._rng, now.date())
        photo = self._photos[self._count % len(self._photos)]
        signature = self._signatures[self._count % len(self._signatures)]
        return {
            "v": 1,
            "type": "job",
            # Opaque ids: a job id is logged and shown everywhere, so it must
            # never carry a citizen's data (no NIK, no name).
            "job_id": job_id or f"{self._prefix}-{self._count:06d}-{self._rng.getrandbits(32):08x}",
            "issued_at": _ts(now),
            "not_after": _ts(now + self._valid_for),
            "priority": "urgent" if self._rng.random() < self._urgent_ratio else "normal",
            "card": {
                "kind": "template",
                "template": TEMPLATE,
                "fields": citizen,
                "images": {
                    "photo": base64.b64encode(photo).decode("ascii"),
                    "signature": base64.b64encode(signature).decode("ascii"),
                },
            },
        }

    def sign(self, doc: Mapping[str, Any]) -> bytes:
        return self.signer.sign_bytes(doc)

    def make(self, **kwargs: Any) -> tuple[str, bytes]:
        doc = self.job_doc(**kwargs)
        return str(doc["job_id"]), self.sign(doc)

    def many(self, n: int) -> list[tuple[str, bytes]]:
        return [self.make() for _ in range(n)]

    def command(self, station: str, command: str, *, correlation_id: str, **args: Any) -> bytes:
        return command_bytes(self.signer, station, command, correlation_id=correlation_id, **args)


def command_bytes(
    signer: Signer, station: str, command: str, *, correlation_id: str, **args: Any
) -> bytes:
    """A signed command for one station, valid for five minutes."""
    now = datetime.now(UTC)
    doc = {
        "v": 1,
        "type": "command",
        "command": command,
        "correlation_id": correlation_id,
        "station": station,
        "issued_at": _ts(now),
        "not_after": _ts(now + timedelta(minutes=5)),
        **args,
    }
    return signer.sign_bytes(doc)


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Report:
    """What the registry saw; ``problems`` is empty when everything checks out."""

    sent: int
    accepted: set[str]
    rejected: dict[str, str]
    unanswered: set[str]
    results: dict[str, list[dict[str, Any]]]
    duplicates_dropped: int
    gaps: dict[str, list[int]]
    bad_signatures: int
    accepted_by: dict[str, str]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class RegistrySimulator:
    """Publishes signed jobs and collects station messages over one MQTT session."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        root: str = "printd/v1",
        station_keys: Mapping[str, Ed25519PublicKey] | None = None,
        client_id: str = "registry-sim",
        resend_after_s: float = 10.0,
        honour_credit: bool = True,
        tls_params: aiomqtt.TLSParameters | None = None,
        protocol: str = "5",
        signer: Signer | None = None,
        gap_timeout_s: float = 3.0,
        lose_every: int = 0,
    ) -> None:
        """``signer`` (the registry's key) lets the simulator ask a station to send
        again what a gap in its sequence numbers lost (command ``resend``), once a
        gap has stayed open ``gap_timeout_s``. ``lose_every`` N > 0 drops every
        Nth sequenced message the first time it arrives, as a crashed broker would.
        """
        self._host = host
        self._port = port
        self._root = root
        self._verifier = Verifier(station_keys) if station_keys is not None else None
        self._client_id = client_id
        self._resend_after_s = resend_after_s
        self._honour_credit = honour_credit
        self._tls = tls_params
        self._protocol = protocol
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.connected = asyncio.Event()
        # (target topic, credit stations) -> jobs waiting to be sent
        self._queue: list[tuple[str, str, bytes, tuple[str, ...]]] = []
        self._sent_at: dict[str, float] = {}
        self._job_bytes: dict[str, tuple[str, bytes, tuple[str, ...]]] = {}
        self.credit: dict[str, int] = {}
        self.status: dict[str, str] = {}
        self.receipts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.results: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.replies: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._seen: dict[str, set[int]] = defaultdict(set)
        self.duplicates_dropped = 0
        self.bad_signatures = 0
        self.sends = 0
        self._signer = signer
        self._gap_timeout_s = gap_timeout_s
        self._gap_since: dict[str, float] = {}
        self._resend_asked: dict[str, float] = {}
        self.resends_asked = 0
        self._lose_every = lose_every
        self.lost: set[tuple[str, int]] = set()

    async def __aenter__(self) -> RegistrySimulator:
        self._task = asyncio.create_task(self._run(), name="registry-sim")
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ------------------------------------------------------------ sending

    def submit(
        self,
        jobs: Iterable[tuple[str, bytes]],
        *,
        station: str | None = None,
        pool: str | None = None,
        pool_stations: Iterable[str] = (),
    ) -> None:
        """Queue jobs for a station (``{root}/{station}/jobs``) or a pool."""
        if pool is not None:
            topic, credit_from = f"{self._root}/pools/{pool}/jobs", tuple(pool_stations)
        elif station is not None:
            topic, credit_from = f"{self._root}/{station}/jobs", (station,)
        else:
            raise ValueError("a station or a pool")
        for job_id, payload in jobs:
            self._queue.append((job_id, topic, payload, credit_from))
            self._job_bytes[job_id] = (topic, payload, credit_from)
        self._wake.set()

    async def publish_raw(self, topic: str, payload: bytes) -> None:
        """Publish anything (tests send malformed messages this way)."""
        await asyncio.wait_for(self.connected.wait(), 30)
        assert self._client is not None
        await self._client.publish(topic, payload, qos=1)

    def outstanding(self, stations: tuple[str, ...]) -> int:
        return sum(
            1
            for job_id, (_, _, credit_from) in self._job_bytes.items()
            if job_id in self._sent_at and credit_from == stations and not self._answered(job_id)
        )

    def _answered(self, job_id: str) -> bool:
        return any(r.get("reason") != "queue_full" for r in self.receipts.get(job_id, ()))

    async def _pump(self, client: aiomqtt.Client) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
            # cancel that stops this loop, and the registry would never close.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    await self._wake.wait()
            self._wake.clear()
            now = time.monotonic()
            # Re-send what has gone unanswered too long (or was refused for room).
            for job_id, sent in list(self._sent_at.items()):
                if self._answered(job_id):
                    continue
                refused = any(r.get("reason") == "queue_full" for r in self.receipts[job_id])
                if now - sent > self._resend_after_s or refused:
                    topic, payload, _ = self._job_bytes[job_id]
                    self.receipts.pop(job_id, None)
                    await client.publish(topic, payload, qos=1)
                    self._sent_at[job_id] = now
                    self.sends += 1
            remaining = []
            room: dict[tuple[str, ...], int] = {}
            for job_id, topic, payload, credit_from in self._queue:
                if self._honour_credit:
                    if credit_from not in room:
                        if not all(s in self.credit for s in credit_from):
                            room[credit_from] = 0
                        else:
                            total = sum(self.credit[s] for s in credit_from)
                            room[credit_from] = total - self.outstanding(credit_from)
                    if room[credit_from] <= 0:
                        remaining.append((job_id, topic, payload, credit_from))
                        continue
                    room[credit_from] -= 1
                self._sent_at[job_id] = time.monotonic()
                await client.publish(topic, payload, qos=1)
                self.sends += 1
            self._queue = remaining
            if self._signer is not None:
                await self._ask_for_gaps(client, now)

    async def _ask_for_gaps(self, client: aiomqtt.Client, now: float) -> None:
        """A gap that stays open: the broker lost messages; ask the station for them."""
        assert self._signer is not None
        gaps = self.gaps()
        for station in list(self._gap_since):
            if station not in gaps:
                del self._gap_since[station]
        for station, missing in gaps.items():
            since = self._gap_since.setdefault(station, now)
            asked = self._resend_asked.get(station, 0.0)
            if now - since < self._gap_timeout_s or now - asked < self._gap_timeout_s:
                continue
            self._resend_asked[station] = now
            self.resends_asked += 1
            payload = command_bytes(
                self._signer,
                station,
                "resend",
                correlation_id=f"resend-{station}-{self.resends_asked}",
                from_seq=missing[0],
            )
            await client.publish(f"{self._root}/{station}/cmd/resend", payload, qos=1)

    # ------------------------------------------------------------ receiving

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._connection()
            except aiomqtt.MqttError:
                self.connected.clear()
                self._client = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _connection(self) -> None:
        client = aiomqtt.Client(
            self._host,
            self._port,
            identifier=self._client_id,
            **session_options(self._protocol, 3600, 65535),
            tls_params=self._tls,
            max_inflight_messages=1000,
            # A short keepalive notices a dead connection even when the socket
            # reader was lost (several aiomqtt clients in one loop can race on
            # reused file descriptors).
            keepalive=5,
        )
        client.pending_calls_threshold = 100_000
        async with client:
            self._client = client
            await client.subscribe(
                [(f"{self._root}/+/{t}", 1) for t in ("receipts", "results", "events", "replies")]
                + [(f"{self._root}/+/{t}", 1) for t in ("credit", "status", "inventory")]
            )
            self.connected.set()
            pump = asyncio.create_task(self._pump(client), name="registry-pump")
            try:
                async for message in client.messages:
                    self._receive(message.topic.value, message.payload)
            finally:
                pump.cancel()
                await asyncio.wait([pump])

    def _receive(self, topic: str, payload: Any) -> None:
        if not isinstance(payload, bytes | bytearray):
            return
        try:
            doc = json.loads(payload)
        except ValueError:
            self.bad_signatures += 1
            return
        if self._verifier is not None:
            try:
                self._verifier.verify(doc)
            except SigningError:
                self.bad_signatures += 1
                return
        station = str(doc.get("station"))
        kind = topic.rsplit("/", 1)[-1]
        seq = doc.get("seq")
        if isinstance(seq, int):
            lose = self._lose_every and seq % self._lose_every == 0
            if lose and (station, seq) not in self.lost:
                self.lost.add((station, seq))  # as if the broker had lost it
                return
            if seq in self._seen[station]:
                self.duplicates_dropped += 1
                return
            self._seen[station].add(seq)
        if kind == "receipts":
            self.receipts[str(doc.get("job_id"))].append(doc)
        elif kind == "results":
            self.results[str(doc["job_id"])].append(doc)
        elif kind == "replies":
            self.replies[str(doc.get("correlation_id"))] = doc
        elif kind == "events":
            self.events.append(doc)
        elif kind == "credit":
            self.credit[station] = int(doc["credit"])
        elif kind == "status":
            self.status[station] = str(doc["state"])
        self._wake.set()

    # ------------------------------------------------------------ checking

    def all_answered(self, job_ids: Iterable[str]) -> bool:
        return all(self._answered(j) for j in job_ids)

    async def wait_answered(self, job_ids: Iterable[str], within_s: float) -> bool:
        ids = list(job_ids)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.all_answered(ids):
                return True
            await asyncio.sleep(0.05)
        return self.all_answered(ids)

    def all_final(self, job_ids: Iterable[str]) -> bool:
        """Every job has its last word: printed, failed, expired or cancelled."""
        return all(any(is_final(r) for r in self.results.get(j, [])) for j in job_ids)

    async def wait_final(self, job_ids: Iterable[str], within_s: float) -> bool:
        ids = list(job_ids)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.all_final(ids):
                return True
            await asyncio.sleep(0.1)
        return self.all_final(ids)

    def gaps(self) -> dict[str, list[int]]:
        out = {}
        for station, seqs in self._seen.items():
            if seqs:
                missing = sorted(set(range(min(seqs), max(seqs) + 1)) - seqs)
                if missing:
                    out[station] = missing
        return out

    def report(self, job_ids: Iterable[str]) -> Report:
        ids = list(job_ids)
        accepted: set[str] = set()
        rejected: dict[str, str] = {}
        accepted_by: dict[str, str] = {}
        problems: list[str] = []
        for job_id in ids:
            receipts = [r for r in self.receipts.get(job_id, []) if r.get("reason") != "queue_full"]
            statuses = {(r["status"], r.get("reason")) for r in receipts}
            stations = {r["station"] for r in receipts if r["status"] == "accepted"}
            if len(statuses) > 1:
                problems.append(f"{job_id}: conflicting receipts {sorted(map(str, statuses))}")
            if len(stations) > 1:
                problems.append(f"{job_id}: accepted by several stations {sorted(stations)}")
            if receipts:
                if receipts[0]["status"] == "accepted":
                    accepted.add(job_id)
                    accepted_by[job_id] = receipts[0]["station"]
                else:
                    rejected[job_id] = str(receipts[0]["reason"])
        unanswered = set(ids) - accepted - set(rejected)
        if unanswered:
            problems.append(f"{len(unanswered)} jobs unanswered")
        serials: dict[str, str] = {}
        for job_id, results in self.results.items():
            # needs_inspection and a finding that the card was not printed are
            # steps on the way; a job ends exactly once.
            endings = [r for r in results if is_final(r)]
            if len(endings) > 1:
                problems.append(f"{job_id}: {len(endings)} final results")
            for result in endings:
                serial = result.get("serial")
                if printed(result) and serial:
                    if serial in serials and serials[serial] != job_id:
                        problems.append(f"serial {serial} issued twice")
                    serials[serial] = job_id
        if self.bad_signatures:
            problems.append(f"{self.bad_signatures} messages with bad signatures")
        gaps = self.gaps()
        if gaps:
            problems.append(f"seq gaps: { {s: g[:10] for s, g in gaps.items()} }")
        return Report(
            sent=self.sends,
            accepted=accepted,
            rejected=rejected,
            unanswered=unanswered,
            results=dict(self.results),
            duplicates_dropped=self.duplicates_dropped,
            gaps=gaps,
            bad_signatures=self.bad_signatures,
            accepted_by=accepted_by,
            problems=problems,
        )


def printed(result: dict[str, Any]) -> bool:
    """A card came out for this job (directly, or as a technician found after inspection)."""
    return result.get("outcome") == "printed" or (
        result.get("outcome") == "inspection_resolved" and result.get("resolution") == "printed"
    )


def is_final(result: dict[str, Any]) -> bool:
    """The job's last word: printed, failed, expired or cancelled."""
    return printed(result) or result.get("outcome") in ("failed", "expired", "cancelled")


@click.command("registry")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=1883, show_default=True, type=int)
@click.option("--root", default="printd/v1", show_default=True)
@click.option("--station", default="station-01", show_default=True)
@click.option("--pool", default=None, help="Send to this pool instead of one station.")
@click.option("--pool-station", "pool_stations", multiple=True, help="Stations of the pool.")
@click.option("--jobs", "count", default=40, show_default=True, type=int)
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--urgent", default=0.15, show_default=True, type=float, help="Share of urgent jobs.")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The registry's private key (PEM); its key id is the key's fingerprint.",
)
@click.option("--key-id", default=None, help="Key id the station knows the key by.")
@click.option("--timeout", default=300.0, show_default=True, type=float)
@click.option("--no-credit", is_flag=True, help="Send everything at once, ignoring credit.")
def registry_command(
    host: str,
    port: int,
    root: str,
    station: str,
    pool: str | None,
    pool_stations: tuple[str, ...],
    count: int,
    seed: int,
    urgent: float,
    key_file: Path,
    key_id: str | None,
    timeout: float,
    no_credit: bool,
) -> None:
    """Send signed e-KTP jobs to a station and check every answer."""
    try:
        signer = Signer.from_file(key_file, key_id)
    except Exception as exc:
        raise click.ClickException(str(exc)) from None
    factory = JobFactory(signer, seed=seed, urgent_ratio=urgent)
    jobs = factory.many(count)

    async def main() -> Report:
        async with RegistrySimulator(
            host, port, root=root, honour_credit=not no_credit, signer=signer
        ) as registry:
            if pool:
                registry.submit(jobs, pool=pool, pool_stations=pool_stations or (station,))
            else:
                registry.submit(jobs, station=station)
            await registry.wait_answered([j for j, _ in jobs], timeout)
            return registry.report([j for j, _ in jobs])

    report = asyncio.run(main())
    click.echo(
        f"sent {report.sent}, accepted {len(report.accepted)}, rejected {len(report.rejected)}, "
        f"unanswered {len(report.unanswered)}, duplicates dropped {report.duplicates_dropped}"
    )
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    if not report.ok:
        raise SystemExit(1)
