#!/usr/bin/env bash
# Autobahn|Testsuite (fuzzingclient mode) against porch's native echo (tests/autobahn/echo.py)
# and against a Starlette echo app hosted by porch (tests/websocket/asgiapps.py), each served
# by `porch serve`. Prints the verdict per target and a table of results per section.
#
#   tests/autobahn/run.sh                   sections 1-7, 9, 10, 12, 13 (slow: 9, 12 and 13)
#   tests/autobahn/run.sh '["1.*","2.*"]'   a subset while developing
#
# Needs the Python 2.7 `wstest` (autobahntestsuite): WSTEST=/path/to/wstest, default
# /tmp/ab-venv27/bin/wstest (see /work/shared/tools/README.md, or build it with
# `virtualenv -p python2.7 /tmp/ab-venv27 && /tmp/ab-venv27/bin/pip install autobahntestsuite`).
# Not part of `make test`: the full run takes many minutes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORCH=${PORCH:-$ROOT/.venv/bin/porch}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
TOOLS=${AUTOBAHN_TOOLS:-/work/shared/tools/autobahn}
export WSTEST=${WSTEST:-/tmp/ab-venv27/bin/wstest}
CASES=${1:-'["1.*","2.*","3.*","4.*","5.*","6.*","7.*","9.*","10.*","12.*","13.*"]'}
OUT=${AB_OUT:-${TMPDIR:-/tmp}/porch-autobahn}
[ -x "$WSTEST" ] || { echo "no wstest at $WSTEST (set WSTEST)" >&2; exit 2; }
mkdir -p "$OUT"
status=0
run_target() {  # NAME APP
  local name=$1 app=$2 port pid
  port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # Section 9 sends messages of up to 16 MiB.
  (cd "$ROOT" && exec "$PORCH" serve "$app" --port "$port" --no-access-log \
      --ws-max-size 16777216) > "$OUT/server-$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    "$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
  echo "== $name"
  AB_OUT="$OUT/$name" bash "$TOOLS/run_autobahn.sh" 127.0.0.1 "$port" "porch-$name" "$CASES" /ws \
    || status=1
  kill -TERM "$pid"; wait "$pid" || true
}
run_target native tests.autobahn.echo:app
run_target starlette tests.websocket.asgiapps:starlette_app
"$PYTHON" "$ROOT/tests/autobahn/sections.py" "$OUT"/native/reports/index.json \
  "$OUT"/starlette/reports/index.json
exit $status
