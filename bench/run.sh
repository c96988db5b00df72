#!/usr/bin/env bash
# Set up the benchmark environment, then run bench/bench.py with our arguments.
#   bash bench/run.sh [--quick] [--only porch,uvicorn] [--runs 3] ...
# Creates bench/.venv on first use, installs the pinned peers from
# bench/requirements.txt and porch (editable) from the repo root, and installs
# wrk/nginx from apt only when they are missing.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
VENV="$BENCH_DIR/.venv"
PY="$VENV/bin/python"

log() { printf '[bench] %s\n' "$*" >&2; }

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

ensure_apt_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v taskset >/dev/null || missing+=(util-linux)
    [[ ${#missing[@]} -eq 0 ]] && return
    log "installing from apt: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    # Debian's package starts the system nginx; the benchmark runs its own.
    if [[ -f /run/nginx.pid ]]; then
        as_root /usr/sbin/nginx -s stop || true
    fi
}

# The interpreter the Makefile picks (3.12+ when there is one): porch and every peer run on
# the same Python.
BASE_PY="$(make -s -C "$REPO_DIR" --no-print-directory --eval 'print-python: ; @echo $(PYTHON)' print-python 2>/dev/null || echo python3)"

ensure_venv() {
    if [[ -x "$PY" ]] && [[ "$("$PY" -c 'import sys; print(sys.version)')" != "$("$BASE_PY" -c 'import sys; print(sys.version)')" ]]; then
        log "$VENV was made by another Python: making it again"
        rm -rf "$VENV"
    fi
    if [[ ! -x "$PY" ]]; then
        log "creating $VENV with $BASE_PY"
        if ! "$BASE_PY" -m venv "$VENV"; then
            log "python3 -m venv failed; installing python3-venv from apt"
            as_root apt-get update -qq
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
            rm -rf "$VENV"
            "$BASE_PY" -m venv "$VENV"
        fi
    fi
    local stamp="$VENV/.peers-installed"
    if [[ ! -f "$stamp" || "$BENCH_DIR/requirements.txt" -nt "$stamp" ]]; then
        log "installing peers (bench/requirements.txt)"
        "$PY" -m pip install -q -r "$BENCH_DIR/requirements.txt"
        touch "$stamp"
    fi
    # porch is editable: only a changed pyproject.toml needs a reinstall.
    local porch_stamp="$VENV/.porch-installed"
    if [[ ! -f "$REPO_DIR/pyproject.toml" ]]; then
        log "no pyproject.toml in $REPO_DIR yet: porch rows will fail"
    elif [[ ! -f "$porch_stamp" || "$REPO_DIR/pyproject.toml" -nt "$porch_stamp" ]]; then
        log "installing porch (editable) from $REPO_DIR"
        if "$PY" -m pip install -q -e "$REPO_DIR[db]"; then  # [db]: suite `db`
            touch "$porch_stamp"
        else
            log "pip install -e $REPO_DIR failed: porch rows will fail"
        fi
    fi
}

ensure_apt_tools
ensure_venv
cd "$REPO_DIR"
exec "$PY" bench/bench.py "$@"
