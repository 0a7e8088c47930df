//! The producer fingerprint and the interface options, read from
//! hand-built pcapng files in both byte orders: what each Windows tool
//! writes (shared/reference/windows-captures.md §1.2, §2, §3).

use capture::{FileSource, FrameSource, Producer};

struct Writer {
    be: bool,
    out: Vec<u8>,
}

impl Writer {
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, btype: u32, body: &[u8]) {
        let len = 12 + body.len() as u32;
        let (t, l) = (self.u32(btype), self.u32(len));
        self.out.extend(t);
        self.out.extend(l);
        self.out.extend(body);
        self.out.extend(l);
    }
    /// Options (code, value), then opt_endofopt when there are any.
    fn options(&self, body: &mut Vec<u8>, opts: &[(u16, &[u8])]) {
        for (code, value) in opts {
            body.extend(self.u16(*code));
            body.extend(self.u16(value.len() as u16));
            body.extend(*value);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        if !opts.is_empty() {
            body.extend([0; 4]);
        }
    }
    fn section(&mut self, opts: &[(u16, &[u8])]) {
        let mut b = self.u32(0x1A2B_3C4D).to_vec();
        b.extend(self.u16(1));
        b.extend(self.u16(0));
        b.extend([0xff; 8]);
        self.options(&mut b, opts);
        self.block(0x0A0D_0D0A, &b);
    }
    fn interface(&mut self, opts: &[(u16, &[u8])]) {
        let mut b = self.u16(1).to_vec();
        b.extend([0, 0]);
        b.extend(self.u32(0));
        self.options(&mut b, opts);
        self.block(1, &b);
    }
    fn packet(&mut self, opts: &[(u16, &[u8])]) {
        let data = [0u8; 60];
        let mut b = self.u32(0).to_vec();
        b.extend(self.u32(0));
        b.extend(self.u32(1_000_000));
        b.extend(self.u32(data.len() as u32));
        b.extend(self.u32(data.len() as u32));
        b.extend(data);
        self.options(&mut b, opts);
        self.block(6, &b);
    }
}

fn read(w: &Writer) -> FileSource<&[u8]> {
    let mut src = FileSource::new("mem", &w.out[..], None).unwrap();
    while src.next_frame().unwrap().is_some() {}
    src
}

const NPF: &str = "\\Device\\NPF_{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E}";

#[test]
fn dumpcap_on_npcap_names_the_friendly_alias_and_hardware() {
    for be in [false, true] {
        let mut w = Writer {
            be,
            out: Vec::new(),
        };
        w.section(&[
            (3, b"64-bit Windows Server 2022 (21H2), build 20348"),
            (4, b"Dumpcap (Wireshark) 4.4.2 (v4.4.2-0-g4f7b8d0c)"),
        ]);
        let mac = [0x00, 0x15, 0x5d, 0x01, 0x02, 0x03];
        w.interface(&[
            (2, NPF.as_bytes()),
            (3, b"vEthernet (LM)"),
            (6, &mac),
            (15, b"Hyper-V Virtual Ethernet Adapter #2"),
        ]);
        w.packet(&[]);
        let src = read(&w);
        assert_eq!(src.producer(), Producer::Npcap, "be={be}");
        assert_eq!(
            src.application(),
            Some("Dumpcap (Wireshark) 4.4.2 (v4.4.2-0-g4f7b8d0c)")
        );
        let i = &src.interfaces()[0];
        assert_eq!(i.name.as_deref(), Some(NPF));
        assert_eq!(i.description.as_deref(), Some("vEthernet (LM)"));
        assert_eq!(
            i.hardware.as_deref(),
            Some("Hyper-V Virtual Ethernet Adapter #2")
        );
        assert_eq!(i.mac, Some(mac));
    }
}

#[test]
fn etl2pcapng_is_known_by_its_names_or_its_comments() {
    for be in [false, true] {
        let mut w = Writer {
            be,
            out: Vec::new(),
        };
        w.section(&[]);
        w.interface(&[(2, b"eth:12:0")]);
        w.packet(&[(1, b"PID=4 TID=112")]);
        assert_eq!(read(&w).producer(), Producer::Etl2Pcapng, "be={be}");
        // An unnamed interface (etl2pcapng up to 1.4): the comment decides.
        let mut w = Writer {
            be,
            out: Vec::new(),
        };
        w.section(&[]);
        w.interface(&[]);
        w.packet(&[(1, b"PID=0 TID=0")]);
        let src = read(&w);
        assert_eq!(src.producer(), Producer::Etl2Pcapng);
        assert_eq!(src.interfaces()[0].name, None);
        // A pktmon trace converted by etl2pcapng keeps PktGroupId (option 5).
        let mut w = Writer {
            be,
            out: Vec::new(),
        };
        w.section(&[]);
        w.interface(&[
            (2, b"rt640x64.sys"),
            (3, b"Realtek PCIe FE Family Controller"),
        ]);
        w.packet(&[(5, &[1, 0, 0, 0, 0, 0, 2, 0])]);
        assert_eq!(read(&w).producer(), Producer::Etl2PcapngPktmon);
    }
}

#[test]
fn pktmon_and_plain_files() {
    let mut w = Writer {
        be: false,
        out: Vec::new(),
    };
    w.section(&[
        (2, b"Contoso Server"),
        (3, b"Windows Server 2022 Datacenter"),
        (4, b"Packet Monitor"),
    ]);
    w.interface(&[]);
    w.packet(&[]);
    let src = read(&w);
    assert_eq!(src.producer(), Producer::Pktmon);
    assert_eq!(src.interfaces()[0].name, None);
    let mut w = Writer {
        be: false,
        out: Vec::new(),
    };
    w.section(&[]);
    w.interface(&[(2, b"eth0")]);
    w.packet(&[]);
    assert_eq!(read(&w).producer(), Producer::Unknown);
}
