#!/usr/bin/env bash
# Live section of `make bench`: a 10-second TCP transfer (iperf3) between two
# network namespaces over a veth pair, captured at the same time by
# `lanecheck verify` (defaults: snaplen 256, 32 MiB buffer) and by tcpdump
# with its defaults (snaplen 262144, 2 MiB buffer), once with TSO/GSO off
# (MTU-sized frames) and once with offloads on (GSO super-frames).
# Traffic stays inside the two namespaces this script creates.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/lanecheck
SECS=${LIVE_SECS:-10}
if [ "$(id -u)" -ne 0 ]; then
    echo "live bench SKIPPED: needs root for network namespaces"
    exit 0
fi
# shellcheck source=lab.sh
source scripts/lab.sh lcb
cat > "$WORK/policy.toml" <<'TOML'
[networks]
lab = ["10.99.0.0/24"]
[interfaces]
veth0 = "lab"
TOML

printf '%-14s %-10s %10s %12s %9s %8s\n' offloads capturer packets "packets/s" "Gbit/s" drops
for mode in off on; do
    for ns in "$A" "$B"; do
        ip netns exec "$ns" ethtool -K veth0 tso "$mode" gso "$mode" gro "$mode" >/dev/null 2>&1 || true
    done
    ip netns exec "$B" iperf3 -s -1 -D -p 5201 >/dev/null 2>&1
    sleep 0.5
    ip netns exec "$A" tcpdump -i veth0 -w /dev/null 2> "$WORK/tcpdump.err" &
    TD=$!
    sleep 1
    ip netns exec "$A" "$BIN" verify --policy "$WORK/policy.toml" --iface veth0 --settle 500ms \
        --format json --output "$WORK/verify.json" -- iperf3 -c 10.99.0.2 -p 5201 -t "$SECS" 2> "$WORK/iperf.log" || true
    kill -INT "$TD"; wait "$TD" || true
    python3 - "$WORK/verify.json" "$WORK/tcpdump.err" "$mode" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
n = d["nics"][0]
secs = d["duration_ms"] / 1000
drops = n["kernel_drops"] + n["iface_drops"] + n["queue_drops"]
print(f"{sys.argv[3]:<14} {'lanecheck':<10} {n['packets']:>10} {n['packets']/secs:>12.0f} {n['bytes']*8/secs/1e9:>9.2f} {drops:>8}")
err = open(sys.argv[2]).read()
cap = int(re.search(r"(\d+) packets captured", err).group(1))
rcv = int(re.search(r"(\d+) packets received by filter", err).group(1))
dropped = int(re.search(r"(\d+) packets dropped by kernel", err).group(1))
pct = 100 * dropped / max(rcv, 1)
print(f"{sys.argv[3]:<14} {'tcpdump':<10} {cap:>10} {'':>12} {'':>9} {dropped:>8} ({pct:.1f}% of {rcv})")
PY
done
