//! The producer fingerprint and the interface options, read from
//! hand-built pcapng files in both byte orders: what each Windows tool
//! writes (shared/reference/windows-captures.md §1.2, §2, §3).

use capture::{FileSource, FrameSource, Producer};
use fixgen::NgWriter;

/// An Ethernet packet block of 60 zero bytes, at 1 s, with `opts`.
fn packet(w: &mut NgWriter, opts: &[(u16, &[u8])]) {
    w.epb(0, 1_000_000, &[0; 60], 60, opts);
}

fn read(w: &NgWriter) -> FileSource<&[u8]> {
    let mut src = FileSource::new("mem", &w.out[..], None).unwrap();
    while src.next_frame().unwrap().is_some() {}
    src
}

const NPF: &str = "\\Device\\NPF_{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E}";

#[test]
fn dumpcap_on_npcap_names_the_friendly_alias_and_hardware() {
    for be in [false, true] {
        let mut w = NgWriter::new(be);
        w.section(&[
            (3, b"64-bit Windows Server 2022 (21H2), build 20348"),
            (4, b"Dumpcap (Wireshark) 4.4.2 (v4.4.2-0-g4f7b8d0c)"),
        ]);
        let mac = [0x00, 0x15, 0x5d, 0x01, 0x02, 0x03];
        w.interface(
            1,
            &[
                (2, NPF.as_bytes()),
                (3, b"vEthernet (LM)"),
                (6, &mac),
                (15, b"Hyper-V Virtual Ethernet Adapter #2"),
            ],
        );
        packet(&mut w, &[]);
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
        let mut w = NgWriter::new(be);
        w.section(&[]);
        w.interface(1, &[(2, b"eth:12:0")]);
        packet(&mut w, &[(1, b"PID=4 TID=112")]);
        assert_eq!(read(&w).producer(), Producer::Etl2Pcapng, "be={be}");
        // An unnamed interface (etl2pcapng up to 1.4): the comment decides.
        let mut w = NgWriter::new(be);
        w.section(&[]);
        w.interface(1, &[]);
        packet(&mut w, &[(1, b"PID=0 TID=0")]);
        let src = read(&w);
        assert_eq!(src.producer(), Producer::Etl2Pcapng);
        assert_eq!(src.interfaces()[0].name, None);
        // A pktmon trace converted by etl2pcapng keeps PktGroupId (option 5).
        let mut w = NgWriter::new(be);
        w.section(&[]);
        w.interface(
            1,
            &[
                (2, b"rt640x64.sys"),
                (3, b"Realtek PCIe FE Family Controller"),
            ],
        );
        packet(&mut w, &[(5, &[1, 0, 0, 0, 0, 0, 2, 0])]);
        assert_eq!(read(&w).producer(), Producer::Etl2PcapngPktmon);
    }
}

#[test]
fn pktmon_and_plain_files() {
    let mut w = NgWriter::new(false);
    w.section(&[
        (2, b"Contoso Server"),
        (3, b"Windows Server 2022 Datacenter"),
        (4, b"Packet Monitor"),
    ]);
    w.interface(1, &[]);
    packet(&mut w, &[]);
    let src = read(&w);
    assert_eq!(src.producer(), Producer::Pktmon);
    assert_eq!(src.interfaces()[0].name, None);
    let mut w = NgWriter::new(false);
    w.section(&[]);
    w.interface(1, &[(2, b"eth0")]);
    packet(&mut w, &[]);
    assert_eq!(read(&w).producer(), Producer::Unknown);
}
