# The daemon soak, sourced by bench-watch.sh (namespaces $A, $B, $WORK and
# $BIN set up). SOAK_MINUTES (30) of mixed traffic into the watched veth:
#  - the fixture captures (SMB tree connects, DCE/RPC binds, DNS, DPM
#    backups on the wrong and right networks, VLAN tags) replayed in a loop
#    at 1,000 packets/s, so leaks are raised, re-alerted and ended;
#  - real connections from a client: every 50 ms a new TCP connection to
#    445, 5719, 443 or 135 carrying 2 KB, and a UDP datagram to 53;
#  - at minute 1, a flood: 1,000,000 SYNs from spoofed sources at the
#    highest rate tcpreplay reaches (--max-flows 100000: bounded, evicted
#    and counted).
# VmRSS is sampled every 10 s (with flows tracked and evicted) into
# soak.csv; the summary gives the peak, and the RSS slope over the samples
# after the warm-up (WARMUP_MINUTES, 10: the flood and its flows' idle
# expiry), by least squares, in MiB per hour.
soak() {
    local minutes=${SOAK_MINUTES:-30} warmup=${WARMUP_MINUTES:-10}
    local out=${SOAK_OUT:-bench-data/soak.csv}
    mkdir -p "$(dirname "$out")"
    sed -e 's/^eth0 = "primary"/veth0 = "primary"/' -e '/^eth1 = /d' \
        -e 's|^primary = \["10.10.12.0/24"\]|primary = ["10.10.12.0/24", "10.99.0.0/24"]|' \
        policies/dpm.toml > "$WORK/soak.toml"
    soak_flood_pcap "$WORK/flood.pcap" 1000000
    ip netns exec "$B" "$BIN" watch --policy "$WORK/soak.toml" --alerts "$WORK/alerts.jsonl" \
        --max-flows 100000 --metrics 127.0.0.1:19752 --log-level info 2> "$WORK/watch.err" &
    WPID=$!
    for _ in $(seq 100); do grep -q watching "$WORK/watch.err" 2>/dev/null && break; sleep 0.05; done
    ip netns exec "$B" python3 -c "$SOAK_SERVER" &
    local server=$!
    ip netns exec "$A" python3 -c "$SOAK_CLIENT" &
    local client=$!
    local fixtures=()
    for f in dpm_backup_lan dpm_primary_lan dpm_dcom_learned dpm_dns_ok dpm_dns_wrong \
        cluster_smb_shares cluster_good failover_changed; do
        fixtures+=("fixtures/$f.pcapng")
    done
    fixtures+=(fixtures/vlan_dpm.pcap)
    ip netns exec "$A" tcpreplay -q -i veth0 --pps 1000 --loop 0 "${fixtures[@]}" > "$WORK/replay.log" 2>&1 &
    local replay=$!
    echo "seconds,rss_kib,flows_tracked,flows_evicted,capture_packets,capture_drops" > "$out"
    local start=$SECONDS flooded=0
    while [ $((SECONDS - start)) -lt $((minutes * 60)) ]; do
        if [ $flooded = 0 ] && [ $((SECONDS - start)) -ge 60 ]; then
            flooded=1
            ip netns exec "$A" tcpreplay --topspeed -q -i veth0 "$WORK/flood.pcap" > "$WORK/flood.log" 2>&1 &
        fi
        soak_sample $((SECONDS - start)) >> "$out"
        sleep 10
    done
    kill "$replay" "$client" "$server" 2>/dev/null || true
    wait "$replay" "$client" "$server" 2>/dev/null || true
    soak_sample $((SECONDS - start)) >> "$out"
    kill -TERM "$WPID"; wait "$WPID" || true; WPID=""
    python3 - "$out" "$warmup" "$WORK/alerts.jsonl" <<'PY'
import csv, json, sys
rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[1]))]
warm = float(sys.argv[2]) * 60
after = [r for r in rows if r["seconds"] >= warm]
xs = [r["seconds"] / 3600 for r in after]
ys = [r["rss_kib"] / 1024 for r in after]
n = len(xs)
mx, my = sum(xs) / n, sum(ys) / n
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
peak = max(rows, key=lambda r: r["rss_kib"])
last = rows[-1]
kinds = {}
for line in open(sys.argv[3]):
    t = json.loads(line)["type"]
    kinds[t] = kinds.get(t, 0) + 1
print(f"soak: {rows[-1]['seconds']/60:.0f} min, {len(rows)} samples ({sys.argv[1]})")
print(f"  RSS: start {rows[0]['rss_kib']/1024:.1f} MiB, peak {peak['rss_kib']/1024:.1f} MiB at {peak['seconds']:.0f} s, "
      f"after warm-up {ys[0]:.1f} → {ys[-1]:.1f} MiB (min {min(ys):.1f}, max {max(ys):.1f})")
print(f"  RSS slope after {warm/60:.0f} min warm-up: {slope:+.3f} MiB/hour over {n} samples")
print(f"  flows tracked at end {last['flows_tracked']:.0f}, evicted {last['flows_evicted']:.0f}; "
      f"captured {last['capture_packets']:.0f} packets, capture drops {last['capture_drops']:.0f}")
print("  alert events: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
PY
}

# One CSV row: seconds, VmRSS (KiB), flows tracked, evicted, captured, drops.
soak_sample() {
    local rss m
    rss=$(awk '/VmRSS/ {print $2}' /proc/"$WPID"/status)
    m=$(ip netns exec "$B" python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:19752/metrics').read().decode())" 2>/dev/null || true)
    echo "$1,$rss,$(echo "$m" | awk '
        /^lanecheck_flows_tracked / {t=$2}
        /^lanecheck_flows_evicted_total / {e=$2}
        /^lanecheck_capture_packets_total/ {p+=$2}
        /^lanecheck_capture_(kernel|interface|queue)_drops_total/ {d+=$2}
        END {printf "%d,%d,%d,%d", t, e, p, d}')"
}

# N SYNs from spoofed sources (10.99.1.0-10.99.200.x, varying ports) to 10.99.0.2.
soak_flood_pcap() {
    python3 - "$1" "$2" <<'PY'
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
eth = bytes.fromhex("020000000002020000000001" "0800")
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        src = bytes([10, 99, 1 + (i // 40000) % 200, 1 + (i % 250)])
        sport = 1024 + i % 40000
        dport = 20000 + (i * 7919) % 40000
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xffff, 0, 64, 6, 0, src, bytes([10, 99, 0, 2]))
        tcp = struct.pack("!HHIIBBHHH", sport, dport, i, 0, 0x50, 0x02, 64240, 0, 0)
        f.write(struct.pack("<IIII", 1700000000 + i // 100000, i % 1000000, 54, 54))
        f.write(eth + ip + tcp)
PY
}

# Accepts on 445, 5719, 443, 135 (TCP) and 53 (UDP) and discards.
SOAK_SERVER='
import socket, threading
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.99.0.2", port)); s.listen(64)
    while True:
        c, _ = s.accept()
        c.settimeout(2)
        try:
            while c.recv(65536): pass
        except OSError: pass
        c.close()
for p in (445, 5719, 443, 135):
    threading.Thread(target=tcp, args=(p,), daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.99.0.2", 53))
while True: u.recvfrom(2048)
'

# Every 50 ms: a new TCP connection with 2 KB, and a UDP datagram to 53.
SOAK_CLIENT='
import socket, time, itertools
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in itertools.count():
    try:
        c = socket.create_connection(("10.99.0.2", (445, 5719, 443, 135)[i % 4]), timeout=2)
        c.sendall(b"x" * 2048); c.close()
    except OSError:
        pass
    u.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x02ps\x01x\x01y\x03com\x00\x00\x01\x00\x01", ("10.99.0.2", 53))
    time.sleep(0.05)
'
