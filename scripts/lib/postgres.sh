# shellcheck shell=bash
# Find or start a PostgreSQL server for the tests; print its SQLAlchemy URL.
# Order: $REEFERWATCH_TEST_PG as given; a server on 127.0.0.1:5432; else install and start one (root).

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
    if [ -n "${REEFERWATCH_TEST_PG:-}" ]; then
        printf '%s\n' "$REEFERWATCH_TEST_PG"
        return 0
    fi
    if ! command -v pg_isready >/dev/null; then
        apt_install postgresql >&2 || return 1
    fi
    if ! pg_ready; then
        [ "$(id -u)" -eq 0 ] || return 1
        local version
        version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" 2>/dev/null | sort -V | tail -n 1)
        [ -n "$version" ] || return 1
        say "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || return 1
        for _ in $(seq 1 50); do pg_ready && break; sleep 0.2; done
        pg_ready || return 1
    fi
    # Tests create (and drop) their own databases, so they connect as the postgres superuser.
    if [ "$(id -u)" -eq 0 ] && ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
        return 1
    fi
    printf '%s\n' "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
}
