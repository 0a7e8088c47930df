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
    rotate "$DATA/bench-flows.pcap" "${ROT[@]}"
fi
cached "${ROT[@]}"
packets=$(truth bench-flows "$DATA/bench-flows.pcap")
rot="$LC audit --policy scripts/bench-flows.toml --format json --max-flows 2000000"
"$LC" --log-level info audit --policy scripts/bench-flows.toml --format json --max-flows 2000000 \
    --output /dev/null "${ROT[@]}" > "$WORK/rotated.log" 2>&1 || true
if ! grep -q "analysed 8 captures in [0-9]* shares of their flows, merged" "$WORK/rotated.log"; then
    echo "rotated: UNVERIFIED: the eight files were not analysed in shares (see --log-level info)"
fi
echo "rotated: the many-flow capture cut into eight files (flows cross the cuts), policy scripts/bench-flows.toml, --max-flows 2M"
one_against_two rotated "$packets" "eight rotated files, --threads 1" "eight rotated files, default threads" \
    "$rot --threads 1 ${ROT[*]}" "$rot ${ROT[*]}"
