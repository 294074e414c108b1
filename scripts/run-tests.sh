#!/usr/bin/env bash
# Runs the suite on PostgreSQL: DATABASE_URL if set, else the local server on 127.0.0.1:5432,
# else a throwaway cluster when PostgreSQL's binaries are installed. Without any, it says so loudly,
# runs what does not need PostgreSQL, and names what it skipped (in CI that is a failure). The same
# for Chromium and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PYTEST_ARGS=("$@")

find_pg_bin() {
    local name=$1
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
    ls /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -1
}

start_throwaway_cluster() {
    local initdb pg_ctl dir port=54329
    initdb=$(find_pg_bin initdb); pg_ctl=$(find_pg_bin pg_ctl)
    [ -n "$initdb" ] && [ -n "$pg_ctl" ] || return 1
    dir=$(mktemp -d /tmp/crm-pgtest.XXXXXX)
    local run=()
    if [ "$(id -u)" = 0 ]; then
        # PostgreSQL refuses to run as root; the cluster belongs to the postgres system user.
        id postgres >/dev/null 2>&1 || return 1
        chown postgres "$dir"; run=(runuser -u postgres --)
    fi
    "${run[@]}" "$initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    "${run[@]}" "$pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1" -w start >/dev/null
    trap '"${run[@]}" "$pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$dir"' EXIT
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/crm"
    echo "Using a throwaway PostgreSQL cluster in $dir (port $port)."
}

pg_up() {
    local isready
    isready=$(find_pg_bin pg_isready)
    if [ -n "$isready" ]; then "$isready" -q -h 127.0.0.1 -p 5432; return; fi
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
}

if [ -n "${DATABASE_URL:-}" ]; then
    echo "Using DATABASE_URL for the test database."
elif pg_up; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/crm"
    echo "Using the local PostgreSQL server on 127.0.0.1:5432."
elif start_throwaway_cluster; then
    :
else
    cat >&2 <<'MSG'
################################################################################
#  NO POSTGRESQL AVAILABLE: no DATABASE_URL, no server on 127.0.0.1:5432, and no  #
#  PostgreSQL binaries for a throwaway cluster. Running on SQLite instead and     #
#  SKIPPING every test marked `postgres` (listed below as skipped).               #
################################################################################
MSG
    if [ "${CI:-}" = "true" ]; then
        echo "In CI no PostgreSQL test may be skipped: failing." >&2
        exit 1
    fi
    export CRM_TESTS_WITHOUT_POSTGRES=1
fi

# The browser tests (tests/browser/) drive Debian's Chromium through Playwright; without it they are
# skipped and named at the end of the run (in CI that is a failure).
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
    cat >&2 <<MSG
################################################################################
#  NO CHROMIUM at $CHROMIUM (apt-get install chromium, or set CHROMIUM):
#  SKIPPING every browser test in tests/browser/ (listed at the end as skipped).
################################################################################
MSG
    if [ "${CI:-}" = "true" ]; then
        echo "In CI no browser test may be skipped: failing." >&2
        exit 1
    fi
fi
export CHROMIUM

# Servers and workers the tests start share the test process's keys (tokens, encrypted secrets, the
# tenant scope seal), and refuse a weak one with DEBUG off: a random local key unless one is exported.
export SECRET_KEY="${SECRET_KEY:-$("$BIN/python" scripts/local_secret_key.py)}"

# Two workers on PostgreSQL (one test database each); the SQLite fallback runs in one process so
# its closing summary can list what it skipped.
PARALLEL=()
if [ -z "${CRM_TESTS_WITHOUT_POSTGRES:-}" ]; then PARALLEL=(-n "${TEST_WORKERS:-2}"); fi
exec "$BIN/python" -m pytest "${PARALLEL[@]}" "${PYTEST_ARGS[@]}"
