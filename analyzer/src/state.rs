//! What the analyzer keeps per flow beside the flow table's counters: the
//! later stages' results (evidence, class, verdict) and the throughput
//! series the flow feeds.

use smallvec::SmallVec;

use crate::class::ClassId;
use crate::classify::{Classification, Reason};
use crate::evidence::learned::Endpoint;
use crate::evidence::probe::FlowEvidence;
use crate::evidence::stream::Syns;
use crate::evidence::Uuid;
use crate::flow::FlowExt;
use crate::policy::{FlowVerdict, NetId};
use crate::stats::{FlowSeries, Pending};
use crate::IfaceRef;

/// A flow's evidence stage.
#[derive(Debug)]
pub enum Probe {
    /// No payload yet: the dissector is chosen at the first payload; the
    /// SYNs seen so far say where its streams start.
    Fresh(Syns),
    /// No dissector reads this flow.
    Never,
    /// A dissector reads it.
    Active(Box<FlowEvidence>),
    /// Its dissector gave up; what it found stays.
    Done(Box<FlowEvidence>),
}

impl Default for Probe {
    fn default() -> Self {
        Probe::Fresh(Syns::default())
    }
}

impl Probe {
    /// The evidence state, if a dissector reads the flow.
    pub fn get(&self) -> Option<&FlowEvidence> {
        match self {
            Probe::Active(e) | Probe::Done(e) => Some(e),
            _ => None,
        }
    }

    /// The evidence stage still has work on this flow's packets.
    #[inline]
    pub fn reading(&self) -> bool {
        matches!(self, Probe::Fresh(_) | Probe::Active(_))
    }
}

/// The series ids a flow's packets feed: its class's, then one per network
/// of its endpoints (at most two), so never more than three.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Hooks {
    ids: [u32; 3],
    len: u8,
}

impl Hooks {
    /// Forgets every id.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Adds an id (a fourth is ignored: a flow has two endpoints).
    pub(crate) fn push(&mut self, id: u32) {
        if let Some(slot) = self.ids.get_mut(usize::from(self.len)) {
            *slot = id;
            self.len += 1;
        }
    }

    /// The ids, in order.
    #[inline]
    pub(crate) fn ids(&self) -> &[u32] {
        &self.ids[..usize::from(self.len)]
    }
}

/// What the evidence of a flow says a rule can read: SMB share paths and
/// RPC interfaces, each bounded.
#[derive(Debug, Default)]
pub(crate) struct FlowClues {
    /// Tree-connect paths, in order.
    pub(crate) shares: SmallVec<[Box<str>; 1]>,
    /// Paths of the trees the connection's data commands used, in order
    /// of first use: once any is known, these decide, not `shares`.
    pub(crate) used: SmallVec<[Box<str>; 1]>,
    /// Why no share is known (joined mid-stream, a cut tree connect).
    pub(crate) note: Option<crate::classify::SmbNote>,
    pub(crate) interfaces: SmallVec<[Uuid; 1]>,
}

/// Later stages' state of one flow.
#[derive(Debug, Default)]
pub struct FlowState {
    /// Class (set at the first packet).
    pub class: Option<ClassId>,
    /// Why it has that class.
    pub reason: Option<Reason>,
    /// The class may still change as evidence arrives (provisional).
    pub open: bool,
    /// Networks of its endpoints (`None` = `unknown`), deduplicated.
    pub nets: SmallVec<[Option<NetId>; 2]>,
    /// Series fed by every packet: the class, then one per network.
    pub(crate) hooks: Hooks,
    /// Series per capture interface.
    pub(crate) iface_hooks: SmallVec<[(Option<IfaceRef>, u32); 1]>,
    /// Series per VLAN id.
    pub(crate) vlan_hooks: SmallVec<[(u16, u32); 1]>,
    /// Own per-bin counts while the class is open.
    pub(crate) pending: Option<Box<Pending>>,
    /// Own bytes over time (bounded), for a violation's small chart.
    pub(crate) own: FlowSeries,
    /// The responder's endpoint, learned from an RPC reply before the flow began.
    pub learned: Option<Box<Endpoint>>,
    /// Evidence.
    pub probe: Probe,
    /// SMB paths and RPC interfaces found (what rules read), bounded;
    /// boxed, since only flows a dissector reads ever have any.
    pub(crate) clues: Option<Box<FlowClues>>,
    /// Policy standing, for `verdict_for`.
    pub verdict: FlowVerdict,
    /// (class, NIC count, VLAN count) the verdict was computed for.
    pub(crate) verdict_for: Option<(ClassId, u32, u32)>,
    /// Bytes of packets that may be copies of another size (see `dedup`):
    /// counted, and flagged.
    pub possible_copy_bytes: u64,
    /// LSO/RSC super-frames among its packets (see `size`).
    pub super_frames: u32,
    /// Free for the caller (the daemon's own per-flow mark); the analyzer
    /// never reads it.
    pub mark: u32,
    /// The packet the flow was last handed on with was a copy of one
    /// already counted, met at another place (another NIC or VLAN): it
    /// counts for that place only (`--violations-pcap` leaves it out, as
    /// the flow's packets and bytes do).
    pub copy: bool,
    /// Its opening SYN came again in a later capture: what it counted from
    /// then on was captured twice (its bytes before are in the analyzer's
    /// `again`, by key: one flag here keeps the slot's size).
    pub(crate) again: bool,
}

impl FlowState {
    /// Sets the class.
    pub(crate) fn set(&mut self, c: Classification) {
        self.class = Some(c.class);
        self.reason = Some(c.reason);
    }

    /// Fixes the class for good: evidence decided, gave up, the window
    /// passed, or the flow ended.
    pub(crate) fn close(&mut self) {
        self.open = false;
        self.pending = None;
    }

    /// The evidence state, if a dissector reads the flow.
    pub fn evidence(&self) -> Option<&FlowEvidence> {
        self.probe.get()
    }

    /// Share paths found so far (tree connects).
    pub(crate) fn shares(&self) -> &[Box<str>] {
        self.clues.as_ref().map_or(&[], |c| &c.shares)
    }

    /// The share paths that decide the class: those the connection's data
    /// used, once any is known, else its tree connects'.
    pub(crate) fn deciding_shares(&self) -> &[Box<str>] {
        match &self.clues {
            Some(c) if !c.used.is_empty() => &c.used,
            Some(c) => &c.shares,
            None => &[],
        }
    }

    /// Why no share is known, if that is known.
    pub(crate) fn smb_note(&self) -> Option<&crate::classify::SmbNote> {
        self.clues.as_ref().and_then(|c| c.note.as_ref())
    }

    /// RPC interfaces bound so far.
    pub(crate) fn interfaces(&self) -> &[Uuid] {
        self.clues.as_ref().map_or(&[], |c| &c.interfaces)
    }

    /// The clues, created at the first.
    pub(crate) fn clues_mut(&mut self) -> &mut FlowClues {
        self.clues.get_or_insert_with(Box::default)
    }
}

impl FlowExt for FlowState {
    fn removed(&mut self) {
        self.close();
        // A hole still open never fills: the dissector gives up on it (the
        // flow counts under that reason since the hole opened).
        if let Probe::Active(ev) = &mut self.probe {
            if ev.end() {
                if let Probe::Active(ev) = std::mem::take(&mut self.probe) {
                    self.probe = Probe::Done(ev);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_slot_stays_416_bytes() {
        // The flow table's memory per flow (docs/ARCHITECTURE.md, "Flow slots").
        assert_eq!(
            std::mem::size_of::<crate::flow::Slot<super::FlowState>>(),
            416
        );
    }
}
