#!/bin/sh
# One-shot (the `temporal-schema` service of docker-compose.yml): create Temporal's two databases on its PostgreSQL
# and bring their schemas to the version this admin-tools image carries. Safe on every `docker compose up`: an
# existing database is kept and update-schema applies only what is missing.
set -eu
SQL_PASSWORD="$(cat /run/secrets/temporal_db_password)"
export SQL_PASSWORD
SCHEMAS=/etc/temporal/schema/postgresql/v12
for database in temporal temporal_visibility; do
    set -- --plugin postgres12 --ep "$TEMPORAL_DB_HOST" -p 5432 -u "$TEMPORAL_DB_USER" --db "$database"
    # `create` fails when the database exists (every start but the first); a real fault (unreachable, bad
    # password) fails setup-schema just below.
    temporal-sql-tool "$@" create || echo "database $database exists"
    temporal-sql-tool "$@" setup-schema -v 0.0
done
temporal-sql-tool --plugin postgres12 --ep "$TEMPORAL_DB_HOST" -p 5432 -u "$TEMPORAL_DB_USER" --db temporal \
    update-schema -d "$SCHEMAS/temporal/versioned"
temporal-sql-tool --plugin postgres12 --ep "$TEMPORAL_DB_HOST" -p 5432 -u "$TEMPORAL_DB_USER" --db temporal_visibility \
    update-schema -d "$SCHEMAS/visibility/versioned"
echo "temporal schemas ready"
