//! Seeds for the `derive` target: what `lanecheck policy derive` reads.
//!
//! - the shared reference documents whole (seed 001 quotes three
//!   `Get-ClusterNetwork | FT Name, Metric, Role` tables; the table parser
//!   reads the first table of a file) and each of their tables alone;
//! - the string literals of the derive tests and parsers that hold an
//!   export (`tests/derive/*.rs`, `src/derive/{json,table}.rs`), unescaped;
//! - seed 001's last layout as every export `derive` reads: the cluster
//!   networks as `ConvertTo-Json` (Windows PowerShell 5.1 layout), as an
//!   aligned `Format-Table` and as seed 001's Markdown table; the cluster
//!   network interfaces; the live-migration settings by id and by name;
//!
//! each also as Windows PowerShell writes files: CRLF, UTF-8 with a BOM,
//! UTF-16LE with a BOM.

use std::path::{Path, PathBuf};

/// Seed 001's last layout: (name, prefix, metric, role, metric set by hand).
const NETWORKS: [(&str, &str, u32, u8, bool); 5] = [
    ("iSCSI Storage Network", "172.16.10.0", 10100, 0, false),
    ("Heartbeat Cluster", "172.16.20.0", 1000, 1, false),
    ("Host Access Cluster", "10.20.0.0", 10000, 3, false),
    ("CSV Cluster", "172.16.30.0", 800, 1, true),
    ("LM Cluster", "172.16.40.0", 900, 1, true),
];

/// Every seed, before the encodings.
pub fn seeds(root: &Path, reference: Option<&Path>) -> Vec<Vec<u8>> {
    let mut texts = Vec::new();
    if let Some(dir) = reference {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "txt") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                texts.extend(tables(&text));
                texts.push(text);
            }
        }
    }
    let mut sources = super::list(&root.join("tests/derive"), &|p| {
        p.extension().is_some_and(|e| e == "rs")
    });
    sources.extend(["json.rs", "table.rs"].map(|f| root.join("src/derive").join(f)));
    for p in sources {
        let code = std::fs::read_to_string(&p).unwrap_or_default();
        texts.extend(literals(&code).into_iter().filter(|l| is_export(l)));
    }
    texts.extend(generated());
    let mut out = Vec::new();
    for t in texts {
        out.extend(encodings(&t));
    }
    out
}

/// The reference documents: `$LANECHECK_REFERENCE`, else `reference`
/// beside the shared capture corpus, else `../shared/reference`.
pub fn reference(root: &Path, corpus: Option<&Path>) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("LANECHECK_REFERENCE")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(corpus.and_then(Path::parent).map(|d| d.join("reference")));
    candidates.push(root.join("../shared/reference"));
    candidates.into_iter().find(|d| d.is_dir())
}

/// The tables of a Markdown text (`|…|` lines, `> ` quoted or not), each
/// with the lines around it the parser skips.
fn tables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim_start_matches('>').trim().starts_with('|') {
            cur.push_str(line);
            cur.push('\n');
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    out.extend((!cur.is_empty()).then_some(cur));
    out
}

/// Whether a literal looks like an export: JSON or a table (Markdown,
/// quoted, aligned, or after a `PS C:\>` prompt) that has a name in it.
fn is_export(s: &str) -> bool {
    let t = s.trim_start();
    let starts =
        t.starts_with(['[', '{', '|', '>']) || t.starts_with("Name") || t.starts_with("PS ");
    starts && t.to_ascii_lowercase().contains("name")
}

/// The string literals of Rust code: `"…"` with the common escapes, and
/// `r"…"`, `r#"…"#`.
fn literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find('"') {
        if rest[..i].ends_with('\'') && rest[i + 1..].starts_with('\'') {
            rest = &rest[i + 2..]; // the char literal '"'
            continue;
        }
        let raw_hashes = raw_prefix(&rest[..i]);
        let body = &rest[i + 1..];
        let (lit, used) = match raw_hashes {
            Some(n) => raw(body, n),
            None => escaped(body),
        };
        out.push(lit);
        rest = &body[used.min(body.len())..];
    }
    out
}

/// `Some(number of #)` when the quote at the end of `before` opens a raw string.
fn raw_prefix(before: &str) -> Option<usize> {
    let hashes = before.len() - before.trim_end_matches('#').len();
    let head = &before[..before.len() - hashes];
    let is_raw = head.ends_with('r')
        && !head[..head.len() - 1]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
    is_raw.then_some(hashes)
}

/// A raw string's body and the bytes used, closing quote and hashes included.
fn raw(body: &str, hashes: usize) -> (String, usize) {
    let close = format!("\"{}", "#".repeat(hashes));
    match body.find(&close) {
        Some(end) => (body[..end].to_string(), end + close.len()),
        None => (body.to_string(), body.len()),
    }
}

/// An ordinary string's unescaped body and the bytes used.
fn escaped(body: &str) -> (String, usize) {
    let mut lit = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (lit, i + 1),
            '\\' => match chars.next() {
                Some((_, 'n')) => lit.push('\n'),
                Some((_, 'r')) => lit.push('\r'),
                Some((_, 't')) => lit.push('\t'),
                Some((_, '\n')) => {
                    // A line continuation: the next line's indentation is dropped.
                    while chars.clone().next().is_some_and(|(_, c)| c.is_whitespace()) {
                        chars.next();
                    }
                }
                Some((_, other)) => lit.push(other),
                None => {}
            },
            c => lit.push(c),
        }
    }
    (lit, body.len())
}

/// Seed 001's last layout as each export.
fn generated() -> Vec<String> {
    let id = |i: usize| format!("6f1c000{i}-0000-4000-8000-00000000000{i}");
    let mut json = Vec::new();
    let (mut aligned, mut markdown) = (
        format!("PS C:\\> Get-ClusterNetwork | FT Name, Metric, Role\n\n{:<21} Metric Role\n{:<21} ------ ----\n", "Name", "----"),
        String::from("|Name|Metric|Role|\n|---|---|---|\n"),
    );
    let mut ifaces = Vec::new();
    for (i, (name, addr, metric, role, by_hand)) in NETWORKS.iter().enumerate() {
        json.push(format!(
            "    {{\n        \"Id\":  \"{}\",\n        \"Name\":  \"{name}\",\n        \"Address\":  \"{addr}\",\n        \"AddressMask\":  \"255.255.255.0\",\n        \"Role\":  {role},\n        \"Metric\":  {metric},\n        \"AutoMetric\":  {},\n        \"State\":  3\n    }}",
            id(i),
            !by_hand
        ));
        aligned.push_str(&format!("{name:<21} {metric:>6} {role:>4}\n"));
        markdown.push_str(&format!("|{name}|{metric}|{role}|\n"));
        let host = addr.trim_end_matches(".0");
        for node in 1..=2 {
            ifaces.push(format!(
                "    {{\n        \"Node\":  \"node{node}\",\n        \"Network\":  \"{name}\",\n        \"Adapter\":  \"Ethernet {}\",\n        \"Address\":  \"{host}.{}\"\n    }}",
                i + 1,
                10 + node
            ));
        }
    }
    aligned.push_str("\n\nPS C:\\>\n");
    let migration = |exclude: &str, order: &str| {
        format!("[\n    {{\n        \"Name\":  \"MigrationExcludeNetworks\",\n        \"Value\":  \"{exclude}\"\n    }},\n    {{\n        \"Name\":  \"MigrationNetworkOrder\",\n        \"Value\":  \"{order}\"\n    }}\n]\n")
    };
    vec![
        format!("[\n{}\n]\n", json.join(",\n")),
        aligned,
        markdown,
        format!("[\n{}\n]\n", ifaces.join(",\n")),
        migration(&id(2), &format!("{};{}", id(4), id(3))),
        migration("Host Access Cluster", "LM Cluster;CSV Cluster"),
    ]
}

/// A text as saved on Windows: as is, CRLF, CRLF in UTF-8 with a BOM and
/// in UTF-16LE with a BOM.
fn encodings(text: &str) -> Vec<Vec<u8>> {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(crlf.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    vec![
        text.as_bytes().to_vec(),
        crlf.as_bytes().to_vec(),
        [&[0xEF, 0xBB, 0xBF][..], crlf.as_bytes()].concat(),
        utf16,
    ]
}
