#!/usr/bin/env bash
# What CI runs for the TypeScript client: install exactly the locked
# dependencies, type-check under strict, build, run the tests against a real
# courier dev on SQLite, MariaDB/MySQL and PostgreSQL, then the client
# conformance suite with this package's adapter.
#
# Needs Node.js >= 20, Go, and the databases the Go suites use:
#   COURIER_TEST_MYSQL_DSN     (default root@tcp(127.0.0.1:3306)/)
#   COURIER_TEST_POSTGRES_DSN  (default postgres://root@127.0.0.1:5432/test?sslmode=disable)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

# A .go file here would be picked up by the root module's ./...
if find . -path ./node_modules -prune -o -name '*.go' -print | grep -q .; then
	echo "clients/typescript must hold no .go file" >&2
	exit 1
fi

npm ci
npx tsc -p . --noEmit
npm run build

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# One courier binary for every test file (each starts its own courier dev).
go -C "$root" build -o "$tmp/courier" ./cmd/courier

export COURIER_TEST_MYSQL_DSN="${COURIER_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/}"
export COURIER_TEST_POSTGRES_DSN="${COURIER_TEST_POSTGRES_DSN:-postgres://root@127.0.0.1:5432/test?sslmode=disable}"
# The package's own tests read URLs; derive them from the DSNs above.
mysql_hostpart="${COURIER_TEST_MYSQL_DSN#*@tcp(}"
mysql_user="${COURIER_TEST_MYSQL_DSN%%@tcp(*}"
export COURIER_TEST_MYSQL_URL="${COURIER_TEST_MYSQL_URL:-mysql://${mysql_user}@${mysql_hostpart%%)*}/}"
pg_url="${COURIER_TEST_POSTGRES_DSN%%\?*}"
export COURIER_TEST_POSTGRES_URL="${COURIER_TEST_POSTGRES_URL:-$pg_url}"

COURIER_BIN="$tmp/courier" node --test --test-concurrency=1 dist/test/*.test.js

COURIER_CONFORMANCE_ADAPTER="node $here/dist/src/conformance-adapter.js" \
	go -C "$root/client" test ./conformance -run TestConformance -count=1 -parallel 4
