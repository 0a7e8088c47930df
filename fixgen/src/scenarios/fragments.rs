//! IP fragments sent last first: a datagram too large for its path, split
//! by a sender that emits the fragment carrying the ports last (Windows
//! hosts and some NIC offloads do; Linux did before 2.6; reordering on the
//! way does it to anyone). DPM data between the DPM server and the
//! protected server on the backup LAN over IPv4 and over IPv6, DPM data on
//! the primary network (the leak), and NFS over UDP on the backup LAN (not
//! DPM traffic: client, a violation there) whose very first packet is a
//! fragment that comes before its first.

use super::{dpm_backup, dpm_primary, ps_backup, ps_primary, two_nics, ETH0, ETH1};
use crate::capture::{ms, Capture, Seen, Spec};
use crate::conv::{Dgram, Side, Tcp, MSS};
use crate::payload;
use crate::wire::Host;

/// `dpm_frag_reversed`.
pub(crate) fn dpm_frag_reversed() -> Capture {
    let mut cap = two_nics("dpm_frag_reversed");
    let dpm = |src, sport, dst, nic, network| {
        Spec::new(src, sport, dst, 5719, Seen::on(nic), network, "dpm")
    };
    let v6 = |a: &str| Host::new(a);
    let flows = [
        dpm(dpm_backup(), 49730, ps_backup(), ETH1, "backup"),
        dpm(v6("fd00:b::23"), 49731, v6("fd00:b::24"), ETH1, "backup"),
        dpm(dpm_primary(), 49732, ps_primary(), ETH0, "primary"),
    ];
    for (i, spec) in flows.into_iter().enumerate() {
        dpm_data(&mut cap, spec, 100 + 1000 * i as i64);
    }
    nfs(&mut cap, 3100);
    cap
}

/// A DPM data connection: the server's request, then the agent's data in
/// two segments the path fragments (three fragments each, last first) and
/// one it does not; closed.
fn dpm_data(cap: &mut Capture, spec: Spec, start_ms: i64) {
    let mut c = Tcp::open(cap, spec, ms(start_ms));
    let mut gen = payload::opaque(0x57);
    c.send(cap, Side::Client, &gen(180));
    c.at(cap, ms(start_ms + 100));
    for _ in 0..2 {
        c.send_fragmented(cap, Side::Server, &gen(4_000), 3);
    }
    c.send(cap, Side::Server, &gen(MSS));
    c.at(cap, ms(start_ms + 300));
    c.close(cap);
}

/// NFS over UDP (2049) from the DPM server's backup address to the
/// protected server's: a WRITE call of 8 KiB and its reply, the call in six
/// fragments last first, so the flow's first packet carries no ports.
fn nfs(cap: &mut Capture, start_ms: i64) {
    let spec = Spec::new(
        dpm_backup(),
        50049,
        ps_backup(),
        2049,
        Seen::on(ETH1),
        "backup",
        "client",
    );
    let mut d = Dgram::udp(cap, spec);
    let call = payload::pattern(8_192 + 128, 0x4e);
    d.send_fragmented(cap, (ms(start_ms), Side::Client), &call, 6);
    d.send(
        cap,
        ms(start_ms + 2),
        Side::Server,
        &payload::pattern(136, 0x4f),
    );
}
