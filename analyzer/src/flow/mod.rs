//! Flows: bidirectional, keyed by the canonical 5-tuple.
//!
//! **Invariant:** packet time is the only clock: idle expiry and eviction
//! order depend on frame timestamps, never on the wall clock, so the same
//! capture always yields the same flows.

mod key;
mod table;
mod tunnel;

pub use key::{Direction, FlowKey, TunnelId};
pub use table::{
    Flow, FlowExt, FlowTable, FlowTableConfig, FlowTableStats, IfaceStat, PacketUpdate, Slot,
    Sweeps, VlanStat,
};
pub use tunnel::{Tunnel, Tunnels, MAX_TUNNELS};
