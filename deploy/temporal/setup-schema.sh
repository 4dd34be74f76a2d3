#!/bin/sh
# Creates or upgrades Temporal's MySQL schemas to the version this admin-tools
# image ships. Safe to run at every start: setup-schema only adds the version
# tables when they are missing and update-schema applies just the versions the
# database does not have yet. The databases and the user come from
# deploy/mysql/init.sql; the connection from SQL_HOST, SQL_PORT, SQL_USER,
# SQL_PASSWORD and SQL_PLUGIN.
set -eu

for db in temporal:mysql/v8/temporal temporal_visibility:mysql/v8/visibility; do
	name=${db%%:*}
	schema=${db#*:}
	echo "temporal-schema: ${name}"
	temporal-sql-tool --database "${name}" setup-schema -v 0.0
	temporal-sql-tool --database "${name}" update-schema --schema-name "${schema}"
done
echo "temporal-schema: done"
