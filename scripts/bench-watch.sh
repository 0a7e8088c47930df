#!/usr/bin/env bash
# Daemon section of `make bench`:
#  1. alert latency: 150 distinct leaks (TCP connection attempts to 150
#     server ports that the policy reserves for the backup network, sent on
#     the primary one); latency = event time - capture time of the leak's
#     first packet, p50/p99;
#  2. memory under a flood: 1,000,000 distinct flows (SYNs) replayed with
#     tcpreplay --topspeed into the watched veth; peak RSS (VmHWM) of the
#     daemon, flows tracked and evicted.
# `bench-watch.sh soak` (make soak) instead runs the soak: SOAK_MINUTES (30)
# of mixed traffic with a flood phase, RSS sampled every 10 s; see soak().
# Everything runs in two namespaces this script creates.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(pwd)/target/release/lanecheck
FLOWS=${FLOOD_FLOWS:-1000000}
if [ "$(id -u)" -ne 0 ]; then
    echo "daemon bench SKIPPED: needs root for network namespaces"
    exit 0
fi
# shellcheck source=lab.sh
source scripts/lab.sh lcw
if [ "${1:-}" = soak ]; then
    # shellcheck source=soak-watch.sh
    source scripts/soak-watch.sh
    soak
    exit 0
fi
cat > "$WORK/policy.toml" <<'TOML'
[networks]
primary = ["10.99.0.0/24"]
backup = ["10.98.0.0/24"]

[interfaces]
veth0 = "primary"

[[rules]]
class = "bulk"
proto = "tcp"
ports = ["20000-59999"]
side = "server"
networks = ["backup"]
TOML

start_watch() { # extra args...
    ip netns exec "$B" "$BIN" watch --policy "$WORK/policy.toml" --alerts "$WORK/alerts.jsonl" \
        --alert-rate 10000 --log-level info "$@" 2> "$WORK/watch.err" &
    WPID=$!
    for _ in $(seq 100); do grep -q watching "$WORK/watch.err" 2>/dev/null && return; sleep 0.05; done
    echo "watch did not start"; cat "$WORK/watch.err"; exit 1
}
stop_watch() {
    kill -TERM "$WPID"; wait "$WPID" || true; WPID=""
}

# 1. Alert latency.
start_watch
ip netns exec "$A" python3 - <<'PY'
import socket, time
for i in range(150):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("10.99.0.2", 20000 + i))
    except BlockingIOError:
        pass
    time.sleep(0.01)
    s.close()
PY
sleep 1.5
stop_watch
python3 - "$WORK/alerts.jsonl" <<'PY'
import json, sys
from datetime import datetime
def t(s):
    # RFC 3339 with up to 9 fractional digits
    main, _, frac = s.rstrip("Z").partition(".")
    return datetime.fromisoformat(main).timestamp() + float("0." + (frac or "0"))
lat = sorted(t(e["time"]) - t(e["first_seen"]) for e in map(json.loads, open(sys.argv[1])) if e["type"] == "leak")
n = len(lat)
rank = lambda q: lat[max(1, -(-int(q * n * 1000) // 1000)) - 1] if n else float("nan")
print(f"alert latency over {n} distinct leaks: p50 {rank(0.5)*1000:.2f} ms, p99 {rank(0.99)*1000:.2f} ms, max {lat[-1]*1000:.2f} ms")
PY

# 2. Memory under a flood of distinct flows.
# A "bulk" capture too: 1,000,000 packets over 100 leaking flows, to
# measure the per-packet cost of established flows.
python3 - "$WORK/bulk.pcap" <<'PY'
import struct, sys
eth = bytes.fromhex("020000000002020000000001" "0800")
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(1000000):
        flow = i % 100
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1500, i & 0xffff, 0, 64, 6, 0,
                         bytes([10, 99, 0, 1]), bytes([10, 99, 0, 2]))
        tcp = struct.pack("!HHIIBBHHH", 40000 + flow, 20000 + flow, i, 0, 0x50, 0x10, 64240, 0, 0)
        frame = eth + ip + tcp + bytes(64)
        f.write(struct.pack("<IIII", 1700000000 + i // 100000, i % 1000000, len(frame), 1514))
        f.write(frame)
PY
rm -f "$WORK/alerts.jsonl"
start_watch
ip netns exec "$A" tcpreplay --topspeed -q -i veth0 "$WORK/bulk.pcap" > "$WORK/replay.log" 2>&1 || true
sleep 2
CPU=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' /proc/"$WPID"/stat)
stop_watch
echo "bulk leak, 1,000,000 packets over 100 flows: daemon CPU ${CPU} s; $(grep -c '"type":"leak"' "$WORK/alerts.jsonl") leak events"

python3 - "$WORK/flood.pcap" "$FLOWS" <<'PY'
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
eth = bytes.fromhex("02000000000202000000000108 00".replace(" ", ""))
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        src = (10 << 24) | (99 << 16) | (1 + (i // 40000) % 200)   # 10.99.0.x
        sport = 1024 + i % 40000
        dport = 20000 + (i // 8000000) % 40000 if False else 20000 + (i * 7919) % 40000
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xffff, 0, 64, 6, 0,
                         struct.pack("!I", src), bytes([10, 99, 0, 2]))
        tcp = struct.pack("!HHIIBBHHH", sport, dport, i, 0, 0x50, 0x02, 64240, 0, 0)
        frame = eth + ip + tcp
        f.write(struct.pack("<IIII", 1700000000 + i // 100000, i % 1000000, len(frame), len(frame)))
        f.write(frame)
PY
for cap in 1000000 100000; do
    rm -f "$WORK/alerts.jsonl"
    start_watch --max-flows "$cap" --metrics 127.0.0.1:19751
    ip netns exec "$A" tcpreplay --topspeed -q -i veth0 "$WORK/flood.pcap" > "$WORK/replay.log" 2>&1 || true
    sleep 2
    HWM=$(awk '/VmHWM/ {print $2}' /proc/"$WPID"/status)
    # CPU seconds the daemon spent (utime + stime, in clock ticks).
    CPU=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' /proc/"$WPID"/stat)
    M=$(ip netns exec "$B" python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:19751/metrics').read().decode())")
    stop_watch
    tracked=$(echo "$M" | awk '/^lanecheck_flows_tracked / {print $2}')
    evicted=$(echo "$M" | awk '/^lanecheck_flows_evicted_total / {print $2}')
    captured=$(echo "$M" | awk '/^lanecheck_capture_packets_total/ {print $2}')
    drops=$(echo "$M" | awk '/^lanecheck_capture_(kernel|queue)_drops_total/ {s+=$2} END {print s}')
    leaks=$(grep -c '"type":"leak"' "$WORK/alerts.jsonl" || true)
    summaries=$(grep -c '"type":"leak-summary"' "$WORK/alerts.jsonl" || true)
    echo "flood of $FLOWS distinct flows, --max-flows $cap: peak RSS $((HWM / 1024)) MiB, CPU ${CPU} s; captured $captured packets, drops $drops; flows tracked $tracked, evicted $evicted; $leaks leak events + $summaries summaries"
done
