#!/usr/bin/env bash
# Runs the whole test suite and ends with one line counting every test of
# every test binary ("N passed, N failed, N skipped"), whatever binary ran
# last. A test whose prerequisite is missing (root, the shared corpus, an
# external tool) prints "*** SKIPPED <name>: <why> ***" and returns early:
# libtest counts it as passed, this script counts it as skipped (`#[ignore]`d
# tests are skipped too). Under CI=true such a test fails instead.
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
early=$(grep -c '^\*\*\* SKIPPED ' "$log")
awk -v early="$early" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1); if ($i ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "%d passed, %d failed, %d skipped\n", p - early, f, s + early }' "$log"
exit "$status"
