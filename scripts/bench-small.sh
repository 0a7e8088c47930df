# Sourced by scripts/bench.sh (set "small"): the plain capture rotated into 512 small files
# (every 512th of its packets, about 2 MiB each, as `tcpdump -C 2` writes them): its long
# flows go on from file to file, so the files are found to meet and read one after
# another. lanecheck audits the 512, --threads 1 and default, interleaved, $RUNS runs
# each: what reading a capture costs besides its bytes (buffers, threads, the first read).
SMALL=()
for ((p = 0; p < 512; p++)); do SMALL+=("$(printf '%s/bench-small/%03d.pcap' "$DATA" "$p")"); done
if [ ! -s "${SMALL[511]}" ]; then
    echo "rotating $DATA/bench.pcap into 512 files ..."
    mkdir -p "$DATA/bench-small"
    python3 - "$DATA/bench.pcap" "${SMALL[@]}" <<'PY'
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
cached "${SMALL[@]}"
packets=$(truth bench "$DATA/bench.pcap")
small="$LC audit --policy policies/dpm.toml --format json"
S_LABELS=("512 small files, --threads 1" "512 small files, default threads")
S_CMDS=("$small --threads 1 ${SMALL[*]}" "$small ${SMALL[*]}")
declare -a S_WALL=() S_CPU=() S_CHECK=()
for ((r = 0; r < RUNS; r++)); do
    for i in 0 1; do
        audit_run S "$i" "${S_CMDS[$i]}" "$packets"
    done
done
echo "small: the plain capture cut into 512 files of about 2 MiB (flows cross the cuts), policy policies/dpm.toml"
printf '  %-40s %9s %8s %8s  %s\n' reader "median s" Mpps "CPU s" "packets seen"
declare -a S_MED=()
for i in 0 1; do
    S_MED[i]=$(median "${S_WALL[$i]}"); c=$(median "${S_CPU[$i]}")
    awk -v l="${S_LABELS[$i]}" -v t="${S_MED[$i]}" -v c="$c" -v p="$packets" -v k="${S_CHECK[$i]:-$packets, all}" 'BEGIN {
        printf "  %-40s %9.3f %8.2f %8.2f  %s\n", l, t, p / t / 1e6, c, k }'
done
awk -v a="${S_MED[0]}" -v b="${S_MED[1]}" 'BEGIN {
    printf "small: default threads at %.2fx the --threads 1 rate (median wall)\n", a / b }'
