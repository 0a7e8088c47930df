//! Later IP fragments that came before their train's first fragment (the
//! one with offset 0, which carries the ports): Windows hosts and NIC
//! offloads send a datagram's fragments last first, and captures reorder.
//! Such a fragment's flow is not known when it comes, so it is held, as
//! counts only (its payload is not kept: no dissector reads a later
//! fragment), until its first fragment comes; it is then counted in that
//! flow at its own time and place. A train whose first fragment does not
//! come within [`FRAGMENT_TIMEOUT_NS`] of packet time, or that is the
//! oldest when [`HELD_CAP`] fragments are held, or that is still held at
//! the end of a capture ([`Analyzer::end_of_input`]), is counted as before
//! this stage existed: in a port-less flow of its own, each fragment in
//! the capture's `orphan_fragments`.
//!
//! Every fragment is counted once: in its flow when its train is claimed,
//! or as an orphan when it is given up. The caller learns of each through
//! [`Late`], as it would have through `observe_slot` had the flow been
//! known (the `--violations-pcap` journal numbers the frame then).
//!
//! Hand-written (a map of trains and a queue by time) rather than a cache
//! crate: expiry runs on packet time, and trains leave in one order fixed
//! by the input (oldest held first), so runs that read the same frames
//! (one analyzer, captures in parallel, shares of a capture) agree.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use capture::Timestamp;

use super::{
    classify_new, count, count_place, judge, Analyzer, CaptureId, FragKey, IfaceRef, Level, Marks,
    NewFlow, FRAGMENT_TIMEOUT_NS,
};
use crate::classify::Classifier;
use crate::decode::{Fragment, PacketMeta};
use crate::flow::{Direction, FlowKey, PacketUpdate, Slot};
use crate::state::FlowState;

/// Most later fragments held at once, over every train (as many as first
/// fragments remembered, [`super::FRAGMENT_CAP`]); past it the oldest
/// train is given up.
pub const HELD_CAP: usize = 65_536;

/// A frame counted after the call that observed it: a later IP fragment
/// held until its first fragment came, or until it was given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LateFrame {
    /// Its index among the frames this analyzer was given
    /// ([`Analyzer::frames_read`] before it).
    pub frame: u64,
    /// Its capture.
    pub capture: CaptureId,
    /// The interface it was seen on.
    pub iface: Option<IfaceRef>,
    /// The bytes it counts for.
    pub wire_len: u32,
    /// When it was seen.
    pub ts: Timestamp,
}

/// Told of each frame counted late, with the flow it is counted in: what
/// `observe_slot` would have returned for it had its flow been known then
/// (`slot.ext.copy` set for a later copy at another place). The caller may
/// change `ext.mark`, and nothing else.
pub trait Late {
    /// Frame `f` is counted in `slot`.
    fn frame(&mut self, f: &LateFrame, slot: &mut Slot<FlowState>);
}

/// No one to tell.
impl Late for () {
    fn frame(&mut self, _: &LateFrame, _: &mut Slot<FlowState>) {}
}

/// What one held fragment adds to its flow.
#[derive(Clone, Copy, Debug)]
pub(super) struct Part {
    frame: u64,
    ts: Timestamp,
    capture: CaptureId,
    wire_len: u32,
    iface: Option<IfaceRef>,
    vlans: [u16; 3],
    vlan_count: u8,
    /// A later copy seen at a place the fragment was not credited to yet:
    /// adds that place only.
    copy: bool,
    possible_copy: bool,
    super_frame: bool,
}

impl Part {
    /// The packet `meta` at `at`, the frame just observed (`frame`).
    pub(super) fn packet(frame: u64, meta: &PacketMeta<'_>, at: &Level, marks: Marks) -> Self {
        Part {
            frame,
            ts: at.ts,
            capture: at.capture,
            wire_len: at.wire_len,
            iface: at.iface,
            vlans: meta.vlans,
            vlan_count: meta.vlan_count,
            copy: false,
            possible_copy: marks.possible_copy,
            super_frame: marks.super_frame,
        }
    }

    /// A later copy adding `iface` (if new) and `vlans` to its packet.
    pub(super) fn place(
        frame: u64,
        at: &Level,
        iface: Option<IfaceRef>,
        (vlans, vlan_count): ([u16; 3], u8),
    ) -> Self {
        Part {
            frame,
            ts: at.ts,
            capture: at.capture,
            wire_len: at.wire_len,
            iface,
            vlans,
            vlan_count,
            copy: true,
            possible_copy: false,
            super_frame: false,
        }
    }

    fn late(&self) -> LateFrame {
        LateFrame {
            frame: self.frame,
            capture: self.capture,
            iface: self.iface,
            wire_len: self.wire_len,
            ts: self.ts,
        }
    }
}

/// A train's place in the queue: when its first part was held, and an
/// arrival number (ties).
type Place = (i64, u64);

/// The later fragments held, by train.
#[derive(Debug)]
pub(super) struct Held {
    trains: FxHashMap<FragKey, (Place, Vec<Part>)>,
    /// Trains by place: the oldest first.
    order: BTreeMap<Place, FragKey>,
    next: u64,
    /// Parts held.
    parts: usize,
    /// Most parts held at once.
    peak: usize,
    /// Packet time after which the oldest train is given up (`i64::MAX`:
    /// none held), so a frame checks one number.
    deadline: i64,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            trains: FxHashMap::default(),
            order: BTreeMap::new(),
            next: 0,
            parts: 0,
            peak: 0,
            deadline: i64::MAX,
        }
    }
}

impl Held {
    /// Nothing is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.parts == 0
    }

    /// Parts held now.
    pub fn len(&self) -> usize {
        self.parts
    }

    /// Most parts held at once.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Whether train `fk` is held.
    pub fn holds(&self, fk: &FragKey) -> bool {
        !self.is_empty() && self.trains.contains_key(fk)
    }

    /// Holds `part` of train `fk`, giving up the oldest trains first while
    /// [`HELD_CAP`] parts are held (returned, oldest first).
    pub fn hold(&mut self, fk: FragKey, part: Part) -> Vec<(FragKey, Vec<Part>)> {
        let mut gone = Vec::new();
        while self.parts >= HELD_CAP {
            match self.pop_oldest() {
                Some(t) => gone.push(t),
                None => break,
            }
        }
        let (_, parts) = self.trains.entry(fk).or_insert_with(|| {
            let place = (part.ts.0, self.next);
            self.next += 1;
            self.order.insert(place, fk);
            (place, Vec::new())
        });
        parts.push(part);
        self.parts += 1;
        self.peak = self.peak.max(self.parts);
        self.set_deadline();
        gone
    }

    /// The parts of train `fk`, its first fragment having come.
    pub fn take(&mut self, fk: &FragKey) -> Option<Vec<Part>> {
        let (place, parts) = self.trains.remove(fk)?;
        self.order.remove(&place);
        self.parts -= parts.len();
        self.set_deadline();
        Some(parts)
    }

    /// Whether a train has waited longer than the timeout at `now`.
    #[inline(always)]
    pub fn due(&self, now: Timestamp) -> bool {
        now.0 > self.deadline
    }

    /// The oldest train, if it has waited longer than the timeout at `now`.
    pub fn pop_due(&mut self, now: Timestamp) -> Option<(FragKey, Vec<Part>)> {
        self.due(now).then(|| self.pop_oldest()).flatten()
    }

    /// The oldest train.
    pub fn pop_oldest(&mut self) -> Option<(FragKey, Vec<Part>)> {
        let (_, fk) = self.order.pop_first()?;
        let (_, parts) = self.trains.remove(&fk)?;
        self.parts -= parts.len();
        self.set_deadline();
        Some((fk, parts))
    }

    fn set_deadline(&mut self) {
        self.deadline = self
            .order
            .first_key_value()
            .map_or(i64::MAX, |((since, _), _)| {
                since.saturating_add(FRAGMENT_TIMEOUT_NS)
            });
    }
}

impl Analyzer {
    /// Holds the later fragment `meta` (the frame just observed) until its
    /// first fragment comes; trains given up to make room are orphans.
    pub(super) fn hold(
        &mut self,
        meta: &PacketMeta<'_>,
        at: &Level,
        marks: Marks,
        late: &mut dyn Late,
    ) {
        let Fragment::Later { id } = meta.fragment else {
            return;
        };
        let fk = (meta.src, meta.dst, meta.proto, id, at.tunnel);
        // Its first fragment was not seen (yet) here: had an earlier
        // capture's first fragment of this train been remembered, one run
        // of both would have counted it there (parallel.rs checks).
        if self.merge_facts {
            let d = self.train_digest(&fk);
            self.orphans.note(d);
        }
        let part = Part::packet(self.frames_read - 1, meta, at, marks);
        self.hold_part(fk, part, late);
    }

    /// Holds `part` of train `fk`; trains given up to make room are orphans.
    pub(super) fn hold_part(&mut self, fk: FragKey, part: Part, late: &mut dyn Late) {
        for (fk, parts) in self.held.hold(fk, part) {
            self.orphan(fk, &parts, late);
        }
    }

    /// Gives up the trains whose first fragment did not come within the
    /// timeout of packet time `now` (every frame asks: one comparison).
    #[inline(always)]
    pub(super) fn expire_held(&mut self, now: Timestamp, late: &mut dyn Late) {
        if self.held.due(now) {
            self.give_up_due(now, late);
        }
    }

    #[cold]
    #[inline(never)]
    fn give_up_due(&mut self, now: Timestamp, late: &mut dyn Late) {
        while let Some((fk, parts)) = self.held.pop_due(now) {
            self.orphan(fk, &parts, late);
        }
    }

    /// The end of a capture's frames (or of a live run): every train still
    /// held is given up, oldest first, and counted as orphans. An audit
    /// calls this at the end of each capture, so no train spans two
    /// captures, whichever way they are read; call it before a report.
    pub fn end_of_input(&mut self, late: &mut dyn Late) {
        while let Some((fk, parts)) = self.held.pop_oldest() {
            self.orphan(fk, &parts, late);
        }
    }

    /// Later fragments held now for their first fragment (not counted in
    /// any flow yet).
    pub fn held_fragments(&self) -> usize {
        self.held.len()
    }

    /// The first fragment of train `fk` came, in the flow `key` (`dir`):
    /// the train's held fragments are counted there, in the order they
    /// came, and as reordered in their captures.
    #[cold]
    #[inline(never)]
    pub(super) fn claim(&mut self, fk: &FragKey, flow: (FlowKey, Direction), late: &mut dyn Late) {
        let Some(parts) = self.held.take(fk) else {
            return;
        };
        for p in parts.iter().filter(|p| !p.copy) {
            if let Some(c) = self.captures.get_mut(p.capture.0 as usize) {
                c.reordered_fragments += 1;
            }
        }
        self.count_parts(flow, &parts, late);
    }

    /// Counts a train whose first fragment never came: a port-less flow,
    /// each fragment (not its copies) in its capture's orphans.
    fn orphan(&mut self, fk: FragKey, parts: &[Part], late: &mut dyn Late) {
        let (src, dst, proto, _, tunnel) = fk;
        for p in parts.iter().filter(|p| !p.copy) {
            if let Some(c) = self.captures.get_mut(p.capture.0 as usize) {
                c.orphan_fragments += 1;
            }
        }
        let (key, dir) = FlowKey::new(proto, src, 0, dst, 0);
        self.count_parts((key.in_tunnel(tunnel), dir), parts, late);
    }

    /// Counts held parts in the flow `key`, each at its own time and place.
    fn count_parts(
        &mut self,
        (key, dir): (FlowKey, Direction),
        parts: &[Part],
        late: &mut dyn Late,
    ) {
        for p in parts {
            let update = PacketUpdate {
                ts: p.ts,
                dir,
                wire_len: p.wire_len,
                tcp_flags: 0,
                tcp_seq: 0,
                iface: p.iface,
                vlans: &p.vlans[..usize::from(p.vlan_count)],
            };
            let slot = match p.copy {
                false => Some(self.count_part(key, &update, p)),
                true => self.count_place(&key, &update, p),
            };
            if let Some(slot) = slot {
                late.frame(&p.late(), slot);
                slot.ext.copy = false;
            }
        }
    }

    /// One held fragment counted in the flow `key` (created if need be).
    fn count_part(
        &mut self,
        key: FlowKey,
        update: &PacketUpdate<'_>,
        p: &Part,
    ) -> &mut Slot<FlowState> {
        let (slot, created) = self.table.update(key, update);
        slot.ext.copy = false;
        if created {
            let classifier = Classifier::new(&self.policy);
            let on_link = p.iface.and_then(|i| self.nics.net(i));
            let new = NewFlow {
                on_link,
                about: None,
            };
            let seen = self.looked_up.as_mut();
            classify_new(
                slot,
                &classifier,
                &self.knowledge,
                &mut self.stats,
                seen,
                new,
            );
        }
        if p.possible_copy {
            slot.ext.possible_copy_bytes += u64::from(p.wire_len);
        }
        slot.ext.super_frames += u32::from(p.super_frame);
        let tags = (p.vlans, p.vlan_count);
        count(slot, &mut self.stats, p.ts, (p.wire_len, p.iface, tags));
        judge(slot, &self.policy, &self.nics);
        slot
    }

    /// A held later copy: its place added to the flow `key`, if it is still
    /// in the table (else it stays what it was counted as: a duplicate).
    fn count_place(
        &mut self,
        key: &FlowKey,
        update: &PacketUpdate<'_>,
        p: &Part,
    ) -> Option<&mut Slot<FlowState>> {
        let slot = self.table.add_place(key, update)?;
        slot.ext.copy = true;
        let tags = (p.vlans, p.vlan_count);
        count_place(slot, &mut self.stats, p.ts, (p.wire_len, p.iface, tags));
        judge(slot, &self.policy, &self.nics);
        Some(slot)
    }
}
