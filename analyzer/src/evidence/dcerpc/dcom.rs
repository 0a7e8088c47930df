//! DCOM replies: the DUALSTRINGARRAYs of activation and OXID-resolution
//! replies, found by a validated scan of the stub.

use super::ndr::Ndr;
use super::{Fact, MAX_BINDINGS, SCAN_WORDS_PER_BYTE};

/// Emits the string bindings of every DUALSTRINGARRAY in a DCOM reply
/// stub, deduplicated.
///
/// ResolveOxid/ResolveOxid2 return theirs as an NDR parameter, but
/// RemoteCreateInstance and RemoteGetClassObject bury theirs in an
/// activation-properties blob (MS-DCOM §2.2.22: ScmReplyInfoData →
/// customREMOTE_REPLY_SCM_INFO.pdsaOxidBindings, and the OBJREFs of
/// PropsOutInfo) that is type-serialized with its own alignment base
/// (MS-RPCE §2.2.6). Rather than walk every structure, the stub is
/// scanned, and an array is taken only behind one of two anchors:
///
/// * NDR-marshalled (MS-DCOM §2.2.19.2: `pdsaOxidBindings`,
///   `ppdsaOxidBindings`): its conformant max count (u32, u64 in NDR64)
///   sits immediately before it and equals its wNumEntries;
/// * inside an OBJREF (MS-DCOM §2.2.18, a byte array in little-endian
///   order): the signature `MEOW` with flags 1 (OBJREF_STANDARD,
///   §2.2.18.4), 2 (OBJREF_HANDLER, §2.2.18.5) or 8 (OBJREF_EXTENDED,
///   §2.2.18.7, with its 0x4E535956 signature) puts `saResAddr` at a fixed
///   offset.
///
/// Behind the anchor, [`dual_string_array`] must accept the whole array:
/// 4 ≤ wSecurityOffset < wNumEntries, the array inside the stub, every
/// string binding a one-byte tower id, a non-empty UTF-16 string without
/// control characters and its NUL, the list's 0 word exactly at
/// wSecurityOffset − 1, then security bindings that reach their own 0
/// word, and a last word of 0.
///
/// Why this does not invent bindings: an anchor is already unlikely in
/// binary data (a 32-bit count whose high half is zero and whose low half
/// repeats the next 16 bits, or a 4-byte magic with a valid flags word),
/// and what follows must then parse as text-like UTF-16 whose lengths,
/// NULs and terminators all land where the two header words say. OXIDs,
/// IPIDs, GUIDs and counts break that within a few words; UTF-16 names
/// elsewhere in the stub (principal names, class names) carry no header
/// words that agree with them. Only the four reply kinds that carry
/// bindings are scanned, and a well-formed array found there is one the
/// server sent. The work is bounded (a word budget per stub byte, at most
/// 64 bindings per reply).
pub(super) fn dcom_reply(stub: &[u8], le: bool, ndr64: bool, out: &mut Vec<Fact>) {
    let first = out.len();
    let mut budget = stub.len().saturating_mul(SCAN_WORDS_PER_BYTE);
    for i in 0..stub.len() {
        let anchors = [ndr_array_at(stub, i, le, ndr64), objref_array_at(stub, i)];
        for (at, le) in anchors.into_iter().flatten() {
            let Some(bindings) = dual_string_array(stub, at, le, &mut budget) else {
                continue;
            };
            for (tower, binding) in bindings {
                let fact = Fact::DcomBinding { tower, binding };
                if out.len() - first >= MAX_BINDINGS {
                    return;
                }
                if !out[first..].contains(&fact) {
                    out.push(fact);
                }
            }
        }
    }
}

/// A conformant max count at `i` equal to the wNumEntries after it: the
/// array starts after the count.
fn ndr_array_at(stub: &[u8], i: usize, le: bool, ndr64: bool) -> Option<(usize, bool)> {
    let mut r = Ndr::at(stub, i, le);
    let conformance = if ndr64 {
        let a = r.array()?;
        if le {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        }
    } else {
        u64::from(r.u32()?)
    };
    let entries = Ndr::at(stub, r.pos, le).u16()?;
    (conformance == u64::from(entries)).then_some((r.pos, le))
}

/// An OBJREF at `i` (signature, flags u32, iid, then STDOBJREF of 40 bytes,
/// MS-DCOM §2.2.18.1) whose kind carries a `saResAddr`.
fn objref_array_at(stub: &[u8], i: usize) -> Option<(usize, bool)> {
    if stub.get(i..i.checked_add(4)?)? != b"MEOW" {
        return None;
    }
    let at = match Ndr::at(stub, i + 4, true).u32()? {
        1 => i + 64,
        2 => i + 80,
        8 if Ndr::at(stub, i + 64, true).u32()? == 0x4e53_5956 => i + 68,
        _ => return None,
    };
    Some((at, true))
}

/// DUALSTRINGARRAY at `at` (MS-DCOM §2.2.19.1, §2.2.19.2): wNumEntries u16,
/// wSecurityOffset u16, then wNumEntries u16 words: STRINGBINDINGs
/// (§2.2.19.3) up to a 0 word at wSecurityOffset − 1, then SECURITYBINDINGs
/// (§2.2.19.4) up to another 0 word. Returns (tower id, network address)
/// of each string binding, or `None` unless the whole array is well formed.
fn dual_string_array(
    stub: &[u8],
    at: usize,
    le: bool,
    budget: &mut usize,
) -> Option<Vec<(u16, String)>> {
    let mut r = Ndr::at(stub, at, le);
    let n = usize::from(r.u16()?);
    let security = usize::from(r.u16()?);
    // At least one binding: tower id, one character, NUL, terminator.
    if security < 4 || security >= n {
        return None;
    }
    let raw = r.bytes(2 * n)?;
    let word = |k: usize| Ndr::at(raw, 2 * k, le).u16();
    // Cheap checks first: both NULs before the security offset, and the
    // last word (the security bindings' terminator) are zero.
    if word(security - 1)? != 0 || word(security - 2)? != 0 || word(n - 1)? != 0 {
        return None;
    }
    *budget = budget.checked_sub(n)?;
    let words: Vec<u16> = (0..n).filter_map(word).collect();
    let (strings, security) = words.split_at_checked(security)?;
    security_bindings(security)?;
    string_bindings(strings)
}

/// STRINGBINDINGs: wTowerId u16 (a protocol id, C706 Appendix I: one
/// byte), then aNetworkAddr, NUL-terminated; a 0 word ends the list, and
/// must be the last word.
fn string_bindings(mut words: &[u16]) -> Option<Vec<(u16, String)>> {
    let mut found = Vec::new();
    loop {
        match words {
            [0] => return Some(found),
            [tower @ 1..=0xff, tail @ ..] => {
                let nul = tail.iter().position(|&w| w == 0).filter(|&n| n > 0)?;
                let name = String::from_utf16(tail.get(..nul)?).ok()?;
                if name.chars().any(char::is_control) {
                    return None;
                }
                found.push((*tower, name));
                words = tail.get(nul + 1..)?;
            }
            _ => return None,
        }
    }
}

/// SECURITYBINDINGs: wAuthnSvc u16 (non-zero), Reserved u16, aPrincName
/// NUL-terminated; a 0 word ends the list.
fn security_bindings(mut words: &[u16]) -> Option<()> {
    loop {
        match words {
            [0, ..] => return Some(()),
            [_, _, tail @ ..] => {
                let nul = tail.iter().position(|&w| w == 0)?;
                words = tail.get(nul + 1..)?;
            }
            _ => return None,
        }
    }
}
