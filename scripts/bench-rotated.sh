# Sourced by scripts/bench.sh (set "rotated"): the many-flow capture rotated into eight
# files (cut every eighth of its packets, about 150 MB each, as a capture rotated by size
# is): flows open at a cut go on in the next file, so the files cannot be audited apart.
# lanecheck audits the eight, --max-flows 2M (room for every flow), --threads 1 and
# default, interleaved, $RUNS runs each; the default must find where two files meet and
# analyse the eight in shares of their flows (its log line is checked).
ROT=()
for p in 0 1 2 3 4 5 6 7; do ROT+=("$DATA/bench-rotated$p.pcap"); done
if [ ! -s "${ROT[7]}" ]; then
    echo "rotating $DATA/bench-flows.pcap into eight files ..."
    python3 - "$DATA/bench-flows.pcap" "${ROT[@]}" <<'PY'
import struct, sys
src, outs = sys.argv[1], sys.argv[2:]
data = open(src, 'rb').read()
head, at, records = data[:24], 24, []
while at + 16 <= len(data):
    n = struct.unpack('<I', data[at + 8:at + 12])[0]
    records.append((at, at + 16 + n))
    at += 16 + n
for i, path in enumerate(outs):
    part = records[i * len(records) // len(outs):(i + 1) * len(records) // len(outs)]
    with open(path, 'wb') as f:
        f.write(head)
        f.write(data[part[0][0]:part[-1][1]])
PY
fi
cached "${ROT[@]}"
packets=$(truth bench-flows "$DATA/bench-flows.pcap")
rot="$LC audit --policy scripts/bench-flows.toml --format json --max-flows 2000000"
"$LC" --log-level info audit --policy scripts/bench-flows.toml --format json --max-flows 2000000 \
    --output /dev/null "${ROT[@]}" > "$WORK/rotated.log" 2>&1 || true
if ! grep -q "analysed 8 captures in [0-9]* shares of their flows, merged" "$WORK/rotated.log"; then
    echo "rotated: UNVERIFIED: the eight files were not analysed in shares (see --log-level info)"
fi
R_LABELS=("eight rotated files, --threads 1" "eight rotated files, default threads")
R_CMDS=("$rot --threads 1 ${ROT[*]}" "$rot ${ROT[*]}")
declare -a R_WALL=() R_CPU=() R_CHECK=()
for ((r = 0; r < RUNS; r++)); do
    for i in 0 1; do
        audit_run R "$i" "${R_CMDS[$i]}" "$packets"
    done
done
echo "rotated: the many-flow capture cut into eight files (flows cross the cuts), policy scripts/bench-flows.toml, --max-flows 2M"
printf '  %-40s %9s %8s %8s  %s\n' reader "median s" Mpps "CPU s" "packets seen"
declare -a R_MED=()
for i in 0 1; do
    R_MED[i]=$(median "${R_WALL[$i]}"); c=$(median "${R_CPU[$i]}")
    awk -v l="${R_LABELS[$i]}" -v t="${R_MED[$i]}" -v c="$c" -v p="$packets" -v k="${R_CHECK[$i]:-$packets, all}" 'BEGIN {
        printf "  %-40s %9.3f %8.2f %8.2f  %s\n", l, t, p / t / 1e6, c, k }'
done
awk -v a="${R_MED[0]}" -v b="${R_MED[1]}" 'BEGIN {
    printf "rotated: default threads at %.2fx the --threads 1 rate (median wall)\n", a / b }'
