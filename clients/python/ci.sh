#!/bin/sh
# What CI runs for the Python client: its Debian packages, its tests, and the
# client conformance suite through its adapter. Run from anywhere in the
# checkout; needs Go, MariaDB at 127.0.0.1:3306 (root) and PostgreSQL at
# 127.0.0.1:5432 (root, database test).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=/usr/bin/python3   # Debian's, whose python3-* packages these are

if ! "$py" -c 'import pytest, psycopg, pymysql, confluent_kafka, mypy' 2>/dev/null; then
	apt-get install -y python3-pytest python3-psycopg python3-pymysql python3-confluent-kafka python3-mypy
fi

(cd "$here" && "$py" -m mypy courier_client conformance_adapter.py)   # strict, per pyproject.toml
cd "$root"
"$py" -m pytest -q -p no:cacheprovider clients/python

COURIER_TEST_MYSQL_DSN="${COURIER_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/}" \
COURIER_TEST_POSTGRES_DSN="${COURIER_TEST_POSTGRES_DSN:-postgres://root@127.0.0.1:5432/test?sslmode=disable}" \
COURIER_CONFORMANCE_ADAPTER="$py $root/clients/python/conformance_adapter.py" \
	go -C client test -count=1 -timeout 40m ./conformance
