"""The upstream half of Courier's reliable-message pattern for a Python
service with a SQL database, a port of the Go package client/producer (read
its doc.go: the rule, and the table of what Transaction returns).

:meth:`Producer.transaction` prepares the message, then in the business
transaction inserts a barrier row (message id, "committed") before running
the business function, checks just before COMMIT that the row is still the
transaction's own, commits, and confirms. :meth:`Producer.check` (served by
:meth:`Producer.check_handler`, a WSGI app, and
:meth:`Producer.check_handler_asgi`) answers Courier's check-back from the
barrier table by inserting a "rolled_back" row unless the message has one:

- the transaction committed: the insert finds the committed row; COMMITTED;
- it is still open: its uncommitted row holds the key, so the insert waits
  until it ends (MySQL/MariaDB and PostgreSQL lock the key; SQLite locks the
  database); if that outlasts ``check_wait`` the answer is UNKNOWN (HTTP 503)
  and the database stops waiting too;
- it rolled back, or never began: the insert succeeds; ROLLED_BACK, and a
  transaction that tries to begin afterwards fails on the key.

No answer is ever derived from an error. The rule: the producer never sends a
message whose transaction did not commit, never cancels one whose
transaction did, and tells the caller which happened. What ``transaction``
does:

- returns the business function's result: committed; the message will be
  delivered;
- re-raises the business function's exception, unchanged: rolled back; the
  message is cancelled (a KeyboardInterrupt the same way);
- raises :class:`RolledBack` (``__cause__`` is why): rolled back though the
  business returned (the caller's ``cancel`` event was set, COMMIT failed,
  the database dropped the transaction under an error the business
  ignored); the message is cancelled;
- raises :class:`CheckedBack`: the message's transaction was already rolled
  back (a check-back, or an earlier call); the business did not run;
- raises :class:`AlreadyCommitted`: an earlier call's transaction for the
  message committed; the business did not run again, the message is
  confirmed; treat it as success;
- raises :class:`CommitUnknown`: COMMIT failed and the database could not be
  asked; the check-back settles the message;
- raises the client's :class:`~courier_client.CourierError` from prepare:
  nothing ran.

Retrying is safe, with the same :class:`~courier_client.Message` object or a
new one with the same id: a message is one transaction. To run the business
again after a rollback, use a new message (an empty id gets a new one).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from . import dialect as sql
from ._pool import Pool, rollback
from .dialect import Dialect
from .errors import Conflict, CourierError
from .messages import Answer, Message, Prepared, Status
from .policy import Policy, default_policy

T = TypeVar("T")

log = logging.getLogger("courier_client.producer")

DEFAULT_TABLE = "courier_barrier"
"""The barrier table's default name, the Go producer's."""

DEFAULT_RETENTION = timedelta(days=7)
"""How long barrier rows are kept by default: far beyond the default
check-back schedule (about 65 minutes)."""

MAX_ID_LEN = 128
"""The longest message id Courier accepts."""

COMMITTED = "committed"
ROLLED_BACK = "rolled_back"
# CHECK_OUTCOMES maps check()'s answers to the barrier row's outcomes.
CHECK_OUTCOMES = {"COMMITTED": COMMITTED, "ROLLED_BACK": ROLLED_BACK}


def retention_for(p: Policy) -> timedelta:
    """The least retention that covers a message with the full timing p."""
    return 2 * p.check_span()


def retention_floor() -> timedelta:
    """The shortest retention cleanup and Producer accept: twice the time
    from prepare to the last check-back under the default policy, the margin
    covering check-backs that run late while Courier's worker is down."""
    return retention_for(default_policy())


class Courier(Protocol):
    """What the producer calls of Courier's API; Client is one."""

    def prepare(self, msg: Message) -> Prepared: ...
    def confirm(self, id: str, reason: str = "") -> Answer: ...
    def cancel(self, id: str, reason: str = "") -> Answer: ...


class ProducerError(Exception):
    """An outcome of :meth:`Producer.transaction` other than the business
    function's own exception. Each says whether the transaction committed;
    only CommitUnknown does not know."""


class CheckedBack(ProducerError):
    """The message's transaction is settled as rolled back (an earlier call
    with this message failed, or a check-back found no transaction for it);
    the message is cancelled and the business did not run. Start again with
    a new message."""


class AlreadyCommitted(ProducerError):
    """The message's transaction committed in an earlier call; the message
    is sent and the business did not run again. Treat it as success."""


class RolledBack(ProducerError):
    """The transaction did not commit though the business function returned
    (cancel set, COMMIT failed, the database rolled it back under an error
    the business ignored); the barrier row proves it, the message is
    cancelled. ``__cause__`` is why."""


class CommitUnknown(ProducerError):
    """COMMIT failed and the database could not be asked whether it
    happened. The check-back finds out from the barrier row; a retry with
    the same message runs the business only if the first did not commit."""


def schema(d: Dialect, table: str) -> str:
    """The DDL of the barrier table: the Go producer's Schema, so that one
    table serves producers in both languages."""
    if d is Dialect.MYSQL:
        return (f"CREATE TABLE IF NOT EXISTS {table} (\n\tmessage_id {d.key_type(MAX_ID_LEN)} NOT NULL PRIMARY KEY,\n"
                f"\toutcome VARCHAR(16) NOT NULL,\n\tcreated_at BIGINT NOT NULL,\n"
                f"\tKEY {table}_created (created_at)\n) ENGINE=InnoDB")
    return (f"CREATE TABLE IF NOT EXISTS {table} (\n\tmessage_id {d.key_type(MAX_ID_LEN)} NOT NULL PRIMARY KEY,\n"
            f"\toutcome VARCHAR(16) NOT NULL,\n\tcreated_at BIGINT NOT NULL\n)")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Producer:
    """Runs business transactions with their messages. Safe for use from
    many threads.

    ``connect`` opens a new DB-API connection to the business database
    (which holds the barrier table); the producer keeps a few open. Its
    connections are put in transaction mode (autocommit off); an sqlite3
    one must allow use from other threads (``check_same_thread=False``).
    ``check_url`` is where Courier reaches :meth:`check_handler`.
    ``retention`` (default 7 days; ``None`` turns the background cleanup
    off) must be at least :func:`retention_floor`. ``check_wait`` (seconds)
    bounds how long a check-back waits for a transaction in flight.
    """

    def __init__(
        self,
        courier: Courier,
        connect: Callable[[], Any],
        *,
        check_url: str,
        producer: str = "",
        dialect: Dialect | str | None = None,
        table: str = DEFAULT_TABLE,
        retention: timedelta | None = DEFAULT_RETENTION,
        cleanup_every: timedelta = timedelta(hours=1),
        check_wait: float = 5.0,
        logger: logging.Logger | None = None,
    ) -> None:
        if not check_url:
            raise ValueError("producer: check_url is required: Courier asks it whether a transaction committed")
        sql.check_table(table)
        if retention is not None and retention < retention_floor():
            raise ValueError(f"producer: retention {retention} is under {retention_floor()}: a committed barrier "
                             "row deleted before the last check-back is answered ROLLED_BACK")
        self._courier = courier
        self._check_url = check_url
        self._producer = producer
        self._table = table
        self._retention = retention
        self._cleanup_every = cleanup_every.total_seconds()
        self._check_wait = check_wait if check_wait > 0 else 5.0
        self._log = logger or log
        self._pool = Pool.open(connect, dialect)
        self._dialect = self._pool.dialect
        self._cleanup_lock = threading.Lock()
        self._cleanup_running = False
        self._cleanup_last = float("-inf")

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def migrate(self) -> None:
        """Create the barrier table and its index unless they exist, and make
        the ids of a MySQL table made by an earlier version compare exactly."""
        self._pool.migrate(self._table, schema(self._dialect, self._table), MAX_ID_LEN, "message_id")

    # -- the transaction ------------------------------------------------

    def transaction(self, msg: Message, business: Callable[[Any], T], *, cancel: threading.Event | None = None) -> T:
        """Prepare msg, run ``business(conn)`` in a transaction of the
        producer's database together with the message's barrier row, commit
        and confirm; return what business returned. The module doc lists
        what it raises. business gets the DB-API connection: it runs its
        statements on it and neither commits nor rolls back.
        msg.check_url and msg.producer are set from the producer; a message
        without an id gets one (set in msg). Setting ``cancel`` before COMMIT
        rolls the transaction back (RolledBack): Python has no context to
        cancel, so this event is the caller giving up.
        """
        msg.check_url = self._check_url
        if not msg.producer:
            msg.producer = self._producer
        if self._retention is not None:
            need = retention_for((msg.policy or Policy()).over())
            if need > self._retention:
                raise ValueError(f"producer: the message's check-back schedule needs barrier rows kept {need}, "
                                 f"retention is {self._retention}: raise retention or shorten the policy")
        self._cleanup_soon()
        prepared = self._courier.prepare(msg)
        id = msg.id
        if prepared.status in (Status.WAITING_CONFIRM, Status.CHECK_EXHAUSTED):
            pass  # open: the barrier row decides below
        elif prepared.status == Status.CANCELLED:
            raise CheckedBack(f"producer: message {id} is CANCELLED")
        else:
            raise AlreadyCommitted(f"producer: message {id} is {prepared.status}")
        try:
            if cancel is not None and cancel.is_set():
                raise RuntimeError("cancelled before the transaction began")
            conn = self._pool.get()
        except Exception as e:
            raise self._abandon(id, e) from e
        token = _now_ms()
        try:
            sql.execute(conn, self._insert(), (id, COMMITTED, token)).close()
        except Exception as e:
            self._pool.put(conn, rollback(conn))
            self._taken(id, e)
        try:
            result = business(conn)
        except BaseException as e:
            self._pool.put(conn, rollback(conn))
            self._abandon(id, e)
            raise
        # A database may have rolled the transaction back under a statement
        # error the business ignored (InnoDB on a deadlock); the statements
        # after it then ran on their own and COMMIT has nothing to commit.
        # The transaction's own barrier row is the proof it is still one.
        try:
            if cancel is not None and cancel.is_set():
                raise RuntimeError("cancelled before COMMIT")
            row = sql.query_row(conn, self._select(), (id,))
            if row is None or row[0] != COMMITTED or int(row[1]) != token:
                raise RuntimeError("its barrier row is gone: the database rolled it back under an error "
                                   "the business function ignored")
        except Exception as e:
            self._pool.put(conn, rollback(conn))
            raise self._abandon(id, e) from e
        try:
            conn.commit()
        except Exception as cerr:
            self._pool.put(conn, False)
            self._after_failed_commit(id, token, cerr)
            return result
        self._pool.put(conn)
        self._confirm(id)
        return result

    def _taken(self, id: str, ierr: Exception) -> None:
        """The barrier row could not be written: the message's transaction
        is decided already (a retry, a check-back, another call with the
        id), or the write failed. Always raises."""
        row: tuple[Any, ...] | None
        try:
            if sql.deadlock(ierr):
                # The write lost a deadlock to a transaction deciding the
                # same id (a rollback and its settling check-back, seen on
                # MySQL), which may not have committed yet: wait for its
                # decision as a check-back does, rather than read a row
                # that is not there yet.
                row = (CHECK_OUTCOMES[self.check(id)],)
            else:
                row = self._barrier(id)
        except Exception:
            row = None
        if row is not None and row[0] == ROLLED_BACK:
            self._cancel(id, "barrier row says rolled back")
            raise CheckedBack(f"producer: the transaction of message {id} is already rolled back") from ierr
        if row is not None and row[0] == COMMITTED:
            # An earlier call committed; its confirm may have been lost.
            self._confirm(id)
            raise AlreadyCommitted(f"producer: the transaction of message {id} already committed") from ierr
        raise self._abandon(id, RuntimeError(f"write barrier row for message {id}: {ierr}")) from ierr

    def _abandon(self, id: str, cause: BaseException) -> RolledBack:
        """Settle message id after its transaction did not commit, the way a
        check-back does, and cancel it once the barrier says rolled back; if
        another transaction with the id committed meanwhile, nothing is
        cancelled. Returns the RolledBack to raise."""
        err = RolledBack(f"producer: the transaction of message {id} rolled back: {cause}")
        err.__cause__ = cause
        try:
            status = self.check(id)
        except Exception as e:
            self._log.warning("courier: could not settle a transaction that did not commit; the check-back "
                              "will cancel the message (id=%s): %s", id, e)
            return err
        if status == "ROLLED_BACK":
            self._cancel(id, "transaction rolled back")
        return err

    def _after_failed_commit(self, id: str, token: int, cerr: Exception) -> None:
        """Find out from the barrier row whether a COMMIT that failed
        happened: token tells this transaction's row from another's. Returns
        when it did (and confirms), raises otherwise."""
        try:
            self.check(id)
            row = self._barrier(id)
        except Exception as e:
            raise CommitUnknown(f"producer: message {id}: commit failed ({cerr}) and the barrier "
                                f"could not be read: {e}") from cerr
        if row is not None and row[0] == COMMITTED and int(row[1]) == token:
            self._confirm(id)
            return
        if row is not None and row[0] == ROLLED_BACK:
            self._cancel(id, "commit failed")
        raise RolledBack(f"producer: the transaction of message {id} rolled back: commit: {cerr}") from cerr

    def _confirm(self, id: str) -> None:
        """Tell Courier the transaction committed. A failed confirm is
        logged (the check-back confirms instead); a refused one (an operator
        cancelled the message by hand) is raised: the transaction committed
        but the message will not be sent."""
        try:
            self._courier.confirm(id)
        except Conflict as e:
            e.add_note(f"producer: the transaction of message {id} committed, but Courier refused its confirm")
            raise
        except Exception as e:
            self._log.warning("courier: confirm after commit failed; the check-back will confirm the message "
                              "(id=%s): %s", id, e)

    def _cancel(self, id: str, reason: str) -> None:
        """Tell Courier the transaction rolled back: a shortcut, the
        check-back finds the same later."""
        try:
            self._courier.cancel(id, reason)
        except Conflict:
            pass
        except Exception as e:
            self._log.warning("courier: cancel failed; the check-back will cancel the message (id=%s): %s", id, e)

    # -- the check-back -------------------------------------------------

    def check(self, id: str, timeout: float | None = None) -> str:
        """Decide message id: "COMMITTED" or "ROLLED_BACK". Inserts a
        rolled_back barrier row unless the message has one, waiting at most
        ``timeout`` (default and upper bound ``check_wait``) seconds for a
        transaction in flight that writes one, then reads the row. An
        exception means the answer is unknown."""
        self._cleanup_soon()
        wait = self._check_wait if timeout is None else min(timeout, self._check_wait)
        d = self._dialect
        conn = self._pool.get()

        def decide() -> str:
            for attempt in range(1, 4):
                try:
                    sql.execute(conn, d.insert_if_absent(self._insert(), "message_id"),
                                (id, ROLLED_BACK, _now_ms())).close()
                    conn.commit()
                    break
                except Exception as e:
                    conn.rollback()
                    # Two check-backs waiting on one transaction can deadlock
                    # when it rolls back (both then insert); the victim's
                    # insert-if-absent is safe to run again.
                    if not sql.deadlock(e) or attempt == 3:
                        raise
            row = sql.query_row(conn, self._select(), (id,))
            conn.commit()
            if row is None:
                raise RuntimeError(f"check message {id}: no barrier row after insert-if-absent")
            return str(row[0])

        try:
            outcome = sql.bounded_wait(d, conn, wait, decide)
        except BaseException:
            # Its lock wait was not put back: never hand it to a business
            # transaction.
            self._pool.put(conn, False)
            raise
        self._pool.put(conn)
        if outcome == COMMITTED:
            return "COMMITTED"
        if outcome == ROLLED_BACK:
            return "ROLLED_BACK"
        raise RuntimeError(f"check message {id}: unexpected barrier outcome {outcome!r}")

    def check_response(self, method: str, body: bytes) -> tuple[int, bytes]:
        """The HTTP status and JSON body answering a check-back request, for
        any web framework: POST with ``{"message_id": ...}``."""
        if method != "POST":
            return 405, b'{"status":"UNKNOWN","detail":"check-back calls are POST"}'
        try:
            id = json.loads(body)["message_id"]
            if not isinstance(id, str) or not id or len(id.encode()) > MAX_ID_LEN:
                raise ValueError(id)
        except (ValueError, KeyError, TypeError):
            return 400, b'{"status":"UNKNOWN","detail":"body must be JSON with a message_id"}'
        try:
            status = self.check(id)
        except Exception as e:
            # Never an answer derived from an error: Courier asks again.
            return 503, json.dumps({"status": "UNKNOWN", "detail": str(e)}).encode()
        return 200, json.dumps({"status": status}).encode()

    def check_handler(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """A WSGI app answering Courier's check-back calls; mount it at the
        path of check_url."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(min(length, 64 << 10)) if length > 0 else b""
        code, out = self.check_response(environ.get("REQUEST_METHOD", ""), body)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(out)))]
        if code == 405:
            headers.append(("Allow", "POST"))
        start_response(_STATUS[code], headers)
        return [out]

    async def check_handler_asgi(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                                 send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """An ASGI app answering Courier's check-back calls; the database
        work runs in a thread, off the event loop."""
        import asyncio

        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if len(body) > 64 << 10 or not event.get("more_body"):
                break
        code, out = await asyncio.to_thread(self.check_response, scope.get("method", ""), body[:64 << 10])
        await send({"type": "http.response.start", "status": code,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})

    # -- retention ------------------------------------------------------

    def cleanup(self, retention: timedelta) -> int:
        """Delete barrier rows older than retention and return how many;
        refuses (ValueError) one under :func:`retention_floor`, since a
        deleted committed row would be answered ROLLED_BACK. The producer
        runs it by itself; call it directly only with retention=None."""
        if retention < retention_floor():
            raise ValueError(f"producer: retention {retention} is under {retention_floor()}; "
                             "it must outlast every check-back schedule")
        before = _now_ms() - int(retention.total_seconds() * 1000)
        return self._pool.delete_before(self._table, before)

    def _cleanup_soon(self) -> None:
        """Start a background cleanup unless one ran within cleanup_every:
        from the calls the service makes anyway, so it needs no job."""
        if self._retention is None:
            return
        with self._cleanup_lock:
            now = time.monotonic()
            if self._cleanup_running or now - self._cleanup_last < self._cleanup_every:
                return
            self._cleanup_running, self._cleanup_last = True, now
        threading.Thread(target=self._cleanup_background, name="courier-barrier-cleanup", daemon=True).start()

    def _cleanup_background(self) -> None:
        try:
            assert self._retention is not None
            n = self.cleanup(self._retention)
            if n:
                self._log.debug("courier: %d barrier rows past the retention deleted", n)
        except Exception as e:
            self._log.warning("courier: barrier table cleanup failed; it is tried again later: %s", e)
        finally:
            with self._cleanup_lock:
                self._cleanup_running = False

    def close(self) -> None:
        """Close the idle connections."""
        self._pool.close()

    # -- statements -----------------------------------------------------

    def _insert(self) -> str:
        return f"INSERT INTO {self._table} (message_id, outcome, created_at) VALUES ({self._dialect.params(3)})"

    def _select(self) -> str:
        return f"SELECT outcome, created_at FROM {self._table} WHERE message_id = {self._dialect.param}"

    def _barrier(self, id: str) -> tuple[Any, ...] | None:
        conn = self._pool.get()
        try:
            row = sql.query_row(conn, self._select(), (id,))
            conn.commit()
        except BaseException:
            self._pool.put(conn, False)
            raise
        self._pool.put(conn)
        return row


_STATUS = {200: "200 OK", 400: "400 Bad Request", 405: "405 Method Not Allowed", 503: "503 Service Unavailable"}

