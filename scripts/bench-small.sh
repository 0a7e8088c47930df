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
    rotate "$DATA/bench.pcap" "${SMALL[@]}"
fi
cached "${SMALL[@]}"
packets=$(truth bench "$DATA/bench.pcap")
small="$LC audit --policy policies/dpm.toml --format json"
echo "small: the plain capture cut into 512 files of about 2 MiB (flows cross the cuts), policy policies/dpm.toml"
one_against_two small "$packets" "512 small files, --threads 1" "512 small files, default threads" \
    "$small --threads 1 ${SMALL[*]}" "$small ${SMALL[*]}"
