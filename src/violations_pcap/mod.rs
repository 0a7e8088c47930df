//! `--violations-pcap FILE` (audit, verify): every packet of every
//! violating flow, as one pcapng that opens in Wireshark. One interface
//! block per capture NIC (its name kept, the capture it came from as its
//! description), original timestamps and lengths, and a packet comment on
//! the first packet of each flow naming the violation (class, network,
//! NIC, every reason, Community ID).
//!
//! Why a second pass: a flow's verdict is final only when its packets
//! stop: evidence may reclassify it for `--evidence-window` after its first
//! packet (either way: a provisional violation can turn out allowed, an
//! allowed class can turn out violating), and a flow seen on one more NIC or
//! VLAN can break the policy at its last packet. Writing while reading
//! would need every packet of every undecided flow in memory (unbounded) or
//! a file that is sometimes wrong. So the first pass numbers the flows as
//! the analyzer creates them (in the flow's caller-owned `mark`), the
//! report names the violating numbers, and the second pass writes the
//! packets of those numbers. Each frame's number is journalled as it is
//! read (`journal.rs`: four bytes a frame, on a temporary file), and the
//! second pass reads the frames again beside the journal, with no
//! analyzer: audit reads its captures again (a journal per share), verify
//! the spool of what it captured (`--write`'s file, or a temporary one
//! next to FILE; a frame is journalled when it is spooled). Memory stays
//! flat (one comment per violating flow, which the report holds anyway);
//! the price is reading the input twice, and only when there is a
//! violation.

use std::collections::hash_map::Entry;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use analyzer::flow::Slot;
use analyzer::policy::FlowCheck;
use analyzer::state::FlowState;
use analyzer::{Analyzer, Report};
use anyhow::{Context, Result};
use bit_set::BitSet;
use capture::{FileSource, Frame, FrameSource, Interface, PcapNgOut};
use rustc_hash::FxHashMap;

use crate::pipeline::Tap;

mod journal;
pub use journal::{replay, FirstPass, Journal, Numbered, Numbering, Store};

/// Numbers flows in the order the analyzer creates them, in the flow's
/// `mark` (which the analyzer leaves to its caller). Number 0 is "not yet
/// numbered"; past `u32::MAX - 1` flows every later one shares `u32::MAX`
/// and is never written (see [`Wanted::unnumbered`]).
#[derive(Default)]
pub struct FlowNumbers {
    last: u32,
}

impl FlowNumbers {
    /// Flows numbered so far.
    pub fn count(&self) -> u32 {
        self.last
    }

    /// The flow's number, given at its first packet.
    #[inline]
    pub fn number(&mut self, slot: &mut Slot<FlowState>) -> u32 {
        if slot.ext.mark == 0 {
            self.last = self.last.saturating_add(1);
            slot.ext.mark = self.last;
        }
        slot.ext.mark
    }
}

impl Tap for FlowNumbers {
    #[inline]
    fn frame(&mut self, _: u32, _: &Frame<'_>, slot: Option<&mut Slot<FlowState>>) {
        if let Some(s) = slot {
            self.number(s);
        }
    }

    /// A flow whose first frame came before it was known (a later IP
    /// fragment) is numbered when it is counted.
    fn late(&mut self, _: u32, _: u64, slot: &mut Slot<FlowState>) {
        self.number(slot);
    }
}

/// The violating flows of a first pass: number → the comment for its
/// first packet.
#[derive(Default)]
pub struct Wanted {
    comments: FxHashMap<u32, String>,
    /// Violating flows that cannot be written.
    pub unnumbered: Unnumbered,
}

/// Violating flows with no number of their own, so never written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unnumbered {
    /// Past the numbering's range (`u32::MAX - 1` flows).
    pub past_range: usize,
    /// No frame was filed under them: a tunnel's outer flow, whose frames
    /// go with the flows inside it (or with none, when those do not
    /// decode).
    pub unfiled: usize,
}

impl Unnumbered {
    fn any(&self) -> bool {
        self.past_range > 0 || self.unfiled > 0
    }

    /// ` (N violating flows …)` for each kind, or nothing.
    fn said(&self) -> String {
        let mut out = String::new();
        if self.past_range > 0 {
            out.push_str(&format!(
                " ({} violating flows came after the first 4294967294 flows and are not written)",
                self.past_range
            ));
        }
        if self.unfiled > 0 {
            out.push_str(&format!(" ({} violating flows are tunnels' outer flows, whose frames are written with the flows inside them when those violate, and are not written as flows of their own)", self.unfiled));
        }
        out
    }
}

impl Wanted {
    /// Every flow of `an` that breaks the policy (as the report lists them).
    pub fn from_analyzer(an: &Analyzer) -> Self {
        let mut w = Wanted::default();
        for slot in an.slots() {
            let Some(check) = violation(slot) else {
                continue;
            };
            match slot.ext.mark {
                0 => w.unnumbered.unfiled += 1,
                u32::MAX => w.unnumbered.past_range += 1,
                _ => {
                    w.comments.insert(slot.ext.mark, comment(an, slot, check));
                }
            }
        }
        w
    }

    /// No flow to write.
    pub fn is_empty(&self) -> bool {
        self.comments.is_empty()
    }

    /// Adds the wanted flows of captures read after this one's by another
    /// analyzer, which numbered `first` flows fewer (one analyzer reading
    /// them all goes on numbering where this one's captures ended).
    pub fn absorb(&mut self, later: Wanted, first: u32) {
        self.unnumbered.past_range += later.unnumbered.past_range;
        self.unnumbered.unfiled += later.unnumbered.unfiled;
        for (n, comment) in later.comments {
            match shifted(n, first) {
                u32::MAX => self.unnumbered.past_range += 1,
                n => {
                    self.comments.insert(n, comment);
                }
            }
        }
    }
}

/// Flow number `n` of an analyzer after `offset` flows other analyzers
/// numbered before it; past the numbering's range, `u32::MAX` (never
/// written). The one rule for the wanted flows and the journals' numbers.
pub(crate) fn shifted(n: u32, offset: u32) -> u32 {
    match n {
        u32::MAX => u32::MAX,
        n => n
            .checked_add(offset)
            .filter(|n| *n < u32::MAX)
            .unwrap_or(u32::MAX),
    }
}

/// The policy check of a flow the report lists as a violation.
fn violation(slot: &Slot<FlowState>) -> Option<&FlowCheck> {
    slot.ext.class?;
    slot.ext.verdict.detail.as_deref().filter(|c| c.violates())
}

/// `lanecheck violation: class dpm on network primary, interface eth0:
/// REASON; REASON; community id 1:…`.
pub fn comment(an: &Analyzer, slot: &Slot<FlowState>, check: &FlowCheck) -> String {
    let class = slot.ext.class.map_or("?", |c| an.policy().class_name(c));
    let mut place = format!("network {}", an.net_name(check.network.flatten()));
    if let Some(i) = &check.interface {
        place.push_str(&format!(", interface {i}"));
    }
    if let Some(v) = check.vlan {
        place.push_str(&format!(", VLAN {v}"));
    }
    format!(
        "lanecheck violation: class {class} on {place}: {}; community id {}",
        check.reasons.join("; "),
        slot.flow.community_id()
    )
}

/// What went into the file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Flows with at least one packet written.
    pub flows: u64,
    /// Packets written.
    pub packets: u64,
    /// Their wire bytes.
    pub bytes: u64,
}

impl Written {
    /// What the file must hold: the violating flows `report` lists.
    pub fn violations(report: &Report) -> Self {
        Written {
            flows: report.violations.len() as u64,
            packets: report.violations.iter().map(|v| v.packets).sum(),
            bytes: report.violations.iter().map(|v| v.bytes).sum(),
        }
    }
}

/// The second pass's writer: the packets of the wanted flows, each frame
/// given its flow's number (the journal's), the first packet of each flow
/// with its comment.
pub struct PacketWriter<W: Write> {
    out: PcapNgOut<W>,
    /// The numbers of the wanted flows: a bit each, as every packet asks
    /// (a map lookup per packet cost a tenth of the second pass).
    wanted: BitSet,
    /// Wanted flows whose first packet is not written yet.
    unstarted: BitSet,
    /// Number → the comment of its first packet.
    comments: FxHashMap<u32, String>,
    /// (source, its interface index) → interface id in the file.
    ifaces: FxHashMap<(u32, usize), u32>,
    written: Written,
    error: Option<String>,
}

impl<W: Write> PacketWriter<W> {
    /// A writer of `wanted`'s flows onto `out`.
    pub fn new(out: PcapNgOut<W>, wanted: Wanted) -> Self {
        let wanted_set: BitSet = wanted.comments.keys().map(|n| *n as usize).collect();
        PacketWriter {
            out,
            unstarted: wanted_set.clone(),
            wanted: wanted_set,
            comments: wanted.comments,
            ifaces: FxHashMap::default(),
            written: Written::default(),
            error: None,
        }
    }

    /// Flushes the file: what was written, or the first write error.
    pub fn finish(self) -> Result<Written> {
        if let Some(e) = self.error {
            anyhow::bail!(e);
        }
        self.out.finish()?;
        Ok(self.written)
    }

    /// A frame of flow number `n` (0: none): written if the flow is wanted.
    #[inline]
    pub fn numbered(&mut self, source: u32, frame: &Frame<'_>, n: u32) {
        if self.error.is_none() {
            if let Err(e) = self.write(source, frame, n) {
                self.error = Some(e);
            }
        }
    }

    fn write(&mut self, source: u32, frame: &Frame<'_>, n: u32) -> Result<(), String> {
        if !self.wanted.contains(n as usize) {
            return Ok(());
        }
        let key = (source, frame.iface.0 as usize);
        let id = *self
            .ifaces
            .get(&key)
            .ok_or_else(|| format!("a packet of undeclared interface {key:?}"))?;
        let first = match self.unstarted.remove(n as usize) {
            true => self.comments.remove(&n),
            false => None,
        };
        self.out
            .write_as(frame, id, first.as_deref())
            .map_err(|e| e.to_string())?;
        self.written.flows += u64::from(first.is_some());
        self.written.packets += 1;
        self.written.bytes += u64::from(frame.wire_len);
        Ok(())
    }
}

/// Not a reading pass's [`Tap`]: a frame the analyzer counts late (a later
/// IP fragment held for its first) could not be written after the frames
/// that followed it; the second pass hands it each frame's number from the
/// journal, corrected by then.
impl<W: Write> PacketWriter<W> {
    /// Declares the interfaces of `source` not declared yet (`label` names
    /// the source in their description).
    pub fn interfaces(&mut self, source: u32, label: &str, ifaces: &[Interface]) {
        for (ix, iface) in ifaces.iter().enumerate() {
            if self.error.is_some() {
                return;
            }
            if let Entry::Vacant(e) = self.ifaces.entry((source, ix)) {
                match self.out.add_interface(iface, Some(label)) {
                    Ok(id) => {
                        e.insert(id);
                    }
                    Err(err) => self.error = Some(err.to_string()),
                }
            }
        }
    }
}

/// The pcapng being written.
pub type Output = PcapNgOut<BufWriter<File>>;

/// Creates FILE (before the first pass, so a bad path fails at once).
pub fn create(path: &Path) -> Result<Output> {
    let f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(PcapNgOut::new(
        &path.display().to_string(),
        BufWriter::with_capacity(1 << 20, f),
    )?)
}

/// A warning when the file does not hold exactly the report's violating
/// flows (`expected`, [`Written::violations`]): a failed write, flows past
/// the numbering, or a bug (the two passes must agree).
pub fn mismatch(
    path: &Path,
    written: &Written,
    expected: &Written,
    unnumbered: Unnumbered,
) -> Option<String> {
    let Written {
        flows,
        packets,
        bytes,
    } = *expected;
    (written != expected || unnumbered.any()).then(|| {
        let past = unnumbered.said();
        format!(
            "{} holds {} packets ({} bytes) of {} flows, but the violations are {packets} packets ({bytes} bytes) of {flows} flows{past}",
            path.display(),
            written.packets,
            written.bytes,
            written.flows
        )
    })
}

/// Where `verify` spools what it captures for the second pass: `--write`'s
/// file, or a temporary file in FILE's directory (same disk as the result,
/// not a RAM-backed /tmp), else the temporary directory, removed when
/// dropped.
pub enum Spool {
    /// The user's `--write` file.
    Kept(PathBuf),
    /// Ours.
    Temporary(tempfile::NamedTempFile),
}

impl Spool {
    /// The spool for `--violations-pcap FILE`, given `--write`.
    pub fn new(violations: &Path, write: Option<&Path>) -> Result<Self> {
        if let Some(w) = write {
            return Ok(Spool::Kept(w.to_path_buf()));
        }
        let dir = crate::paths::scratch_dir(violations)
            .context("--violations-pcap spools what it captures")?;
        let t = tempfile::Builder::new()
            .prefix(".lanecheck-spool-")
            .suffix(".pcapng")
            .tempfile_in(&dir)
            .with_context(|| format!("cannot create a spool file in {}", dir.display()))?;
        Ok(Spool::Temporary(t))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        match self {
            Spool::Kept(p) => p,
            Spool::Temporary(t) => t.path(),
        }
    }
}

/// `verify --violations-pcap`: the output (created before capture starts)
/// and the spool the second pass reads again.
pub struct LivePcap {
    path: PathBuf,
    out: Output,
    /// Where every captured frame is saved.
    pub spool: Spool,
}

/// The interface description of a live capture's NICs.
const LIVE: &str = "live capture (lanecheck verify)";

impl LivePcap {
    /// Creates the spool (`--write`'s file if given), then FILE (a spool
    /// that cannot be made leaves FILE as it was). `paths::check` has made
    /// sure they are not one file.
    pub fn new(path: &Path, write: Option<&Path>) -> Result<Self> {
        let spool = Spool::new(path, write)?;
        Ok(LivePcap {
            path: path.to_path_buf(),
            out: create(path)?,
            spool,
        })
    }

    /// The journal of the flow number of each frame spooled, in FILE's
    /// directory (else the temporary one); one that cannot be made says
    /// why when the file is written.
    pub fn journal(&self) -> Journal {
        match crate::paths::scratch_dir(&self.path) {
            Ok(dir) => Journal::create(&dir),
            Err(_) => Journal::create(&std::env::temp_dir()),
        }
    }

    /// Reads the spool again beside `journal` and writes the violating
    /// flows' packets. Problems are warnings for the report.
    pub fn write(self, wanted: Wanted, expected: &Written, journal: Journal) -> Vec<String> {
        let (unnumbered, empty) = (wanted.unnumbered, wanted.is_empty());
        let mut writer = PacketWriter::new(self.out, wanted);
        let mut warnings = Vec::new();
        if !empty {
            match journal.into_reader() {
                Ok(numbers) => {
                    let read = replay_spool(self.spool.path(), numbers, &mut writer);
                    warnings.extend(read.err().map(|e| format!("--violations-pcap: {e:#}")));
                }
                Err(e) => warnings.push(format!("--violations-pcap: {e}")),
            }
        }
        match writer.finish() {
            Ok(w) => warnings.extend(mismatch(&self.path, &w, expected, unnumbered)),
            Err(e) => warnings.push(format!("--violations-pcap: {e:#}")),
        }
        warnings
    }
}

/// Hands each frame of the spool to `writer` with its flow's number, the
/// next in `numbers` (NIC `i` is the spool's interface `i`).
fn replay_spool<W: Write>(
    spool: &Path,
    mut numbers: impl Read,
    writer: &mut PacketWriter<W>,
) -> Result<()> {
    let file = File::open(spool).with_context(|| format!("cannot open {}", spool.display()))?;
    let mut src = FileSource::new(&spool.display().to_string(), file, None)?;
    let mut declared = 0;
    let mut number = [0u8; 4];
    while let Some(frame) = src.next_frame()? {
        numbers
            .read_exact(&mut number)
            .context("reading the journal of flow numbers beside the spool")?;
        let n = u32::from_le_bytes(number);
        if (frame.iface.0 as usize) < declared {
            writer.numbered(0, &frame, n);
            continue;
        }
        let owned = frame.to_owned();
        writer.interfaces(0, LIVE, src.interfaces());
        declared = src.interfaces().len();
        writer.numbered(0, &owned.as_frame(), n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorbed_wanted_flows_move_past_the_flows_before_and_keep_their_comments() {
        let mut w = Wanted::default();
        w.comments.insert(1, "a".into());
        let mut later = Wanted::default();
        later.unnumbered.past_range = 1;
        later.comments.insert(2, "b".into());
        later.comments.insert(u32::MAX - 3, "beyond".into());
        w.absorb(later, 5);
        assert_eq!(w.comments.get(&1).map(String::as_str), Some("a"));
        assert_eq!(w.comments.get(&7).map(String::as_str), Some("b"));
        // Past the numbering's range: unnumbered, with the one before.
        assert_eq!((w.comments.len(), w.unnumbered.past_range), (2, 2));
    }
}
