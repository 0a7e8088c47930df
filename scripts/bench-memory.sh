# Sourced by scripts/bench.sh (set "flows"): memory per flow in the table, as the peak RSS
# of two audits of the many-flow capture that differ only in --max-flows (the table fills
# to the cap either way), divided by the difference in flows held.
mem_file="$DATA/bench-flows.pcap"
rss_at() {
    /usr/bin/time -f "%M" -o "$WORK/mem" "$LC" audit --threads 1 --max-flows "$1" \
        --policy scripts/bench-flows.toml --format json --output /dev/null "$mem_file" 2>/dev/null || true
    tail -1 "$WORK/mem"
}
lo=$(rss_at 100000); hi=$(rss_at 1000000)
awk -v lo="$lo" -v hi="$hi" 'BEGIN {
    printf "flows: per-flow memory %.0f bytes (peak RSS %.0f MiB at --max-flows 1000000, %.0f MiB at 100000; difference / 900,000 flows)\n",
        (hi - lo) * 1024 / 900000, hi / 1024, lo / 1024 }'
