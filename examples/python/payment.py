"""Payment, the upstream example service in Python (the Go one is
examples/payment): POST /pay marks an order paid in its own database and,
in the same transaction, makes Courier deliver the payment to accounting.
Courier's check-back comes to /courier/check.

    PYTHONPATH=clients/python python3 examples/python/payment.py   # against `courier dev` on 127.0.0.1:8080

Every setting is a flag or, when the flag is not given, an environment
variable, as in the Go one: PAYMENT_ADDR, PAYMENT_DB, COURIER_URL and
COURIER_API_KEY; -h lists them. The database defaults to a file in the
user's cache directory, never the source tree, and is printed at start.

Only the standard library besides courier_client: wsgiref, one thread per
request, one SQLite connection per thread in the producer's pool.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socketserver
import sqlite3
import sys
import tempfile
from contextlib import closing
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from courier_client import Client, Message
from courier_client.producer import Producer

log = logging.getLogger("payment")


class Declined(Exception):
    """The order's amount is not payable: the local transaction rolls back
    and its message is cancelled."""


def main() -> None:
    # Go's flag names, single dash, so the services in both languages are
    # started alike.
    flags = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    flags.add_argument("-addr", "--addr", default=os.environ.get("PAYMENT_ADDR", "127.0.0.1:8081"),
                       help="listen address (PAYMENT_ADDR)")
    flags.add_argument("-db", "--db", default=os.environ.get("PAYMENT_DB", data_file("payment.db")),
                       help="SQLite database file (PAYMENT_DB)")
    flags.add_argument("-courier", "--courier", default=os.environ.get("COURIER_URL", "http://127.0.0.1:8080"),
                       help="Courier gateway (COURIER_URL)")
    flags.add_argument("-api-key", "--api-key", default=os.environ.get("COURIER_API_KEY", ""),
                       help="Courier API key, producer role (COURIER_API_KEY)")
    args = flags.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.makedirs(os.path.dirname(os.path.abspath(args.db)), exist_ok=True)

    def connect() -> sqlite3.Connection:
        # WAL and a busy timeout: a kill -9 at any moment leaves a database
        # the next start opens, and threads wait for each other's writes.
        conn = sqlite3.connect(args.db, timeout=5, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    with closing(connect()) as db:
        db.execute("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)")

    # Courier: a client, and a producer whose barrier table is in this
    # database.
    courier = Client(args.courier, api_key=args.api_key)
    producer = Producer(courier, connect, check_url=f"http://{args.addr}/courier/check", producer="payment")
    producer.migrate()

    def pay(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            order_id, amount = body["order_id"], int(body.get("amount", 0))
            if not isinstance(order_id, str) or not order_id:
                raise ValueError(order_id)
        except (ValueError, KeyError, TypeError):
            return answer(start_response, 400, {"error": 'body must be {"order_id": ..., "amount": ...}'})
        payload = json.dumps({"order_id": order_id, "amount": amount}, separators=(",", ":")).encode()
        msg = Message(topic="payments", key=order_id, payload=payload)

        def business(conn: sqlite3.Connection) -> None:
            if amount <= 0:
                raise Declined(order_id)
            conn.execute("INSERT INTO orders (id, amount) VALUES (?, ?)", (order_id, amount))

        try:
            producer.transaction(msg, business)
        except Declined:
            return answer(start_response, 402, {"order_id": order_id, "status": "declined", "message_id": msg.id})
        except Exception as e:
            if paid_already(connect, order_id):
                return answer(start_response, 409, {"order_id": order_id, "status": "paid already"})
            log.warning("payment of order %s failed: %s", order_id, e)
            return answer(start_response, 503, {"order_id": order_id, "error": str(e)})
        return answer(start_response, 200, {"order_id": order_id, "status": "paid", "message_id": msg.id})

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/courier/check":
            return producer.check_handler(environ, start_response)
        if path == "/pay" and method == "POST":
            return pay(environ, start_response)
        return answer(start_response, 404, {"error": f"no route {method} {path}"})

    host, port = args.addr.rsplit(":", 1)
    server = make_server(host, int(port), app, server_class=ThreadingServer, handler_class=QuietHandler)
    log.info("payment service listening on %s, database %s, courier %s", args.addr, args.db, args.courier)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def data_file(name: str) -> str:
    """name in courier-examples/ under the user's cache directory, where Go's
    os.UserCacheDir puts it (the temporary directory if there is none):
    started from a checkout, the service must not write into it."""
    home = os.environ.get("HOME")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
    elif sys.platform == "darwin":
        base = home and os.path.join(home, "Library", "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or (home and os.path.join(home, ".cache"))
    return os.path.join(base or tempfile.gettempdir(), "courier-examples", name)


def paid_already(connect: Any, order_id: str) -> bool:
    try:
        with closing(connect()) as conn:
            return conn.execute("SELECT 1 FROM orders WHERE id = ?", (order_id,)).fetchone() is not None
    except sqlite3.Error:
        return False


def answer(start_response: Any, code: int, body: dict[str, str]) -> list[bytes]:
    out = json.dumps(body).encode()
    start_response(f"{code} {STATUS[code]}", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


STATUS = {200: "OK", 400: "Bad Request", 402: "Payment Required", 404: "Not Found", 409: "Conflict",
          503: "Service Unavailable"}


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server with a thread per request: the check-back must be
    answered while payments are in flight."""

    daemon_threads = True
    request_queue_size = 128


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


if __name__ == "__main__":
    main()
