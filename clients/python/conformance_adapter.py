"""The Python client's adapter for Courier's conformance suite: it speaks
the suite's JSON-lines protocol (client/conformance/README.md) on stdin and
stdout and drives courier_client's producer and consumer, so that the Go
runner tests them exactly as it tests the Go client. Its log goes to stderr.

    COURIER_CONFORMANCE_ADAPTER="/usr/bin/python3 clients/python/conformance_adapter.py" \\
        go -C client test ./conformance
"""

from __future__ import annotations

import json
import logging
import os
import re
import socketserver
import sys
import threading
import time
import urllib.parse
import wsgiref.simple_server
from datetime import timedelta
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from courier_client import Client, CourierError, Message, Policy, __version__  # noqa: E402
from courier_client.consumer import Consumer  # noqa: E402
from courier_client.consumer import Message as Delivery  # noqa: E402
from courier_client.producer import (  # noqa: E402
    AlreadyCommitted, CheckedBack, CommitUnknown, Producer, RolledBack, retention_floor,
)

log = logging.getLogger("adapter")


class BusinessError(Exception):
    """What the business function itself raises."""


class BusinessPanic(BaseException):
    """The protocol's panic: an exception that is no business error."""


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(s: str) -> timedelta:
    """A Go duration string ("1m30s", "200ms") as a timedelta."""
    parts = re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise ValueError(f"bad duration {s!r}")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def connector(dialect: str, url: str, isolation: str, found_rows: bool = False) -> Any:
    """A function opening connections to url with every transaction at
    isolation; with found_rows (MySQL only) they report the rows a
    statement matched, not those it changed (CLIENT_FOUND_ROWS)."""
    u = urllib.parse.urlparse(url)
    if found_rows and dialect != "mysql":
        raise ValueError(f"found_rows is a MySQL flag, not one of {dialect}")
    if dialect == "sqlite":
        import sqlite3

        if isolation:
            raise ValueError(f"sqlite has no isolation {isolation!r}")

        def connect_sqlite() -> Any:
            # A writer waits for another's lock instead of failing at once.
            conn = sqlite3.connect(u.path, timeout=10, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            return conn
        return connect_sqlite
    if dialect == "mysql":
        import pymysql

        kw = dict(host=u.hostname or "127.0.0.1", port=u.port or 3306, user=urllib.parse.unquote(u.username or ""),
                  password=urllib.parse.unquote(u.password or ""), database=u.path.lstrip("/"))
        if found_rows:
            from pymysql.constants import CLIENT

            kw["client_flag"] = CLIENT.FOUND_ROWS

        def connect_mysql() -> Any:
            conn = pymysql.connect(**kw)
            if isolation:
                with conn.cursor() as cur:
                    cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL " + isolation.replace("_", " ").upper())
            return conn
        return connect_mysql
    if dialect == "postgres":
        import psycopg

        def connect_postgres() -> Any:
            conn = psycopg.connect(url)
            if isolation:
                conn.isolation_level = psycopg.IsolationLevel[isolation.upper()]
            return conn
        return connect_postgres
    raise ValueError(f"unknown dialect {dialect!r}")


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    # Check-backs come at once (the runner's and Courier's); each may wait.
    daemon_threads = True


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("check-back: " + format, *args)


class Adapter:
    def __init__(self) -> None:
        self.out_lock = threading.Lock()
        self.lock = threading.Lock()
        self.gates: dict[str, threading.Event] = {}
        self.cancels: dict[str, threading.Event] = {}
        self.messages: dict[str, Message] = {}
        self.consumers: dict[str, tuple[threading.Event, threading.Thread]] = {}
        self.producer: Producer | None = None
        self.client: Client | None = None
        self.open_req: dict[str, Any] = {}

    def send(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj)
        with self.out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def serve(self, req: dict[str, Any]) -> None:
        try:
            result = getattr(self, "op_" + req["op"])(req)
            self.send({"id": req["id"], "result": result})
        except Exception as e:
            log.exception("op %s failed", req.get("op"))
            self.send({"id": req["id"], "error": f"{type(e).__name__}: {e}"})

    def gate(self, name: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(name, threading.Event())

    def sql(self, q: str, args: list[Any] | None) -> tuple[str, Any]:
        """The protocol's "?" placeholders in the driver's style."""
        dialect = self.open_req["dialect"]
        if dialect == "sqlite":
            return q, tuple(args or ())
        if not args:
            return q, None
        return q.replace("%", "%%").replace("?", "%s"), tuple(args)

    # -- operations -----------------------------------------------------

    def op_hello(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"client": "courier-python", "version": __version__, "modes": ["dbapi"]}

    def op_open(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("mode") != "dbapi":
            raise ValueError(f"unknown mode {req.get('mode')!r}")
        self.open_req = req
        connect = connector(req["dialect"], req["url"], req.get("isolation", ""), bool(req.get("found_rows")))
        self.client = Client(req["courier_url"])
        host, _, port = req["check_listen"].rpartition(":")
        srv = wsgiref.simple_server.make_server(host, int(port), self._check_app,
                                                server_class=_ThreadingWSGIServer, handler_class=_Quiet)
        check_url = f"http://{host}:{srv.server_port}/courier/check"
        p = Producer(self.client, connect, check_url=check_url, producer=req.get("producer", ""),
                     dialect=req["dialect"], table=req["table"])
        p.migrate()
        self.producer = p
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return {"check_url": check_url, "retention_floor_ms": int(retention_floor().total_seconds() * 1000)}

    def _check_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.producer is not None
        return self.producer.check_handler(environ, start_response)

    def message(self, req: dict[str, Any]) -> Message:
        ref = req["ref"]
        if req.get("reuse"):
            m = self.messages[req["reuse"]]
        else:
            pm = req["message"]
            m = Message(id=pm.get("id", ""), topic=pm["topic"], key=pm.get("key", ""),
                        payload=pm.get("payload", "").encode())
            if pm.get("policy"):
                pp = pm["policy"]
                m.policy = Policy(
                    check_delay=duration(pp["check_delay"]) if pp.get("check_delay") else None,
                    check_max_delay=duration(pp["check_max_delay"]) if pp.get("check_max_delay") else None,
                    check_timeout=duration(pp["check_timeout"]) if pp.get("check_timeout") else None,
                    check_max_attempts=pp.get("check_max_attempts", 0),
                    resend_intervals=[duration(s) for s in pp.get("resend_intervals") or []],
                )
        with self.lock:
            self.messages[ref] = m
        return m

    def op_transaction(self, req: dict[str, Any]) -> dict[str, Any]:
        p = self.producer
        if p is None:
            raise RuntimeError("open comes first")
        ref = req["ref"]
        m = self.message(req)
        cancel = threading.Event()
        with self.lock:
            self.cancels[ref] = cancel
        values: dict[str, str] = {}

        def business(conn: Any) -> None:
            def run(q: str, args: list[Any] | None, fetch: bool = False) -> Any:
                query, params = self.sql(q, args)
                cur = conn.cursor()
                try:
                    cur.execute(query, params)
                    return cur.fetchone()[0] if fetch else None
                finally:
                    cur.close()

            try:
                run(self.open_req["effect_sql"], [ref, m.id])
            except Exception as e:
                raise BusinessError(f"effect row: {e}") from e
            for i, st in enumerate(req.get("steps") or []):
                if st.get("sql"):
                    try:
                        v = run(st["sql"], st.get("args"), fetch=bool(st.get("report")))
                        if st.get("report"):
                            values[st["report"]] = str(v)
                    except Exception as e:
                        if not st.get("ignore_error"):
                            raise BusinessError(f"step {i}: {e}") from e
                        log.info("statement error ignored (ref=%s step=%d): %s", ref, i, e)
                elif st.get("gate"):
                    self.send({"event": "gate", "ref": ref, "gate": st["gate"], "message_id": m.id,
                               "values": dict(values)})
                    self.gate(st["gate"]).wait()
                elif st.get("fail") == "panic":
                    raise BusinessPanic(f"the business panicked at step {i}")
                elif st.get("fail"):
                    raise BusinessError(f"step {i} says so")
                elif st.get("sleep_ms"):
                    time.sleep(st["sleep_ms"] / 1000)

        try:
            p.transaction(m, business, cancel=cancel)
            outcome, err = "committed", ""
        except BaseException as e:  # noqa: B036 (the protocol's panic is a BaseException)
            outcome, err = outcome_of(e), f"{type(e).__name__}: {e}"
        finally:
            with self.lock:
                self.cancels.pop(ref, None)
        return {"message_id": m.id, "outcome": outcome, **({"error": err} if err else {})}

    def op_release(self, req: dict[str, Any]) -> dict[str, Any]:
        self.gate(req["gate"]).set()
        return {}

    def op_cancel(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            ev = self.cancels.get(req["ref"])
        if ev is None:
            raise RuntimeError(f"no transaction {req['ref']!r} is running")
        ev.set()
        return {}

    def op_cleanup(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self.producer is not None
        return {"deleted": self.producer.cleanup(timedelta(milliseconds=req.get("retention_ms", 0)))}

    def op_consume(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self.client is not None
        o = self.open_req
        h = req["handler"]
        c = Consumer(req["brokers"], req["topics"], req["name"], self.client,
                     connector(o["dialect"], o["url"], o.get("isolation", ""), bool(o.get("found_rows"))),
                     dialect=o["dialect"], table=o["dedupe_table"], attempts=req.get("attempts") or 3)
        c.migrate()
        fail_ids, fail_sends = set(h.get("fail_ids") or []), h.get("fail_sends", 0)

        def handler(conn: Any, m: Delivery) -> None:
            if m.id in fail_ids and m.attempt <= fail_sends:
                raise RuntimeError(f"the handler fails message {m.id} on send {m.attempt}")
            query, params = self.sql(h["effect_sql"], [req["name"], m.id, m.attempt])
            cur = conn.cursor()
            cur.execute(query, params)
            cur.close()

        stop = threading.Event()
        t = threading.Thread(target=c.run, args=(handler, stop), daemon=True)
        with self.lock:
            if req["ref"] in self.consumers:
                raise RuntimeError(f"consumer {req['ref']!r} runs already")
            self.consumers[req["ref"]] = (stop, t)
        t.start()
        return {}

    def op_stop_consumer(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            stop, t = self.consumers.pop(req["ref"])
        stop.set()
        t.join()
        return {}


def outcome_of(e: BaseException) -> str:
    """The protocol's word for what transaction raised."""
    for cls, word in ((BusinessPanic, "panic"), (BusinessError, "business_error"), (CheckedBack, "checked_back"),
                      (AlreadyCommitted, "already_committed"), (RolledBack, "rolled_back"),
                      (CommitUnknown, "commit_unknown"), (CourierError, "prepare_failed")):
        if isinstance(e, cls):
            return word
    return "error"


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    a = Adapter()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError:
            log.error("bad request line %r", line)
            continue
        # Requests run concurrently: a transaction waits at a gate while
        # the release, a check-back or another transaction comes in.
        threading.Thread(target=a.serve, args=(req,)).start()
    # stdin closed: let running requests answer before exiting.
    for t in threading.enumerate():
        if t is not threading.current_thread() and not t.daemon:
            t.join()


if __name__ == "__main__":
    main()
