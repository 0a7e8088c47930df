#!/usr/bin/env bash
# `make bench`: read throughput of lanecheck vs tcpdump vs a bare read loop,
# side by side in one run, medians of $RUNS runs (default 5). The machines
# are shared and noisy: compare the ratios, not the absolute times.
#
# Memory: peak RSS from /usr/bin/time. lanecheck reads files with read()
# into one buffer (no mmap), so its RSS is anonymous memory plus its own
# code pages: an upper bound of the anonymous memory.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
DATA=${BENCH_DATA:-bench-data}
SIZE=${BENCH_BYTES:-1073741824}

cargo build --release --locked -q -p lanecheck -p fixgen --bins
cargo build --release --locked -q -p capture --example readloop
BIN=target/release
mkdir -p "$DATA"
if [ ! -s "$DATA/bench.pcap" ] || [ ! -s "$DATA/bench.pcapng" ]; then
    echo "generating $SIZE-byte captures in $DATA/ ..."
    "$BIN/fixgen" bench "$DATA/bench.pcap" "$DATA/bench.pcapng" "$SIZE"
fi
cat "$DATA/bench.pcap" "$DATA/bench.pcapng" > /dev/null   # warm the page cache

read -r PACKETS _ < <("$BIN/examples/readloop" "$DATA/bench.pcap")
echo "captures: $DATA/bench.pcap and $DATA/bench.pcapng, $PACKETS packets each, $(du -h "$DATA/bench.pcap" | cut -f1)"
echo "runs per cell: $RUNS (median)"
echo

# measure LABEL CMD... → prints "median_seconds max_rss_kib"
measure() {
    local times=() rss=() tmp
    tmp=$(mktemp)
    for _ in $(seq "$RUNS"); do
        local t0=$EPOCHREALTIME
        /usr/bin/time -f "%M" -o "$tmp" "$@" > /dev/null 2>&1 || true   # audit exits 1 on violations
        local t1=$EPOCHREALTIME
        m=$(tail -1 "$tmp")
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
        rss+=("$m")
    done
    rm -f "$tmp"
    local med max
    med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    max=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1)
    echo "$med $max"
}

printf '%-10s %-36s %9s %9s %10s %12s %12s\n' format reader "median s" "Mpps" "vs tcpdump" "peak RSS MiB" "vs read loop"
for f in pcap pcapng; do
    file="$DATA/bench.$f"
    read -r t_tcpdump m_tcpdump < <(measure tcpdump -nr "$file" -w /dev/null)
    read -r t_lc m_lc < <(measure "$BIN/lanecheck" flows --format json --output /dev/null "$file")
    read -r t_au m_au < <(measure "$BIN/lanecheck" audit --policy policies/dpm.toml --format json --output /dev/null "$file")
    read -r t_loop m_loop < <(measure "$BIN/examples/readloop" "$file")
    for row in "lanecheck flows|$t_lc|$m_lc" "lanecheck audit (policies/dpm.toml)|$t_au|$m_au" "tcpdump -nr F -w /dev/null|$t_tcpdump|$m_tcpdump" "bare read loop (frames only)|$t_loop|$m_loop"; do
        IFS='|' read -r name t m <<< "$row"
        awk -v f="$f" -v n="$name" -v t="$t" -v m="$m" -v p="$PACKETS" -v base="$t_tcpdump" -v loop="$t_loop" 'BEGIN {
            printf "%-10s %-36s %9.3f %9.2f %9.2fx %12.1f %11.2fx\n", f, n, t, p / t / 1e6, base / t, m / 1024, loop / t }'
    done
done
echo; echo "live capture (scripts/bench-live.sh):"; scripts/bench-live.sh
echo; echo "daemon (scripts/bench-watch.sh):"; scripts/bench-watch.sh
