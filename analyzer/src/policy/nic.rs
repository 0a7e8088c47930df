//! `[interfaces]` keys: capture interfaces named the ways Windows names
//! them (`shared/reference/windows-captures.md` §2.2, §3, §6 R4).
//!
//! - a name: the pcapng `if_name`, the `NAME` of `PATH=NAME`, a live NIC;
//!   or the friendly alias Npcap/dumpcap write as `if_description`
//!   ("vEthernet (LM)"; case and runs of spaces ignored);
//! - an Npcap adapter GUID, `{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E}`, with
//!   or without the `\Device\NPF_` of its device name, any case;
//! - `ifindex:N`: Linux SLL2's interface index, and etl2pcapng's NDIS
//!   names `eth:N:VLAN` (also `eth:N`, `wifi:N…`, `mbb:N…`);
//! - a MAC address (`00:15:5d:01:02:03`, `00-15-5D-01-02-03`, or with
//!   `mac:` in front): the interface's `if_MACaddr`.

/// What a capture says about one of its interfaces.
#[derive(Clone, Copy, Debug, Default)]
pub struct Nic<'a> {
    /// `if_name`, the `PATH=NAME` name, or a live NIC's name.
    pub name: Option<&'a str>,
    /// `if_description` (Npcap: the friendly alias).
    pub description: Option<&'a str>,
    /// `if_MACaddr`.
    pub mac: Option<[u8; 6]>,
}

impl<'a> Nic<'a> {
    /// An interface known by its name only.
    pub fn named(name: &'a str) -> Self {
        Nic {
            name: Some(name),
            ..Nic::default()
        }
    }
}

/// One `[interfaces]` key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NicKey {
    /// An interface name or friendly alias.
    Name(String),
    /// An Npcap adapter GUID.
    Guid(u128),
    /// An interface index.
    Ifindex(u32),
    /// A MAC address.
    Mac([u8; 6]),
}

const NPF: &str = "\\Device\\NPF_";

impl NicKey {
    /// Reads a key; the error says what is wrong with a key that looks like
    /// a GUID, an interface index or a MAC address but is not one.
    pub fn parse(key: &str) -> Result<NicKey, String> {
        let guid_part = strip_ci(key, NPF).unwrap_or(key);
        if guid_part.starts_with('{') || guid_part.len() < key.len() && looks_guid(guid_part) {
            return guid(guid_part).map(NicKey::Guid).ok_or_else(|| {
                format!("{key:?} is not an adapter GUID (like \"{{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E}}\", optionally after \\Device\\NPF_)")
            });
        }
        if let Some(n) = strip_ci(key, "ifindex:") {
            return n
                .parse::<u32>()
                .ok()
                .filter(|_| n.bytes().all(|b| b.is_ascii_digit()))
                .map(NicKey::Ifindex)
                .ok_or_else(|| format!("{key:?} is not an interface index (like \"ifindex:12\")"));
        }
        let mac_text = strip_ci(key, "mac:");
        if mac_text.is_some() || looks_mac(key) {
            return mac(mac_text.unwrap_or(key)).map(NicKey::Mac).ok_or_else(|| {
                format!("{key:?} is not a MAC address (like \"00:15:5d:01:02:03\" or \"00-15-5D-01-02-03\")")
            });
        }
        Ok(NicKey::Name(key.to_string()))
    }

    /// How well the key names `nic`, best first; `None` if it does not.
    /// When several keys match one interface the best decides: its exact
    /// name, then its GUID, its MAC, its index, its alias.
    pub fn rank(&self, nic: &Nic<'_>) -> Option<u8> {
        match self {
            NicKey::Name(k) if nic.name == Some(k.as_str()) => Some(0),
            NicKey::Guid(g) => (nic.name.and_then(npf_guid) == Some(*g)).then_some(1),
            NicKey::Mac(m) => (nic.mac == Some(*m)).then_some(2),
            NicKey::Ifindex(i) => (nic.name.and_then(ifindex) == Some(*i)).then_some(3),
            NicKey::Name(k) => nic
                .description
                .is_some_and(|d| same_alias(d, k))
                .then_some(4),
        }
    }
}

/// `s` without `prefix` (ASCII case ignored).
fn strip_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// 8-4-4-4-12 hex digits, braces optional (a key after `\Device\NPF_`).
fn looks_guid(s: &str) -> bool {
    s.len() >= 36 && s.bytes().filter(|b| *b == b'-').count() == 4
}

/// A GUID `{8-4-4-4-12}` (braces optional), any case.
fn guid(s: &str) -> Option<u128> {
    let inner = match s.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}')?,
        None => s,
    };
    let groups: Vec<&str> = inner.split('-').collect();
    let widths = [8, 4, 4, 4, 12];
    if groups.len() != 5 || groups.iter().zip(widths).any(|(g, w)| g.len() != w) {
        return None;
    }
    if !inner.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&groups.concat(), 16).ok()
}

/// The GUID of an Npcap device name `\Device\NPF_{…}` (or a bare `{…}`).
fn npf_guid(name: &str) -> Option<u128> {
    let rest = strip_ci(name, NPF).unwrap_or(name);
    rest.starts_with('{').then(|| guid(rest)).flatten()
}

/// The interface index a name carries: SLL2's `ifindex:N`, etl2pcapng's
/// `eth:N:VLAN`.
fn ifindex(name: &str) -> Option<u32> {
    match name.strip_prefix("ifindex:") {
        Some(n) => n.parse().ok(),
        None => capture::etl2pcapng_ifindex(name),
    }
}

/// Six pairs of characters joined by `:` or `-`: meant as a MAC address.
fn looks_mac(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 17 && (2..17).step_by(3).all(|i| b[i] == b':' || b[i] == b'-')
}

/// A MAC address: six hex pairs joined by `:` or `-` (one kind).
fn mac(s: &str) -> Option<[u8; 6]> {
    if !looks_mac(s) {
        return None;
    }
    let sep = s.as_bytes()[2];
    let mut out = [0u8; 6];
    for (i, part) in s.split(char::from(sep)).enumerate() {
        let valid = part.len() == 2 && part.bytes().all(|b| b.is_ascii_hexdigit());
        *out.get_mut(i).filter(|_| valid)? = u8::from_str_radix(part, 16).ok()?;
    }
    Some(out)
}

/// Aliases compare without case and with runs of whitespace as one space.
fn same_alias(a: &str, b: &str) -> bool {
    let words = |s: &str| {
        s.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
    };
    words(a) == words(b)
}

/// A MAC address as Windows shows it: `00-15-5D-01-02-03`.
pub fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E}";

    #[test]
    fn key_forms() {
        let g = guid(GUID).unwrap();
        assert_eq!(NicKey::parse(GUID), Ok(NicKey::Guid(g)));
        for k in [
            "\\Device\\NPF_{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E}",
            "\\device\\npf_{8e6e56a3-0fb3-47bf-836c-b7e6c8002a9e}",
            "\\Device\\NPF_8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E",
        ] {
            assert_eq!(NicKey::parse(k), Ok(NicKey::Guid(g)), "{k}");
        }
        assert_eq!(NicKey::parse("ifindex:12"), Ok(NicKey::Ifindex(12)));
        let m = [0x00, 0x15, 0x5d, 0x01, 0x02, 0xab];
        for k in [
            "00:15:5d:01:02:ab",
            "00-15-5D-01-02-AB",
            "mac:00:15:5D:01:02:ab",
        ] {
            assert_eq!(NicKey::parse(k), Ok(NicKey::Mac(m)), "{k}");
        }
        for k in [
            "eth0",
            "vEthernet (LM)",
            "\\Device\\NPF_Loopback",
            "Node1/Ethernet 2",
        ] {
            assert_eq!(NicKey::parse(k), Ok(NicKey::Name(k.to_string())), "{k}");
        }
    }

    #[test]
    fn bad_keys_say_what_they_should_look_like() {
        for (k, want) in [
            ("{8E6E56A3-0FB3-47BF-836C}", "is not an adapter GUID"),
            (
                "{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9G}",
                "is not an adapter GUID",
            ),
            ("\\Device\\NPF_{nope}", "is not an adapter GUID"),
            ("ifindex:twelve", "is not an interface index"),
            ("ifindex:-1", "is not an interface index"),
            ("ifindex:99999999999", "is not an interface index"),
            ("00:15:5d:01:02:zz", "is not a MAC address"),
            ("00:15-5d:01:02:03", "is not a MAC address"),
            ("mac:00:15:5d", "is not a MAC address"),
        ] {
            let e = NicKey::parse(k).unwrap_err();
            assert!(e.contains(want), "{k}: {e}");
        }
    }

    #[test]
    fn keys_match_what_windows_tools_write() {
        let npcap = Nic {
            name: Some("\\Device\\NPF_{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E}"),
            description: Some("vEthernet (LM)"),
            mac: None,
        };
        let rank = |k: &str, n: &Nic<'_>| NicKey::parse(k).unwrap().rank(n);
        assert_eq!(rank(GUID, &npcap), Some(1));
        assert_eq!(rank("vethernet  (lm)", &npcap), Some(4));
        assert_eq!(rank("vEthernet (Backup)", &npcap), None);
        // The device name as written is read as its GUID.
        assert_eq!(rank(npcap.name.unwrap(), &npcap), Some(1));
        let etl = Nic::named("eth:12:0");
        assert_eq!(rank("ifindex:12", &etl), Some(3));
        assert_eq!(rank("ifindex:1", &etl), None);
        assert_eq!(rank("ifindex:7", &Nic::named("ifindex:7")), Some(3));
        let with_mac = Nic {
            mac: Some([0, 0x15, 0x5d, 1, 2, 3]),
            ..Nic::named("rt640x64.sys")
        };
        assert_eq!(rank("00-15-5D-01-02-03", &with_mac), Some(2));
        assert_eq!(mac_text([0, 0x15, 0x5d, 1, 2, 3]), "00-15-5D-01-02-03");
    }
}
