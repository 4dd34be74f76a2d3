"""The producer's contract on SQLite, MariaDB and PostgreSQL against a real
courier dev: the rule (never send what did not commit, never cancel what
did), the check-back races, and retries with the same message."""

from __future__ import annotations

import threading
import uuid
import wsgiref.simple_server
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from courier_client import Client, Message, Status, Unavailable
from courier_client.producer import (
    AlreadyCommitted, CheckedBack, Producer, RolledBack, retention_floor,
)

from .conftest import Courier, Database, wait_status


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def check_server() -> Iterator[tuple[str, list[Producer]]]:
    """An HTTP server for the check-back handler of the producer put in the
    list, so that Courier's own check-backs reach it."""
    producers: list[Producer] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return producers[0].check_handler(environ, start_response)

    srv = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/courier/check", producers
    srv.shutdown()


def make(db: Database, courier: Any, check: tuple[str, list[Producer]], **kw: Any) -> Producer:
    p = Producer(courier, db.connect, check_url=check[0], dialect=db.dialect, **kw)
    p.migrate()
    check[1].append(p)
    conn = db.connect()
    conn.cursor().execute("CREATE TABLE IF NOT EXISTS orders (id VARCHAR(64) PRIMARY KEY)")
    conn.commit()
    conn.close()
    return p


def order(db: Database, ref: str) -> Any:
    def business(conn: Any) -> str:
        conn.cursor().execute(db.sql("INSERT INTO orders (id) VALUES (?)"), (ref,))
        return ref
    return business


def orders(db: Database) -> set[str]:
    return {r[0] for r in db.query("SELECT id FROM orders")}


def msg(**kw: Any) -> Message:
    return Message(topic="py-producer", payload=b'{"x":1}', **kw)


def test_commit_delivers(db: Database, client: Client, check_server: Any) -> None:
    p = make(db, client, check_server)
    m = msg()
    assert p.transaction(m, order(db, "o1")) == "o1"
    assert orders(db) == {"o1"}
    wait_status(client, m.id, Status.DELIVERED)
    assert p.check(m.id) == "COMMITTED"


def test_exception_in_business_rolls_back_cancels_and_reraises(db: Database, client: Client, check_server: Any) -> None:
    p = make(db, client, check_server)
    m = msg()

    class Declined(Exception):
        pass

    def business(conn: Any) -> None:
        order(db, "o1")(conn)
        raise Declined("card declined")

    with pytest.raises(Declined):
        p.transaction(m, business)
    assert orders(db) == set()
    wait_status(client, m.id, Status.CANCELLED)
    assert p.check(m.id) == "ROLLED_BACK"
    # A retry with the same message: its transaction is decided; the
    # business does not run.
    ran: list[bool] = []
    with pytest.raises(CheckedBack):
        p.transaction(m, lambda conn: ran.append(True))
    assert ran == [] and orders(db) == set()


class _LosesConfirms:
    """Courier as seen by a service whose confirm never arrives (it died
    after COMMIT): prepare and cancel go through, confirm is lost."""

    def __init__(self, c: Client) -> None:
        self.c = c

    def prepare(self, m: Message) -> Any:
        return self.c.prepare(m)

    def cancel(self, id: str, reason: str = "") -> Any:
        return self.c.cancel(id, reason)

    def confirm(self, id: str, reason: str = "") -> Any:
        raise Unavailable(f"POST /v1/messages/{id}/confirm", 0, "", "connection reset")


def test_retry_after_a_commit_whose_confirm_was_lost(db: Database, client: Client, check_server: Any) -> None:
    lossy = make(db, _LosesConfirms(client), check_server)
    m = msg()
    lossy.transaction(m, order(db, "o1"))  # the lost confirm is logged, not raised
    p = make(db, client, check_server)
    ran: list[bool] = []
    # The message may already be confirmed by Courier's check-back
    # (Prepare then answers its status) or not (the barrier row answers).
    with pytest.raises(AlreadyCommitted):
        p.transaction(m, lambda conn: ran.append(True))
    assert ran == [] and orders(db) == {"o1"}
    wait_status(client, m.id, Status.DELIVERED)


def test_check_back_before_the_transaction_wins(db: Database, client: Client, check_server: Any) -> None:
    p = make(db, client, check_server)
    m = msg(id="early-" + uuid.uuid4().hex)
    assert p.check(m.id) == "ROLLED_BACK"
    ran: list[bool] = []
    with pytest.raises(CheckedBack):
        p.transaction(m, lambda conn: ran.append(True))
    assert ran == []
    wait_status(client, m.id, Status.CANCELLED)


def _lock_waiters(db: Database) -> int:
    if db.dialect == "mysql":
        return int(db.query("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'")[0][0])
    return int(db.query("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0][0])


@pytest.mark.parametrize("ending", ["commit", "exception"])
def test_check_back_while_the_transaction_is_open(db: Database, client: Client, check_server: Any, ending: str) -> None:
    p = make(db, client, check_server, check_wait=30)
    m = msg()
    answers: list[str] = []

    def checker() -> None:
        try:
            answers.append(p.check(m.id))
        except Exception:
            answers.append("UNKNOWN")

    t = threading.Thread(target=checker)

    def business(conn: Any) -> None:
        order(db, "o1")(conn)
        t.start()
        if db.dialect != "sqlite":
            # Wait until the check-back really waits on our barrier row.
            while _lock_waiters(db) < 1 and t.is_alive():
                threading.Event().wait(0.01)
        if ending == "exception":
            raise KeyError("business failed")

    if ending == "commit":
        p.transaction(m, business)
    else:
        with pytest.raises(KeyError):
            p.transaction(m, business)
    t.join()
    if ending == "commit":
        # Never ROLLED_BACK for a transaction that commits.
        assert answers[0] in ("COMMITTED", "UNKNOWN")
        assert p.check(m.id) == "COMMITTED"
        wait_status(client, m.id, Status.DELIVERED)
    else:
        assert answers[0] in ("ROLLED_BACK", "UNKNOWN")
        assert p.check(m.id) == "ROLLED_BACK"
        wait_status(client, m.id, Status.CANCELLED)


def test_cancel_before_commit_is_a_known_rollback(db: Database, client: Client, check_server: Any) -> None:
    p = make(db, client, check_server)
    m = msg()
    cancel = threading.Event()

    def business(conn: Any) -> None:
        order(db, "o1")(conn)
        cancel.set()  # the caller gives up while the business runs

    with pytest.raises(RolledBack):
        p.transaction(m, business, cancel=cancel)
    assert orders(db) == set()
    wait_status(client, m.id, Status.CANCELLED)


def test_ids_differing_only_in_case(db: Database, client: Client, check_server: Any) -> None:
    p = make(db, client, check_server)
    base = "order-" + uuid.uuid4().hex[:6]
    p.transaction(msg(id=base), order(db, "lower"))
    p.transaction(msg(id=base.upper()), order(db, "upper"))
    assert orders(db) == {"lower", "upper"}
    rows = {r[0] if isinstance(r[0], str) else r[0].decode() for r in db.query("SELECT message_id FROM courier_barrier")}
    assert rows == {base, base.upper()}
    wait_status(client, base.upper(), Status.DELIVERED)


def test_cleanup_keeps_the_floor(db: Database, client: Client, check_server: Any) -> None:
    p = make(db, client, check_server)
    m = msg()
    p.transaction(m, order(db, "o1"))
    with pytest.raises(ValueError):
        p.cleanup(retention_floor() - timedelta(seconds=1))
    with pytest.raises(ValueError):
        Producer(client, db.connect, check_url="http://x/check", dialect=db.dialect, retention=timedelta(hours=1))
    assert p.cleanup(retention_floor()) == 0
    assert p.check(m.id) == "COMMITTED"


def test_check_handlers_answer_as_courier_expects(db: Database, client: Client, check_server: Any) -> None:
    import asyncio
    import io

    p = make(db, client, check_server)
    m = msg()
    p.transaction(m, order(db, "o1"))

    def wsgi(method: str, body: bytes) -> tuple[str, bytes]:
        got: list[str] = []
        out = p.check_handler({"REQUEST_METHOD": method, "CONTENT_LENGTH": str(len(body)),
                               "wsgi.input": io.BytesIO(body)}, lambda status, headers: got.append(status))
        return got[0], b"".join(out)

    assert wsgi("POST", b'{"message_id":"%s"}' % m.id.encode()) == ("200 OK", b'{"status": "COMMITTED"}')
    assert wsgi("GET", b"")[0] == "405 Method Not Allowed"
    assert wsgi("POST", b"{}")[0] == "400 Bad Request"  # never a verdict on a bad request

    sent: list[dict[str, Any]] = []

    async def asgi() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b'{"message_id":"%s"}' % m.id.encode()}

        async def send(event: dict[str, Any]) -> None:
            sent.append(event)

        await p.check_handler_asgi({"type": "http", "method": "POST"}, receive, send)

    asyncio.run(asgi())
    assert sent[0]["status"] == 200 and sent[1]["body"] == b'{"status": "COMMITTED"}'


def test_background_cleanup(db: Database, client: Client, check_server: Any) -> None:
    p = make(db, client, check_server)
    db.query("INSERT INTO courier_barrier (message_id, outcome, created_at) VALUES (?, ?, ?)", "ancient", "committed", 0)
    # Any call the producer serves starts the cleanup (at most hourly).
    p.check("recent-" + uuid.uuid4().hex)
    for _ in range(300):
        if not db.query("SELECT 1 FROM courier_barrier WHERE message_id = ?", "ancient"):
            break
        threading.Event().wait(0.1)
    assert not db.query("SELECT 1 FROM courier_barrier WHERE message_id = ?", "ancient")
    assert len(db.query("SELECT 1 FROM courier_barrier")) == 1  # the recent row stays
