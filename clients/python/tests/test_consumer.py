"""The consumer's contract on SQLite, MariaDB and PostgreSQL against a real
courier dev and its Kafka broker: each message's handler effect exactly
once, through Kafka duplicates, Courier's resends, a failing handler, lost
completes, and ids differing only in case."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import confluent_kafka
import pytest

from courier_client import Client, Message, Status
from courier_client.consumer import Consumer, Message as Delivery

from .conftest import Courier, Database, wait_status


class _LosesFirstComplete:
    """Courier as seen by a consumer that crashed before its first complete
    of each message: the effect committed, Courier never heard of it."""

    def __init__(self, c: Client) -> None:
        self.c, self.seen = c, set[str]()

    def complete(self, id: str, consumer: str = "") -> Any:
        if id not in self.seen:
            self.seen.add(id)
            raise ConnectionError("lost")
        return self.c.complete(id, consumer)


def test_exactly_once(db: Database, courier: Courier, client: Client) -> None:
    topic = "py-consumer-" + uuid.uuid4().hex[:8]
    name = "accounting-" + uuid.uuid4().hex[:6]
    ids = {k: f"{k}-{uuid.uuid4().hex[:6]}" for k in ("plain", "failing", "lost")}
    ids["upper"] = ids["plain"].upper()  # another message, though equal ignoring case
    conn = db.connect()
    conn.cursor().execute("CREATE TABLE consumed (message_id VARCHAR(64) NOT NULL, attempt INT NOT NULL)")
    conn.commit()
    conn.close()

    def handler(conn: Any, m: Delivery) -> None:
        if m.id == ids["failing"] and m.attempt <= 1:
            raise RuntimeError("the handler fails the first send")
        conn.cursor().execute(db.sql("INSERT INTO consumed (message_id, attempt) VALUES (?, ?)"), (m.id, m.attempt))

    c = Consumer([courier.kafka], [topic], name, _LosesFirstComplete(client), db.connect,
                 dialect=db.dialect, attempts=2)
    c.migrate()
    stop = threading.Event()
    runner = threading.Thread(target=c.run, args=(handler, stop))
    runner.start()
    try:
        for id in ids.values():
            client.send(Message(id=id, topic=topic, key="k", payload=b"{}"))
        # A record the broker holds twice (a producer retry it accepted
        # twice) and a record that is not Courier's.
        p = confluent_kafka.Producer({"bootstrap.servers": courier.kafka})
        p.produce(topic, b"{}", key=b"k", headers=[("courier-message-id", ids["plain"].encode()), ("courier-attempt", b"1")])
        p.produce(topic, b"not courier's", key=b"k")
        assert p.flush(30) == 0
        for id in ids.values():
            wait_status(client, id, Status.COMPLETED, limit=60)
    finally:
        stop.set()
        runner.join()
        c.close()
    rows = db.query("SELECT message_id, attempt FROM consumed")
    assert sorted(r[0] for r in rows) == sorted(ids.values())  # each exactly once
    # The failing message was passed over on its first send and handled on
    # Courier's resend.
    assert [r[1] for r in rows if r[0] == ids["failing"]] == [2]
    dedupe = {r[0] if isinstance(r[0], str) else r[0].decode() for r in db.query("SELECT message_id FROM courier_dedupe")}
    assert dedupe == set(ids.values())


def test_retention_floor(db: Database, courier: Courier, client: Client) -> None:
    from datetime import timedelta

    from courier_client.consumer import retention_floor

    with pytest.raises(ValueError):
        Consumer([courier.kafka], ["t"], "n", client, db.connect, dialect=db.dialect, retention=timedelta(hours=2))
    c = Consumer([courier.kafka], ["t"], "n", client, db.connect, dialect=db.dialect)
    c.migrate()
    with pytest.raises(ValueError):
        c.cleanup(retention_floor() - timedelta(seconds=1))
    assert c.cleanup(retention_floor()) == 0


def test_run_cleans_the_dedupe_table(db: Database, courier: Courier, client: Client) -> None:
    c = Consumer([courier.kafka], ["py-cleanup-" + uuid.uuid4().hex[:6]], "n", client, db.connect, dialect=db.dialect)
    c.migrate()
    db.query("INSERT INTO courier_dedupe (consumer, message_id, created_at) VALUES (?, ?, ?)", "n", "ancient", 0)
    db.query("INSERT INTO courier_dedupe (consumer, message_id, created_at) VALUES (?, ?, ?)", "n", "recent",
             int(time.time() * 1000))
    stop = threading.Event()
    runner = threading.Thread(target=c.run, args=(lambda conn, m: None, stop))
    runner.start()
    try:
        for _ in range(300):
            if not db.query("SELECT 1 FROM courier_dedupe WHERE message_id = ?", "ancient"):
                break
            threading.Event().wait(0.1)
    finally:
        stop.set()
        runner.join()
    rows = [r[0] if isinstance(r[0], str) else r[0].decode() for r in db.query("SELECT message_id FROM courier_dedupe")]
    assert rows == ["recent"]
