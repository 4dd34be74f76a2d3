"""The little SQL that differs between the databases the producer's barrier
table and the consumer's dedupe table live in, in one place (a port of the
Go client's dialect package): placeholders, insert-if-absent, key columns
that compare exactly, a duplicate key, a deadlock, transaction mode, and a
lock wait bounded by the caller's deadline.

The drivers: PyMySQL for MySQL/MariaDB, psycopg 3 for PostgreSQL, the
standard library's sqlite3. Placeholders are ``%s`` for the first two and
``?`` for sqlite3.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")


class Dialect(StrEnum):
    """The SQL of one database."""

    MYSQL = "mysql"  # MySQL and MariaDB, InnoDB, via PyMySQL
    POSTGRES = "postgres"  # via psycopg 3
    SQLITE = "sqlite"  # via sqlite3

    @property
    def param(self) -> str:
        """The driver's placeholder."""
        return "?" if self is Dialect.SQLITE else "%s"

    def params(self, n: int) -> str:
        return ", ".join([self.param] * n)

    def insert_if_absent(self, insert: str, key: str) -> str:
        """insert made into one that does nothing when the row's key exists,
        waiting for a transaction that is writing that key."""
        if self is Dialect.MYSQL:
            # Unlike INSERT IGNORE, this ignores only the duplicate key.
            first = key.split(",")[0].strip()
            return f"{insert} ON DUPLICATE KEY UPDATE {first} = {first}"
        return f"{insert} ON CONFLICT ({key}) DO NOTHING"

    def create_index(self, name: str, table: str, columns: str) -> str:
        """The statement creating an index, "" on MySQL whose CREATE TABLE
        declares it."""
        if self is Dialect.MYSQL:
            return ""
        return f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"

    def key_type(self, n: int) -> str:
        """A key column of up to n bytes that compares exactly: Courier's
        ids are case-sensitive, and MySQL's default collations ignore case
        and trailing spaces, so there it is VARBINARY."""
        return f"VARBINARY({n})" if self is Dialect.MYSQL else f"VARCHAR({n})"


def resolve(dialect: Dialect | str | None, conn: Any) -> Dialect:
    """dialect, or when empty the dialect of conn's driver."""
    if dialect:
        return Dialect(dialect)
    module = type(conn).__module__
    for prefix, d in (("pymysql", Dialect.MYSQL), ("psycopg", Dialect.POSTGRES), ("sqlite3", Dialect.SQLITE)):
        if module.startswith(prefix):
            return d
    raise ValueError(f"unknown database driver {module}: pass the dialect")


_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_table(name: str) -> None:
    """Refuse a table name that is not a plain SQL identifier: it is written
    into statements."""
    if not _TABLE.match(name):
        raise ValueError(f"table {name!r} is not a plain SQL name")


def transactional(d: Dialect, conn: Any) -> Any:
    """conn with autocommit off, so that its statements run in one
    transaction until commit() or rollback()."""
    if d is Dialect.MYSQL:
        if conn.get_autocommit():
            conn.autocommit(False)
    elif d is Dialect.POSTGRES:
        if conn.autocommit:
            conn.autocommit = False
    elif conn.isolation_level is None:
        # sqlite3 begins a transaction before the first write (the barrier
        # or dedupe row, always the first statement).
        conn.isolation_level = "DEFERRED"
    return conn


def execute(conn: Any, query: str, args: tuple[Any, ...] = ()) -> Any:
    """Run query on a new cursor of conn and return the cursor."""
    cur = conn.cursor()
    cur.execute(query, args)
    return cur


def query_row(conn: Any, query: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    cur = execute(conn, query, args)
    row = cur.fetchone()
    cur.close()
    return None if row is None else tuple(row)


def exact_keys(d: Dialect, conn: Any, table: str, n: int, *columns: str) -> None:
    """Turn each column MySQL compares with a collation (a VARCHAR made by
    an earlier version) into key_type(n), keeping its rows. Elsewhere, and
    for columns already exact, nothing."""
    if d is not Dialect.MYSQL:
        return
    for col in columns:
        row = query_row(conn, "SELECT DATA_TYPE FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s", (table, col))
        if row is None:
            raise RuntimeError(f"read the type of {table}.{col}: no such column")
        typ = row[0].decode() if isinstance(row[0], bytes) else str(row[0])
        if typ.lower() != "varbinary":
            execute(conn, f"ALTER TABLE {table} MODIFY {col} {d.key_type(n)} NOT NULL")
    conn.commit()


def duplicate(d: Dialect, err: BaseException) -> bool:
    """err is an insert refused because the key exists: MySQL's 1062,
    PostgreSQL's SQLSTATE 23505, SQLite's UNIQUE or PRIMARY KEY constraint."""
    if d is Dialect.MYSQL:
        return bool(err.args) and err.args[0] == 1062
    if d is Dialect.POSTGRES:
        return getattr(err, "sqlstate", None) == "23505"
    msg = str(err)
    return "UNIQUE constraint failed" in msg or "PRIMARY KEY constraint failed" in msg


def deadlock(err: BaseException) -> bool:
    """err is a statement the database aborted to break a deadlock or a
    serialization conflict: SQLSTATE 40001 or 40P01, MySQL's 1213."""
    if getattr(err, "sqlstate", None) in ("40001", "40P01"):
        return True
    if err.args and err.args[0] == 1213:
        return True
    return "deadlock" in str(err).lower()


def bounded_wait(d: Dialect, conn: Any, wait: float, fn: Callable[[], T]) -> T:
    """Run fn on conn with its lock waits ending after wait seconds:
    innodb_lock_wait_timeout on MySQL, lock_timeout on PostgreSQL,
    busy_timeout on SQLite, each put back after fn. Without it a statement
    whose caller gave up kept waiting in the database (MySQL: up to 50 s).
    fn must end its own transactions. If fn raises, the setting is not put
    back: the caller must close conn rather than reuse it."""
    if wait <= 0:
        raise TimeoutError("no time left to wait for the lock")
    if d is Dialect.MYSQL:
        # Whole seconds, at least one: the server's unit.
        show, set_ = "SELECT @@SESSION.innodb_lock_wait_timeout", "SET SESSION innodb_lock_wait_timeout = "
        value = str(max(1, math.ceil(wait)))
    elif d is Dialect.POSTGRES:
        show, set_ = "SHOW lock_timeout", "SET lock_timeout = "
        value = f"'{max(1, int(wait * 1000))}ms'"
    else:
        show, set_ = "PRAGMA busy_timeout", "PRAGMA busy_timeout = "
        value = str(max(1, int(wait * 1000)))
    row = query_row(conn, show)
    old = str(row[0]) if row else ""
    execute(conn, set_ + value).close()
    conn.commit()
    result = fn()
    if d is Dialect.POSTGRES:
        old = "'" + old.replace("'", "''") + "'"
    execute(conn, set_ + old).close()
    conn.commit()
    return result
