#!/usr/bin/env python3
"""Cross-check fixgen's bookkeeping against tshark, by hand (fixgen/tests/tshark.rs does the
same, and checks the evidence payloads, in `cargo test -p fixgen`).

usage: fixgen flows DIR > flows.tsv && tools/tshark_check.py DIR flows.tsv

For every file: per-flow frame counts from `tshark -z conv,tcp -z conv,udp`, per-flow frame
and byte totals from per-frame fields (frame.len = original length), and that
`-Y tcp.analysis.flags` selects nothing. Exits non-zero on any mismatch.
"""
import collections, re, subprocess, sys

def tshark(*args):
    r = subprocess.run(["tshark", "-n", *args], capture_output=True, text=True)
    return r.stdout

def key(a, ap, b, bp):
    return frozenset([(a, int(ap)), (b, int(bp))])

def main(d, tsv):
    truth = collections.defaultdict(dict)
    for line in open(tsv):
        f = line.rstrip("\n").split("\t")
        name, proto, src, sport, dst, dport, pk, by = f[:8]
        truth[name][(proto, key(src, sport, dst, dport))] = (int(pk), int(by))
    bad = 0
    for name, flows in sorted(truth.items()):
        path = f"{d}/{name}"
        # conv tables: frame totals
        conv = {}
        proto = None
        for l in tshark("-r", path, "-q", "-z", "conv,tcp", "-z", "conv,udp").splitlines():
            if l.startswith("TCP Conversations"): proto = "tcp"
            if l.startswith("UDP Conversations"): proto = "udp"
            # A:p <-> B:p  frames bytes unit  frames bytes unit  frames(total) bytes unit ...
            m = re.match(r"^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+(\d+) \S+ \S+\s+(\d+) \S+ \S+\s+(\d+) ", l)
            if m:
                a, ap, b, bp, back, fwd, tot = m.groups()
                assert int(back) + int(fwd) == int(tot), l
                conv[(proto, key(a, ap, b, bp))] = int(tot)
        # per-frame fields: frames and original bytes
        agg = collections.Counter(); aggb = collections.Counter()
        out = tshark("-r", path, "-T", "fields", "-E", "separator=\t", "-e", "frame.len",
                     "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
                     "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport",
                     "-e", "icmp.type", "-e", "icmpv6.type")
        for l in out.splitlines():
            c = l.split("\t")
            ln, s4, s6, d4, d6, ts, td, us, ud, it, it6 = (c + [""] * 11)[:11]
            s, dd = s4 or s6, d4 or d6
            if not s: continue
            if ts: k = ("tcp", key(s, ts, dd, td))
            elif us: k = ("udp", key(s, us, dd, ud))
            elif it: k = ("icmp", key(s, 0, dd, 0))
            elif it6: k = ("icmpv6", key(s, 0, dd, 0))
            else: continue
            agg[k] += 1; aggb[k] += int(ln)
        for k, (pk, by) in flows.items():
            got = (agg.get(k, 0), aggb.get(k, 0))
            c = conv.get(k)
            ok = got == (pk, by) and (k[0].startswith("icmp") or c == pk)
            if not ok:
                bad += 1
                print(f"MISMATCH {name} {k}: truth {pk}/{by}, tshark fields {got}, conv {c}")
        extra = set(agg) - set(flows)
        if extra:
            bad += 1; print(f"EXTRA flows in {name}: {extra}")
        flags = tshark("-r", path, "-Y", "tcp.analysis.flags").strip()
        if flags:
            bad += 1; print(f"tcp.analysis.flags in {name}:\n{flags}")
        print(f"{name}: {len(flows)} flows checked, conv tables {len(conv)}")
    print("OK" if not bad else f"{bad} problems")
    sys.exit(1 if bad else 0)

main(sys.argv[1], sys.argv[2])
