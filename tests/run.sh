#!/usr/bin/env bash
# Runs every Tongban test on this machine, installing what the tests need first:
# PostgreSQL (a throwaway cluster on a private port, started as the `postgres` user because
# the server refuses to run as root), cargo-nextest, the Python Flight SQL client (ADBC),
# jwcrypto (an independent JOSE implementation), the OpenSSL headers, and for the web
# console's tests headless Chromium with its WebDriver, CJK fonts and an OpenAPI validator.
# Usage: tests/run.sh [nextest args…]
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

if ! pg_bin >/dev/null; then
  echo "installing PostgreSQL …"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN=$(pg_bin)

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest …"
  cargo install --locked cargo-nextest
fi

# The Flight SQL test drives a real client: the ADBC Flight SQL driver from Python.
if ! python3 -c 'import adbc_driver_flightsql, pyarrow' >/dev/null 2>&1; then
  echo "installing adbc-driver-flightsql and pyarrow …"
  python3 -m pip install --quiet adbc-driver-flightsql pyarrow
fi

# E-licence interoperability: tokens are checked by an independent JOSE implementation.
if ! python3 -c 'import jwcrypto' >/dev/null 2>&1; then
  echo "installing jwcrypto …"
  python3 -m pip install --quiet jwcrypto
fi

# The web console is tested in a real browser: Chromium and chromedriver from the Debian
# packages, with CJK fonts so that screenshots show the Chinese labels.
if [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi 'Noto Sans CJK'; then
  echo "installing chromium, chromium-driver and fonts-noto-cjk …"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null
fi

# The API description is checked by an independent OpenAPI 3.1 validator.
if ! python3 -c 'import openapi_spec_validator' >/dev/null 2>&1; then
  echo "installing openapi-spec-validator …"
  python3 -m pip install --quiet openapi-spec-validator
fi

# OpenSSL headers for building the e-licence crate.
if ! pkg-config --exists openssl 2>/dev/null; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq libssl-dev pkg-config >/dev/null
fi

# A throwaway cluster: trust auth on loopback only, a private port, removed on exit.
PG_PORT=${TONGBAN_TEST_PG_PORT:-54329}
PG_ROOT=$(mktemp -d /tmp/tongban-pg.XXXXXX)
chmod 755 "$PG_ROOT"
run_pg() {
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres:postgres "$PG_ROOT"
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}
cleanup() {
  run_pg "'$PG_BIN/pg_ctl' -D '$PG_ROOT/data' -m immediate stop" >/dev/null 2>&1 || true
  run_pg "'$PG_BIN/pg_ctl' -D '$PG_ROOT/fault' -m immediate stop" >/dev/null 2>&1 || true
  if [ -n "${SMALL_FS:-}" ] && mountpoint -q "$SMALL_FS"; then as_root umount "$SMALL_FS" || true; fi
  rm -rf "$PG_ROOT"
}
trap cleanup EXIT
run_pg "'$PG_BIN/initdb' -D '$PG_ROOT/data' -U postgres -A trust -E UTF8 --locale=C.UTF-8" >/dev/null
run_pg "'$PG_BIN/pg_ctl' -D '$PG_ROOT/data' -l '$PG_ROOT/server.log' -w -o \"-p $PG_PORT -k '$PG_ROOT' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start" >/dev/null
export TONGBAN_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

# A second cluster for the fault tests, which stop it like a crash and start it again while
# a gateway is under load; the cluster above stays up for every other test. Durable settings.
FAULT_PORT=$((PG_PORT + 1))
run_pg "'$PG_BIN/initdb' -D '$PG_ROOT/fault' -U postgres -A trust -E UTF8 --locale=C.UTF-8" >/dev/null
cat > "$PG_ROOT/fault-ctl" <<'CTL'
#!/bin/sh
# stop: like a crash (immediate shutdown); start: start again and wait until it accepts.
set -e
if [ "$(id -u)" = 0 ]; then run() { runuser -u postgres -- "$@"; }; else run() { "$@"; }; fi
case "$1" in
  stop) run @BIN@/pg_ctl -D @ROOT@/fault -m immediate stop ;;
  start) run @BIN@/pg_ctl -D @ROOT@/fault -l @ROOT@/fault.log -w \
           -o "-p @PORT@ -k @ROOT@ -c listen_addresses=127.0.0.1 -c max_connections=100" start ;;
  *) echo "usage: $0 stop|start" >&2; exit 2 ;;
esac
CTL
sed -i "s|@BIN@|$PG_BIN|g; s|@ROOT@|$PG_ROOT|g; s|@PORT@|$FAULT_PORT|g" "$PG_ROOT/fault-ctl"
chmod 755 "$PG_ROOT/fault-ctl"
"$PG_ROOT/fault-ctl" start >/dev/null
export TONGBAN_TEST_FAULT_POSTGRES_URL="postgres://postgres@127.0.0.1:$FAULT_PORT/postgres"
export TONGBAN_TEST_FAULT_POSTGRES_CTL="$PG_ROOT/fault-ctl"

# A small file system for the disk-full test: a 48 MiB tmpfs. Mounting needs root; without
# it the variable stays unset and the test fails saying so, rather than fill a real disk.
SMALL_FS="$PG_ROOT/small-fs"
mkdir -p "$SMALL_FS"
if as_root mount -t tmpfs -o size=48m tmpfs "$SMALL_FS" 2>/dev/null; then
  export TONGBAN_TEST_SMALL_FS="$SMALL_FS"
fi

cargo nextest run --workspace --no-fail-fast "$@"
