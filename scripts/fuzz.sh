#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer), one target after another,
# each in one process on one core. See fuzz/README.md.
#
#   scripts/fuzz.sh [TARGET...]      default: every target
#
# Environment:
#   FUZZ_TOTAL=600        seconds for the whole run, shared evenly by the targets
#   FUZZ_SECONDS=N        seconds per target instead (overrides FUZZ_TOTAL)
#   FUZZ_RUNS=N           stop a target after N executions (e.g. 10000000); alone,
#                         without FUZZ_SECONDS or FUZZ_TOTAL, there is no time limit
#   FUZZ_SANITIZER=none   or address (ASan: needs the nightly toolchain, ~5x slower)
#   FUZZ_TOOLCHAIN=       rustup toolchain for cargo-fuzz (default: stable for
#                         none, nightly for address)
#   FUZZ_ARGS=            extra libFuzzer flags for every target
#
# Prints per target: seconds, executions, executions per second, crashes
# (crash/timeout/oom artifacts written by this run). Exit 1 if any target
# crashed; the artifact paths are printed with the reproduce command.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
ALL_TARGETS=(capture_reader decode smb dcerpc dns_tcp dns_message analyzer policy derive)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")

SAN=${FUZZ_SANITIZER:-none}
case "$SAN" in
none) TOOLCHAIN=${FUZZ_TOOLCHAIN:-stable} ;;
address) TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly} ;;
*) echo "fuzz: FUZZ_SANITIZER must be none or address" >&2; exit 2 ;;
esac
if [ -n "${FUZZ_RUNS:-}" ] && [ -z "${FUZZ_SECONDS:-}${FUZZ_TOTAL:-}" ]; then
	SECONDS_PER=0 # FUZZ_RUNS alone: no time limit
else
	TOTAL=${FUZZ_TOTAL:-600}
	SECONDS_PER=${FUZZ_SECONDS:-$((TOTAL / ${#TARGETS[@]}))}
	[ "$SECONDS_PER" -ge 1 ] || SECONDS_PER=1
fi

# Largest input per target: capture seeds are cut to 64 KiB; the analyzer's
# to 16 KiB (a few host pairs' packets reach every stage, and it runs at
# half the speed on 64 KiB inputs); one frame, DNS message, policy or
# PowerShell export is far smaller.
max_len() {
	case "$1" in
	decode) echo 4096 ;;
	analyzer | dns_message | policy | derive) echo 16384 ;;
	*) echo 65536 ;;
	esac
}

if ! command -v cargo-fuzz >/dev/null; then
	echo "fuzz: installing cargo-fuzz"
	cargo install --locked cargo-fuzz
fi
if ! rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1; then
	echo "fuzz: rustup toolchain '$TOOLCHAIN' is missing (rustup toolchain install $TOOLCHAIN)" >&2
	exit 2
fi

echo "fuzz: seeds (fuzz/seeds/<target>/)"
cargo run --quiet --release --locked --manifest-path fuzz/Cargo.toml -p seedgen

FUZZ=(cargo "+$TOOLCHAIN" fuzz)
# -a: debug assertions and overflow checks, as in `make test`'s builds.
BUILD=(--sanitizer "$SAN" --debug-assertions --target-dir "fuzz/target/$SAN")
echo "fuzz: building targets ($TOOLCHAIN, sanitizer $SAN)"
"${FUZZ[@]}" build "${BUILD[@]}"

mkdir -p fuzz/logs
results=()
crashed=0
for t in "${TARGETS[@]}"; do
	mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
	before=$(ls "fuzz/artifacts/$t" | sort)
	args=(-max_total_time="$SECONDS_PER" -print_final_stats=1 -max_len="$(max_len "$t")"
		-timeout=10 -rss_limit_mb=2048)
	[ -z "${FUZZ_RUNS:-}" ] || args+=(-runs="$FUZZ_RUNS")
	[ ! -f "fuzz/dict/$t.dict" ] || args+=(-dict="fuzz/dict/$t.dict")
	# shellcheck disable=SC2206
	args+=(${FUZZ_ARGS:-})
	log="fuzz/logs/$t.log"
	limit="${SECONDS_PER}s"
	[ "$SECONDS_PER" != 0 ] || limit="no time limit"
	echo "fuzz: $t: $limit${FUZZ_RUNS:+, $FUZZ_RUNS executions} (log $log)"
	start=$(date +%s)
	status=0
	"${FUZZ[@]}" run "${BUILD[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- "${args[@]}" \
		>"$log" 2>&1 || status=$?
	elapsed=$(($(date +%s) - start))
	# libFuzzer's final stats; if it died before printing them, its last status line.
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
	execs=${execs:-0}
	rate=$(sed -n 's/^#[0-9]*[[:space:]]*DONE.*exec\/s: \([0-9]*\).*/\1/p' "$log" | tail -1)
	[ -n "$rate" ] || rate=$((execs / (elapsed > 0 ? elapsed : 1)))
	new=$(comm -13 <(echo "$before") <(ls "fuzz/artifacts/$t" | sort) | grep -E '^(crash|timeout|oom|leak|slow-unit)-' || true)
	n=$(echo -n "$new" | grep -c . || true)
	if [ "$status" -ne 0 ] && [ "$n" -eq 0 ]; then
		n="?"
		echo "fuzz: $t exited $status without an artifact; see $log" >&2
	fi
	if [ "$n" != 0 ]; then
		crashed=1
		for a in $new; do
			echo "fuzz: $t: fuzz/artifacts/$t/$a  (reproduce: cargo +$TOOLCHAIN fuzz run ${BUILD[*]} $t fuzz/artifacts/$t/$a)"
		done
		grep -m1 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$log" || true
	fi
	results+=("$(printf '%-15s %8s %14s %10s %8s' "$t" "$elapsed" "$execs" "$rate" "$n")")
done

echo
printf '%-15s %8s %14s %10s %8s\n' target seconds executions exec/s crashes
printf '%s\n' "${results[@]}"
exit "$crashed"
