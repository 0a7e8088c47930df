//! Class identities: the built-in class names and their ids. Kept apart
//! from classification and policy so both can name classes without
//! depending on each other.

/// Index of a class in [`crate::policy::Policy::classes`]: built-in classes
/// first (their ids are their positions in [`BUILTIN_CLASSES`]), then the
/// policy's own classes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ClassId(pub u16);

/// The built-in classes; their ids are their positions.
pub const BUILTIN_CLASSES: [&str; 11] = [
    "dpm",
    "dpm-control",
    "smb-redirected",
    "live-migration",
    "cluster",
    "iscsi",
    "replication",
    "dns",
    "link-local",
    "client",
    "tunnel",
];

/// DPM data channel (TCP 5718/5719).
pub const DPM: ClassId = ClassId(0);
/// DCOM control with a DPM server (TCP 135, learned RPC endpoints).
pub const DPM_CONTROL: ClassId = ClassId(1);
/// CSV redirected I/O (SMB between cluster nodes).
pub const SMB_REDIRECTED: ClassId = ClassId(2);
/// Hyper-V live migration (TCP 6600).
pub const LIVE_MIGRATION: ClassId = ClassId(3);
/// Cluster heartbeats and joins (3343).
pub const CLUSTER: ClassId = ClassId(4);
/// iSCSI (TCP 3260).
pub const ISCSI: ClassId = ClassId(5);
/// Hyper-V Replica / Site Recovery.
pub const REPLICATION: ClassId = ClassId(6);
/// DNS (53).
pub const DNS: ClassId = ClassId(7);
/// Link-local and multicast housekeeping protocols.
pub const LINK_LOCAL: ClassId = ClassId(8);
/// Everything else.
pub const CLIENT: ClassId = ClassId(9);
/// The outer packets of an overlay (VXLAN, Geneve, NVGRE, GRE, IP in IP):
/// provider-network bytes, accounted beside the flows they carry.
pub const TUNNEL: ClassId = ClassId(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positions() {
        for (id, name) in [
            (DPM, "dpm"),
            (DPM_CONTROL, "dpm-control"),
            (SMB_REDIRECTED, "smb-redirected"),
            (LIVE_MIGRATION, "live-migration"),
            (CLUSTER, "cluster"),
            (ISCSI, "iscsi"),
            (REPLICATION, "replication"),
            (DNS, "dns"),
            (LINK_LOCAL, "link-local"),
            (CLIENT, "client"),
            (TUNNEL, "tunnel"),
        ] {
            assert_eq!(BUILTIN_CLASSES[usize::from(id.0)], name);
        }
    }
}
