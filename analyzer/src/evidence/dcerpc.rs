//! DCE/RPC (connection-oriented, over TCP) dissector (placeholder: filled in next).

use super::{Dir, Dissector, Fact, GiveUp, Start};

/// DCE/RPC over TCP.
#[derive(Debug)]
pub struct DceRpc {
    _start: [Start; 2],
}

impl DceRpc {
    /// A dissector for a flow whose directions (to server, to client) start as given.
    pub fn new(start: [Start; 2]) -> Self {
        DceRpc { _start: start }
    }

    /// True when `payload` (the first payload of a TCP stream) starts like a
    /// DCE/RPC PDU: Zeek's DPD signature `^\x05[\x00\x01][\x00-\x13]\x03`.
    pub fn signature(payload: &[u8]) -> bool {
        matches!(payload, [5, 0 | 1, 0..=0x13, 3, ..])
    }
}

impl Dissector for DceRpc {
    fn feed(&mut self, _: Dir, _: &[u8], _: bool, _: &mut Vec<Fact>) -> Result<(), GiveUp> {
        Ok(())
    }
}
