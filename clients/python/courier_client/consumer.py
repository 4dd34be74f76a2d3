"""The downstream half of Courier's reliable-message pattern, a port of the
Go package client/consumer: :meth:`Consumer.run` reads topics through a
Kafka consumer group (confluent-kafka) and gives each Courier message to a
handler exactly once per consumer, in a transaction of the consumer's own
database, then tells Courier the message is complete.

Per record, in one transaction: a plain INSERT of a dedupe row (consumer,
message id, created_at); when it fails on the key the message was processed
before (Courier re-sends until it hears complete) and the handler is
skipped; else ``handler(conn, message)`` runs on the transaction's
connection; commit. Then complete, retried by the client; a refused one is
logged; if it still fails, Courier re-sends on its schedule, the dedupe row
skips the handler and the complete is tried again.

Records of a partition are handled in order, one at a time. A handler that
keeps failing does not hold its partition: after ``attempts`` tries the
record is passed over without completing; Courier re-sends it, and a message
never completed becomes DEAD, visible and re-drivable. Records without a
``courier-message-id`` header are not Courier's and are passed over. Offsets
are committed only for records handled or passed over, also when run stops.

The dedupe table's keys compare byte for byte on every database (the Go
consumer's DDL, so a table can be shared), and a duplicate is recognised by
the database's duplicate-key error, never by a count of affected rows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from . import dialect as sql
from . import tracecontext
from ._pool import Pool, rollback
from .dialect import Dialect
from .errors import Conflict, Forbidden, Unauthorized
from .messages import Answer
from .policy import default_policy

log = logging.getLogger("courier_client.consumer")

HEADER_MESSAGE_ID = "courier-message-id"
HEADER_ATTEMPT = "courier-attempt"

DEFAULT_TABLE = "courier_dedupe"
"""The dedupe table's default name, the Go consumer's."""

DEFAULT_RETENTION = timedelta(days=7)
"""How long dedupe rows are kept by default: well past the default resend
schedule and a consumer's lag behind it."""

MAX_KEY_LEN = 128


def retention_floor() -> timedelta:
    """The shortest retention cleanup and Consumer accept: the default resend
    schedule plus a day for a consumer that lags behind its topic."""
    return default_policy().resend_span() + timedelta(hours=24)


class Completer(Protocol):
    """What the consumer calls of Courier's API; Client is one."""

    def complete(self, id: str, consumer: str = "") -> Answer: ...


@dataclass(frozen=True)
class Message:
    """One Courier message as the handler gets it."""

    id: str
    topic: str
    payload: bytes
    key: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    attempt: int = 0
    partition: int = 0
    offset: int = 0


Handler = Callable[[Any, Message], None]
"""handler(conn, message): process message with the DB-API connection of
the consumer's transaction; raise to roll it back. It neither commits nor
rolls back."""


class Consumer:
    """Reads Courier messages.

    ``name`` is the consumer group and the consumer's name in its completes
    (with API keys, the consumer key's name). ``connect`` opens a DB-API
    connection to the database holding the dedupe table and the handler's
    tables. ``attempts`` is how often a failing handler is tried per
    delivery. ``retention`` (None: no background cleanup) must be at least
    :func:`retention_floor`. ``kafka`` adds to or overrides the
    confluent-kafka configuration.
    """

    def __init__(
        self,
        brokers: Sequence[str],
        topics: Sequence[str],
        name: str,
        courier: Completer,
        connect: Callable[[], Any],
        *,
        dialect: Dialect | str | None = None,
        table: str = DEFAULT_TABLE,
        attempts: int = 3,
        retention: timedelta | None = DEFAULT_RETENTION,
        cleanup_every: timedelta = timedelta(hours=1),
        kafka: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if not brokers or not topics or not name:
            raise ValueError("consumer: brokers, topics and a name are required")
        sql.check_table(table)
        if retention is not None and retention < retention_floor():
            raise ValueError(f"consumer: retention {retention} is under {retention_floor()}: a dedupe row "
                             "deleted while its message may come again lets the handler run twice")
        self._brokers, self._topics, self._name = list(brokers), list(topics), name
        self._courier = courier
        self._table = table
        self._attempts = attempts if attempts > 0 else 3
        self._retention = retention
        self._cleanup_every = cleanup_every.total_seconds()
        self._kafka = dict(kafka or {})
        self._log = logger or log
        self._pool = Pool.open(connect, dialect)
        self._dialect = self._pool.dialect

    def migrate(self) -> None:
        """Create the dedupe table unless it exists, and make the keys of a
        MySQL table made by an earlier version compare exactly."""
        t = self._table
        key = self._dialect.key_type(MAX_KEY_LEN)
        ddl = (f"CREATE TABLE IF NOT EXISTS {t} (\n\tconsumer {key} NOT NULL,\n\tmessage_id {key} NOT NULL,\n"
               f"\tcreated_at BIGINT NOT NULL,\n\tPRIMARY KEY (consumer, message_id)\n)")
        self._pool.migrate(t, ddl, MAX_KEY_LEN, "consumer", "message_id")

    def run(self, handler: Handler, stop: threading.Event) -> None:
        """Consume until stop is set, then commit the offsets of what was
        handled and return."""
        import confluent_kafka

        config: dict[str, Any] = {
            "bootstrap.servers": ",".join(self._brokers),
            "group.id": self._name,
            "auto.offset.reset": "earliest",
            # Offsets are stored only for records handled or passed over,
            # and librdkafka commits the stored ones (also on a rebalance
            # and on close), as the Go consumer marks and commits.
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "session.timeout.ms": 10000,
        }
        config.update(self._kafka)
        kc = confluent_kafka.Consumer(config)
        cleaner = threading.Thread(target=self._clean_periodically, args=(stop,), name="courier-dedupe-cleanup", daemon=True)
        cleaner.start()
        try:
            kc.subscribe(self._topics)
            while not stop.is_set():
                rec = kc.poll(0.5)
                if rec is None:
                    continue
                if rec.error():
                    self._log.warning("courier consumer %s: kafka: %s", self._name, rec.error())
                    continue
                if not self._handle(rec, handler, stop):
                    break  # stopping: this record's offset is not stored; the next session reads it again
                kc.store_offsets(message=rec)
        finally:
            kc.close()

    def _handle(self, rec: Any, handler: Handler, stop: threading.Event) -> bool:
        """Process one record; False when stopping before it was dealt with."""
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (rec.headers() or [])}
        try:
            attempt = int(headers.get(HEADER_ATTEMPT) or 0)
        except ValueError:
            attempt = 0
        msg = Message(id=headers.get(HEADER_MESSAGE_ID, ""), topic=rec.topic(), payload=rec.value() or b"",
                      key=rec.key(), headers=headers, attempt=attempt, partition=rec.partition(), offset=rec.offset())
        where = f"consumer={self._name} topic={msg.topic} partition={msg.partition} offset={msg.offset} id={msg.id}"
        if not msg.id:
            self._log.warning("courier consumer: record without %s passed over (%s)", HEADER_MESSAGE_ID, where)
            return True
        # The handler and the complete continue the message's trace, which
        # Courier put in the record's traceparent.
        with tracecontext.use(headers):
            for n in range(1, self._attempts + 1):
                if stop.is_set():
                    return False
                try:
                    self._process(msg, handler)
                    break
                except Exception as e:
                    if stop.is_set():
                        return False
                    self._log.warning("courier consumer: handler failed, attempt %d (%s): %s", n, where, e)
                    if n == self._attempts:
                        self._log.error("courier consumer: message passed over without completing; Courier sends it "
                                        "again on its schedule (%s): %s", where, e)
                        return True
                    stop.wait(n * 0.2)
            try:
                self._courier.complete(msg.id, self._name)
            except (Conflict, Forbidden, Unauthorized) as e:
                # No resend changes these: the message's state, or the key.
                self._log.error("courier consumer: complete refused (%s): %s", where, e)
            except Exception as e:
                self._log.warning("courier consumer: complete failed; the next resend completes it (%s): %s", where, e)
        return True

    def _process(self, msg: Message, handler: Handler) -> None:
        """Run handler for msg in a transaction with its dedupe row. A
        duplicate key means processed before (the insert waited for a
        transaction in flight that wrote it): only the complete is missing."""
        d = self._dialect
        conn = self._pool.get()
        try:
            try:
                sql.execute(conn, f"INSERT INTO {self._table} (consumer, message_id, created_at) "
                                  f"VALUES ({d.params(3)})", (self._name, msg.id, time.time_ns() // 1_000_000)).close()
            except Exception as e:
                if sql.duplicate(d, e):
                    self._pool.put(conn, rollback(conn))
                    return
                raise
            handler(conn, msg)
            conn.commit()
        except BaseException:
            rollback(conn)
            self._pool.put(conn, False)
            raise
        self._pool.put(conn)

    def cleanup(self, retention: timedelta) -> int:
        """Delete dedupe rows older than retention; refuses (ValueError) one
        under :func:`retention_floor`, since a deleted row lets a late resend
        run the handler again."""
        if retention < retention_floor():
            raise ValueError(f"consumer: retention {retention} is under {retention_floor()}; "
                             "it must outlast every resend schedule")
        before = time.time_ns() // 1_000_000 - int(retention.total_seconds() * 1000)
        return self._pool.delete_before(self._table, before)

    def _clean_periodically(self, stop: threading.Event) -> None:
        """Cleanup now and once per cleanup_every while run runs; members of
        a group clean the same table, harmlessly."""
        if self._retention is None:
            return
        while True:
            try:
                n = self.cleanup(self._retention)
                if n:
                    self._log.debug("courier consumer: %d dedupe rows past the retention deleted", n)
            except Exception as e:
                self._log.warning("courier consumer: dedupe table cleanup failed; tried again later: %s", e)
            if stop.wait(self._cleanup_every):
                return

    def close(self) -> None:
        """Close the idle connections."""
        self._pool.close()
