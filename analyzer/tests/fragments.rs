//! Later IP fragments that come before their train's first fragment (sent
//! last first, or reordered): held until the first comes and counted in its
//! flow, or, when it never comes, counted once as orphans in a port-less
//! flow, at the timeout, at the cap or at the end of input; every frame
//! counted late is told to the caller with its flow.

use analyzer::flow::Slot;
use analyzer::state::FlowState;
use analyzer::{Analyzer, AnalyzerConfig, CaptureId, Late, LateFrame, HELD_CAP};
use capture::{Frame, LinkType, Timestamp};
use etherparse::PacketBuilder;

const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// A TCP segment 10.0.0.1:49800 → 10.0.0.2:5719 carrying `len` bytes.
fn segment_v4(len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(49800, 5719, 1, 64_000)
        .write(&mut out, &vec![0x5a; len])
        .unwrap();
    out
}

/// The same over IPv6, fd00::1 → fd00::2.
fn segment_v6(len: usize) -> Vec<u8> {
    let a = |last: u8| {
        let mut b = [0u8; 16];
        b[..2].copy_from_slice(&[0xfd, 0]);
        b[15] = last;
        b
    };
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv6(a(1), a(2), 64)
        .tcp(49801, 5719, 1, 64_000)
        .write(&mut out, &vec![0x5a; len])
        .unwrap();
    out
}

/// One analyzer reading frames at the given times (ms after `T0`), telling
/// what is counted late to a [`Told`].
struct Run {
    an: Analyzer,
    cap: CaptureId,
    told: Told,
}

/// The frames counted late, with their flow's ports and the call they
/// were told in (the index of the frame being observed, or `None` at the
/// end of input).
#[derive(Default)]
struct Told(Vec<(LateFrame, (u16, u16), Option<u64>)>, Option<u64>);

impl Late for Told {
    fn frame(&mut self, f: &LateFrame, slot: &mut Slot<FlowState>) {
        let k = slot.flow.key;
        self.0.push((*f, (k.lo_port, k.hi_port), self.1));
    }
}

impl Run {
    fn new() -> Self {
        let mut an = Analyzer::new(AnalyzerConfig::default());
        let cap = an.add_capture("built");
        Run {
            an,
            cap,
            told: Told::default(),
        }
    }

    fn frame(&mut self, ms: i64, data: &[u8]) {
        let f = Frame {
            ts: Timestamp(T0 + ms * MS),
            wire_len: data.len() as u32,
            ..Frame::test(LinkType::ETHERNET, data)
        };
        self.told.1 = Some(self.an.frames_read());
        self.an.observe_late(&f, self.cap, None, &mut self.told);
    }

    fn end(&mut self) {
        self.told.1 = None;
        self.an.end_of_input(&mut self.told);
    }

    /// Every flow: (ports, packets, bytes), by ports.
    fn flows(&self) -> Vec<((u16, u16), u64, u64)> {
        let mut out: Vec<_> = self
            .an
            .flows()
            .map(|f| {
                let p = (f.key.lo_port, f.key.hi_port);
                (p, f.total_packets(), f.total_bytes())
            })
            .collect();
        out.sort_unstable();
        out
    }
}

fn lens(frames: &[Vec<u8>]) -> u64 {
    frames.iter().map(|f| f.len() as u64).sum()
}

#[test]
fn fragments_sent_last_first_are_counted_in_their_flow() {
    for (segment, ports) in [
        (segment_v4(3_000), (49800, 5719)),
        (segment_v6(3_000), (49801, 5719)),
    ] {
        let parts = fixgen::frames::ip_fragments(&segment, 3, 7);
        let mut an = Analyzer::new(AnalyzerConfig::default());
        let cap = an.add_capture("built");
        for (i, data) in parts.iter().rev().enumerate() {
            let f = Frame {
                ts: Timestamp(T0 + i as i64 * MS),
                wire_len: data.len() as u32,
                ..Frame::test(LinkType::ETHERNET, data)
            };
            an.observe(&f, cap, None);
        }
        // One flow, with the ports only the first fragment carries: no
        // port-less flow of the fragments that came before it.
        let flows: Vec<_> = an
            .flows()
            .map(|f| ((f.key.lo_port, f.key.hi_port), f.total_packets()))
            .collect();
        assert_eq!(flows, [(ports, 3)]);
        let f = an.flows().next().unwrap();
        assert_eq!(f.total_bytes(), lens(&parts));
        assert_eq!(f.first_seen, Timestamp(T0), "the first frame's time");
        assert_eq!(f.last_seen, Timestamp(T0 + 2 * MS));
        assert_eq!(an.captures()[0].orphan_fragments, 0);
        let report = an.report();
        assert_eq!(report.classes.len(), 1);
        assert_eq!(report.classes[0].class, "dpm");
        assert_eq!(report.classes[0].bytes, lens(&parts));
    }
}

#[test]
fn the_caller_is_told_of_each_held_fragment_when_its_first_comes() {
    let parts = fixgen::frames::ip_fragments(&segment_v4(3_000), 3, 0);
    let mut run = Run::new();
    run.frame(0, &parts[2]);
    run.frame(1, &parts[1]);
    assert_eq!(run.an.held_fragments(), 2);
    assert!(run.an.flows().next().is_none(), "no flow known yet");
    run.frame(2, &parts[0]);
    assert_eq!(run.an.held_fragments(), 0);
    let told: Vec<_> = run
        .told
        .0
        .iter()
        .map(|(f, p, at)| (f.frame, f.wire_len, f.ts.0, *p, *at))
        .collect();
    let len = |i: usize| parts[i].len() as u32;
    assert_eq!(
        told,
        [
            (0, len(2), T0, (49800, 5719), Some(2)),
            (1, len(1), T0 + MS, (49800, 5719), Some(2)),
        ],
        "frames 0 and 1, told while frame 2 was observed"
    );
    let c = &run.an.captures()[0];
    assert_eq!((c.reordered_fragments, c.orphan_fragments), (2, 0));
    run.end();
    assert_eq!(run.told.0.len(), 2, "nothing left to tell");
}

#[test]
fn a_train_whose_first_never_comes_is_an_orphan_at_the_end_of_input() {
    let parts = fixgen::frames::ip_fragments(&segment_v6(3_000), 3, 9);
    let mut run = Run::new();
    run.frame(0, &parts[2]);
    run.frame(1, &parts[1]);
    // A report made before the end says what it does not count yet.
    let early = run.an.report();
    assert!(
        early
            .warnings
            .iter()
            .any(|w| w.starts_with("2 later IP fragments held")),
        "{:?}",
        early.warnings
    );
    run.end();
    assert_eq!(run.flows(), [((0, 0), 2, lens(&parts[1..]))]);
    assert_eq!(run.an.captures()[0].orphan_fragments, 2);
    let frames: Vec<_> = run
        .told
        .0
        .iter()
        .map(|(f, p, at)| (f.frame, *p, *at))
        .collect();
    assert_eq!(frames, [(0, (0, 0), None), (1, (0, 0), None)]);
    let report = run.an.report();
    assert!(report.warnings.iter().all(|w| !w.contains("held")));
    assert_eq!(report.classes[0].packets, 2);
}

#[test]
fn a_train_held_past_30_seconds_is_given_up_at_the_next_frame() {
    let parts = fixgen::frames::ip_fragments(&segment_v4(3_000), 3, 0);
    let other = segment_v6(100);
    let mut run = Run::new();
    run.frame(0, &parts[2]);
    run.frame(30_000, &other);
    assert_eq!(run.an.held_fragments(), 1, "30 s is still in time");
    run.frame(30_001, &parts[1]);
    assert_eq!(run.an.held_fragments(), 1, "its train was given up first");
    assert_eq!(run.told.0.len(), 1);
    assert_eq!(run.told.0[0].0.frame, 0);
    assert_eq!(run.told.0[0].2, Some(2), "told at frame 2");
    // The first fragment comes in time for the second part only.
    run.frame(30_002, &parts[0]);
    assert_eq!(run.an.held_fragments(), 0);
    let (p0, p1, p2) = (
        parts[0].len() as u64,
        parts[1].len() as u64,
        parts[2].len() as u64,
    );
    let v6 = other.len() as u64;
    assert_eq!(
        run.flows(),
        [
            ((0, 0), 1, p2),
            ((49800, 5719), 2, p0 + p1),
            ((49801, 5719), 1, v6)
        ]
    );
    let c = &run.an.captures()[0];
    assert_eq!((c.orphan_fragments, c.reordered_fragments), (1, 1));
}

#[test]
fn a_frame_another_share_takes_moves_the_held_fragments_clock() {
    let parts = fixgen::frames::ip_fragments(&segment_v4(3_000), 3, 0);
    let mut run = Run::new();
    run.frame(0, &parts[2]);
    let f = Frame {
        ts: Timestamp(T0 + 31_000 * MS),
        ..Frame::test(LinkType::ETHERNET, &parts[0])
    };
    run.an.pass(&f, run.cap, &mut run.told);
    assert_eq!(run.an.held_fragments(), 0);
    assert_eq!(run.flows(), [((0, 0), 1, parts[2].len() as u64)]);
    assert_eq!(run.told.0.len(), 1);
}

#[test]
fn past_the_cap_the_oldest_train_is_given_up() {
    let mut run = Run::new();
    // HELD_CAP + 1 trains of one later fragment each (IPv4 ids differ).
    let mut frame = fixgen::frames::ip_fragments(&segment_v4(100), 2, 0)[1].clone();
    for i in 0..=HELD_CAP {
        frame[18..20].copy_from_slice(&(i as u16).to_be_bytes());
        frame[29] = 1 + (i >> 16) as u8; // another source per 65,536 ids
        run.frame(0, &frame);
    }
    assert_eq!(run.an.held_fragments(), HELD_CAP);
    assert_eq!(run.told.0.len(), 1);
    assert_eq!(run.told.0[0].0.frame, 0, "the oldest train");
    assert_eq!(run.an.reach().held_peak, HELD_CAP);
    run.end();
    assert_eq!(run.an.captures()[0].orphan_fragments, HELD_CAP as u64 + 1);
    assert_eq!(run.told.0.len(), HELD_CAP + 1, "every fragment once");
}

#[test]
fn a_copy_of_a_held_fragment_on_another_nic_is_held_with_it() {
    use analyzer::dedup::DedupMode;
    let parts = fixgen::frames::ip_fragments(&segment_v4(3_000), 3, 0);
    let mut an = Analyzer::new(AnalyzerConfig {
        dedup: DedupMode::On,
        ..AnalyzerConfig::default()
    });
    let cap = an.add_capture("built");
    let nics = [an.intern_iface(cap, "eth0"), an.intern_iface(cap, "eth1")];
    for n in nics {
        an.capture_has_iface(cap, n);
    }
    an.set_source(cap, capture::Producer::Unknown, None, 2);
    let mut told = Told::default();
    // The last fragment on eth0, its copy on eth1 50 µs later, then the
    // middle one and the first on eth0.
    let order = [(0, 2, 0), (50_000, 2, 1), (MS, 1, 0), (2 * MS, 0, 0)];
    for (at, part, nic) in order {
        let data = &parts[part];
        let f = Frame {
            ts: Timestamp(T0 + at),
            wire_len: data.len() as u32,
            ..Frame::test(LinkType::ETHERNET, data)
        };
        an.observe_late(&f, cap, Some(nics[nic]), &mut told);
    }
    assert_eq!(an.captures()[0].duplicates, 1);
    let flow = an.flows().next().unwrap();
    assert_eq!(flow.total_packets(), 3, "the copy is not counted twice");
    let places: Vec<_> = flow.ifaces.iter().map(|s| (s.iface, s.packets)).collect();
    assert_eq!(
        places,
        [(nics[0], 3), (nics[1], 1)],
        "the copy's NIC is credited"
    );
    let frames: Vec<_> = told.0.iter().map(|(f, _, _)| (f.frame, f.iface)).collect();
    assert_eq!(
        frames,
        [(0, Some(nics[0])), (1, Some(nics[1])), (2, Some(nics[0]))]
    );
}
