//! SMB1/SMB2/SMB3 dissector (placeholder: filled in next).

use super::{Dir, Dissector, Fact, GiveUp, Start};

/// SMB over NetBIOS session service (TCP 139) or direct TCP (445).
#[derive(Debug)]
pub struct Smb {
    _start: [Start; 2],
}

impl Smb {
    /// A dissector for a flow whose directions (to server, to client) start as given.
    pub fn new(start: [Start; 2]) -> Self {
        Smb { _start: start }
    }
}

impl Dissector for Smb {
    fn feed(&mut self, _: Dir, _: &[u8], _: bool, _: &mut Vec<Fact>) -> Result<(), GiveUp> {
        Ok(())
    }
}
