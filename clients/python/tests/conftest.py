"""Test fixtures: a real `courier dev` built from this checkout and started
as an OS process on free ports with devcourier's fast policy (first
check-back after a second, resends two seconds apart), and fresh databases
on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from courier_client import Client

REPO = pathlib.Path(__file__).resolve().parents[3]
MYSQL = dict(host=os.environ.get("COURIER_TEST_MYSQL_HOST", "127.0.0.1"), port=3306, user="root", password="")
POSTGRES = os.environ.get("COURIER_TEST_POSTGRES_DSN", "host=127.0.0.1 port=5432 user=root dbname=test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Courier:
    url: str
    kafka: str
    proc: subprocess.Popen[bytes]
    log: pathlib.Path


@pytest.fixture(scope="session")
def courier() -> Iterator[Courier]:
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="courier-py-"))
    binary = tmp / "courier"
    subprocess.run(["go", "build", "-o", str(binary), "./cmd/courier"], cwd=REPO, check=True)
    # A free port can be taken between its release and courier's bind: then
    # courier exits and another set is tried, as devcourier does.
    for attempt in range(3):
        http_port, temporal_port, kafka_port = _free_port(), _free_port(), _free_port()
        data = tmp / "data"
        shutil.rmtree(data, ignore_errors=True)
        log = tmp / "courier.log"
        proc = subprocess.Popen(
            [str(binary), "dev", "--data-dir", str(data), "--no-ui",
             "--http-addr", f"127.0.0.1:{http_port}", "--temporal-port", str(temporal_port),
             "--kafka-port", str(kafka_port), "--worker-stop-timeout", "1s",
             "--check-delay", "1s", "--check-max-delay", "2s", "--check-timeout", "2s",
             "--resend-intervals", "2s,2s,2s", "--log-level", "warn"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.2)
        if proc.poll() is None:
            break
        if attempt == 2 or "address already in use" not in log.read_text():
            raise RuntimeError("courier dev did not start:\n" + log.read_text())
    c = Courier(url=url, kafka=f"127.0.0.1:{kafka_port}", proc=proc, log=log)
    try:
        yield c
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def client(courier: Courier) -> Client:
    return Client(courier.url)


def wait_status(c: Client, id: str, want: str, limit: float = 30) -> Any:
    """Poll message id until its status is want (Courier's mirror is
    asynchronous); fail after limit seconds."""
    deadline = time.monotonic() + limit
    view = None
    while True:
        try:
            view = c.get(id)
            if view.status == want:
                return view
        except Exception as e:  # not mirrored yet
            view = e
        if time.monotonic() > deadline:
            pytest.fail(f"message {id}: want {want}, have {view!r}")
        time.sleep(0.1)


@dataclass
class Database:
    """A fresh database of one dialect: connect() opens a new DB-API
    connection to it."""

    dialect: str
    connect: Callable[[], Any]
    placeholder: str

    def sql(self, q: str) -> str:
        """q with the driver's placeholder for "?"."""
        return q.replace("?", self.placeholder)

    def query(self, q: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(self.sql(q), args)
            rows = list(cur.fetchall()) if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()


@pytest.fixture(params=["sqlite", "mysql", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Database]:
    name = "courier_py_" + uuid.uuid4().hex[:10]
    if request.param == "sqlite":
        import sqlite3

        path = tmp_path / "test.db"

        def connect_sqlite() -> Any:
            conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            return conn

        yield Database("sqlite", connect_sqlite, "?")
    elif request.param == "mysql":
        import pymysql

        admin = pymysql.connect(**MYSQL, autocommit=True)
        admin.cursor().execute(f"CREATE DATABASE {name}")
        try:
            yield Database("mysql", lambda: pymysql.connect(**MYSQL, database=name), "%s")
        finally:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
            admin.close()
    else:
        import psycopg

        from psycopg.conninfo import make_conninfo

        admin = psycopg.connect(POSTGRES, autocommit=True)
        admin.execute(f"CREATE DATABASE {name}")
        # The server's DSN comes as key=value pairs or as a URL (as .ci/run
        # sets it); make_conninfo names the new database in either form.
        dsn = make_conninfo(POSTGRES, dbname=name)
        try:
            with psycopg.connect(dsn) as check:
                row = check.execute("SELECT current_database()").fetchone()
                assert row is not None and row[0] == name, f"{dsn} opened {row}, not the test's own database"
            yield Database("postgres", lambda: psycopg.connect(dsn), "%s")
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.close()
