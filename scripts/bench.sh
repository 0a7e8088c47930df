#!/usr/bin/env bash
# `make bench`: read throughput of lanecheck and its peers, side by side in one run.
# Every cell is the median of $RUNS runs (default 5), and the runs are interleaved
# (run 1 of every reader, then run 2 of every reader, ...) so that the noise of a shared
# machine falls on all readers alike: compare the ratios, not the absolute times.
#
# Sets ($BENCH_SETS, default all, space-separated):
#   plain   bench.pcap/.pcapng (fixgen bench: 1,000 long TCP flows, ~690-byte frames)
#   flows   bench-flows.pcap/.pcapng (fixgen bench-flows: ~1.2 million short flows, IMIX-like
#           sizes, TCP handshakes and teardowns, UDP, IPv4+IPv6, 802.1Q)
#           For each capture and format: lanecheck audit (--threads 1 and default once the
#           flag exists), tcpdump, ndpiReader, nfpcapd, the bare read loop (lanecheck's
#           reader), pcap-parser's own read loop and cat; on the
#           many-flow capture also audit --max-flows 2M on one thread and in shares of its
#           flows (--shard auto), and the ratio of the two.
#   dedup   bench-pktmon.pcapng (fixgen bench-pktmon: the plain traffic as pktmon logs it,
#           12-14 copies per packet): audit --dedup auto vs off, and the plain audit vs the
#           bare loop (with $BENCH_BASELINE=/path/to/old/lanecheck: that binary as "before");
#           these runs are short: $DEDUP_RUNS of them (default the larger of RUNS and 11)
#   memory  (also part of flows) bytes per flow in the table: see scripts/bench-memory.sh
#   files   four captures at once (fixgen bench-part 0-3: the plain traffic, a quarter of
#           $BENCH_BYTES each, client ports moved so they share no flow): lanecheck audit of
#           one of them and of all four, --threads 1 and default; the rate of four against
#           one (the parallel path must be taken: its log line is checked)
#   rotated the many-flow capture cut into eight files (flows cross the cuts): audit of
#           the eight, --max-flows 2M, --threads 1 and default (found to meet, then analysed in
#           shares of their flows: its log line is checked), and the ratio
#   small   the plain capture cut into 512 files of about 2 MiB (flows cross the cuts): audit
#           of the 512, --threads 1 and default, and the ratio (the per-capture costs)
#   live    scripts/bench-live.sh;  daemon  scripts/bench-watch.sh
#
# Columns: median wall seconds, Mpps (packets the capture holds / median wall), CPU seconds
# (user+sys, median), peak RSS (largest of the runs), wall time as a multiple of the bare
# read loop's, and what the reader itself said it read. A peer's number is used only if
# its own output shows it saw every packet (fixgen's bookkeeping, kept in $BENCH_DATA/*.truth):
#   lanecheck   "packets" of the capture in its JSON report
#   tcpdump     --count: "N packets" on stderr (libpcap's read loop, nothing decoded or written);
#               and (plain capture only) decoding and printing every packet, one line
#               each, counted by wc -l
#   ndpiReader  "IP packets: ... of N packets total" in its traffic statistics
#   nfpcapd     "Packets:" of `nfdump -R DIR -I` over the flow files it wrote (every frame is
#               IP, so the flow records must hold them all)
#   loops       the frame count they print;  cat  reads bytes, nothing to count
# A cell whose reader fails the check shows "UNVERIFIED" and its numbers must not be used.
#
# Memory: peak RSS from /usr/bin/time. lanecheck reads files with read() into one buffer
# (no mmap), so its RSS is anonymous memory plus its own code pages.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
DATA=${BENCH_DATA:-bench-data}
SIZE=${BENCH_BYTES:-1073741824}
SETS=${BENCH_SETS:-plain flows files rotated small dedup live daemon}
BASELINE=${BENCH_BASELINE:-}

has_set() { [[ " $SETS " == *" $1 "* ]]; }

# rotate SRC OUT...: SRC (a classic pcap) cut into the OUT files, an equal share of its
# records each, as a capture rotated by size is: flows open at a cut go on in the next file.
rotate() {
    python3 - "$@" <<'PY'
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
}

# one_against_two SET PACKETS LABEL1 LABEL2 CMD1 CMD2: the two audits interleaved, $RUNS
# runs each (audit_run into SET_WALL, SET_CPU, SET_CHECK), their table and the second's
# rate against the first's, "SET: default threads at N x the --threads 1 rate".
one_against_two() {
    local set=$1 packets=$2 labels=("$3" "$4") cmds=("$5" "$6") r i med c
    unset "${set}_WALL" "${set}_CPU" "${set}_CHECK"
    declare -ga "${set}_WALL" "${set}_CPU" "${set}_CHECK"
    for ((r = 0; r < RUNS; r++)); do
        for i in 0 1; do audit_run "$set" "$i" "${cmds[$i]}" "$packets"; done
    done
    local -n walls="${set}_WALL" cpus="${set}_CPU" checks="${set}_CHECK"
    local meds=()
    printf '  %-40s %9s %8s %8s  %s\n' reader "median s" Mpps "CPU s" "packets seen"
    for i in 0 1; do
        meds[i]=$(median "${walls[$i]}"); c=$(median "${cpus[$i]}")
        awk -v l="${labels[$i]}" -v t="${meds[$i]}" -v c="$c" -v p="$packets" -v k="${checks[$i]:-$packets, all}" 'BEGIN {
            printf "  %-40s %9.3f %8.2f %8.2f  %s\n", l, t, p / t / 1e6, c, k }'
    done
    awk -v s="$set" -v a="${meds[0]}" -v b="${meds[1]}" 'BEGIN {
        printf "%s: default threads at %.2fx the --threads 1 rate (median wall)\n", s, a / b }'
}

# cached FILE...: each file synced, evicted from the page cache and read back from disk, so
# that every reader meets it cached as a capture read from disk is. How the cache holds a
# file decides what copying it out costs: read back from disk, the kernel's readahead caches
# it in large folios; a file still cached from being written (fixgen writes 8 KiB at a time)
# is cached in small pages, and copying out of those took three times longer (the 1 GiB
# capture: `cat` 0.15 s against 0.04 s, kernel 6.18, ext4). Before stop 20 the bench read
# its captures as fixgen had left them cached: its read loop and cat were the slow kind.
cached() {
    sync "$@"
    python3 - "$@" <<'PY'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY
    cat "$@" > /dev/null
}

cargo build --release --locked -q -p lanecheck -p fixgen --bins
cargo build --release --locked -q -p capture --example readloop --example parserloop
BIN=target/release
LC=$BIN/lanecheck
LOOP=$BIN/examples/readloop
PARSER_LOOP=$BIN/examples/parserloop
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$DATA"

# gen NAME FILE... -- CMD...: runs fixgen CMD unless every FILE exists; keeps its
# bookkeeping in $DATA/NAME.truth.
gen() {
    local name=$1 files=() missing=
    shift
    while [ "$1" != -- ]; do files+=("$1"); shift; done
    shift
    for f in "${files[@]}"; do [ -s "$f" ] || missing=1; done
    [ -z "$missing" ] && return 0
    echo "generating ${files[*]} ($SIZE bytes) ..."
    "$BIN/fixgen" "$@" > "$DATA/$name.truth.tmp"
    mv "$DATA/$name.truth.tmp" "$DATA/$name.truth"
}

# truth NAME FILE: packets in FILE per fixgen's bookkeeping (the first number of its line),
# else (a capture cached before .truth files existed) the bare loop's count.
truth() {
    local n=
    if [ -s "$DATA/$1.truth" ]; then n=$(awk -F'\t' -v f="$2" '$1 == f { split($2, a, " "); print a[1] }' "$DATA/$1.truth"); fi
    [ -n "$n" ] || read -r n _ < <("$LOOP" "$2")
    echo "$n"
}

# seen KIND OUT DIR: the packet count a reader reported in its output OUT (nfpcapd: its
# flow directory DIR).
seen() {
    case $1 in
        lanecheck | lanecheck-unique)
            local key=packets
            [ "$1" = lanecheck-unique ] && key=unique_packets
            python3 -c 'import json,sys; print(sum(c[sys.argv[2]] for c in json.load(open(sys.argv[1]))["captures"]))' "$2.json" "$key" 2>/dev/null ;;
        tcpdump) sed -n 's/^\([0-9]*\) packets$/\1/p' "$2" ;;
        lines) awk 'NR == 1 { print $1 }' "$2" ;;
        ndpi) sed -n 's/.* of \([0-9]*\) packets total.*/\1/p' "$2" ;;
        nfpcapd) nfdump -R "$3" -I 2>/dev/null | sed -n 's/^Packets: \([0-9]*\)$/\1/p' ;;
        loop) awk '{ print $1 }' "$2" ;;
        *) echo - ;;
    esac
}

# The readers of one table: LABELS[i], KINDS[i] (for `seen`) and CMDS[i] (a command line
# with F for the capture, O for the reader's output file stem and D for a scratch
# directory emptied before each run); EXPECTS[i], the count it must report (default: the
# packets the capture holds).
LABELS=() KINDS=() CMDS=() EXPECTS=()
reader() { LABELS+=("$1"); KINDS+=("$2"); CMDS+=("$3"); EXPECTS+=("${4:-}"); }

# table TITLE FILE PACKETS: runs every reader RUNS times, interleaved, and prints the table.
table() {
    local title=$1 file=$2 packets=$3 n=${#LABELS[@]} i r
    local -a wall cpu rss check
    local u s m
    MEDIANS=()
    for ((r = 0; r < RUNS; r++)); do
        for ((i = 0; i < n; i++)); do
            local out="$WORK/out$i" dir="$WORK/dir$i" cmd=${CMDS[$i]}
            rm -rf "$dir" "$out.json"; mkdir -p "$dir"
            cmd=${cmd//@F/$file}; cmd=${cmd//@O/$out}; cmd=${cmd//@D/$dir}
            local t0=$EPOCHREALTIME
            # audit exits 1 on violations; a failed reader shows as UNVERIFIED below.
            /usr/bin/time -f "%U %S %M" -o "$WORK/time" bash -c "$cmd" > "$out" 2>&1 || true
            local t1=$EPOCHREALTIME
            wall[i]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }') "
            read -r u s m < <(tail -1 "$WORK/time")
            cpu[i]+="$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }') "
            rss[i]+="$m "
            local got want=${EXPECTS[$i]:-$packets}
            got=$(seen "${KINDS[$i]}" "$out" "$dir")
            if [ "${KINDS[$i]}" = cat ]; then check[i]="n/a"
            elif [ "$got" != "$want" ]; then check[i]="UNVERIFIED (${got:-nothing}, not $want)"
            elif [ -z "${check[$i]:-}" ]; then check[i]="$got, all"
            fi
        done
    done
    echo "$title: $file, $packets packets, $(du -h "$file" | cut -f1)"
    printf '  %-40s %9s %8s %8s %9s %8s  %s\n' reader "median s" Mpps "CPU s" "RSS MiB" "x loop" "packets seen"
    local loop_med
    loop_med=$(median "${wall[$LOOP_ROW]}")
    for ((i = 0; i < n; i++)); do
        local med c m
        med=$(median "${wall[$i]}"); c=$(median "${cpu[$i]}")
        m=$(printf '%s\n' ${rss[$i]} | sort -g | tail -1)
        awk -v l="${LABELS[$i]}" -v t="$med" -v c="$c" -v m="$m" -v p="$packets" -v loop="$loop_med" -v k="${check[$i]}" 'BEGIN {
            printf "  %-40s %9.3f %8.2f %8.2f %9.1f %7.2fx  %s\n", l, t, p / t / 1e6, c, m / 1024, t / loop, k }'
        MEDIANS[$i]=$med
    done
}

median() { printf '%s\n' $1 | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# audit_run SET I CMD PACKETS: one timed run of CMD (an audit writing its JSON report on
# stdout): its wall and CPU seconds appended to ${SET}_WALL[I] and ${SET}_CPU[I], and
# ${SET}_CHECK[I] set when the report does not hold PACKETS packets.
audit_run() {
    local -n walls="$1_WALL" cpus="$1_CPU" checks="$1_CHECK"
    local i=$2 t0 t1 u s got
    t0=$EPOCHREALTIME
    /usr/bin/time -f "%U %S %M" -o "$WORK/time" bash -c "$3 > $WORK/run.json" 2>/dev/null || true
    t1=$EPOCHREALTIME
    walls[i]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }') "
    read -r u s _ < <(tail -1 "$WORK/time")
    cpus[i]+="$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }') "
    got=$(python3 -c 'import json,sys; print(sum(c["packets"] for c in json.load(open(sys.argv[1]))["captures"]))' "$WORK/run.json" 2>/dev/null || echo -)
    [ "$got" = "$4" ] || checks[i]="UNVERIFIED ($got, not $4)"
}

# peers POLICY SET: the readers of the capture × format tables.
peers() {
    LABELS=() KINDS=() CMDS=() EXPECTS=() SHARD_ROWS=
    local audit="$LC audit --policy $1 --format json --output @O.json"
    if grep -q -- '--threads' <<< "$("$LC" audit --help)"; then
        reader "lanecheck audit --threads 1" lanecheck "$audit --threads 1 @F"
        reader "lanecheck audit (default threads)" lanecheck "$audit @F"
        THREADS_NOTE=
        # The many-flow capture fills the default table (evictions, which
        # shares of its flows cannot reproduce: read whole); with room for
        # its flows, --shard auto analyses it on both cores.
        if [ "$2" = flows ] && grep -q -- '--shard' <<< "$("$LC" audit --help)"; then
            local room="$audit --max-flows 2000000"
            reader "lanecheck audit --max-flows 2M --threads 1" lanecheck "$room --threads 1 @F"
            reader "lanecheck audit --max-flows 2M (shares)" lanecheck "$room @F"
            SHARD_ROWS=2
        fi
    else
        reader "lanecheck audit" lanecheck "$audit @F"
        THREADS_NOTE="note: lanecheck audit has no --threads yet: one row, its default"
    fi
    reader "tcpdump -nr F --count" tcpdump "tcpdump -nr @F --count"
    # Decoding and printing costs tcpdump minutes on the many-flow capture (176 s a run,
    # 0.03 Mpps, measured): the plain capture only.
    if [ "$2" = plain ]; then
        reader "tcpdump -nr F | wc -l (decodes)" lines "tcpdump -nr @F 2>/dev/null | wc -l"
    fi
    reader "ndpiReader -i F" ndpi "ndpiReader -i @F"
    reader "nfpcapd -r F -w DIR" nfpcapd "nfpcapd -r @F -w @D"
    LOOP_ROW=${#LABELS[@]}
    reader "bare read loop (frames only)" loop "$LOOP @F"
    # The reference the throughput issue first quoted: pcap-parser's own
    # reader (1 MiB buffer), every block parsed, nothing decoded.
    reader "pcap-parser read loop (frames only)" loop "$PARSER_LOOP @F"
    reader "cat F > /dev/null" cat "cat @F > /dev/null"
}

echo "runs per cell: $RUNS (median; runs interleaved across readers); sets: $SETS"
echo "kernel $(uname -r), $(df -T "$DATA" | awk 'NR == 2 { print $2 }') under $DATA; every capture is evicted from the page cache and read back from disk before its table"
if has_set plain || has_set dedup || has_set small; then
    gen bench "$DATA/bench.pcap" "$DATA/bench.pcapng" -- bench "$DATA/bench.pcap" "$DATA/bench.pcapng" "$SIZE"
fi
if has_set flows || has_set memory || has_set rotated; then
    gen bench-flows "$DATA/bench-flows.pcap" "$DATA/bench-flows.pcapng" -- \
        bench-flows "$DATA/bench-flows.pcap" "$DATA/bench-flows.pcapng" "$SIZE"
fi
if has_set dedup; then
    gen bench-pktmon "$DATA/bench-pktmon.pcapng" -- bench-pktmon "$DATA/bench-pktmon.pcapng" "$SIZE"
fi

for set in plain flows; do
    has_set $set || continue
    name=bench; policy=policies/dpm.toml
    if [ $set = flows ]; then name=bench-flows; policy=scripts/bench-flows.toml; fi
    if [ -s "$DATA/$name.truth" ]; then echo; sed 's/^/fixgen: /' "$DATA/$name.truth"; fi
    declare -A FORMAT_MED=()
    for f in pcap pcapng; do
        file="$DATA/$name.$f"
        cached "$file"
        peers "$policy" $set
        echo
        table "$set/$f (policy $policy)" "$file" "$(truth "$name" "$file")"
        FORMAT_MED[$f]=${MEDIANS[1]}
        if [ $set = flows ] && [ -n "${SHARD_ROWS:-}" ]; then
            awk -v one="${MEDIANS[2]}" -v two="${MEDIANS[3]}" 'BEGIN {
                printf "  one capture in shares of its flows: %.2fx the one-thread rate\n", one / two }'
        fi
    done
    awk -v a="${FORMAT_MED[pcap]}" -v b="${FORMAT_MED[pcapng]}" 'BEGIN {
        printf "%s: pcapng at %.2fx the pcap rate (default threads, median wall, same packets)\n", "'$set'", a / b }'
    if [ -n "$THREADS_NOTE" ]; then echo "$THREADS_NOTE"; fi
done
if has_set flows || has_set memory; then echo; source scripts/bench-memory.sh; fi

if has_set files; then
    echo
    # shellcheck source=bench-files.sh
    source scripts/bench-files.sh
fi

if has_set rotated; then
    echo
    # shellcheck source=bench-rotated.sh
    source scripts/bench-rotated.sh
fi

if has_set small; then
    echo
    # shellcheck source=bench-small.sh
    source scripts/bench-small.sh
fi

if has_set dedup; then
    echo
    # shellcheck source=bench-dedup.sh
    source scripts/bench-dedup.sh
fi
if has_set live; then echo; echo "live capture (scripts/bench-live.sh):"; scripts/bench-live.sh; fi
if has_set daemon; then echo; echo "daemon (scripts/bench-watch.sh):"; scripts/bench-watch.sh; fi
