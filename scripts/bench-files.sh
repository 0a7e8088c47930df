# Sourced by scripts/bench.sh (set "files"): four captures at once against one.
# fixgen bench-part 0..3 write the plain benchmark traffic, a quarter of $SIZE each, with
# client ports moved so the four share no flow (one host's capture each); lanecheck audits
# one of them and all four, --threads 1 and default, interleaved, $RUNS runs each.
PART_BYTES=$((SIZE / 4))
PARTS=()
for p in 0 1 2 3; do
    gen "bench-part$p" "$DATA/bench-part$p.pcap" "$DATA/bench-part$p.pcapng" -- \
        bench-part "$p" "$DATA/bench-part$p.pcap" "$DATA/bench-part$p.pcapng" "$PART_BYTES"
    PARTS+=("$DATA/bench-part$p.pcap")
    cached "$DATA/bench-part$p.pcap"
done
one=$(truth bench-part0 "${PARTS[0]}")
all=0
for p in 0 1 2 3; do all=$((all + $(truth "bench-part$p" "${PARTS[$p]}"))); done
audit="$LC audit --policy policies/dpm.toml --format json"
# (audit exits 1 on a violation: its log is read from a file, not through a pipe)
"$LC" --log-level info audit --policy policies/dpm.toml --format json --output /dev/null \
    "${PARTS[@]}" > "$WORK/files.log" 2>&1 || true
if ! grep -q "read 4 captures on" "$WORK/files.log"; then
    echo "files: UNVERIFIED: the four captures were not audited in parallel (see --log-level info)"
fi
F_LABELS=("one file, --threads 1" "one file, default threads" "four files, --threads 1" "four files, default threads")
F_CMDS=("$audit --threads 1 ${PARTS[0]}" "$audit ${PARTS[0]}" "$audit --threads 1 ${PARTS[*]}" "$audit ${PARTS[*]}")
F_PACKETS=("$one" "$one" "$all" "$all")
declare -a F_WALL=() F_CPU=() F_CHECK=()
for ((r = 0; r < RUNS; r++)); do
    for i in 0 1 2 3; do
        audit_run F "$i" "${F_CMDS[$i]}" "${F_PACKETS[$i]}"
    done
done
echo "files: four captures of $(du -h "${PARTS[0]}" | cut -f1) each (fixgen bench-part 0-3), policy policies/dpm.toml"
printf '  %-40s %9s %8s %8s  %s\n' reader "median s" Mpps "CPU s" "packets seen"
declare -a F_RATE=()
for i in 0 1 2 3; do
    med=$(median "${F_WALL[$i]}"); c=$(median "${F_CPU[$i]}")
    F_RATE[i]=$(awk -v p="${F_PACKETS[$i]}" -v t="$med" 'BEGIN { printf "%.4f", p / t / 1e6 }')
    printf '  %-40s %9.3f %8.2f %8.2f  %s\n' "${F_LABELS[$i]}" "$med" "${F_RATE[$i]}" "$c" "${F_CHECK[$i]:-${F_PACKETS[$i]}, all}"
done
awk -v a="${F_RATE[3]}" -v b="${F_RATE[1]}" -v c="${F_RATE[0]}" 'BEGIN {
    printf "files: four files (default threads) at %.2fx the one-file rate at default threads, %.2fx at --threads 1\n", a / b, a / c }'
