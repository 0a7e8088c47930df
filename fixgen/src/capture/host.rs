//! A scenario as one host's own stack sees it, for the Windows-style captures: only the
//! frames that host sent or received, and runs of segments it sent in one burst merged into
//! the large-send (LSO) super-frames its stack handed the NIC (the NIC cuts them into the
//! wire segments; `shared/reference/windows-captures.md` §4). The same merge, of segments the
//! host received, is what receive-segment coalescing (RSC) hands up.

use std::net::IpAddr;

use etherparse::{IpHeaders, PacketBuilder, SlicedPacket, TransportSlice};

use super::{Capture, Frame};

/// Segments of one burst are at most this far apart (frames of one conversation are 100 µs
/// apart, a pure ACK between two segments; bursts are a second apart).
const BURST_GAP_NS: i64 = 1_000_000;

/// Consecutive segments of one direction, and the super-frame carrying all their bytes.
pub(crate) struct Run {
    /// Indexes (in time order) of the segments, first to last.
    pub members: Vec<usize>,
    /// The merged frame: the first segment's headers and IP id, the last one's flags.
    pub merged: Vec<u8>,
}

/// One frame of a host's view, in time order.
pub(crate) struct HostFrame<'a> {
    pub ts: i64,
    /// Index of the scenario interface (pcapng interface block) it was seen on.
    pub nic: u32,
    pub data: &'a [u8],
    /// The host sent it (else received it; frames of no flow count as received).
    pub sent: bool,
}

/// The TCP segment in an Ethernet frame: (sequence number, payload length, SYN or FIN set).
fn segment(data: &[u8]) -> Option<(u32, usize, bool)> {
    let p = SlicedPacket::from_ethernet(data).ok()?;
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        return None;
    };
    let ipv4 = matches!(p.net, Some(etherparse::NetSlice::Ipv4(_)));
    ipv4.then(|| (t.sequence_number(), t.payload().len(), t.syn() || t.fin()))
}

/// One frame carrying the headers of `first`, the flags of `last` and every payload.
fn merge(frames: &[&[u8]]) -> Vec<u8> {
    let first = SlicedPacket::from_ethernet(frames[0]).expect("a fixgen frame");
    let last = SlicedPacket::from_ethernet(frames[frames.len() - 1]).expect("a fixgen frame");
    let (Some(etherparse::LinkSlice::Ethernet2(eth)), Some(etherparse::NetSlice::Ipv4(ip))) =
        (&first.link, &first.net)
    else {
        panic!("runs are IPv4 over Ethernet");
    };
    let (Some(TransportSlice::Tcp(t0)), Some(TransportSlice::Tcp(tn))) =
        (&first.transport, &last.transport)
    else {
        panic!("runs are TCP");
    };
    let mut tcp = t0.to_header();
    tcp.psh = tn.psh();
    tcp.acknowledgment_number = tn.acknowledgment_number();
    let mut payload = Vec::new();
    for f in frames {
        let p = SlicedPacket::from_ethernet(f).expect("a fixgen frame");
        if let Some(TransportSlice::Tcp(t)) = p.transport {
            payload.extend_from_slice(t.payload());
        }
    }
    let mut out = Vec::with_capacity(64 + payload.len());
    PacketBuilder::ethernet2(eth.source(), eth.destination())
        .ip(IpHeaders::Ipv4(ip.header().to_header(), Default::default()))
        .tcp_header(tcp)
        .write(&mut out, &payload)
        .expect("a super-frame stays under 64 KiB");
    out
}

impl Capture {
    /// Writes the capture as `name` from now on.
    pub(crate) fn rename(&mut self, name: &'static str) {
        self.name = name;
    }

    /// Keeps only what a host with addresses `host` sees: frames of flows it is an end of, and
    /// frames of no flow (ARP).
    pub(crate) fn keep_host(&mut self, host: &[IpAddr]) {
        let flows = &self.flows;
        self.frames.retain(|f| match f.flow {
            Some((i, _)) => {
                let s = &flows[i].spec;
                host.contains(&s.src.ip) || host.contains(&s.dst.ip)
            }
            None => true,
        });
    }

    /// The host sending frame `f`: the end of its flow that sent it, or an ARP frame's
    /// sender protocol address (untagged ARP: bytes 28..32).
    fn sender(&self, f: &Frame) -> Option<IpAddr> {
        let Some((i, forward)) = f.flow else {
            let arp = f.data.get(12..14) == Some(&[0x08, 0x06][..]);
            let spa: [u8; 4] = f.data.get(28..32)?.try_into().ok()?;
            return arp.then(|| IpAddr::from(spa));
        };
        let s = &self.flows[i].spec;
        Some(if forward { s.src.ip } else { s.dst.ip })
    }

    /// Runs of at least two consecutive IPv4 TCP data segments that `senders` sent in one
    /// burst, at most `max` each (frames sorted by time first).
    pub(crate) fn runs(&mut self, senders: &[IpAddr], max: usize) -> Vec<Run> {
        self.frames.sort_by_key(|f| f.ts);
        // Per (flow, direction): the open run's members, next sequence number, last time.
        let mut open: std::collections::BTreeMap<(usize, bool), (Vec<usize>, u32, i64)> =
            Default::default();
        let mut done: Vec<Vec<usize>> = Vec::new();
        for (i, f) in self.frames.iter().enumerate() {
            let (Some(key), Some(from)) = (f.flow, self.sender(f)) else {
                continue;
            };
            if !senders.contains(&from) {
                continue;
            }
            let Some((seq, len, control)) = segment(&f.data) else {
                continue;
            };
            let extends = open.get(&key).is_some_and(|(m, next, last)| {
                *next == seq && f.ts - last <= BURST_GAP_NS && m.len() < max
            });
            if extends && len > 0 && !control {
                let run = open.get_mut(&key).expect("checked above");
                run.0.push(i);
                run.1 = seq.wrapping_add(len as u32);
                run.2 = f.ts;
                continue;
            }
            if let Some((m, _, _)) = open.remove(&key) {
                done.push(m);
            }
            if len > 0 && !control {
                open.insert(key, (vec![i], seq.wrapping_add(len as u32), f.ts));
            }
        }
        done.extend(open.into_values().map(|(m, _, _)| m));
        done.retain(|m| m.len() > 1);
        done.sort();
        done.into_iter()
            .map(|members| {
                let parts: Vec<&[u8]> = members
                    .iter()
                    .map(|&i| self.frames[i].data.as_slice())
                    .collect();
                Run {
                    merged: merge(&parts),
                    members,
                }
            })
            .collect()
    }

    /// Replaces every run by its super-frame at the time of its first segment; every
    /// `lsov2_every`-th one (1-based) says IPv4 total length 0, as LSOv2 frames do before the
    /// NIC fills it in. Returns the sizes of the super-frames.
    pub(crate) fn apply_runs(&mut self, runs: Vec<Run>, lsov2_every: usize) -> Vec<usize> {
        let mut gone = vec![false; self.frames.len()];
        let mut sizes = Vec::new();
        for (k, run) in runs.into_iter().enumerate() {
            let mut data = run.merged;
            if lsov2_every > 0 && (k + 1) % lsov2_every == 0 {
                data[16..18].copy_from_slice(&[0, 0]);
            }
            sizes.push(data.len());
            self.frames[run.members[0]].data = data;
            for &i in &run.members[1..] {
                gone[i] = true;
            }
        }
        let mut i = 0;
        self.frames.retain(|_| {
            i += 1;
            !gone[i - 1]
        });
        sizes
    }

    /// The frames in time order, each with whether one of `host`'s addresses sent it.
    pub(crate) fn host_frames(&mut self, host: &[IpAddr]) -> Vec<HostFrame<'_>> {
        self.frames.sort_by_key(|f| f.ts);
        self.frames
            .iter()
            .map(|f| HostFrame {
                ts: f.ts,
                nic: f.iface,
                data: &f.data,
                sent: self.sender(f).is_some_and(|s| host.contains(&s)),
            })
            .collect()
    }

    /// The scenario's interface names (pcapng layouts; empty otherwise).
    pub(crate) fn nic_names(&self) -> Vec<&'static str> {
        match &self.layout {
            super::Layout::PcapNg { ifaces } => ifaces.clone(),
            super::Layout::Pcap { .. } => Vec::new(),
        }
    }
}
