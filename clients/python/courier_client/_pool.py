"""A small pool of DB-API connections, so that each transaction and
check-back does not pay a connect. The drivers have none in common."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .dialect import Dialect, exact_keys, execute, resolve, transactional


class Pool:
    """Keeps up to ``idle`` open connections made by ``connect``. A
    connection that saw an error is closed, not reused: its session state
    (a transaction, a lock timeout) is not known."""

    def __init__(self, connect: Callable[[], Any], dialect: Dialect, idle: int = 4) -> None:
        self._connect = connect
        self._dialect = dialect
        self._idle: list[Any] = []
        self._max = idle
        self._lock = threading.Lock()

    @classmethod
    def open(cls, connect: Callable[[], Any], dialect: Dialect | str | None) -> Pool:
        """A pool of connect's connections in dialect; when that is empty,
        in the dialect of a first connection, which the pool keeps."""
        first = None if dialect else connect()  # detecting the dialect needs a connection
        pool = cls(connect, resolve(dialect, first))
        if first is not None:
            pool.put(transactional(pool.dialect, first))
        return pool

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def get(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return transactional(self._dialect, self._connect())

    def put(self, conn: Any, healthy: bool = True) -> None:
        if healthy:
            with self._lock:
                if len(self._idle) < self._max:
                    self._idle.append(conn)
                    return
        close(conn)

    def migrate(self, table: str, create: str, n: int, *keys: str) -> None:
        """Create table (the statement create) and its created_at index
        unless they exist, and make the key columns keys of a MySQL table
        made by an earlier version compare exactly (n bytes): the barrier's
        and the dedupe table's migrate."""
        d = self._dialect
        conn = self.get()
        try:
            for stmt in (create, d.create_index(f"{table}_created", table, "created_at")):
                if stmt:
                    execute(conn, stmt).close()
            conn.commit()
            exact_keys(d, conn, table, n, *keys)
        except BaseException:
            self.put(conn, False)
            raise
        self.put(conn)

    def delete_before(self, table: str, before_ms: int) -> int:
        """Delete table's rows created before before_ms (Unix milliseconds)
        in a transaction of their own: the barrier's and the dedupe table's
        cleanup."""
        conn = self.get()
        try:
            cur = execute(conn, f"DELETE FROM {table} WHERE created_at < {self._dialect.param}", (before_ms,))
            n = cur.rowcount
            cur.close()
            conn.commit()
        except BaseException:
            rollback(conn)
            self.put(conn, False)
            raise
        self.put(conn)
        return int(n)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            close(conn)


def close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # closing a broken connection fails; it is gone either way
        pass


def rollback(conn: Any) -> bool:
    """Roll conn back; False when that failed (the connection is broken)."""
    try:
        conn.rollback()
        return True
    except Exception:
        return False
