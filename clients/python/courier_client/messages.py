"""What the client sends and gets back, mirroring the Go client's
messages.go. Field names are the API's; statuses and outcomes are plain
strings with their known values in :class:`Status` and :class:`Outcome`, so
that a newer gateway's status reads without an error."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .policy import Policy, go_duration


class Status(StrEnum):
    """Where a message is in its lifecycle; see Courier's README."""

    WAITING_CONFIRM = "WAITING_CONFIRM"
    CHECK_EXHAUSTED = "CHECK_EXHAUSTED"
    SCHEDULED = "SCHEDULED"
    SENDING = "SENDING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class Outcome(StrEnum):
    """What Courier did with a confirm, cancel, complete or redrive."""

    APPLIED = "applied"
    """It moved the message on."""
    REPEATED = "repeated"
    """Its effect had happened already; nothing changed."""
    ACCEPTED = "accepted"
    """Courier took it and acts on it later; the caller is done."""


def new_id() -> str:
    """A random UUID (version 4), the id prepare and send give a message
    that has none."""
    return str(uuid.uuid4())


@dataclass
class Message:
    """What a producer prepares or sends.

    ``id`` is the consumers' dedupe key. Empty: prepare and send make a
    random one and set it here *before* the first attempt, so a retried call
    (and a retried producer transaction with this object) is the same
    request.
    """

    topic: str
    payload: bytes = b""
    id: str = ""
    key: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    check_url: str = ""
    producer: str = ""
    consumers: list[str] = field(default_factory=list)
    deliver_at: datetime | None = None
    policy: Policy | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body of prepare and send."""
        b: dict[str, Any] = {
            "id": self.id,
            "topic": self.topic,
            "payload_base64": base64.b64encode(self.payload).decode("ascii"),
        }
        for name in ("key", "check_url", "producer"):
            if getattr(self, name):
                b[name] = getattr(self, name)
        if self.headers:
            b["headers"] = dict(self.headers)
        if self.consumers:
            b["consumers"] = list(self.consumers)
        if self.deliver_at is not None:
            b["deliver_at"] = self.deliver_at.isoformat()
        if self.policy is not None:
            p = self.policy
            pb: dict[str, Any] = {}
            for name in ("check_delay", "check_max_delay", "check_timeout", "publish_max_interval"):
                if getattr(p, name):
                    pb[name] = go_duration(getattr(p, name))
            if p.check_backoff:
                pb["check_backoff"] = p.check_backoff
            if p.check_max_attempts:
                pb["check_max_attempts"] = p.check_max_attempts
            if p.resend_intervals:
                pb["resend_intervals"] = [go_duration(d) for d in p.resend_intervals]
            b["policy"] = pb
        return b


@dataclass(frozen=True)
class Prepared:
    """The answer to prepare and send. ``created`` is False when the same
    request had been made before; ``status`` is then the current one."""

    id: str
    status: str
    created: bool


@dataclass(frozen=True)
class Answer:
    """The answer to confirm, cancel, complete and redrive. A refused
    request raises :class:`~courier_client.Conflict` instead.

    ``status`` is the message's status after the decision: the one an
    applied request moved it to. A repeated or accepted request leaves it
    where it was, ``previous_status``, the status the request was decided
    on; so does one applied while the message's workflow could not answer
    in time, which acts on it when it runs. ``reason`` says why a request
    was repeated or accepted, and is empty when it was applied."""

    id: str
    status: str
    outcome: str
    previous_status: str = ""
    reason: str = ""


def _time(v: Any) -> datetime | None:
    if not v:
        return None
    s = str(v)
    # Courier writes RFC 3339 with nanoseconds; datetime keeps microseconds.
    if "." in s:
        head, _, rest = s.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        s = head + "." + digits[:6] + rest[len(digits):]
    return datetime.fromisoformat(s)


@dataclass(frozen=True)
class View:
    """A message as Courier shows it: from its mirror (``get``), or from its
    workflow (``state``, source "workflow"). ``raw`` is the whole answer,
    with, for ``state``, the workflow's record (checks, publishes, signals,
    next_at, ...)."""

    id: str
    topic: str
    status: str
    key: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    producer: str = ""
    check_url: str = ""
    consumers: list[str] = field(default_factory=list)
    deliver_at: datetime | None = None
    check_count: int = 0
    send_count: int = 0
    last_error: str = ""
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
    published_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    status_at: datetime | None = None
    revision: int = 0
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> View:
        return cls(
            id=d.get("id", ""), topic=d.get("topic", ""), status=d.get("status", ""),
            key=d.get("key", ""), headers=d.get("headers") or {}, producer=d.get("producer", ""),
            check_url=d.get("check_url", ""), consumers=d.get("consumers") or [],
            deliver_at=_time(d.get("deliver_at")), check_count=d.get("check_count", 0),
            send_count=d.get("send_count", 0), last_error=d.get("last_error", ""),
            created_at=_time(d.get("created_at")), confirmed_at=_time(d.get("confirmed_at")),
            published_at=_time(d.get("published_at")), completed_at=_time(d.get("completed_at")),
            updated_at=_time(d.get("updated_at")), status_at=_time(d.get("status_at")),
            revision=d.get("revision", 0),
            source=d.get("source", ""), raw=d,
        )

    def payload(self) -> bytes:
        """The message's payload as it went to Kafka."""
        if self.raw.get("payload_base64") is not None:
            return base64.b64decode(self.raw["payload_base64"])
        if "payload" in self.raw:
            return json.dumps(self.raw["payload"], separators=(",", ":")).encode()
        return b""


@dataclass(frozen=True)
class Page:
    """One page of list; ``next_cursor`` is "" on the last one."""

    messages: list[View]
    next_cursor: str = ""


@dataclass(frozen=True)
class Stats:
    """The mirror's message counts by status."""

    by_status: dict[str, int]
    total: int


@dataclass(frozen=True)
class RedriveResult:
    """The answer to redrive_dead: how many were re-driven, and the ids that
    failed with their ``{"code", "message"}``."""

    redriven: int
    failed: list[dict[str, Any]]
