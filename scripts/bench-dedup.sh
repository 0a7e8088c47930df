# Dedup section of `make bench` (sourced by scripts/bench.sh, whose helpers it uses):
#  1. the plain capture (bench.pcap: no copies, no tunnels): lanecheck audit vs the bare
#     read loop, and with $BENCH_BASELINE the older binary beside it as "before"; and
#     --dedup on, which keys every frame and finds nothing to collapse: the stage's bare
#     cost per frame;
#  2. the same traffic as pktmon logs it (bench-pktmon.pcapng, 12-14 copies per packet):
#     audit --dedup off (every copy a packet) vs --dedup auto (copies collapsed): what
#     deduplication costs, or saves, on such a capture, per frame read.
# Each table's runs are interleaved; the closing lines are ratios of medians of one table.
# The runs are short (about a second): $DEDUP_RUNS of them, at least 11 by default.

dedup_tables() {
    local RUNS=${DEDUP_RUNS:-$((RUNS > 11 ? RUNS : 11))}
    local plain="$DATA/bench.pcap" pk="$DATA/bench-pktmon.pcapng" audit
    audit="--policy policies/dpm.toml --format json --output @O.json"
    local frames unique
    frames=$(awk -F'\t' '{ split($2, a, " "); print a[1] }' "$DATA/bench-pktmon.truth")
    unique=$(awk -F'\t' '{ split($4, a, " "); print a[1] }' "$DATA/bench-pktmon.truth")
    cached "$plain" "$pk"

    LABELS=() KINDS=() CMDS=() EXPECTS=()
    LOOP_ROW=0
    reader "bare read loop (frames only)" loop "$LOOP @F"
    reader "lanecheck audit" lanecheck "$LC audit $audit @F"
    reader "lanecheck audit --dedup on (keys all)" lanecheck-unique "$LC audit --dedup on $audit @F"
    if [ -n "$BASELINE" ]; then reader "before: lanecheck audit" lanecheck "$BASELINE audit $audit @F"; fi
    echo
    local pp
    pp=$(truth bench "$plain")
    table "dedup/plain (no copies, no tunnels; policy policies/dpm.toml; $RUNS runs)" "$plain" "$pp"
    local t_loop=${MEDIANS[0]} t_plain=${MEDIANS[1]} t_keyed=${MEDIANS[2]} t_before=${MEDIANS[3]:-}

    LABELS=() KINDS=() CMDS=() EXPECTS=()
    LOOP_ROW=0
    reader "bare read loop (frames only)" loop "$LOOP @F"
    reader "lanecheck audit --dedup off" lanecheck "$LC audit --dedup off $audit @F"
    reader "lanecheck audit --dedup auto" lanecheck-unique "$LC audit --dedup auto $audit @F" "$unique"
    if [ -n "$BASELINE" ]; then
        reader "before: lanecheck audit (no --dedup)" lanecheck "$BASELINE audit $audit @F"
    fi
    echo
    table "dedup/pktmon ($unique packets as pktmon logs them; auto must count $unique; $RUNS runs)" "$pk" "$frames"
    local t_off=${MEDIANS[1]} t_auto=${MEDIANS[2]}

    echo
    awk -v l="$t_loop" -v p="$t_plain" -v b="$t_before" -v off="$t_off" -v auto="$t_auto" \
        -v f="$frames" -v u="$unique" -v base="$BASELINE" -v k="$t_keyed" -v pp="$pp" 'BEGIN {
        printf "plain capture: lanecheck audit takes %.2fx the bare read loop'"'"'s time", p / l
        if (b != "") printf "; before (%s): %.2fx; new/before %.3f", base, b / l, p / b
        printf "\n"
        printf "keying every frame (--dedup on, nothing to collapse): %.3fx the plain audit'"'"'s time (%+.0f ns per frame)\n", k / p, (k - p) * 1e9 / pp
        printf "deduplication on the pktmon-style capture: --dedup auto takes %.3fx --dedup off'"'"'s time", auto / off
        printf " (%+.0f ns per frame read, %d frames, %d copies collapsed into %d packets)\n", (auto - off) * 1e9 / f, f, f - u, u
    }'
}

if [ -s "$DATA/bench-pktmon.truth" ]; then
    dedup_tables
else
    echo "dedup bench SKIPPED: $DATA/bench-pktmon.truth missing (delete bench-pktmon.pcapng to regenerate it)"
fi
