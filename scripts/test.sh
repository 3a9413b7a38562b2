#!/usr/bin/env bash
# The project's test command: formatting check, then the whole workspace's tests with the
# services-shape backends (S3 on moto, PostgreSQL) running, so their conformance tests run
# instead of being skipped. Extra arguments go to `cargo test` (e.g. `-p fp-substrate`).
#
# Needs: python3 with venv/pip (moto is installed into ./.venv on first run), curl, and
# PostgreSQL on 127.0.0.1:5432 with trust auth (started here if installed but stopped).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=lib/services.sh
source "$ROOT/scripts/lib/services.sh"
trap fp_stop_services EXIT

fp_ensure_venv "$ROOT"
fp_start_moto "$ROOT" "$ROOT/.test-run"
fp_create_bucket "$FP_MOTO_URL" fp-test
fp_ensure_postgres test

export FP_TEST_S3_ENDPOINT="$FP_MOTO_URL"
export FP_TEST_PG_DSN="${FP_TEST_PG_DSN:-postgresql://postgres@127.0.0.1:5432/test}"
export FP_TEST_REQUIRE_SERVICES=1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1

fp_log "cargo fmt --all -- --check"
cargo fmt --all -- --check

# `--workspace` would override a `-p/--package` given by the caller: only add it without one.
scope=(--workspace)
for arg in "$@"; do
    case "$arg" in
    -p | -p* | --package | --package=*) scope=() ;;
    esac
done

fp_log "cargo test ${scope[*]} --locked $* (S3: $FP_TEST_S3_ENDPOINT, PostgreSQL: $FP_TEST_PG_DSN)"
cargo test "${scope[@]}" --locked "$@"
fp_log "all tests passed"
