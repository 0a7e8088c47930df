//! pcapng written byte by byte, in either byte order, for tests that need
//! what a writer library will not write: both byte orders in one file,
//! obsolete blocks, a section that names no application (so the file's
//! interface names alone tell who wrote it), an interface declared after
//! packets of another.

/// A pcapng being built in memory.
pub struct NgWriter {
    /// Big-endian section(s).
    pub be: bool,
    pub out: Vec<u8>,
}

impl NgWriter {
    /// An empty file in the byte order `be` says.
    pub fn new(be: bool) -> Self {
        NgWriter {
            be,
            out: Vec::new(),
        }
    }

    pub fn u16(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    pub fn u32(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A block of type `btype` holding `body`, padded to 32 bits.
    pub fn block(&mut self, btype: u32, body: &[u8]) {
        let mut body = body.to_vec();
        body.resize(body.len().div_ceil(4) * 4, 0);
        let len = self.u32(12 + body.len() as u32);
        self.out.extend(self.u32(btype));
        self.out.extend(len);
        self.out.extend(body);
        self.out.extend(len);
    }

    /// One option, padded to 32 bits.
    pub fn option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
        body.extend(self.u16(code));
        body.extend(self.u16(value.len() as u16));
        body.extend(value);
        body.resize(body.len().div_ceil(4) * 4, 0);
    }

    /// Options (code, value), then opt_endofopt when there are any.
    pub fn options(&self, body: &mut Vec<u8>, opts: &[(u16, &[u8])]) {
        for (code, value) in opts {
            self.option(body, *code, value);
        }
        if !opts.is_empty() {
            self.option(body, 0, &[]);
        }
    }

    /// A section header block of unknown length, version 1.0.
    pub fn section(&mut self, opts: &[(u16, &[u8])]) {
        let mut b = self.u32(0x1A2B_3C4D).to_vec();
        b.extend(self.u16(1));
        b.extend(self.u16(0));
        b.extend([0xff; 8]);
        self.options(&mut b, opts);
        self.block(0x0A0D_0D0A, &b);
    }

    /// An interface description block of link type `link`, no snaplen.
    pub fn interface(&mut self, link: u16, opts: &[(u16, &[u8])]) {
        let mut b = self.u16(link).to_vec();
        b.extend([0, 0]);
        b.extend(self.u32(0));
        self.options(&mut b, opts);
        self.block(1, &b);
    }

    /// An enhanced packet block on interface `iface` at `ticks` (in the
    /// interface's time resolution), `data` of `wire` bytes on the wire.
    pub fn epb(&mut self, iface: u32, ticks: u64, data: &[u8], wire: u32, opts: &[(u16, &[u8])]) {
        let mut b = self.u32(iface).to_vec();
        b.extend(self.u32((ticks >> 32) as u32));
        b.extend(self.u32(ticks as u32));
        b.extend(self.u32(data.len() as u32));
        b.extend(self.u32(wire));
        b.extend(data);
        b.resize(b.len().div_ceil(4) * 4, 0);
        self.options(&mut b, opts);
        self.block(6, &b);
    }
}
