//! A scenario under construction: frames with timestamps and flow membership, written out in
//! one go (sorted by time) while the bookkeeping is computed from exactly what was written.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter, RawPcapPacket};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

mod host;

pub(crate) use host::{HostFrame, Run};

use crate::dns::Reply;
use crate::tunnel::{OuterKey, Wrap, Wrapped};
use crate::wire::{self, Host, IpFrame, LinkKind, L4, SLL_HOST, SLL_OUTGOING};
use crate::{CaptureTruth, DnsQueryTruth, DnsTruth, FlowTruth, TunnelTruth};

/// 2023-11-14T22:13:20Z: every scenario's clock starts here.
pub(crate) const EPOCH_NS: i64 = 1_700_000_000 * NS_PER_SEC;
pub(crate) const NS_PER_SEC: i64 = 1_000_000_000;
/// Every timestamp in a scenario is `EPOCH_NS + k * GRID_NS + phase`, with a phase (whole
/// microseconds, below the grid) unique to each flow: two flows can never share a timestamp,
/// so the merged capture is strictly increasing even at microsecond resolution.
pub(crate) const GRID_NS: i64 = 100_000;

/// Milliseconds after the epoch, as a relative time for the scenario builders.
pub(crate) const fn ms(v: i64) -> i64 {
    v * 1_000_000
}

pub(crate) enum Layout {
    /// pcapng, Ethernet, one IDB per named interface (index = position).
    PcapNg { ifaces: Vec<&'static str> },
    /// Classic pcap.
    Pcap {
        link: LinkKind,
        endianness: Endianness,
        nanos: bool,
        snaplen: u32,
    },
}

/// Where a flow's frames are seen: which interface and which VLAN tags.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    /// pcapng: interface index; SLL2: Linux ifindex; plain Ethernet pcap: ignored.
    pub iface: u32,
    /// Outermost first.
    pub vlans: Vec<u16>,
}

impl Seen {
    pub fn on(iface: u32) -> Seen {
        Seen {
            iface,
            vlans: Vec::new(),
        }
    }
    pub fn vlan(vlans: &[u16]) -> Seen {
        Seen {
            iface: 0,
            vlans: vlans.to_vec(),
        }
    }
}

struct Frame {
    ts: i64,
    iface: u32,
    data: Vec<u8>,
    /// (flow index, travelling from the flow's src to its dst)
    flow: Option<(usize, bool)>,
    /// The DNS message this frame carries, if the bookkeeping lists it.
    dns: Option<FrameDns>,
    /// How the frame was wrapped in the capture's tunnel (data is the outer frame).
    tunnel: Option<Wrapped>,
}

/// What the next IP frame carries of DNS, for the bookkeeping (`Capture::note_dns`).
pub(crate) struct DnsNote {
    /// "udp" | "tcp"
    pub transport: &'static str,
    pub reply: Reply,
    /// The frame is the response; otherwise it is the query, and it is never answered.
    pub response: bool,
}

enum FrameDns {
    Response(DnsTruth),
    Unanswered(DnsQueryTruth),
}

impl DnsNote {
    /// The bookkeeping of the frame sent at `ts` from `from` to `to`.
    fn sent(self, ts: i64, from: Host, to: Host) -> FrameDns {
        let DnsNote {
            transport,
            reply,
            response,
        } = self;
        if !response {
            return FrameDns::Unanswered(DnsQueryTruth {
                time_ns: ts,
                client: from.ip,
                server: to.ip,
                transport,
                id: reply.id,
                name: reply.name,
                qtype: reply.qtype,
            });
        }
        FrameDns::Response(DnsTruth {
            time_ns: ts,
            client: to.ip,
            server: from.ip,
            transport,
            id: reply.id,
            records: reply.truth(),
            name: reply.name,
            qtype: reply.qtype,
            rcode: reply.rcode,
            truncated: reply.truncated,
        })
    }
}

/// What a flow is: its endpoints (src = initiator), where it is seen, what it is meant to be.
pub(crate) struct Spec {
    pub src: Host,
    pub sport: u16,
    pub dst: Host,
    pub dport: u16,
    pub seen: Seen,
    pub network: &'static str,
    pub class: &'static str,
}

impl Spec {
    pub fn new(
        src: Host,
        sport: u16,
        dst: Host,
        dport: u16,
        seen: Seen,
        network: &'static str,
        class: &'static str,
    ) -> Spec {
        Spec {
            src,
            sport,
            dst,
            dport,
            seen,
            network,
            class,
        }
    }
}

struct FlowMeta {
    proto: &'static str,
    spec: Spec,
}

/// Identifies a registered flow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlowId(usize);

pub(crate) struct Capture {
    name: &'static str,
    layout: Layout,
    frames: Vec<Frame>,
    flows: Vec<FlowMeta>,
    next_phase: i64,
    ip_id: u16,
    /// SLL2: addresses of the capturing host (frames from them are "outgoing").
    local: Vec<std::net::IpAddr>,
    /// Write the last frame as a record cut in half (the `truncated` fixture).
    truncate_last: bool,
    /// Added to every timestamp (below 1 µs): exercises nanosecond resolution.
    sub_us_ns: i64,
    /// Bookkeeping for the next IP frame stored.
    dns_next: Option<DnsNote>,
    /// Every frame is wrapped in this tunnel when the capture is written.
    wrap: Option<Wrap>,
    /// What was wrapped: tunnel type, mirror transport, provider network.
    wrapped: Option<(&'static str, bool, &'static str)>,
}

impl Capture {
    pub fn new(name: &'static str, layout: Layout) -> Capture {
        Capture {
            name,
            layout,
            frames: Vec::new(),
            flows: Vec::new(),
            next_phase: 1,
            ip_id: 0x1000,
            local: Vec::new(),
            truncate_last: false,
            sub_us_ns: 0,
            dns_next: None,
            wrap: None,
            wrapped: None,
        }
    }

    /// The same scenario, renamed, with every frame wrapped in `w`.
    pub fn wrapped_in(mut self, name: &'static str, w: Wrap) -> Capture {
        self.name = name;
        self.wrap = Some(w);
        self
    }

    /// Wraps every frame (after sorting, so sequence numbers follow capture
    /// order); a mirror collector captures on one interface, `mon0`.
    fn apply_wrap(&mut self) {
        let Some(mut w) = self.wrap.take() else {
            return;
        };
        let frames = std::mem::take(&mut self.frames);
        for mut f in frames {
            let Some(mut x) = w.wrap(&f.data, f.iface) else {
                continue;
            };
            f.data = std::mem::take(&mut x.data);
            if w.encap.is_mirror() {
                f.iface = 0;
            }
            f.tunnel = Some(x);
            self.frames.push(f);
        }
        if w.encap.is_mirror() {
            self.layout = Layout::PcapNg {
                ifaces: vec!["mon0"],
            };
        }
        self.wrapped = Some((w.encap.kind(), w.encap.is_mirror(), w.network));
    }

    pub fn pcapng(name: &'static str, ifaces: &[&'static str]) -> Capture {
        Capture::new(
            name,
            Layout::PcapNg {
                ifaces: ifaces.to_vec(),
            },
        )
    }

    pub fn pcap(name: &'static str) -> Capture {
        Capture::new(
            name,
            Layout::Pcap {
                link: LinkKind::Ethernet,
                endianness: Endianness::Little,
                nanos: false,
                snaplen: 65535,
            },
        )
    }

    pub fn set_local(&mut self, ips: &[Host]) {
        self.local = ips.iter().map(|h| h.ip).collect();
    }

    pub fn set_sub_us_ns(&mut self, ns: i64) {
        assert!((0..1000).contains(&ns) && self.frames.is_empty());
        self.sub_us_ns = ns;
    }

    pub fn set_truncate_last(&mut self) {
        self.truncate_last = true;
    }

    /// A fresh timing phase (1..=99 µs) for one flow or one sequence of non-flow frames.
    pub fn phase(&mut self) -> i64 {
        let p = self.next_phase;
        assert!(p * 1000 < GRID_NS, "too many flows in one scenario");
        self.next_phase += 1;
        p * 1000
    }

    pub fn flow(&mut self, proto: &'static str, spec: Spec) -> FlowId {
        self.flows.push(FlowMeta { proto, spec });
        FlowId(self.flows.len() - 1)
    }

    /// The next IP frame stored carries the DNS message `note` describes.
    pub fn note_dns(&mut self, note: DnsNote) {
        assert!(self.dns_next.is_none(), "one DNS note per frame");
        self.dns_next = Some(note);
    }

    fn link(&self) -> LinkKind {
        match self.layout {
            Layout::PcapNg { .. } => LinkKind::Ethernet,
            Layout::Pcap { link, .. } => link,
        }
    }

    /// Encodes and stores one IP frame of flow `id`, sent by `from` to `to`.
    pub fn ip_frame(
        &mut self,
        id: FlowId,
        ts: i64,
        from: Host,
        to: Host,
        ipv6_dest_opts: bool,
        l4: L4<'_>,
    ) {
        let meta = &self.flows[id.0].spec;
        let forward = from == meta.src;
        debug_assert!(forward || from == meta.dst);
        let pkttype = if self.local.contains(&from.ip) {
            SLL_OUTGOING
        } else {
            SLL_HOST
        };
        self.ip_id = self.ip_id.wrapping_add(1);
        let data = wire::encode(&IpFrame {
            link: self.link(),
            vlans: &meta.seen.vlans,
            ifindex: meta.seen.iface,
            pkttype,
            src: from,
            dst: to,
            ip_id: self.ip_id,
            ipv6_dest_opts,
            l4,
        });
        let iface = meta.seen.iface;
        let ts = ts + self.sub_us_ns;
        let dns = self.dns_next.take().map(|n| n.sent(ts, from, to));
        self.frames.push(Frame {
            ts,
            iface,
            data,
            flow: Some((id.0, forward)),
            dns,
            tunnel: None,
        });
    }

    /// Encodes one IP frame of flow `id` sent by `from` to `to`, and stores
    /// it as `times.len()` IP fragments, fragment `i` (in payload order:
    /// the first carries the transport header) at `times[i]`.
    pub fn ip_fragments(
        &mut self,
        id: FlowId,
        times: &[i64],
        (from, to): (Host, Host),
        l4: L4<'_>,
    ) {
        assert_eq!(
            self.link(),
            LinkKind::Ethernet,
            "fragments of Ethernet frames"
        );
        let meta = &self.flows[id.0].spec;
        let forward = from == meta.src;
        debug_assert!(forward || from == meta.dst);
        let (vlans, iface) = (meta.seen.vlans.clone(), meta.seen.iface);
        self.ip_id = self.ip_id.wrapping_add(1);
        let data = wire::encode(&IpFrame {
            link: LinkKind::Ethernet,
            vlans: &vlans,
            ifindex: iface,
            pkttype: SLL_HOST,
            src: from,
            dst: to,
            ip_id: self.ip_id,
            ipv6_dest_opts: false,
            l4,
        });
        let l2 = 14 + 4 * vlans.len();
        let id6 = 0x4c43_0000 | u32::from(self.ip_id);
        let parts = wire::fragments(&data, l2, times.len(), id6);
        assert_eq!(parts.len(), times.len(), "one time per fragment");
        for (data, ts) in parts.into_iter().zip(times) {
            self.frames.push(Frame {
                ts: ts + self.sub_us_ns,
                iface,
                data,
                flow: Some((id.0, forward)),
                dns: None,
                tunnel: None,
            });
        }
    }

    /// Stores a frame that belongs to no flow (ARP).
    pub fn other_frame(&mut self, ts: i64, iface: u32, data: Vec<u8>) {
        assert_eq!(self.link(), LinkKind::Ethernet);
        self.frames.push(Frame {
            ts: ts + self.sub_us_ns,
            iface,
            data,
            flow: None,
            dns: None,
            tunnel: None,
        });
    }

    fn iface_name(&self, iface: u32) -> Option<String> {
        match (&self.layout, self.link()) {
            (Layout::PcapNg { ifaces }, _) => Some(ifaces[iface as usize].to_string()),
            (_, LinkKind::Sll2) => Some(format!("ifindex:{iface}")),
            _ => None,
        }
    }

    /// Writes `<dir>/<name>.<ext>` and returns what was written.
    pub fn finish(mut self, dir: &Path) -> io::Result<CaptureTruth> {
        assert!(self.dns_next.is_none(), "a DNS note without its frame");
        self.frames.sort_by_key(|f| f.ts);
        self.apply_wrap();
        for w in self.frames.windows(2) {
            if w[0].ts >= w[1].ts {
                return Err(invalid(format!(
                    "{}: timestamps not strictly increasing at {}",
                    self.name, w[1].ts
                )));
            }
        }
        let (ext, format) = match self.layout {
            Layout::PcapNg { .. } => ("pcapng", "pcapng"),
            Layout::Pcap { .. } => ("pcap", "pcap"),
        };
        let file = dir.join(format!("{}.{}", self.name, ext));
        let out = BufWriter::with_capacity(1 << 16, File::create(&file)?);
        let complete = if self.truncate_last {
            self.frames.len() - 1
        } else {
            self.frames.len()
        };
        let truncated_at = match &self.layout {
            Layout::PcapNg { ifaces } => {
                self.write_pcapng(out, ifaces, complete)?;
                None
            }
            Layout::Pcap { .. } => self.write_pcap(out, complete)?,
        };
        Ok(self.truth(file, format, complete, truncated_at))
    }

    /// The frames before `complete` as pcapng, one Ethernet interface per name.
    fn write_pcapng(
        &self,
        out: BufWriter<File>,
        ifaces: &[&str],
        complete: usize,
    ) -> io::Result<()> {
        let mut w = PcapNgWriter::with_endianness(out, Endianness::Little).map_err(io_err)?;
        for name in ifaces {
            w.write_pcapng_block(ethernet_idb(name)).map_err(io_err)?;
        }
        for f in &self.frames[..complete] {
            w.write_pcapng_block(epb(f.iface, f.ts, &f.data, f.data.len()))
                .map_err(io_err)?;
        }
        w.into_inner()
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
    }

    /// The frames before `complete` as classic pcap, then the cut record if
    /// any: returns the byte offset where it starts.
    fn write_pcap(&self, out: BufWriter<File>, complete: usize) -> io::Result<Option<u64>> {
        let Layout::Pcap {
            link,
            endianness,
            nanos,
            snaplen,
        } = self.layout
        else {
            return Err(invalid("not a classic pcap layout".into()));
        };
        let header = PcapHeader {
            datalink: match link {
                LinkKind::Ethernet => DataLink::ETHERNET,
                LinkKind::Sll2 => DataLink::LINUX_SLL2,
            },
            snaplen,
            endianness,
            ts_resolution: if nanos {
                TsResolution::NanoSecond
            } else {
                TsResolution::MicroSecond
            },
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(out, header).map_err(io_err)?;
        let mut offset = 24u64;
        for f in &self.frames[..complete] {
            let incl = f.data.len().min(snaplen as usize);
            let pkt = PcapPacket::new(ts_dur(f.ts), f.data.len() as u32, &f.data[..incl]);
            offset += w.write_packet(&pkt).map_err(io_err)? as u64;
        }
        let mut truncated_at = None;
        if let Some(f) = self.frames.get(complete) {
            // The cut record: a header that promises the whole frame, followed by only
            // its first half. RawPcapPacket writes the fields as given, unvalidated.
            let ts = ts_dur(f.ts);
            let frac = if nanos {
                ts.subsec_nanos()
            } else {
                ts.subsec_micros()
            };
            let raw = RawPcapPacket {
                ts_sec: ts.as_secs() as u32,
                ts_frac: frac,
                incl_len: f.data.len() as u32,
                orig_len: f.data.len() as u32,
                data: Cow::Borrowed(&f.data[..f.data.len() / 2]),
            };
            w.write_raw_packet(&raw).map_err(io_err)?;
            truncated_at = Some(offset);
        }
        w.into_writer()
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        Ok(truncated_at)
    }

    fn truth(
        &self,
        file: std::path::PathBuf,
        format: &'static str,
        complete: usize,
        truncated_at: Option<u64>,
    ) -> CaptureTruth {
        let written = &self.frames[..complete];
        let mut flows = self.flow_truths(written);
        // A flow whose frames were all cut off would have no truth to tell.
        flows.retain(|t| t.packets > 0);
        let mut ifaces: Vec<String> = written
            .iter()
            .filter_map(|f| self.iface_name(f.iface))
            .chain(
                written
                    .iter()
                    .filter_map(|f| f.tunnel.as_ref().and_then(|t| t.session_iface.clone())),
            )
            .collect();
        if let Layout::PcapNg { ifaces: all } = &self.layout {
            ifaces.extend(all.iter().map(|s| s.to_string()));
        }
        ifaces.sort();
        ifaces.dedup();
        let (dns, dns_unanswered) = self.dns_truth(complete);
        let mirror = self.wrapped.is_some_and(|w| w.1);
        let (mirror_packets, mirror_bytes) = if mirror {
            let bytes = written.iter().map(|f| f.data.len() as u64).sum();
            (written.len() as u64, bytes)
        } else {
            (0, 0)
        };
        CaptureTruth {
            file,
            format,
            packets: written.len() as u64,
            bytes: written.iter().map(|f| f.data.len() as u64).sum(),
            interfaces: ifaces,
            truncated_at,
            non_ip_frames: written.iter().filter(|f| f.flow.is_none()).count() as u64,
            flows,
            outer_flows: if mirror {
                Vec::new()
            } else {
                self.outer_truths(written)
            },
            mirror_packets,
            mirror_bytes,
            dns,
            dns_unanswered,
        }
    }

    /// The scenario's flows as written: packets, the bytes each frame's flow
    /// counts (its inner frame's or packet's own, when wrapped), times, bins.
    fn flow_truths(&self, written: &[Frame]) -> Vec<FlowTruth> {
        // A mirror collector's flows are named by session, from their frames.
        let mirror = self.wrapped.is_some_and(|w| w.1);
        let mut flows: Vec<FlowTruth> = self
            .flows
            .iter()
            .map(|FlowMeta { proto, spec: m }| FlowTruth {
                proto,
                src: m.src.ip,
                sport: m.sport,
                dst: m.dst.ip,
                dport: m.dport,
                packets: 0,
                bytes: 0,
                packets_src_to_dst: 0,
                bytes_src_to_dst: 0,
                interfaces: match mirror {
                    true => Vec::new(),
                    false => self.iface_name(m.seen.iface).into_iter().collect(),
                },
                vlans: {
                    let mut v = m.seen.vlans.clone();
                    v.sort_unstable();
                    v.dedup();
                    v
                },
                first_seen_ns: i64::MAX,
                last_seen_ns: i64::MIN,
                network: m.network,
                class: m.class,
                bins: Vec::new(),
                tunnel: None,
            })
            .collect();
        let mut bins: Vec<BTreeMap<i64, u64>> = vec![BTreeMap::new(); flows.len()];
        let tunnels = self.first_outer(written);
        for f in written {
            let Some((i, forward)) = f.flow else {
                continue;
            };
            let len = f.tunnel.as_ref().map_or(f.data.len(), |w| w.counted) as u64;
            let t = &mut flows[i];
            t.packets += 1;
            t.bytes += len;
            if forward {
                t.packets_src_to_dst += 1;
                t.bytes_src_to_dst += len;
            }
            t.first_seen_ns = t.first_seen_ns.min(f.ts);
            t.last_seen_ns = t.last_seen_ns.max(f.ts);
            *bins[i].entry(f.ts.div_euclid(NS_PER_SEC)).or_default() += len;
            if let (Some(w), None) = (&f.tunnel, &t.tunnel) {
                t.tunnel = Some(self.tunnel_truth(w, &tunnels));
                if let Some(s) = &w.session_iface {
                    t.interfaces = vec![s.clone()];
                }
            }
        }
        for (t, b) in flows.iter_mut().zip(bins) {
            t.bins = b.into_iter().collect();
        }
        flows
    }

    /// The outer source and destination of the first frame in each tunnel
    /// (keyed by id and the unordered outer pair), as lanecheck reports it.
    fn first_outer(&self, written: &[Frame]) -> Vec<FirstOuter> {
        let mut out = Vec::new();
        for w in written.iter().filter_map(|f| f.tunnel.as_ref()) {
            let Some(o) = w.outer else { continue };
            let mut pair = [o.src, o.dst];
            pair.sort();
            if !out.iter().any(|(id, p, _)| *id == w.id && *p == pair) {
                out.push((w.id, pair, (o.src, o.dst)));
            }
        }
        out
    }

    fn tunnel_truth(&self, w: &Wrapped, first: &[FirstOuter]) -> TunnelTruth {
        let outer = w.outer.map(|o| {
            let mut pair = [o.src, o.dst];
            pair.sort();
            first
                .iter()
                .find(|(id, p, _)| *id == w.id && *p == pair)
                .map_or((o.src, o.dst), |x| x.2)
        });
        TunnelTruth {
            kind: self.wrapped.map_or("?", |x| x.0),
            id: w.id,
            outer,
        }
    }

    /// The overlay's outer flows: every outer packet by its 5-tuple (both
    /// directions one flow), bytes = the whole frame, class `tunnel`.
    fn outer_truths(&self, written: &[Frame]) -> Vec<FlowTruth> {
        let network = self.wrapped.map_or("?", |w| w.2);
        let mut out: Vec<(OuterKey, FlowTruth, BTreeMap<i64, u64>)> = Vec::new();
        for f in written {
            let Some(o) = f.tunnel.as_ref().and_then(|w| w.outer) else {
                continue;
            };
            let reverse =
                |k: &OuterKey| (k.src, k.sport, k.dst, k.dport) == (o.dst, o.dport, o.src, o.sport);
            let i = match out.iter().position(|(k, _, _)| *k == o || reverse(k)) {
                Some(i) => i,
                None => {
                    out.push((o, outer_flow(o, network), BTreeMap::new()));
                    out.len() - 1
                }
            };
            let (k, t, bins) = &mut out[i];
            if let Some(n) = self
                .iface_name(f.iface)
                .filter(|n| !t.interfaces.contains(n))
            {
                t.interfaces.push(n);
                t.interfaces.sort();
            }
            let len = f.data.len() as u64;
            t.packets += 1;
            t.bytes += len;
            if *k == o {
                t.packets_src_to_dst += 1;
                t.bytes_src_to_dst += len;
            }
            t.first_seen_ns = t.first_seen_ns.min(f.ts);
            t.last_seen_ns = t.last_seen_ns.max(f.ts);
            *bins.entry(f.ts.div_euclid(NS_PER_SEC)).or_default() += len;
        }
        out.into_iter()
            .map(|(_, mut t, b)| {
                t.bins = b.into_iter().collect();
                t
            })
            .collect()
    }

    /// The DNS responses and unanswered queries among the first `complete` frames.
    fn dns_truth(&self, complete: usize) -> (Vec<DnsTruth>, Vec<DnsQueryTruth>) {
        let (mut answered, mut unanswered) = (Vec::new(), Vec::new());
        for f in &self.frames[..complete] {
            match &f.dns {
                Some(FrameDns::Response(d)) => answered.push(d.clone()),
                Some(FrameDns::Unanswered(q)) => unanswered.push(q.clone()),
                None => {}
            }
        }
        (answered, unanswered)
    }
}

/// A tunnel (id, sorted outer pair) and the outer (source, destination) of its first frame.
type FirstOuter = (Option<u32>, [IpAddr; 2], (IpAddr, IpAddr));

/// An empty outer flow of `o` (its first packet's source is the initiator).
fn outer_flow(o: OuterKey, network: &'static str) -> FlowTruth {
    FlowTruth {
        proto: o.proto,
        src: o.src,
        sport: o.sport,
        dst: o.dst,
        dport: o.dport,
        packets: 0,
        bytes: 0,
        packets_src_to_dst: 0,
        bytes_src_to_dst: 0,
        interfaces: Vec::new(),
        vlans: Vec::new(),
        first_seen_ns: i64::MAX,
        last_seen_ns: i64::MIN,
        network,
        class: "tunnel",
        bins: Vec::new(),
        tunnel: None,
    }
}

/// An Ethernet interface description with a name and nanosecond timestamps.
///
/// pcap-file 2.0 always writes Enhanced Packet Block timestamps as nanoseconds since the epoch
/// (it ignores `if_tsresol`), so every IDB must declare `if_tsresol = 9`; without it, readers
/// apply the pcapng default of microseconds and land 1000x too far in the future.
pub(crate) fn ethernet_idb(name: &str) -> InterfaceDescriptionBlock<'static> {
    InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![
            InterfaceDescriptionOption::IfName(Cow::Owned(name.to_string())),
            InterfaceDescriptionOption::IfTsResol(9),
        ],
    }
}

pub(crate) fn epb(iface: u32, ts: i64, data: &[u8], orig_len: usize) -> EnhancedPacketBlock<'_> {
    EnhancedPacketBlock {
        interface_id: iface,
        timestamp: ts_dur(ts),
        original_len: orig_len as u32,
        data: Cow::Borrowed(data),
        options: vec![],
    }
}

pub(crate) fn ts_dur(ts: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ts).expect("timestamps after 1970"))
}

pub(crate) fn io_err(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

pub(crate) fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}
